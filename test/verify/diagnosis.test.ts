/**
 * The diagnosis rules (src/verify/data-path-checks.ts), one broken cluster
 * each: verify must name exactly the true cause — the full set of problems in
 * the report is compared, so a second, wrong cause (a "firewall" when the
 * overlay is broken) fails the test as surely as a missing one.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from '../../src/config/load.js';
import { renderReport, type VerifyReport } from '../../src/verify/report.js';
import { brokenSeedLab, healthySeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { runSimulatedVerify } from '../../simulators/simulated-verify.js';

const specPath = path.resolve('cluster.yaml');
const spec = parseClusterSpec(readFileSync(specPath, 'utf8'), { sourcePath: specPath });
const fast = {
  intervalMs: 20,
  timeouts: {
    serversReadyMs: 5000,
    probesMs: 30_000,
    cleanupMs: 5000,
    forceDeleteAfterMs: 300,
    addonsMs: 5_000,
    fromPcMs: 1_000,
  },
};

async function verify(scenario: KubeApiScenario): Promise<VerifyReport> {
  const { report } = await runSimulatedVerify(spec, { scenario: () => scenario, verify: fast });
  // Whatever the fault, every expected check ran (a NotReady node's probe is one expected check that could not).
  // (nor has it metrics to read).
  expect(report.results.filter((r) => r.notRun && r.check !== 'probe' && r.check !== 'metrics node')).toEqual(
    [],
  );
  return report;
}

const causes = (report: VerifyReport) => report.problems.map((p) => p.id).sort();
/** Every failing row names one of the causes. */
const unexplained = (report: VerifyReport) =>
  report.results.filter((r) => r.verdict === 'fail' && !r.problem);

const table: Array<{
  fault: string;
  scenario: () => KubeApiScenario;
  causes: string[];
  /** report.ok when it is not "no cause found" (a warning-only diagnosis). */
  ok?: boolean;
  also?: (report: VerifyReport) => void;
}> = [
  { fault: 'healthy', scenario: () => healthySeedLab(), causes: [] },
  {
    fault: 'a worker NotReady (its CNI never came up)',
    scenario: () => brokenSeedLab.nodeNotReady('k8s-worker2'),
    causes: ['node-cni:k8s-worker2'],
    also: (report) =>
      expect(
        report.results
          .filter((r) => r.verdict === 'fail')
          .map((r) => r.check)
          .sort(),
      ).toEqual(['flannel', 'metrics node', 'probe', 'ready']),
  },
  {
    fault: 'kubelet down on a worker',
    scenario: () => brokenSeedLab.kubeletStopped('k8s-worker2'),
    causes: ['node-kubelet:k8s-worker2'],
    also: (report) =>
      expect(report.results.find((r) => r.check === 'ready' && r.node === 'k8s-worker2')?.detail).toBe(
        'Unknown: Kubelet stopped posting node status.',
      ),
  },
  {
    fault: 'CoreDNS crash-looping',
    scenario: () => brokenSeedLab.coreDnsCrashLoop(),
    causes: ['coredns'],
  },
  {
    fault: 'all cross-node pod traffic broken (VXLAN)',
    scenario: () => brokenSeedLab.crossNodeTrafficDropped(),
    causes: ['overlay'],
    // The NodePorts work: each is forwarded to the test pod on its own node, across no overlay.
    also: (report) =>
      expect(report.results.filter((r) => r.check === 'nodeport').every((r) => r.verdict === 'pass')).toBe(
        true,
      ),
  },
  {
    fault: 'one node pair broken (worker1 <-> worker2)',
    scenario: () => brokenSeedLab.nodePairDropped('k8s-worker1', 'k8s-worker2'),
    causes: ['overlay:k8s-worker1~k8s-worker2'],
    also: (report) => {
      const failed = report.results
        .filter((r) => r.verdict === 'fail')
        .map((r) => `${r.check} ${r.node}->${r.target}`)
        .sort();
      expect(failed.filter((f) => !f.startsWith('loadBalancer from pod'))).toEqual([
        'pod-to-pod k8s-worker1->k8s-worker2',
        'pod-to-pod k8s-worker2->k8s-worker1',
        'service k8s-worker1->k8s-worker2',
        'service k8s-worker2->k8s-worker1',
      ]);
      // The LoadBalancer's answering pod is any of its backends: across the broken pair, a worker's probe
      // of it fails too (the cause stays the overlay, checked above); from the control plane it never does.
      for (const f of failed.filter((f) => f.startsWith('loadBalancer from pod')))
        expect(f).toMatch(/^loadBalancer from pod k8s-worker[12]->/);
    },
  },
  {
    fault: 'NodePort range closed by the firewall on one node only',
    scenario: () => brokenSeedLab.nodePortsBlocked('k8s-worker1'),
    causes: ['nodeport:k8s-worker1'],
    also: (report) =>
      expect(
        report.results
          .filter((r) => r.verdict === 'fail')
          .map((r) => `${r.check} ${r.node}->${r.target}`)
          .sort(),
      ).toEqual([
        'nodeport k8s-master->k8s-worker1',
        'nodeport k8s-worker1->k8s-worker1',
        'nodeport k8s-worker2->k8s-worker1',
      ]),
  },
  {
    fault: 'clock skew on one node',
    scenario: () => brokenSeedLab.clockSkew('k8s-worker1', 42),
    causes: ['clock:k8s-worker1'],
  },
  {
    fault: 'DNS upstream unreachable (cluster names resolve, external names do not)',
    scenario: () => brokenSeedLab.dnsUpstreamUnreachable(),
    causes: ['dns-upstream'],
    // Built and working inside, with no way to the Internet: warnings naming the NAT network, not a failed build.
    ok: true,
    also: (report) => {
      expect(report.results.filter((r) => r.verdict === 'fail')).toEqual([]);
      expect(report.problems.find((p) => p.id === 'dns-upstream')?.cause).toMatch(
        /^the lab is built and works inside .*: the NAT network \(vmnet8, gateway 192\.168\.5\.2\) gives the nodes no way to the Internet/,
      );
      expect(renderReport(report)).toMatch(/^PASSED: \d+ checks, 3 warnings/m);
      expect(
        report.results.filter((r) => r.verdict === 'warn').map((r) => `${r.check} ${r.node} ${r.detail}`),
      ).toEqual(
        ['k8s-master', 'k8s-worker1', 'k8s-worker2'].map((n) => `dns registry.k8s.io ${n} answer SERVFAIL`),
      );
      expect(
        report.results.filter((r) => r.check === 'dns kubernetes.default').every((r) => r.verdict === 'pass'),
      ).toBe(true);
    },
  },
  {
    fault: 'kube-proxy not forwarding on any node',
    scenario: () => brokenSeedLab.serviceTrafficDropped(),
    causes: ['service-path:k8s-master', 'service-path:k8s-worker1', 'service-path:k8s-worker2'],
  },
];

describe('verify names exactly the true cause', () => {
  for (const row of table) {
    it(
      row.fault,
      async () => {
        const report = await verify(row.scenario());
        expect(causes(report)).toEqual([...row.causes].sort());
        expect(unexplained(report)).toEqual([]);
        expect(report.ok).toBe(row.ok ?? row.causes.length === 0);
        row.also?.(report);
      },
      120_000,
    );
  }
});
