// Seed ISOs: the whole `kubestation seed-isos` process against whole `genisoimage -J -r -V cidata` and
// `xorriso -as mkisofs -J -r -V cidata` processes (one per ISO, as a script would run them) on the very
// seeds seed-isos generated, in paired rounds, for 3 and 30 nodes (issue 15 §3).
//
// Before each seed-isos run its seed.iso files are deleted (not timed), so every run really writes every
// ISO, as genisoimage and xorriso do; the seeds themselves are rendered and compared each time, which is
// what the command costs a user. Marginal cost per ISO = (T(30) - T(3)) / 27 of the medians.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clusterYaml } from './lib/cluster.mjs';
import { kubestationBin, median, pairedRounds, stats, timeProcess } from './lib/measure.mjs';

export const title =
  'seed ISOs: kubestation seed-isos vs genisoimage and xorriso, whole processes (paired rounds)';

const ROUNDS = Number(process.env.BENCH_ROUNDS) || 10;
const SEED_FILES = ['user-data', 'meta-data', 'network-config'];
const MKISOFS_ARGS = ['-J', '-r', '-V', 'cidata'];

function lab(work, nodeCount) {
  const dir = path.join(work, `${nodeCount}-nodes`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'cluster.yaml'), clusterYaml(nodeCount));
  timeProcess(process.execPath, [kubestationBin, 'seed-isos'], { cwd: dir }); // secrets and seeds, untimed
  const state = path.join(dir, '.kubestation');
  const nodes = readdirSync(state).filter((name) =>
    SEED_FILES.every((f) => statSync(path.join(state, name, f), { throwIfNoEntry: false })?.isFile()),
  );
  if (nodes.length !== nodeCount)
    throw new Error(`seed-isos wrote ${nodes.length} seeds for ${nodeCount} nodes`);
  const out = path.join(dir, 'out');
  mkdirSync(out);
  const seedDir = (node) => path.join(state, node);
  const oneIsoPerNode = (tool, extra) => () => {
    let total = 0;
    for (const node of nodes)
      total += timeProcess(
        tool.command,
        [...tool.args, ...extra, '-o', path.join(out, `${node}.${tool.name}.iso`), ...SEED_FILES],
        { cwd: seedDir(node) },
      );
    return total;
  };
  const genisoimage = { name: 'genisoimage', command: 'genisoimage', args: ['-quiet', ...MKISOFS_ARGS] };
  const xorriso = {
    name: 'xorriso',
    command: 'xorriso',
    args: ['-as', 'mkisofs', '-quiet', ...MKISOFS_ARGS],
  };
  return {
    nodes,
    seedDir,
    out,
    jobs: {
      'kubestation seed-isos': () => {
        for (const node of nodes) rmSync(path.join(seedDir(node), 'seed.iso'));
        return timeProcess(process.execPath, [kubestationBin, 'seed-isos'], { cwd: dir });
      },
      genisoimage: oneIsoPerNode(genisoimage, []),
      'xorriso -as mkisofs': oneIsoPerNode(xorriso, []),
    },
    genisoimageNoPad: oneIsoPerNode({ ...genisoimage, name: 'genisoimage-no-pad' }, ['-no-pad']),
  };
}

export async function run(report) {
  const work = mkdtempSync(path.join(tmpdir(), 'kubestation-bench-iso-'));
  try {
    const medians = {};
    for (const nodeCount of [3, 30]) {
      const l = lab(work, nodeCount);
      const { samples, ratios } = pairedRounds(l.jobs, {
        rounds: ROUNDS,
        warmups: 1,
        base: 'kubestation seed-isos',
      });
      medians[nodeCount] = Object.fromEntries(
        Object.entries(samples).map(([name, values]) => [name, median(values)]),
      );
      const processes = (name) => (name === 'kubestation seed-isos' ? '1 process' : `${nodeCount} processes`);
      for (const [name, values] of Object.entries(samples))
        report.stats(`${nodeCount} nodes, ${name}: wall time`, stats(values), 's', processes(name));
      for (const [name, values] of Object.entries(ratios))
        report.stats(
          `${nodeCount} nodes, seed-isos / ${name}, per round`,
          stats(values.map((r) => 1 / r)),
          'x',
        );

      if (nodeCount === 3) {
        l.genisoimageNoPad();
        for (const node of l.nodes) {
          const size = (file) => statSync(file).size / 1024;
          const sizes = {
            kubestation: size(path.join(l.seedDir(node), 'seed.iso')),
            genisoimage: size(path.join(l.out, `${node}.genisoimage.iso`)),
            'genisoimage -no-pad': size(path.join(l.out, `${node}.genisoimage-no-pad.iso`)),
            'xorriso -as mkisofs': size(path.join(l.out, `${node}.xorriso.iso`)),
          };
          for (const [tool, kib] of Object.entries(sizes)) report(`ISO size ${node}, ${tool}`, kib, 'KiB');
          report.target(
            `${node}: kubestation's ISO <= genisoimage -no-pad's`,
            sizes.kubestation <= sizes['genisoimage -no-pad'],
            { value: sizes.kubestation, limit: sizes['genisoimage -no-pad'] },
          );
        }
      }
    }
    for (const name of Object.keys(medians[3])) {
      const marginalMs = ((medians[30][name] - medians[3][name]) / 27) * 1000;
      report(`marginal cost per ISO, ${name}`, marginalMs, 'ms', '(T(30) - T(3)) / 27 of the medians');
      medians.marginal = { ...medians.marginal, [name]: marginalMs };
    }
    report.target(
      'marginal cost per ISO: kubestation seed-isos <= genisoimage',
      medians.marginal['kubestation seed-isos'] <= medians.marginal.genisoimage,
      { value: medians.marginal['kubestation seed-isos'], limit: medians.marginal.genisoimage },
    );
    report.data('rounds', ROUNDS);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
