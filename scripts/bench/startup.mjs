// Start-up: the whole `kubestation seed-isos` (3 nodes, nothing changed) and `kubestation validate`
// processes against a bare `node -e 0`, in paired rounds (issue 15 §4).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clusterYaml } from './lib/cluster.mjs';
import { kubestationBin, pairedRounds, stats, timeProcess } from './lib/measure.mjs';

export const title = 'start-up: whole kubestation processes vs node -e 0 (paired rounds)';

const ROUNDS = 15;
const TARGETS = { 'seed-isos': 3, validate: 2.5 };

export async function run(report) {
  const work = mkdtempSync(path.join(tmpdir(), 'kubestation-bench-startup-'));
  try {
    writeFileSync(path.join(work, 'cluster.yaml'), clusterYaml(3));
    const node = process.execPath;
    timeProcess(node, [kubestationBin, 'seed-isos'], { cwd: work }); // first run: CA, token, SSH key, seeds
    const { samples, ratios } = pairedRounds(
      {
        'node -e 0': () => timeProcess(node, ['-e', '0'], { cwd: work }),
        'seed-isos': () => timeProcess(node, [kubestationBin, 'seed-isos'], { cwd: work }),
        validate: () => timeProcess(node, [kubestationBin, 'validate'], { cwd: work }),
      },
      { rounds: ROUNDS, warmups: 2, base: 'node -e 0' },
    );
    for (const [name, values] of Object.entries(samples))
      report.stats(
        `${name}: wall time`,
        stats(values),
        's',
        name === 'seed-isos' ? '3 nodes, nothing changed' : '',
      );
    for (const [name, limit] of Object.entries(TARGETS)) {
      const ratio = stats(ratios[name]);
      report.stats(`${name} / node -e 0, per round`, ratio, 'x');
      report.target(`${name} <= ${limit} x node -e 0 (median of the paired ratios)`, ratio.median <= limit, {
        value: ratio.median,
        limit,
      });
    }
    report.data('rounds', ROUNDS);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
