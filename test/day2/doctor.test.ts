import { existsSync } from 'node:fs';
import { rm, writeFile, utimes } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildStateStore, readBuildState } from '../../src/bringup/state.js';
import {
  runDoctor,
  formatDoctorReport,
  vmwareDefaultDhcpPool,
  type DoctorCheck,
  type DoctorDeps,
  type DoctorReport,
} from '../../src/day2/doctor.js';
import { type Node } from '../../src/kube/index.js';
import { clusterSecretPaths, parseBootstrapToken } from '../../src/pki/index.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { templateStatePath, templateVmxPath } from '../../src/template/state.js';
import { VmrestClient } from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { VmrestNotRunningError } from '../../src/vmrest/errors.js';
import { fastClient } from '../bringup/lab.js';
import { startDay2Lab, type Day2Lab, type Day2LabOptions } from './lab.js';

let lab: Day2Lab | undefined;
const extraClients: VmrestClient[] = [];
afterEach(async () => {
  await Promise.all(extraClients.splice(0).map((c) => c.close()));
  await lab?.dispose();
  lab = undefined;
});

async function start(options: Day2LabOptions = {}): Promise<Day2Lab> {
  lab = await startDay2Lab(options);
  return lab;
}

function doctor(
  l: Day2Lab,
  overrides: Partial<DoctorDeps> = {},
  spec: ClusterSpec = l.spec,
): Promise<DoctorReport> {
  return runDoctor(spec, { vmrest: l.client, kube: l.kubeAccess, ...overrides });
}

const check = (report: DoctorReport, id: string): DoctorCheck => {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
};
const notOk = (report: DoctorReport) =>
  report.checks.filter((c) => c.status !== 'ok').map((c) => `${c.id}: ${c.status}`);

