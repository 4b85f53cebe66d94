/**
 * The seed lab (the shipped cluster.yaml) against the in-process simulators,
 * with tiny delays, a client with short retries, and every vmrest exchange
 * and build event recorded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildVms, type BuildVmsDeps, type BuildVmsOptions } from '../../src/bringup/build-vms.js';
import type { BuildEvent } from '../../src/bringup/ports.js';
import { cloudInitSeedWriter } from '../../src/bringup/real-deps.js';
import {
  growDescriptorDisk,
  startSimulatedLab,
  type SimulatedLab,
  type SimulatedLabOptions,
} from '../../simulators/simulated-lab.js';
import { loadClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import {
  VmrestClient,
  type VmrestClientOptions,
  type VmrestRequestLogEntry,
} from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');

export async function seedSpec(): Promise<ClusterSpec> {
  return loadClusterSpec(path.join(repoRoot, 'cluster.yaml'));
}

export interface TimedRequest extends VmrestRequestLogEntry {
  startMs: number;
  endMs: number;
}

export interface TestLab extends SimulatedLab {
  dir: string;
  events: BuildEvent[];
  requests: TimedRequest[];
  /** A fresh client (as after a process restart) with the test's retry settings. */
  newClient(overrides?: Partial<VmrestClientOptions>): VmrestClient;
  deps(overrides?: Partial<BuildVmsDeps>): BuildVmsDeps;
  build(options?: BuildVmsOptions, deps?: Partial<BuildVmsDeps>): ReturnType<typeof buildVms>;
  /** Node VMs in the simulator's library (template excluded). */
  nodeVms(): Array<{ id: string; vmxPath: string; power: string }>;
  dispose(): Promise<void>;
}

export const fastClient: Partial<VmrestClientOptions> = {
  retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxTotalMs: 3_000 },
  timeouts: { defaultMs: 1_500, cloneMs: 1_500, powerMs: 1_500, deleteMs: 1_500 },
  pollIntervalMs: 10,
};

export async function startTestLab(
  options: Partial<SimulatedLabOptions> & { spec?: ClusterSpec } = {},
): Promise<TestLab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-build-'));
  const requests: TimedRequest[] = [];
  const onRequest = (e: VmrestRequestLogEntry): void => {
    const endMs = performance.now();
    requests.push({ ...e, startMs: endMs - e.durationMs, endMs });
  };
  const lab = await startSimulatedLab(options.spec ?? (await seedSpec()), {
    bootDelayMs: 5,
    guest: { firstReportMs: 2, stageMs: 2 },
    ...options,
    dir,
    client: { ...fastClient, onRequest, ...options.client },
  });
  const events: BuildEvent[] = [];
  const clients: VmrestClient[] = [];
  // One writer per lab: every build of it seeds with the same inputs, as one process would.
  const writeSeed = cloudInitSeedWriter();
  const testLab: TestLab = {
    ...lab,
    dir,
    events,
    requests,
    newClient(overrides = {}) {
      const client = new VmrestClient({
        baseUrl: lab.vmrest.url,
        credentials: new VmrestCredentials(lab.credentials.username, lab.credentials.password),
        ...fastClient,
        onRequest,
        ...overrides,
      });
      clients.push(client);
      return client;
    },
    deps(overrides = {}) {
      return {
        vmrest: lab.client,
        writeSeed,
        growDisk: growDescriptorDisk,
        verify: undefined,
        emit: (e) => events.push(e),
        clonesFolder: lab.clonesFolder,
        vmnetDhcpConfig: lab.vmnetDhcpConfig,
        sshIdentityFile: undefined,
        freeBytes: async () => 10 * 2 ** 40,
        ...overrides,
      };
    },
    build(buildOptions = {}, deps = {}) {
      return buildVms(lab.spec, testLab.deps(deps), {
        timing: { deadlineScale: 0.001, pollMs: 5 },
        ...buildOptions,
      });
    },
    nodeVms() {
      return lab.vmrest
        .vms()
        .filter((vm) => path.basename(vm.vmxPath) !== `${lab.spec.vmware.template.name}.vmx`)
        .map((vm) => ({ id: vm.id, vmxPath: vm.vmxPath, power: vm.power }));
    },
    async dispose() {
      await Promise.all(clients.map((c) => c.close()));
      await lab.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return testLab;
}
