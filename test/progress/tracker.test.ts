import { describe, expect, it } from 'vitest';
import type { ProgressLine } from '../../src/progress/protocol.js';
import {
  FIRST_REPORT_DEADLINE_SECONDS,
  HOST_GRACE_SECONDS,
  STAGES,
  findStage,
  stagesFor,
  totalDeadlineSeconds,
} from '../../src/progress/stages.js';
import { NodeProgress } from '../../src/progress/tracker.js';

const line = (
  stage: string,
  event: ProgressLine['event'],
  message = '',
  node = 'k8s-worker1',
): ProgressLine => ({ node, stage, event, timeMs: 0, message });
const s = 1000;

describe('stage list', () => {
  it('orders the stages per role, every one with a deadline', () => {
    expect(stagesFor('control-plane').map((x) => x.name)).toEqual([
      'os',
      'packages',
      'containerd',
      'firewall',
      'images',
      'kubeadm-init',
      'cni',
      'nodes-ready',
    ]);
    expect(stagesFor('worker').map((x) => x.name)).toEqual([
      'os',
      'packages',
      'containerd',
      'firewall',
      'wait-api',
      'kubeadm-join',
    ]);
    for (const stage of STAGES) expect(stage.deadlineSeconds).toBeGreaterThan(0);
    expect(totalDeadlineSeconds('worker')).toBe(
      FIRST_REPORT_DEADLINE_SECONDS + 300 + 1800 + 300 + 300 + 2700 + 900,
    );
  });
});

describe('NodeProgress', () => {
  it('follows a worker from boot to done, recording stage durations on the host clock', () => {
    const p = new NodeProgress('k8s-worker1', 'worker', 0);
    expect(p.status).toBe('booting');
    let t = 60 * s;
    for (const stage of stagesFor('worker')) {
      p.apply(line(stage.name, 'start'), t);
      t += 10 * s;
      p.apply(line(stage.name, 'ok'), t);
    }
    expect(p.current.stage).toBe('complete');
    p.apply(line('complete', 'done', 'joined'), t);
    expect(p.status).toBe('done');
    expect(p.doneMessage).toBe('joined');
    expect(p.finished.map((f) => f.durationMs)).toEqual(stagesFor('worker').map(() => 10 * s));
    expect(p.overdue(t + 10_000 * s)).toBeUndefined();
  });

  it('ignores other nodes and keeps the guest failure with its message', () => {
    const p = new NodeProgress('k8s-worker1', 'worker', 0);
    expect(p.apply(line('os', 'start', '', 'k8s-worker2'), 1)).toBe(false);
    p.apply(line('os', 'start'), 1);
    p.apply(line('os', 'fail', 'exit code 1 | last log lines:\nswapoff failed'), 2);
    expect(p.status).toBe('failed');
    expect(p.failure).toEqual({
      stage: 'os',
      message: 'exit code 1 | last log lines:\nswapoff failed',
      silent: false,
      atMs: 2,
    });
    expect(p.apply(line('packages', 'start'), 3)).toBe(false);
  });

  it('fails a silent guest after the first-report deadline, then after a stage deadline plus grace', () => {
    const boot = new NodeProgress('k8s-worker1', 'worker', 0);
    const bootLimit = (FIRST_REPORT_DEADLINE_SECONDS + HOST_GRACE_SECONDS) * s;
    expect(boot.enforceDeadline(bootLimit)).toBeUndefined();
    expect(boot.enforceDeadline(bootLimit + 1)).toMatchObject({ stage: 'boot', silent: true });
    expect(boot.status).toBe('failed');

    const p = new NodeProgress('k8s-worker1', 'worker', 0);
    p.apply(line('wait-api', 'start'), 100 * s);
    const limit = (findStage('wait-api')!.deadlineSeconds + HOST_GRACE_SECONDS) * s;
    expect(p.overdue(100 * s + limit)).toBeUndefined();
    expect(p.enforceDeadline(100 * s + limit + 1)?.message).toMatch(
      /stage "wait-api" started 47 min ago and did not finish within 47 min \(the host.s limit/,
    );
  });

  it('times the gap after an ok against the next stage', () => {
    const p = new NodeProgress('k8s-worker1', 'worker', 0);
    p.apply(line('os', 'start'), 0);
    p.apply(line('os', 'ok'), 10 * s);
    const limit = (findStage('packages')!.deadlineSeconds + HOST_GRACE_SECONDS) * s;
    expect(p.overdue(10 * s + limit + 1)).toMatchObject({ stage: 'packages' });
  });
});
