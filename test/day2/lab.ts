/**
 * A built seed lab for day-2 tests: the vmrest simulator with the template,
 * simulated guests, and the fake Kubernetes API server trusting the
 * cluster's CA. A guest that finishes its first boot registers its Node the
 * way a kubelet does (POST /api/v1/nodes) when the API has none of that
 * name, so a rebuilt worker shows up Ready again. All on 127.0.0.1, tiny delays.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildVms, type BuildVmsDeps } from '../../src/bringup/build-vms.js';
import type { BuildEvent } from '../../src/bringup/ports.js';
import {
  growDescriptorDisk,
  linkPowerToKubeApi,
  writeSimulatedTemplate,
} from '../../simulators/simulated-lab.js';
import { cloudInitSeedWriter } from '../../src/bringup/real-deps.js';
import type { KubeAccess } from '../../src/bringup/observe.js';
import type { RebuildDeps, RebuildOptions } from '../../src/day2/rebuild.js';
import { createBootstrapTokenSecret, KubeClient, tokenExpiry, type Node } from '../../src/kube/index.js';
import { clusterSecretPaths, loadOrCreateClusterSecrets } from '../../src/pki/index.js';
import { templateVmxPath } from '../../src/template/state.js';
import { GuestSimulator, type GuestBehaviour } from '../../simulators/guest-simulator.js';
import {
  healthySeedLab,
  registeredNode,
  type FakeNode,
  type KubeApiScenario,
} from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { VmrestSimulator, type VmrestSimulatorOptions } from '../../simulators/vmrest-simulator.js';
import { VmrunSimulator } from '../../simulators/vmrun-simulator.js';
import { lookUpVmrun } from '../../src/template/vmrun.js';
import type { ClusterSpec, NodeSpec } from '../../src/config/model.js';
import { VmrestClient } from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { fastClient, repoRoot, seedSpec } from '../bringup/lab.js';
import { captureOutput } from '../template/fixtures.js';
import type { CommandContext } from '../../src/commands/context.js';
import { writeWorkstationPreferences } from '../../simulators/workstation-preferences.js';

/**
 * Verify's bounds for the day-2 tests: the probe pods' scripts really run under /bin/sh, so they are
 * generous enough that a loaded machine does not fail them.
 */
export const fastVerify = {
  intervalMs: 20,
  timeouts: {
    serversReadyMs: 20_000,
    probesMs: 90_000,
    cleanupMs: 10_000,
    forceDeleteAfterMs: 300,
    addonsMs: 20_000,
    fromPcMs: 2_000,
  },
};

export interface Day2LabOptions {
  /** Changes to the fake API server's nodes (by name). */
  fakeNodes?: Record<string, Partial<FakeNode>>;
  scenario?: Partial<KubeApiScenario>;
  vmnets?: VmrestSimulatorOptions['vmnets'];
  guest?: GuestBehaviour;
  /** Build the cluster before the test (default true). */
  build?: boolean;
  /** Register the recorded join token in the fake API server as kubeadm init does (default true). */
  registerToken?: boolean;
  /** The fake API server follows the VMs' power (linkPowerToKubeApi): down while the control plane is off, a Node Ready only while its VM runs. */
  linkPower?: boolean;
  /** Install the vmrun stand-in and hand it to build-vms and rebuild-node: nodes are linked clones (the default road). */
  linked?: boolean;
}

export interface Day2Lab {
  dir: string;
  spec: ClusterSpec;
  vmrest: VmrestSimulator;
  client: VmrestClient;
  guests: GuestSimulator;
  kubeApi: KubeApiSimulator;
  /** Admin client of the fake API server. */
  kube: KubeClient;
  kubeAccess: KubeAccess;
  clonesFolder: string;
  events: BuildEvent[];
  logs: string[];
  rebuildDeps(overrides?: Partial<RebuildDeps>): RebuildDeps;
  /** build-vms' dependencies on this lab (events into `events`, the fake API server as the cluster's). */
  buildDeps(overrides?: Partial<BuildVmsDeps>): BuildVmsDeps;
  /** Stage timing for build-vms and rebuild-node in tests. */
  timing: { deadlineScale: number; pollMs: number };
  /** Rebuild options with test timing (tiny polls, scaled deadlines). */
  fast: RebuildOptions;
  /** Node VMs in the simulator (template excluded), by node name. */
  nodeVm(name: string): { id: string; vmxPath: string; power: string } | undefined;
  /** The vmrun stand-in (options.linked). */
  vmrun: VmrunSimulator | undefined;
  dispose(): Promise<void>;
}

