// Seed ISO writer vs genisoimage, on the three lab seeds (test/iso/fixtures/seed-lab.mjs).
//
// Whole command vs whole command: kubestation writes all ISOs in one process
// (dist/src/iso/write-iso-cli.js, a dev tool standing in for the coming
// `kubestation seed-isos`), genisoimage needs one process per ISO. A Node start
// (~0.1 s) alone exceeds genisoimage's time for three ISOs, so the bench also
// reports the marginal cost per ISO, (T(30) - T(3)) / 27, and buildIso()'s
// in-process time.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { seedLab } from '../../test/iso/fixtures/seed-lab.mjs';

export const title = 'seed ISO writer vs genisoimage -volid cidata -joliet -rock';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const writeIsoCli = path.join(root, 'dist/src/iso/write-iso-cli.js');
const RUNS = 15;
const WARMUPS = 2;
const seedFileNames = ['user-data', 'meta-data', 'network-config'];

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function spawnChecked(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
}

/** Median wall time in seconds of `job()` over RUNS runs after WARMUPS. */
function timeJob(job) {
  for (let i = 0; i < WARMUPS; i++) job();
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    job();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return median(times);
}

export async function run(report) {
  const work = mkdtempSync(path.join(tmpdir(), 'kubestation-bench-iso-'));
  try {
    const seeds = seedLab();
    for (const { node, files } of seeds) {
      mkdirSync(path.join(work, node));
      for (const f of files) writeFileSync(path.join(work, node, f.name), f.content);
    }
    const out = path.join(work, 'out');
    mkdirSync(out);
    // count ISOs cycling through the three nodes: [{ node, iso }]
    const jobs = (count) => Array.from({ length: count }, (_, i) => ({ node: seeds[i % 3].node, iso: path.join(out, `seed-${i}.iso`) }));

    const kubestation = (count) => () =>
      spawnChecked(process.execPath, [
        writeIsoCli,
        ...jobs(count).flatMap(({ node, iso }) => ['--out', iso, ...seedFileNames.map((n) => path.join(work, node, n))]),
      ]);
    const genisoimage = (count) => () => {
      for (const { node, iso } of jobs(count)) {
        spawnChecked('genisoimage', ['-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...seedFileNames], { cwd: path.join(work, node) });
      }
    };

    const ours3 = timeJob(kubestation(3));
    const ours3Sizes = jobs(3).map(({ iso }) => statSync(iso).size);
    const theirs3 = timeJob(genisoimage(3));
    const theirs3Sizes = jobs(3).map(({ iso }) => statSync(iso).size);
    const ours30 = timeJob(kubestation(30));
    const theirs30 = timeJob(genisoimage(30));
    const nodeStart = timeJob(() => spawnChecked(process.execPath, ['-e', '0']));

    report('whole command, 3 ISOs, median', ours3, 's', 'kubestation write-iso-cli, 1 process');
    report('whole command, 3 ISOs, median', theirs3, 's', 'genisoimage, 3 processes');
    report('ratio kubestation / genisoimage, 3 ISOs', ours3 / theirs3);
    report('Node.js start alone (node -e 0), median', nodeStart, 's');
    report('whole command, 30 ISOs, median', ours30, 's', 'kubestation');
    report('whole command, 30 ISOs, median', theirs30, 's', 'genisoimage');
    const oursMarginal = (ours30 - ours3) / 27;
    const theirsMarginal = (theirs30 - theirs3) / 27;
    report('marginal cost per ISO, (T(30) - T(3)) / 27', oursMarginal * 1000, 'ms', 'kubestation');
    report('marginal cost per ISO, (T(30) - T(3)) / 27', theirsMarginal * 1000, 'ms', 'genisoimage');

    const { buildIso } = await import(pathToFileURL(path.join(root, 'dist/src/iso/iso9660.js')).href);
    const inProcess = [];
    for (let i = 0; i < 20; i++) for (const { files } of seeds) buildIso(files); // warm up
    for (let i = 0; i < 200; i++) {
      const start = process.hrtime.bigint();
      for (const { files } of seeds) buildIso(files);
      inProcess.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    report('buildIso in process, 3 lab ISOs, median', median(inProcess), 'ms');

    seeds.forEach(({ node }, i) => {
      report(`ISO size ${node}`, ours3Sizes[i] / 1024, 'KiB', `genisoimage ${theirs3Sizes[i] / 1024} KiB`);
    });

    report.target('whole-command ratio <= 1.0 (3 ISOs)', ours3 / theirs3 <= 1.0);
    report.target('marginal cost per ISO <= genisoimage', oursMarginal <= theirsMarginal);
    report.target('every ISO <= genisoimage size', ours3Sizes.every((size, i) => size <= theirs3Sizes[i]));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
