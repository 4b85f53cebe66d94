/**
 * The console follower against serial log files written by hand, on a
 * controlled host clock: what a re-run reads from consoles that already hold
 * a first boot's history, several nodes failing at once, a guest clock that
 * cannot be believed, and the report's console tail.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsoleFollower, NodeFailedError, type FollowTiming } from '../../src/bringup/follow.js';
import type { BuildEvent } from '../../src/bringup/ports.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { formatProgressLine, type ProgressEvent } from '../../src/progress/protocol.js';
import { seedSpec } from './lab.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
/** Host "now" of every test: the VMs were powered on 2 h before. */
const NOW = Date.parse('2026-12-02T10:00:00Z');
const POWER_ON = NOW - 2 * HOUR;

let dir: string;
let spec: ClusterSpec;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-follow-'));
  spec = await seedSpec();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (node: string, stage: string, event: ProgressEvent, timeMs: number, message = ''): string =>
  `${formatProgressLine({ node, stage, event, timeMs, message })}\n`;

function follower(timing: Partial<FollowTiming> = {}): {
  follower: ConsoleFollower;
  events: BuildEvent[];
  serial: (node: string) => string;
  clock: { now: number };
} {
  const events: BuildEvent[] = [];
  const clock = { now: NOW };
  const f = new ConsoleFollower(
    (e) => events.push(e),
    { now: () => clock.now, ...timing },
    path.join('C:\\lab\\.kubestation', 'ssh_config'),
  );
  const serial = (node: string): string => path.join(dir, `${node}.log`);
  for (const node of spec.nodes) f.add({ node, serialLog: serial(node.name), poweredOnAtMs: POWER_ON });
  return { follower: f, events, serial, clock };
}

async function pollError(f: ConsoleFollower): Promise<NodeFailedError> {
  const error = await f.pollOnce().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NodeFailedError);
  return error as NodeFailedError;
}

describe('a re-run reading consoles that already hold a first boot', () => {
  it('reports each stage with the duration the guest stamped, not 0 s', async () => {
    const { follower: f, events, serial } = follower();
    const t0 = NOW - 3 * MIN;
    await writeFile(
      serial('k8s-master'),
      [
        line('k8s-master', 'os', 'start', t0),
        line('k8s-master', 'os', 'ok', t0 + 42_000),
        line('k8s-master', 'packages', 'start', t0 + 42_500),
      ].join(''),
    );
    for (const w of ['k8s-worker1', 'k8s-worker2'])
      await writeFile(serial(w), line(w, 'os', 'start', NOW - 1000));
    await f.pollOnce();
    const ok = events.find((e) => e.type === 'stage' && e.node === 'k8s-master' && e.event === 'ok');
    expect(ok).toMatchObject({
      stage: 'os',
      elapsedMs: 42_000,
      atMs: t0 + 42_000,
      totalMs: t0 + 42_000 - POWER_ON,
    });
    const packages = events.find(
      (e) => e.type === 'stage' && e.node === 'k8s-master' && e.stage === 'packages',
    );
    expect(packages).toMatchObject({ event: 'start', atMs: t0 + 42_500 });
  });

  it('fails a guest that went silent long ago at once, not after a fresh deadline', async () => {
    const { follower: f, serial } = follower();
    // packages started 1 h 55 min ago; its limit is 1800 s + 120 s = 32 min.
    await writeFile(
      serial('k8s-master'),
      [
        line('k8s-master', 'os', 'start', POWER_ON + 60_000),
        line('k8s-master', 'os', 'ok', POWER_ON + 4 * MIN),
        line('k8s-master', 'packages', 'start', POWER_ON + 5 * MIN),
      ].join(''),
    );
    for (const w of ['k8s-worker1', 'k8s-worker2'])
      await writeFile(serial(w), line(w, 'wait-api', 'start', NOW - MIN));
    const error = await pollError(f);
    expect(error.code).toBe('NODE_STAGE_TIMEOUT');
    expect(error.failures.map((r) => [r.node, r.stage, r.state])).toEqual([
      ['k8s-master', 'packages', 'silent'],
    ]);
    expect(error.message).toContain(
      'stage "packages" started 1 h 55 min ago and did not finish within 32 min',
    );
  });
});

