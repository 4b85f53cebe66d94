/**
 * The simulators as a standalone process, for driving the real CLI from
 * outside (the Windows tier runs the CLI as win32 under Wine against this
 * Linux process): the vmrest simulator with the template registered, the
 * simulated guests and the fake Kubernetes API trusting the cluster's CA —
 * the lab the day-2 tests build in-process, on 127.0.0.1 only.
 *
 *   node --import tsx simulators/serve.ts '<json options>'
 *
 * Options (JSON, one argument): `cluster` (cluster.yaml, a local path; its
 * stateDir must already hold the PKI, e.g. from `seed-isos`), `vmFolder`
 * (Workstation's default VM folder, local), and for a simulated Windows host
 * `windowsDrives` ({ "c": "<wine prefix>/drive_c", "z": "/" }); `bootLog` records
 * each .vmx as its guest booted with it. It prints one
 * JSON line — { vmrestUrl, kubeApiUrl, username, password } — and serves until
 * stdin closes or it gets SIGTERM/SIGINT.
 */
import { randomBytes } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { loadClusterSpec } from '../src/config/load.js';
import { createBootstrapTokenSecret, KubeClient, tokenExpiry, type Node } from '../src/kube/index.js';
import { clusterSecretPaths, loadOrCreateClusterSecrets } from '../src/pki/index.js';
import { templateVmxPath } from '../src/template/state.js';
import { GuestSimulator } from './guest-simulator.js';
import { localHostPaths, windowsHostPaths } from './host-paths.js';
import { healthySeedLab, registeredNode } from './kube-api-scenarios.js';
import { KubeApiSimulator } from './kube-api-simulator.js';
import { writeSimulatedTemplate } from './simulated-lab.js';
import { VmrestSimulator } from './vmrest-simulator.js';

export interface ServeOptions {
  cluster: string;
  vmFolder: string;
  windowsDrives?: Record<string, string>;
  /** The template's disk size (default: the largest node disk); smaller makes every clone's disk grow. */
  templateDiskGiB?: number;
  /** Guest stage time in ms (default 20). */
  stageMs?: number;
  /** Appends one JSON line per guest boot: the VM's host path and its .vmx as the guest booted with it. */
  bootLog?: string;
}

export interface ServedLab {
  vmrestUrl: string;
  kubeApiUrl: string;
  /** "127.0.0.1:port" of the VMnet1 stand-in (an HTTP CONNECT proxy): pass it as KUBESTATION_HOST_ONLY_PROXY. */
  hostOnlyProxy: string;
  username: string;
  password: string;
  vmrest: VmrestSimulator;
  close(): Promise<void>;
}

export async function serveLab(options: ServeOptions): Promise<ServedLab> {
  const spec = await loadClusterSpec(options.cluster);
  const hostPaths = options.windowsDrives ? windowsHostPaths(options.windowsDrives) : localHostPaths;
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
    })),
    cni: spec.kubernetes.cni.name,
    controlPlaneTaint: spec.kubernetes.controlPlaneTaint,
    dnsDomain: spec.kubernetes.dnsDomain,
  });
  const kubeApi = await KubeApiSimulator.start({ scenario, ca: secrets.ca });
  const kube = await KubeClient.fromKubeconfig(clusterSecretPaths(spec.stateDir).adminKubeconfig, {
    server: kubeApi.url,
  });
  // kubeadm init registers the join token; rebuild-node reuses it while it is valid.
  const expiresAt = tokenExpiry(spec.kubernetes.bootstrapTokenTtl);
  await createBootstrapTokenSecret(kube, secrets.bootstrapToken, expiresAt ? { expiresAt } : {});

  await writeSimulatedTemplate(
    spec,
    options.templateDiskGiB ?? Math.max(...spec.nodes.map((n) => n.diskGiB)),
    { hostPath: (local) => hostPaths.toHost(local) },
  );
  const stageMs = options.stageMs ?? 20;
  const guests = new GuestSimulator({
    spec,
    behaviour: { firstReportMs: stageMs, stageMs },
    // A rebuilt worker registers its Node again, as its kubelet does.
    onNodeComplete: async (node) => {
      if (!(await kube.getOptional<Node>(`/api/v1/nodes/${node.name}`)))
        await kube.request('POST', '/api/v1/nodes', { body: registeredNode(spec, node) });
    },
  });
  const credentials = { username: 'kubestation', password: `Serve-${randomBytes(4).toString('hex')}!` };
  const vmrest = await VmrestSimulator.start({
    defaultVmFolder: options.vmFolder,
    hostPaths,
    ...credentials,
    registeredVmx: [templateVmxPath(spec)],
    bootDelayMs: 50,
    onGuestBoot: async (guest) => {
      if (options.bootLog) {
        const vmx = Object.fromEntries((await guest.readVmx()).entries());
        await appendFile(
          options.bootLog,
          `${JSON.stringify({ name: guest.name, vmxPath: hostPaths.toHost(guest.vmxPath), vmx })}\n`,
        );
      }
      await guests.onGuestBoot(guest);
    },
    onHookError: (error) =>
      process.stderr.write(
        `serve: guest hook failed: ${error instanceof Error ? error.stack : String(error)}\n`,
      ),
  });
  return {
    vmrestUrl: vmrest.url,
    kubeApiUrl: kubeApi.url,
    hostOnlyProxy: kubeApi.hostOnlyProxy,
    ...credentials,
    vmrest,
    async close() {
      guests.stop();
      await kube.close();
      await vmrest.close();
      await kubeApi.close();
    },
  };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const lab = await serveLab(JSON.parse(process.argv[2] ?? '{}') as ServeOptions);
  process.stdout.write(
    `${JSON.stringify({ vmrestUrl: lab.vmrestUrl, kubeApiUrl: lab.kubeApiUrl, hostOnlyProxy: lab.hostOnlyProxy, username: lab.username, password: lab.password })}\n`,
  );
  const stop = (): void => {
    void lab.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