describe('doctor', () => {
  it('passes every check on a healthy built lab', async () => {
    const l = await start();
    const report = await doctor(l);
    expect(notOk(report)).toEqual([]);
    expect(report.ok).toBe(true);
    const ids = report.checks.map((c) => c.id);
    for (const id of ['vmrest', 'vmnet:vmnet8', 'vmnet:vmnet1', 'template', 'join-token', 'kubernetes-api'])
      expect(ids).toContain(id);
    for (const n of l.spec.nodes)
      for (const kind of ['dhcp', 'vm', 'seed-iso', 'node', 'cni', 'clock'])
        expect(ids).toContain(`${kind}:${n.name}`);
    const text = formatDoctorReport(report);
    expect(text).toMatch(/0 failed, 0 warning\(s\), \d+ ok\n$/);
    // The build's observations of the unverified behaviours, as state.json holds them (--json: the same object).
    expect(report.assumptions['clone-in-default-folder']?.latest.value).toBe('default-folder');
    expect(text).toMatch(
      /\nassumptions observed on this host .*\n {2}vmrest-params-running-vm: refused .*\n {2}nic-index: ethernet<N-1> \(index 1 = ethernet0, index 2 = ethernet1\), \d{4}-\S+Z, by vmrest GET \/vms\/\{id\}\/nic\n/,
    );
    const token = parseBootstrapToken(
      (await import('node:fs')).readFileSync(clusterSecretPaths(l.spec.stateDir).bootstrapToken, 'utf8'),
    )!;
    expect(text).not.toContain(token.secret);
  });

  it('vmrest not running: fail with how to start it', async () => {
    const l = await start({ build: false });
    const closed = new VmrestClient({
      baseUrl: 'http://127.0.0.1:9/api',
      credentials: new VmrestCredentials('kubestation', 'Day2-test!'),
      ...fastClient,
    });
    extraClients.push(closed);
    const report = await doctor(l, { vmrest: closed });
    expect(check(report, 'vmrest')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('not answering'),
      fix: expect.stringContaining('vmrest.exe'),
    });
    expect(report.ok).toBe(false);
    expect(report.checks.some((c) => c.id === 'template')).toBe(false);
  });

  it('vmrest with wrong credentials: fail naming the env variables', async () => {
    const l = await start({ build: false });
    const wrong = new VmrestClient({
      baseUrl: l.vmrest.url,
      credentials: new VmrestCredentials('kubestation', 'Wrong-pass1!'),
      ...fastClient,
    });
    extraClients.push(wrong);
    const report = await doctor(l, { vmrest: wrong });
    expect(check(report, 'vmrest')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('401'),
      fix: expect.stringContaining('VMREST_PASSWORD'),
    });
    expect(formatDoctorReport(report)).not.toContain('Wrong-pass1!');
  });

  it('vmrest credentials missing (no client): fail with the reason', async () => {
    const l = await start({ build: false });
    const report = await doctor(l, {
      vmrest: undefined,
      vmrestUnavailable: new VmrestNotRunningError('http://127.0.0.1:8697/api', { call: 'GET /vms' }),
    });
    expect(check(report, 'vmrest').status).toBe('fail');
  });

  it('a vmnet subnet differing from cluster.yaml: fail with the Virtual Network Editor / vnetlib64 fix', async () => {
    const l = await start({
      build: false,
      vmnets: [
        { name: 'vmnet1', type: 'hostOnly', dhcp: 'true', subnet: '172.100.100.0', mask: '255.255.255.0' },
        { name: 'vmnet8', type: 'nat', dhcp: 'true', subnet: '192.168.100.0', mask: '255.255.255.0' },
      ],
    });
    const report = await doctor(l);
    expect(check(report, 'vmnet:vmnet8')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('192.168.100.0'),
      fix: expect.stringContaining('vnetlib64.exe'),
    });
    expect(check(report, 'vmnet:vmnet1').status).toBe('ok');
  });

  it("a static address inside a DHCP-enabled vmnet's pool: warn with the fix", async () => {
    const l = await start({ build: false });
    expect(vmwareDefaultDhcpPool('172.100.100.0', 24)).toEqual({
      start: '172.100.100.128',
      end: '172.100.100.254',
    });
    const spec = structuredClone(l.spec);
    const worker = spec.nodes.find((n) => n.name === 'k8s-worker2')!;
    worker.nics.hostOnly.address = '172.100.100.150';
    // Inside the host-only range cluster.yaml declares (networks.hostOnly.dhcpRange, default .128–.254): fail.
    expect(check(await doctor(l, {}, spec), 'dhcp:k8s-worker2')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining(
        '172.100.100.150 on vmnet1 is inside the DHCP range 172.100.100.128–172.100.100.254 of cluster.yaml',
      ),
    });
    // Declared elsewhere, but inside the pool VMware gives a vmnet by default: warn, naming both.
    spec.networks.hostOnly.dhcpRange = { start: '172.100.100.200', end: '172.100.100.254' };
    const report = await doctor(l, {}, spec);
    expect(check(report, 'dhcp:k8s-worker2')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining(
        "172.100.100.150 on vmnet1 is inside VMware's default DHCP pool 172.100.100.128–172.100.100.254 (cluster.yaml declares 172.100.100.200–172.100.100.254",
      ),
      fix: expect.stringContaining('DHCP Settings'),
    });
    expect(check(report, 'dhcp:k8s-worker1').status).toBe('ok');
    // Inside the range cluster.yaml declares for the NAT network: fail.
    spec.nodes.find((n) => n.name === 'k8s-worker1')!.nics.nat.address = '192.168.5.210';
    expect(check(await doctor(l, {}, spec), 'dhcp:k8s-worker1').status).toBe('fail');
  });

  it('the template missing: fail with build-template', async () => {
    const l = await start({ build: false });
    const spec = {
      ...l.spec,
      vmware: { ...l.spec.vmware, template: { ...l.spec.vmware.template, name: 'no-such-template' } },
    };
    await rm(templateStatePath(spec)); // never built by build-template
    const report = await doctor(l, {}, spec);
    expect(check(report, 'template')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no-such-template has not been built'),
      fix: expect.stringContaining('.\\kubestation build-template'),
    });
  });

  it('the template powered on: fail', async () => {
    const l = await start({ build: false });
    const template = (await l.client.findVm({ vmxPath: templateVmxPath(l.spec) }))!;
    await l.client.setPowerState(template.id, 'on');
    const report = await doctor(l);
    expect(check(report, 'template')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is poweredOn'),
      fix: expect.stringContaining('Shut down'),
    });
  });

  it('a seed ISO still there after bootstrap: fail (it holds the CA key and token)', async () => {
    const l = await start();
    const state = await readBuildState(l.spec.stateDir, l.spec.name);
    const iso = state.nodes['k8s-worker1']!.seed!.isoPath;
    await writeFile(iso, 'left behind');
    const report = await doctor(l);
    expect(check(report, 'seed-iso:k8s-worker1')).toMatchObject({
      status: 'fail',
      detail: `${iso} still exists; they hold the join token`,
      fix: expect.stringContaining('build-vms'),
    });
    expect(check(report, 'seed-iso:k8s-worker2').status).toBe('ok');
  });

  it("the control plane's user-data still there after bootstrap: fail (CA key and token)", async () => {
    const l = await start();
    const userData = path.join(l.spec.stateDir, 'k8s-master', 'user-data');
    expect(existsSync(userData)).toBe(false); // the build deleted it
    await writeFile(userData, '#cloud-config\n');
    const report = await doctor(l);
    expect(check(report, 'seed-iso:k8s-master')).toMatchObject({
      status: 'fail',
      detail: `${userData} still exists; they hold the cluster CA key and the join token`,
    });
  });

  it('the join token expired (API server answers): warn, rebuild-node mints a new one', async () => {
    const l = await start();
    const token = parseBootstrapToken(
      (await import('node:fs')).readFileSync(clusterSecretPaths(l.spec.stateDir).bootstrapToken, 'utf8'),
    )!;
    await l.kube.deleteSecret('kube-system', `bootstrap-token-${token.id}`);
    const report = await doctor(l);
    expect(check(report, 'join-token')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('not registered'),
      fix: expect.stringContaining('rebuild-node'),
    });
  });

  it('the join token expired (API server unreachable, estimated from the store) while workers still have to join: fail', async () => {
    const l = await start({ build: false });
    // Half built: the control plane was cloned and powered on, no worker has joined (a lab never built has no token check).
    const store = await BuildStateStore.open(l.spec.stateDir, l.spec.name);
    await store.update((s) => {
      s.nodes['k8s-master'] = {
        vmName: 'k8s-master',
        stepsDoneAt: {},
        step: 'power-on',
        poweredOnAt: new Date().toISOString(),
      };
    });
    // A state folder from before the issue record: the token file's time is the issue time.
    const paths = clusterSecretPaths(l.spec.stateDir);
    await rm(paths.bootstrapTokenIssued);
    const longAgo = new Date(Date.now() - 40 * 24 * 3600_000);
    await utimes(paths.bootstrapToken, longAgo, longAgo);
    const report = await doctor(l, { kube: { ...l.kubeAccess, server: 'https://127.0.0.1:9' } });
    // No worker completed in this half-built lab: joins are pending, so it fails.
    expect(check(report, 'join-token')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/expired.*k8s-worker1, k8s-worker2 have not joined/),
    });
    expect(check(report, 'kubernetes-api')).toMatchObject({
      status: 'fail',
      fix: expect.stringContaining('control-plane VM'),
    });
  });

  it('a node InternalIP not on the host-only network: fail with node-ip', async () => {
    const l = await start({ build: false, fakeNodes: { 'k8s-worker1': { internalIP: '192.168.5.12' } } });
    const report = await doctor(l);
    expect(check(report, 'node:k8s-worker1')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('192.168.5.12, expected 172.100.100.'),
      fix: expect.stringContaining('node-ip='),
    });
    expect(check(report, 'node:k8s-worker2').status).toBe('ok');
  });

  it('the CNI pod not running on a node: fail', async () => {
    const l = await start({ build: false, fakeNodes: { 'k8s-worker2': { ready: false } } });
    const report = await doctor(l);
    expect(check(report, 'cni:k8s-worker2')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('CrashLoopBackOff'),
      fix: expect.stringContaining('--iface=ens37'),
    });
    expect(check(report, 'cni:k8s-worker1').status).toBe('ok');
  });

  it('a node clock ahead of this PC: fail with the time-sync fix', async () => {
    const l = await start({ build: false });
    const node = await l.kube.getNode('k8s-worker1');
    const conditions = node.status!.conditions!.map((c) =>
      c.type === 'Ready' ? { ...c, lastHeartbeatTime: new Date(Date.now() + 120_000).toISOString() } : c,
    );
    await l.kube.patchNode('k8s-worker1', { status: { conditions } } satisfies Partial<Node>);
    const report = await doctor(l);
    expect(check(report, 'clock:k8s-worker1')).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/1[12]\d s in this PC's future/),
      fix: expect.stringContaining('chronyc'),
    });
    expect(check(report, 'clock:k8s-worker2').status).toBe('ok');
  });

  it('a Ready node whose status is far older than it can be: warn (clock behind)', async () => {
    const l = await start({ build: false });
    const node = await l.kube.getNode('k8s-worker2');
    const conditions = node.status!.conditions!.map((c) =>
      c.type === 'Ready' ? { ...c, lastHeartbeatTime: new Date(Date.now() - 15 * 60_000).toISOString() } : c,
    );
    await l.kube.patchNode('k8s-worker2', { status: { conditions } });
    expect(check(await doctor(l), 'clock:k8s-worker2')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('probably behind'),
    });
  });

  it('the API server unreachable: fail, and the node checks are skipped', async () => {
    const l = await start({ build: false });
    const report = await doctor(l, { kube: { ...l.kubeAccess, server: 'https://127.0.0.1:9' } });
    expect(check(report, 'kubernetes-api')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('skipped'),
    });
    expect(report.checks.some((c) => c.id.startsWith('node:'))).toBe(false);
  });
});