export async function startDay2Lab(options: Day2LabOptions = {}): Promise<Day2Lab> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-day2-'));
  const clonesFolder = path.join(dir, 'Virtual Machines');
  const base = await seedSpec();
  const spec: ClusterSpec = { ...base, stateDir: path.join(dir, 'state') };

  const secrets = await loadOrCreateClusterSecrets({
    stateDir: spec.stateDir,
    clusterName: spec.name,
    apiEndpoint: spec.kubernetes.apiEndpoint,
  });
  const scenario = healthySeedLab({
    minor: spec.kubernetes.minor,
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      internalIP: n.nics.hostOnly.address,
      kubeletVersion: `v${spec.kubernetes.minor}.2`,
      ...options.fakeNodes?.[n.name],
    })),
    ...options.scenario,
  });
  const kubeApi = await KubeApiSimulator.start({ scenario, ca: secrets.ca });
  const kube = await KubeClient.fromKubeconfig(clusterSecretPaths(spec.stateDir).adminKubeconfig, {
    server: kubeApi.url,
  });
  if (options.registerToken !== false) {
    const expiresAt = tokenExpiry(spec.kubernetes.bootstrapTokenTtl);
    await createBootstrapTokenSecret(kube, secrets.bootstrapToken, expiresAt ? { expiresAt } : {});
  }

  await writeSimulatedTemplate(spec, Math.max(...spec.nodes.map((n) => n.diskGiB)));
  const guests = new GuestSimulator({
    spec,
    behaviour: { firstReportMs: 2, stageMs: 2, ...options.guest },
    onNodeComplete: async (node) => {
      if (!(await kube.getOptional<Node>(`/api/v1/nodes/${node.name}`)))
        await kube.request('POST', '/api/v1/nodes', { body: registeredNode(spec, node) });
    },
  });
  const credentials = { username: 'kubestation', password: 'Day2-test!' };
  const vmrest = await VmrestSimulator.start({
    defaultVmFolder: clonesFolder,
    ...credentials,
    registeredVmx: [templateVmxPath(spec)],
    bootDelayMs: 5,
    ...(options.vmnets ? { vmnets: options.vmnets } : {}),
    onGuestBoot: guests.onGuestBoot,
    ...(options.linkPower ? { onPowerChange: linkPowerToKubeApi(spec, kubeApi) } : {}),
  });
  const client = new VmrestClient({
    baseUrl: vmrest.url,
    credentials: new VmrestCredentials(credentials.username, credentials.password),
    ...fastClient,
  });
  const vmrun = options.linked
    ? await VmrunSimulator.start(vmrest, path.join(dir, 'Workstation'))
    : undefined;
  const vmrunDeps = vmrun
    ? {
        vmrun: lookUpVmrun(
          { vmware: { ...spec.vmware, installFolder: vmrun.installFolder } } as ClusterSpec,
          {},
        ),
      }
    : {};
  const events: BuildEvent[] = [];
  const logs: string[] = [];
  const kubeAccess: KubeAccess = {
    kubeconfig: clusterSecretPaths(spec.stateDir).adminKubeconfig,
    server: kubeApi.url,
    requestTimeoutMs: 2_000,
  };
  const timing = { deadlineScale: 0.01, pollMs: 5 };

  const buildDeps = (overrides: Partial<BuildVmsDeps> = {}): BuildVmsDeps => ({
    vmrest: client,
    writeSeed: cloudInitSeedWriter(),
    growDisk: growDescriptorDisk,
    verify: undefined,
    emit: (e) => events.push(e),
    clonesFolder,
    sshIdentityFile: undefined,
    kube: kubeAccess,
    freeBytes: async () => 10 * 2 ** 40,
    ...vmrunDeps,
    ...overrides,
  });
  if (options.build !== false) {
    const result = await buildVms(spec, buildDeps({ emit: () => undefined }), { timing });
    if (result.status !== 'ready') throw new Error(`day2 lab: build ended ${result.status}`);
  }

  return {
    dir,
    spec,
    vmrest,
    client,
    guests,
    kubeApi,
    kube,
    kubeAccess,
    clonesFolder,
    events,
    logs,
    fast: { timing, drainTimeoutMs: 2_000, readyTimeoutMs: 5_000, apiPollMs: 10 },
    timing,
    buildDeps,
    rebuildDeps(overrides = {}) {
      return {
        vmrest: client,
        writeSeed: cloudInitSeedWriter(),
        growDisk: growDescriptorDisk,
        clonesFolder,
        kube: kubeAccess,
        emit: (e) => events.push(e),
        log: (line) => logs.push(line),
        freeBytes: async () => 10 * 2 ** 40,
        ...vmrunDeps,
        ...overrides,
      };
    },
    nodeVm(name) {
      return vmrest.vms().find((vm) => path.basename(vm.vmxPath) === `${name}.vmx`);
    },
    vmrun,
    async dispose() {
      guests.stop();
      await client.close();
      await vmrun?.close();
      await kube.close();
      await vmrest.close();
      await kubeApi.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `<lab>/cluster.yaml`: the shipped one with stateDir and vmFolder pointing into the lab. */
export async function writeDay2ClusterFile(l: Day2Lab): Promise<string> {
  const text = (await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8')).replace(
    /^stateDir: .*$/m,
    `stateDir: ${JSON.stringify(l.spec.stateDir)}`,
  );
  await writeWorkstationPreferences({ HOME: l.dir }, l.clonesFolder, { platform: 'linux' });
  const file = path.join(l.dir, 'cluster.yaml');
  await writeFile(file, text);
  return file;
}

/** Runs a command as the CLI would, against the lab's simulators (vmrest and API server through the environment). */
export async function runDay2Command(
  l: Day2Lab,
  run: (ctx: CommandContext) => Promise<number>,
  argv: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = captureOutput();
  const err = captureOutput();
  const env = {
    HOME: l.dir,
    VMREST_URL: l.vmrest.url,
    VMREST_USERNAME: 'kubestation',
    VMREST_PASSWORD: 'Day2-test!',
    KUBESTATION_API_SERVER: l.kubeApi.url,
    KUBESTATION_HOST_ONLY_PROXY: l.kubeApi.hostOnlyProxy,
  };
  const code = await run({
    argv: [...argv, '--cluster', await writeDay2ClusterFile(l)],
    stdout: out.stream,
    stderr: err.stream,
    env,
    cwd: l.dir,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}
