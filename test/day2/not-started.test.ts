/**
 * Before build-vms has started the control plane there is no API server of
 * this cluster: status, doctor and verify say so from the build state and
 * connect to nothing (an older lab on the same address would answer with
 * its own CA). Once it was started, verify asks the API server, at
 * KUBESTATION_API_SERVER when that is set, like status, doctor and build-vms.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { BuildStateStore } from '../../src/bringup/state.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { loadOrCreateClusterSecrets } from '../../src/pki/index.js';
import { healthySeedLab } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { VmrestSimulator } from '../../simulators/vmrest-simulator.js';
import { seedLabText } from '../config/bad-spec-cases.js';
import { captureOutput } from '../template/fixtures.js';

/** A TCP listener on 127.0.0.1 that only counts the connections made to it. */
async function connectionCounter(): Promise<{
  url: string;
  count: () => number;
  close: () => Promise<void>;
}> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    count: () => count,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

let dir: string;
let spec: ClusterSpec;
let vmrest: VmrestSimulator;
let api: Awaited<ReturnType<typeof connectionCounter>>;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-not-started-'));
  await writeFile(path.join(dir, 'cluster.yaml'), seedLabText);
  spec = parseClusterSpec(seedLabText, { sourcePath: path.join(dir, 'cluster.yaml') });
  // What seed-isos (or an interrupted first run) leaves: the CA and the admin kubeconfig, no VM.
  await loadOrCreateClusterSecrets({
    stateDir: spec.stateDir,
    clusterName: spec.name,
    apiEndpoint: spec.kubernetes.apiEndpoint,
  });
  vmrest = await VmrestSimulator.start({
    defaultVmFolder: path.join(dir, 'Virtual Machines'),
    username: 'kube',
    password: 'Not-shown-1',
  });
  api = await connectionCounter();
});

afterEach(async () => {
  await vmrest.close();
  await api.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out = captureOutput();
  const err = captureOutput();
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: {
      VMREST_URL: vmrest.url,
      VMREST_USERNAME: 'kube',
      VMREST_PASSWORD: 'Not-shown-1',
      KUBESTATION_API_SERVER: api.url,
      ...env,
    },
    cwd: dir,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

const notStarted =
  'cluster k8s-lab has no API server yet: build-vms has not started its control plane k8s-master';

describe('before any VM was built', () => {
  it('status says the cluster has no API server yet, without connecting', async () => {
    const { code, stdout } = await cli(['status', '--json']);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as { api: { reachable: boolean; reason: string } };
    expect(status.api).toEqual({ reachable: false, reason: expect.stringContaining(notStarted) });
    expect(status.api.reason).not.toMatch(/CA/);
    expect(api.count()).toBe(0);
  });

  it('doctor fails the API check with that cause and the fix, without connecting', async () => {
    const { code, stdout } = await cli(['doctor', '--json']);
    expect(code).toBe(1);
    const check = (
      JSON.parse(stdout) as { checks: Array<{ id: string; status: string; detail: string; fix: string }> }
    ).checks.find((c) => c.id === 'kubernetes-api');
    expect(check).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(notStarted),
      fix: 'build the lab first: .\\kubestation up (or .\\kubestation up --simulate to try it without VMware)',
    });
    expect(api.count()).toBe(0);
  });

  it('verify refuses: no lab built yet, with the command that builds it, without connecting', async () => {
    const { code, stderr } = await cli(['verify']);
    expect(code).toBe(1);
    expect(stderr).toContain('kubestation verify: no lab built yet: cluster k8s-lab has no VM');
    expect(stderr).toContain('fix: build the lab first: .\\kubestation up');
    expect(api.count()).toBe(0);
  });

  it('verify refuses with the not-started cause once a worker was cloned but not the control plane', async () => {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.update((s) => {
      s.nodes['k8s-worker1'] = { vmName: 'k8s-worker1', stepsDoneAt: {}, step: 'clone' };
    });
    const { code, stderr } = await cli(['verify']);
    expect(code).toBe(1);
    expect(stderr).toContain(`kubestation verify: ${notStarted}`);
    expect(api.count()).toBe(0);
  });

  it('says the same with no KUBESTATION_API_SERVER (the real address is never tried)', async () => {
    // The test's loopback guard would throw on a connection to the control plane's 172.100.100.2.
    const { stdout } = await cli(['status', '--json'], { KUBESTATION_API_SERVER: '' });
    expect((JSON.parse(stdout) as { api: { reason: string } }).api.reason).toContain(notStarted);
  });
});

describe('once build-vms started the control plane', () => {
  it('verify asks the API server at KUBESTATION_API_SERVER', async () => {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.update((s) => {
      s.nodes[spec.controlPlane.name] = {
        vmName: spec.controlPlane.name,
        stepsDoneAt: {},
        poweredOnAt: new Date().toISOString(),
      };
    });
    const secrets = await loadOrCreateClusterSecrets({
      stateDir: spec.stateDir,
      clusterName: spec.name,
      apiEndpoint: spec.kubernetes.apiEndpoint,
    });
    const sim = await KubeApiSimulator.start({ scenario: healthySeedLab(), ca: secrets.ca });
    try {
      // The admin kubeconfig names https://172.100.100.2:6443; without the override the loopback guard would throw.
      const { code, stdout } = await cli(['verify', '--json'], { KUBESTATION_API_SERVER: sim.url });
      await sim.settle();
      expect(code).toBe(0);
      expect((JSON.parse(stdout) as { ok: boolean }).ok).toBe(true);
    } finally {
      await sim.close();
    }
  });
});
