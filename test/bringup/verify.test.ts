/**
 * build-vms ends with src/verify's verifyCluster against the cluster's API
 * server (here the fake one, trusting the cluster's CA): "ready" only when it
 * passes; a cluster that fails it stops the build with exit 1, the report's
 * table and the cause and fix of what failed.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildState } from '../../src/bringup/state.js';
import { apiVerifier, ClusterVerifyError, scaledVerifyTimeouts } from '../../src/bringup/verify-step.js';
import { runBuildVms, type BuildVmsCommandOverrides } from '../../src/commands/build-vms.js';
import type { VerifyReport } from '../../src/verify/report.js';
import { DEFAULT_VERIFY_TIMEOUTS } from '../../src/verify/verify-cluster.js';
import { captureOutput } from '../template/fixtures.js';
import { repoRoot, startTestLab, type TestLab } from './lab.js';

const fastVerify = {
  intervalMs: 20,
  timeouts: {
    serversReadyMs: 3_000,
    probesMs: 15_000,
    cleanupMs: 3_000,
    forceDeleteAfterMs: 300,
    addonsMs: 5_000,
    fromPcMs: 1_000,
  },
};

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

async function simulate(extra: string[], simulateOverrides: BuildVmsCommandOverrides['simulate'] = {}) {
  const out = captureOutput();
  const err = captureOutput();
  const code = await runBuildVms(
    {
      argv: [
        '--simulate',
        '--cluster',
        path.join(repoRoot, 'cluster.yaml'),
        '--deadline-scale',
        '0.01',
        ...extra,
      ],
      stdout: out.stream,
      stderr: err.stream,
      env: {},
      cwd: repoRoot,
    },
    {
      simulate: {
        stageMs: 2,
        cloneMs: 5,
        bootDelayMs: 5,
        pollMs: 5,
        verify: fastVerify,
        ...simulateOverrides,
      },
    },
  );
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('build-vms --simulate runs verify as its last step', () => {
  it('a healthy cluster: the verify table, then "ready", exit 0', async () => {
    const { code, stdout, stderr } = await simulate([]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain('verify: checking the cluster through its API server');
    expect(stdout).toContain('kubestation verify: cluster k8s-lab');
    expect(stdout).toMatch(/\n {2}pod-to-pod +k8s-worker1 +k8s-worker2 +ok /);
    expect(stdout).toMatch(/PASSED: \d+ checks/);
    expect(stdout).toMatch(/cluster k8s-lab is ready \(verify passed: \d+ checks\)/);
    expect(stdout.indexOf('PASSED')).toBeLessThan(stdout.indexOf('is ready'));
  });

  it('cross-node pod traffic dropped: exit 1 with the cause and fix, never "ready"', async () => {
    const { code, stdout, stderr } = await simulate([], {
      kubeApiScenario: (healthy) => ({ ...healthy, crossNodePodTraffic: 'dropped' }),
    });
    expect(code).toBe(1);
    expect(stdout).not.toContain('is ready');
    expect(stdout).toMatch(/FAILED: \d+ of \d+ checks failed/);
    expect(stdout).toMatch(
      /\n {2}pod-to-pod +k8s-worker1 +k8s-worker2 +FAIL +no answer within 4 s \(packets dropped\)/,
    );
    expect(stderr).toContain(
      'kubestation build-vms: the VMs of cluster k8s-lab are built but the cluster does not work',
    );
    expect(stderr).toContain('pod traffic between nodes is dropped while traffic within a node works');
    expect(stderr).toMatch(/fix: .*sudo ufw allow from 172\.100\.100\.0\/24 to any port 8472 proto udp/);
  });

  it('--json: the report in a verify event, then a failed result', async () => {
    const { code, stdout } = await simulate(['--json'], {
      kubeApiScenario: (healthy) => ({ ...healthy, serviceTraffic: 'dropped' }),
    });
    expect(code).toBe(1);
    const events = stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            phase?: string;
            status?: string;
            message?: string;
            report?: VerifyReport;
          },
      );
    const failed = events.find((e) => e.type === 'verify' && e.phase === 'failed')!;
    expect(failed.report!.ok).toBe(false);
    expect(failed.report!.results.filter((r) => r.check === 'service' && r.verdict === 'fail')).toHaveLength(
      9,
    );
    expect(events.at(-1)).toMatchObject({
      type: 'result',
      status: 'failed',
      message: expect.stringContaining('does not work'),
    });
    expect(events.some((e) => e.type === 'result' && e.status === 'ready')).toBe(false);
  });

  it("--json: a ready result carries the simulators' own start-up, each vmrun stand-in start by command (the bench leaves them out of kubestation's cost)", async () => {
    const { code, stdout } = await simulate(['--json', '--skip-verify']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      type: string;
      status: string;
      simulator?: { labStartMs: number; vmrunStandInStarts: Array<{ command: string; ms: number }> };
    };
    expect(result).toMatchObject({ type: 'result', status: 'ready' });
    expect(result.simulator!.labStartMs).toBeGreaterThan(0);
    const starts = result.simulator!.vmrunStandInStarts;
    // Linked clones by default: the template's snapshot is looked up, then each node is a vmrun clone.
    expect(starts.filter((s) => s.command === 'clone')).toHaveLength(3);
    expect(starts.map((s) => s.command)).toContain('listSnapshots');
    for (const s of starts) expect(s.ms).toBeGreaterThan(0);
  });
});

describe('buildVms with the verify step', () => {
  it('a failing verify stops the build unready but leaves the kubeconfig, ssh_config and no seed ISO; a re-run verifies again', async () => {
    lab = await startTestLab({
      kubeApi: true,
      kubeApiScenario: (healthy) => ({ ...healthy, coreDnsCrashLoop: true }),
    });
    const verify = apiVerifier({
      server: lab.kubeApi!.url,
      verify: { ...fastVerify, hostOnlyProxy: lab.kubeApi!.hostOnlyProxy },
    });
    const error = await lab.build({}, { verify }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterVerifyError);
    const report = (error as ClusterVerifyError).report;
    expect(report.problems.map((p) => p.id)).toContain('coredns');
    expect((error as ClusterVerifyError).message).toContain('forwarding loop');
    expect((error as ClusterVerifyError).fix).toContain('resolvConf: /run/systemd/resolve/resolv.conf');

    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(state.readyAt).toBeUndefined();
    expect(existsSync(path.join(lab.spec.stateDir, 'admin.kubeconfig'))).toBe(true);
    expect(existsSync(path.join(lab.spec.stateDir, 'ssh_config'))).toBe(true);
    for (const n of lab.spec.nodes)
      expect(existsSync(path.join(lab.spec.stateDir, n.name, 'seed.iso'))).toBe(false);
    // The test workload is gone from the cluster.
    expect(lab.kubeApi!.objects('pods', 'kubestation-verify')).toEqual([]);

    // Running again changes no VM and checks the cluster again (same fault: same failure).
    const clonesBefore = lab.vmrest.callCount('cloneVm');
    const again = await lab.build({}, { verify }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ClusterVerifyError);
    expect(lab.vmrest.callCount('cloneVm')).toBe(clonesBefore);
  });

  it('a passing verify: "ready" with the summary, readyAt recorded, the report in the done event', async () => {
    lab = await startTestLab({ kubeApi: true });
    const result = await lab.build(
      {},
      {
        verify: apiVerifier({
          server: lab.kubeApi!.url,
          verify: { ...fastVerify, hostOnlyProxy: lab.kubeApi!.hostOnlyProxy },
        }),
      },
    );
    expect(result.status).toBe('ready');
    if (result.status !== 'ready') return;
    expect(result.verifySummary).toMatch(/^verify passed: \d+ checks/);
    const done = lab.events.find((e) => e.type === 'verify' && e.phase === 'done');
    expect(done).toMatchObject({ report: { ok: true, cluster: 'k8s-lab' } });
    expect(
      lab.events.some(
        (e) =>
          e.type === 'verify' &&
          e.phase === 'progress' &&
          e.message?.includes('starting test pods on 3 nodes'),
      ),
    ).toBe(true);
    expect((await readBuildState(lab.spec.stateDir, lab.spec.name)).readyAt).toBeDefined();
  });
});

describe('verify on a slow host', () => {
  it('--deadline-scale stretches verify waits for its test pods like the stage deadlines, not the cleanup bounds', () => {
    expect(scaledVerifyTimeouts(1)).toEqual({
      serversReadyMs: DEFAULT_VERIFY_TIMEOUTS.serversReadyMs,
      probesMs: DEFAULT_VERIFY_TIMEOUTS.probesMs,
    });
    expect(scaledVerifyTimeouts(2.5)).toEqual({ serversReadyMs: 450_000, probesMs: 300_000 });
    expect(scaledVerifyTimeouts(2.5)).not.toHaveProperty('cleanupMs');
  });
});