describe('several nodes in trouble at once', () => {
  it('reports every node, the guest failure first, and names them all', async () => {
    const { follower: f, serial, events } = follower();
    const tail =
      'exit code 100 (log /var/log/kubestation/packages.log) | last log lines:\nErr:1 https://pkgs.k8s.io/core:/stable:/v1.37/deb  InRelease\n  Could not resolve host: pkgs.k8s.io\nE: Unable to locate package kubelet';
    await writeFile(
      serial('k8s-master'),
      [
        line('k8s-master', 'packages', 'start', NOW - 5 * MIN),
        line('k8s-master', 'packages', 'fail', NOW - 2 * MIN, tail),
      ].join(''),
    );
    // worker1 silent since power-on 2 h ago (first-report limit 900 s + 120 s); worker2 still working.
    await writeFile(serial('k8s-worker1'), '[    0.000000] Linux version 6.8.0\n');
    await writeFile(
      serial('k8s-worker2'),
      line('k8s-worker2', 'wait-api', 'start', NOW - 3 * MIN, 'wait for the API server'),
    );
    const error = await pollError(f);
    expect(error.code).toBe('NODE_STAGE_FAILED');
    expect([error.node, error.stage]).toEqual(['k8s-master', 'packages']);
    expect(error.failures.map((r) => [r.node, r.state])).toEqual([
      ['k8s-master', 'failed'],
      ['k8s-worker1', 'silent'],
    ]);
    expect(error.others.map((r) => [r.node, r.state, r.stage])).toEqual([
      ['k8s-worker2', 'running', 'wait-api'],
    ]);
    const text = error.message;
    expect(text.split('\n')[0]).toBe('2 nodes failed: k8s-master (packages), k8s-worker1 (boot, silent)');
    expect(text.indexOf('k8s-master: stage "packages"')).toBeLessThan(
      text.indexOf('k8s-worker1: printed no progress line'),
    );
    expect(text).toContain(
      'k8s-master: stage "packages" (containerd, kubelet, kubeadm, kubectl and tools) failed after 3 min: exit code 100',
    );
    expect(text).toContain('k8s-worker2: in stage "wait-api" for 3 min');
    // The guest's tail once, decoded, indented under its node.
    expect(text.split('Could not resolve host: pkgs.k8s.io')).toHaveLength(2);
    expect(text).toContain('\n      Could not resolve host: pkgs.k8s.io');
    expect(text).not.toContain('%0A');
    // The VMs stay up: ssh into the node that got far enough for its user to exist.
    expect(text).toContain(`ssh -F ${path.join('C:\\lab\\.kubestation', 'ssh_config')} k8s-master`);
    expect(text).not.toContain('ssh_config k8s-worker1');
    expect(error.fix).toContain(
      '`.\\kubestation rebuild-node k8s-master --force`, `.\\kubestation rebuild-node k8s-worker1`',
    );
    // The fail line was still shown as it arrived.
    expect(events.some((e) => e.type === 'stage' && e.event === 'fail' && e.node === 'k8s-master')).toBe(
      true,
    );
  });
});

describe('a guest clock the host cannot believe', () => {
  it('says so once and times that node by when its lines are read', async () => {
    const { follower: f, serial, events, clock } = follower();
    const ahead = 9 * HOUR; // e.g. local time read as UTC
    await writeFile(serial('k8s-master'), line('k8s-master', 'os', 'start', NOW + ahead));
    for (const w of ['k8s-worker1', 'k8s-worker2'])
      await writeFile(serial(w), line(w, 'os', 'start', NOW - 1000));
    await f.pollOnce();
    clock.now = NOW + 30_000;
    await appendFile(serial('k8s-master'), line('k8s-master', 'os', 'ok', NOW + ahead + 30_000));
    await f.pollOnce();
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ node: 'k8s-master' });
    expect((warnings[0] as { message: string }).message).toContain("9 h 0 min ahead of this PC's");
    const ok = events.find((e) => e.type === 'stage' && e.node === 'k8s-master' && e.event === 'ok');
    expect(ok).toMatchObject({ elapsedMs: 30_000, atMs: NOW + 30_000 });
  });

  it('takes a time before the VM was powered on as a clock that is behind', async () => {
    const { follower: f, serial, events } = follower();
    await writeFile(serial('k8s-master'), line('k8s-master', 'os', 'start', POWER_ON - 3 * HOUR));
    await f.pollOnce().catch(() => undefined);
    const warning = events.find((e) => e.type === 'warning' && e.node === 'k8s-master') as
      { message: string } | undefined;
    expect(warning?.message).toContain("behind this PC's");
  });
});

describe('a failure report of a silent node', () => {
  it('shows its last console lines from a line start, progress lines decoded', async () => {
    const { follower: f, serial } = follower();
    const noise = Array.from(
      { length: 4000 },
      (_, i) => `[  ${i}.000000] kernel: some driver message number ${i}`,
    ).join('\n');
    await writeFile(
      serial('k8s-master'),
      `${noise}\n${line('k8s-master', 'packages', 'start', POWER_ON + MIN, 'containerd, kubelet, kubeadm, kubectl and tools')}[ 4001.000000] systemd[1]: apt-daily.service: Deactivated\n`,
    );
    for (const w of ['k8s-worker1', 'k8s-worker2'])
      await writeFile(serial(w), line(w, 'os', 'start', NOW - 1000));
    const error = await pollError(f);
    const report = error.failures[0]!;
    expect(report.consoleTail).toHaveLength(15);
    expect(report.consoleTail.at(-1)).toBe('[ 4001.000000] systemd[1]: apt-daily.service: Deactivated');
    expect(report.consoleTail.at(-2)).toBe(
      '[kubestation] packages start: containerd, kubelet, kubeadm, kubectl and tools',
    );
    for (const l of report.consoleTail.slice(0, -2))
      expect(l).toMatch(/^\[ {2}\d+\.000000\] kernel: some driver message number \d+$/);
  });
});

describe('a running node that stops talking', () => {
  it('is reported once after the quiet time, again only after a new line and a new silence', async () => {
    const { follower: f, serial, events, clock } = follower({ quietAfterMs: 2 * MIN });
    for (const n of spec.nodes)
      await writeFile(serial(n.name), line(n.name, 'packages', 'start', NOW - 30_000));
    await f.pollOnce();
    expect(events.filter((e) => e.type === 'quiet')).toEqual([]);
    clock.now = NOW + 2 * MIN;
    await f.pollOnce();
    clock.now = NOW + 3 * MIN;
    await f.pollOnce();
    const quiet = events.filter((e) => e.type === 'quiet');
    expect(quiet.map((e) => e.node).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    expect(quiet[0]).toMatchObject({
      stage: 'packages',
      sinceMs: NOW - 30_000,
      serialLog: serial(quiet[0]!.node),
    });
    await appendFile(serial('k8s-master'), line('k8s-master', 'packages', 'ok', NOW + 3 * MIN));
    clock.now = NOW + 6 * MIN;
    await f.pollOnce();
    expect(events.filter((e) => e.type === 'quiet' && e.node === 'k8s-master')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'quiet' && e.node === 'k8s-worker1')).toHaveLength(1);
  });
});
