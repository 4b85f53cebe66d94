// Start-up: whole kubestation processes against a bare `node -e 0`, in paired rounds (issue 15 §4), in each
// form a user types (issue 20 §7, issue 21 §2):
//   node dist/src/bin.js validate   kubestation's own start-up (what `npm install -g` users get)
//   ./kubestation validate          the repository-root POSIX wrapper; it stands in for `.\kubestation` on
//                                   Windows (kubestation.cmd), which runs the same node command
//   npx kubestation validate        npx's own start-up (it loads the project's dependency tree) on top
//   npm run -s validate             npm's own start-up on top
// and `seed-isos` (3 nodes, nothing changed) with node directly. The validate forms run in the repository
// root, as a user runs them after `npm ci`, against the shipped cluster.yaml (validate writes nothing).
// Every job runs with npm's own variables removed from the environment (`npm run bench` sets npm_config_*
// and puts node_modules/.bin on PATH), so npx and npm start as they do from a user's shell.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clusterYaml } from './lib/cluster.mjs';
import { kubestationBin, pairedRounds, root, stats, timeProcess, userShellEnv } from './lib/measure.mjs';

export const title =
  'start-up: whole kubestation processes, as users type them, vs node -e 0 (paired rounds)';

const ROUNDS = Number(process.env.BENCH_ROUNDS) || 15;
const BASE = 'node -e 0';
/** Each form: its command line, where it runs, its target (× node -e 0, median of the paired ratios) if any, a note. */
const FORMS = {
  'seed-isos': { limit: 3, note: 'node dist/src/bin.js seed-isos; 3 nodes, nothing changed' },
  validate: { limit: 2.5, note: 'node dist/src/bin.js validate' },
  './kubestation validate': {
    limit: 2.5,
    note: 'repository-root wrapper (POSIX sh; .\\kubestation on Windows)',
  },
  'npx kubestation validate': { note: "npx's own start-up included" },
  'npm run -s validate': { note: "npm's own start-up included" },
};

export async function run(report) {
  const work = mkdtempSync(path.join(tmpdir(), 'kubestation-bench-startup-'));
  try {
    writeFileSync(path.join(work, 'cluster.yaml'), clusterYaml(3));
    const node = process.execPath;
    const inWork = { cwd: work, env: userShellEnv() };
    const inRoot = { cwd: root, env: userShellEnv() };
    timeProcess(node, [kubestationBin, 'seed-isos'], inWork); // first run: CA, token, SSH key, seeds
    const { samples, ratios } = pairedRounds(
      {
        [BASE]: () => timeProcess(node, ['-e', '0'], inRoot),
        'seed-isos': () => timeProcess(node, [kubestationBin, 'seed-isos'], inWork),
        validate: () => timeProcess(node, [kubestationBin, 'validate'], inRoot),
        './kubestation validate': () => timeProcess(path.join(root, 'kubestation'), ['validate'], inRoot),
        'npx kubestation validate': () => timeProcess('npx', ['kubestation', 'validate'], inRoot),
        'npm run -s validate': () => timeProcess('npm', ['run', '-s', 'validate'], inRoot),
      },
      { rounds: ROUNDS, warmups: 2, base: BASE },
    );
    report.stats(`${BASE}: wall time`, stats(samples[BASE]), 's');
    for (const [name, form] of Object.entries(FORMS))
      report.stats(`${name}: wall time`, stats(samples[name]), 's', form.note);
    for (const [name, form] of Object.entries(FORMS)) {
      const ratio = stats(ratios[name]);
      report.stats(`${name} / ${BASE}, per round`, ratio, 'x');
      if (form.limit !== undefined)
        report.target(
          `${name} <= ${form.limit} x ${BASE} (median of the paired ratios)`,
          ratio.median <= form.limit,
          { value: ratio.median, limit: form.limit },
        );
    }
    report.data('rounds', ROUNDS);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
