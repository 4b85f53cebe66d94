import { readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { brokenSeedLab, healthySeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';

function sink() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

let sim: KubeApiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function runVerify(scenario: KubeApiScenario, extra: string[]) {
  sim = await KubeApiSimulator.start({ scenario });
  const dir = tempDir('kubestation-verify-cmd-');
  const kubeconfig = path.join(dir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, await sim.kubeconfig());
  writeFileSync(path.join(dir, 'cluster.yaml'), readFileSync('cluster.yaml', 'utf8'));
  const out = sink();
  const err = sink();
  const code = await main(['verify', '--kubeconfig', kubeconfig, ...extra], {
    stdout: out.stream,
    stderr: err.stream,
    env: {},
    cwd: dir,
  });
  await sim.settle();
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('kubestation verify', () => {
  it('exits 0 with a table on a healthy cluster and shows progress on stderr', async () => {
    const { code, stdout, stderr } = await runVerify(healthySeedLab(), []);
    expect(code).toBe(0);
    expect(stdout).toContain('kubestation verify: cluster k8s-lab');
    expect(stdout).toMatch(/\n {2}pod-to-pod +k8s-worker1 +k8s-master +ok +TCP ok\n/);
    expect(stdout).toMatch(/PASSED: \d+ checks/);
    expect(stderr).toContain('verify: removing the test workload (namespace kubestation-verify)');
    expect(sim!.objects('pods', 'kubestation-verify')).toEqual([]);
  });

  it('exits 1 with a JSON report naming the failure when --json is given', async () => {
    const { code, stdout } = await runVerify(brokenSeedLab.serviceTrafficDropped(), ['--json']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.ok).toBe(false);
    expect(report.cleanup.ok).toBe(true);
    expect(
      report.results.filter(
        (r: { check: string; verdict: string }) => r.check === 'service' && r.verdict === 'fail',
      ),
    ).toHaveLength(9);
    expect(report.problems.map((p: { id: string }) => p.id)).toContain('service-path:k8s-master');
  });

  it('explains a missing kubeconfig', async () => {
    const dir = tempDir('kubestation-verify-cmd-');
    writeFileSync(path.join(dir, 'cluster.yaml'), readFileSync('cluster.yaml', 'utf8'));
    const err = sink();
    // Without --kubeconfig, a lab never built is refused first (test/day2/never-built.test.ts).
    const missing = path.join(dir, 'elsewhere', 'admin.kubeconfig');
    const code = await main(['verify', '--kubeconfig', missing], {
      stdout: sink().stream,
      stderr: err.stream,
      env: {},
      cwd: dir,
    });
    expect(code).toBe(1);
    expect(err.text()).toContain(`cannot read kubeconfig ${missing} (ENOENT)`);
    expect(err.text()).toContain('fix: build the cluster first');
  });
});
