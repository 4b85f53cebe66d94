/**
 * doctor's first-boot and seed-label checks against state folders written by
 * hand: a failed stage, a stage stuck past its limit, a node still going, a
 * VM that stopped mid-boot, and seed ISOs with the right and a wrong label.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeBuildState } from '../../src/bringup/state.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { firstBootCheck, seedLabelCheck } from '../../src/day2/first-boot-checks.js';
import { buildIso } from '../../src/iso/iso9660.js';
import { formatNetworkFailure, NETWORK_CAUSES } from '../../src/progress/network-causes.js';
import { formatProgressLine } from '../../src/progress/protocol.js';
import { seedSpec } from '../bringup/lab.js';

const MIN = 60_000;
// Real time: the checks bound guest stamps by the console file's modification time.
const NOW = Math.floor(Date.now() / MIN) * MIN + MIN;
const POWER_ON = NOW - 60 * MIN;

let dir: string;
let spec: ClusterSpec;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-firstboot-'));
  spec = { ...(await seedSpec()), stateDir: dir };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const record = (extra: Partial<NodeBuildState> = {}): NodeBuildState => ({
  vmName: 'x',
  stepsDoneAt: {},
  poweredOnAt: new Date(POWER_ON).toISOString(),
  ...extra,
});
const line = (
  node: string,
  stage: string,
  event: 'start' | 'ok' | 'fail',
  timeMs: number,
  message = '',
): string => `${formatProgressLine({ node, stage, event, timeMs, message })}\n`;

async function serial(node: string, text: string): Promise<void> {
  await mkdir(path.join(dir, node), { recursive: true });
  await writeFile(path.join(dir, node, 'serial.log'), text);
}

describe('first-boot check', () => {
  it('a stage that failed: fail, with the stage, its reason and how to look inside', async () => {
    const master = spec.nodes[0]!;
    await serial(
      'k8s-master',
      line('k8s-master', 'packages', 'start', POWER_ON + 2 * MIN) +
        line(
          'k8s-master',
          'packages',
          'fail',
          POWER_ON + 5 * MIN,
          'exit code 100 (log /var/log/kubestation/packages.log) | last log lines:\nE: Unable to locate package kubelet',
        ),
    );
    const check = await firstBootCheck(spec, master, record(), 'poweredOn', NOW);
    expect(check).toMatchObject({ id: 'first-boot:k8s-master', status: 'fail' });
    expect(check.detail).toBe(
      'stage "packages" (containerd, kubelet, kubeadm, kubectl and tools) failed: exit code 100 (log /var/log/kubestation/packages.log) | last log lines:',
    );
    expect(check.fix).toContain(`ssh -F ${path.join(dir, 'ssh_config')} k8s-master`);
    expect(check.fix).toContain('.\\kubestation rebuild-node k8s-master --force');
  });

  it('a network fail line: the cause and its Windows fix from network-causes', async () => {
    const worker = spec.nodes[1]!;
    await serial(
      'k8s-worker1',
      line('k8s-worker1', 'packages', 'start', POWER_ON + 2 * MIN) +
        line(
          'k8s-worker1',
          'packages',
          'fail',
          POWER_ON + 3 * MIN,
          `${formatNetworkFailure('gateway', 'the NAT gateway 192.168.5.2 does not answer')} (exit code 20, log /var/log/kubestation/packages.log) | last log lines:\nnetwork check: no reply`,
        ),
    );
    const check = await firstBootCheck(spec, worker, record(), 'poweredOn', NOW);
    expect(check).toMatchObject({
      status: 'fail',
      detail: `stage "packages" failed: ${NETWORK_CAUSES.gateway.title} (the NAT gateway 192.168.5.2 does not answer)`,
    });
    expect(check.fix).toContain('VMware NAT Service');
    expect(check.fix).toContain('.\\kubestation rebuild-node k8s-worker1');
    expect(check.fix).not.toContain('<node>');
  });

  it('a stage running past its limit: stuck; within it: ok with how long', async () => {
    const worker = spec.nodes[1]!;
    // os: 300 s + 120 s grace = 7 min; started 50 min ago.
    await serial('k8s-worker1', line('k8s-worker1', 'os', 'start', POWER_ON + 10 * MIN));
    expect(await firstBootCheck(spec, worker, record(), 'poweredOn', NOW)).toMatchObject({
      status: 'fail',
      detail: 'stuck in stage "os" for 50 min, past its limit of 7 min',
    });
    await serial(
      'k8s-worker1',
      line('k8s-worker1', 'os', 'ok', NOW - 5 * MIN) +
        line('k8s-worker1', 'packages', 'start', NOW - 4 * MIN),
    );
    expect(await firstBootCheck(spec, worker, record(), 'poweredOn', NOW)).toMatchObject({
      status: 'ok',
      detail: 'in stage "packages" for 4 min (limit 32 min)',
    });
    // The VM was powered off mid-stage: the first boot does not resume.
    expect(await firstBootCheck(spec, worker, record(), 'poweredOff', NOW)).toMatchObject({
      status: 'warn',
      detail: 'first boot stopped in stage "packages": the VM is poweredOff',
    });
  });

  it("a guest clock ahead of the file's last change is not believed: the time is bounded by the file", async () => {
    const worker = spec.nodes[2]!;
    await serial('k8s-worker2', line('k8s-worker2', 'os', 'start', NOW + 9 * 60 * MIN));
    // The file was written just now (mtime), so the stage started at most moments ago: not stuck.
    expect(await firstBootCheck(spec, worker, record(), 'poweredOn', NOW + 1000)).toMatchObject({
      status: 'ok',
    });
  });

  it('no line at all long after power-on: fail pointing at the seed; finished or never started: ok', async () => {
    const master = spec.nodes[0]!;
    await serial('k8s-master', '[    0.000000] Linux version 6.8.0\n');
    expect(await firstBootCheck(spec, master, record(), 'poweredOn', NOW)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no progress line in'),
      fix: expect.stringContaining('did not find the seed'),
    });
    expect(
      await firstBootCheck(
        spec,
        master,
        record({ completedAt: new Date(NOW).toISOString() }),
        'poweredOn',
        NOW,
      ),
    ).toMatchObject({ status: 'ok' });
    expect(
      await firstBootCheck(spec, master, record({ poweredOnAt: undefined }), undefined, NOW),
    ).toMatchObject({ status: 'ok', detail: expect.stringContaining('not powered on') });
  });
});

describe('seed-label check', () => {
  it('passes a cidata seed, fails a wrongly labelled or missing one', async () => {
    const node = spec.nodes[1]!;
    const isoPath = path.join(dir, node.name, 'seed.iso');
    await mkdir(path.dirname(isoPath), { recursive: true });
    const seed = record({ seed: { isoPath, fileRemoved: false, detached: false } });
    await writeFile(
      isoPath,
      buildIso([{ name: 'meta-data', content: 'instance-id: x\n' }], { volumeId: 'cidata' }),
    );
    expect(await seedLabelCheck(spec, node, seed, undefined)).toMatchObject({
      status: 'ok',
      detail: `${isoPath} labelled cidata (Joliet cidata)`,
    });

    const src = path.join(dir, 'src');
    await mkdir(src);
    await writeFile(path.join(src, 'meta-data'), 'instance-id: x\n');
    await execa('genisoimage', ['-quiet', '-o', isoPath, '-V', 'config-2', '-J', src]);
    expect(await seedLabelCheck(spec, node, seed, undefined)).toMatchObject({
      status: 'fail',
      detail: `${isoPath} is labelled "config-2", not "cidata": cloud-init will not find it`,
    });

    await rm(isoPath);
    expect(await seedLabelCheck(spec, node, seed, undefined)).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is missing'),
    });
    // After bootstrap the seed-iso check wants it gone: no label check.
    expect(
      await seedLabelCheck(spec, node, { ...seed, completedAt: new Date(NOW).toISOString() }, undefined),
    ).toBeUndefined();
  });
});
