/**
 * verify of a 30-node lab (the simulated cluster of `build-vms --simulate`
 * with a 30-node cluster.yaml) runs EVERY check it expects: 30 probes, each
 * with the pod, Service and NodePort of all 30 nodes. How long it takes is
 * the benchmark's business (simulators/simulated-verify.ts), not this test's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClusterSpec } from '../../src/config/load.js';
import { clusterYamlWithNodes, runSimulatedVerify } from '../../simulators/simulated-verify.js';

describe('verify at 30 nodes', () => {
  it('completes every expected check and passes a healthy cluster', async () => {
    const specPath = path.resolve('cluster.yaml');
    const spec = parseClusterSpec(clusterYamlWithNodes(readFileSync(specPath, 'utf8'), 30), {
      sourcePath: specPath,
    });
    expect(spec.nodes).toHaveLength(30);
    const { report, sim } = await runSimulatedVerify(spec, { verify: { intervalMs: 50 } });
    const count = (check: string) =>
      report.results.filter((r) => r.check === check && r.verdict === 'pass').length;
    expect(report.results.filter((r) => r.verdict !== 'pass')).toEqual([]);
    expect(report.ok).toBe(true);
    expect([count('pod-to-pod'), count('service'), count('nodeport'), count('clock')]).toEqual([
      900, 900, 900, 30,
    ]);
    expect(report.checks).toEqual({ expected: report.results.length, ran: report.results.length });
    expect(sim.objects('pods', 'kubestation-verify')).toEqual([]);
  }, 300_000);
});
