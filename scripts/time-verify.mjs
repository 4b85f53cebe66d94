// Times verify alone against the fake Kubernetes API (the cluster `build-vms --simulate` plays) for
// labs of the given sizes, alternating the sizes run by run so load on the machine hits them alike.
//
//   npm run build && node scripts/time-verify.mjs [nodes...] [--runs N]     (default: 3 30, 3 runs)
//
// Prints one line per run and a JSON summary (median seconds per size, and each size's median / the
// first size's) on the last line. Every run must complete every expected check, or the script fails.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { parseClusterSpec } = await import(path.join(root, 'dist/src/config/load.js'));
const { clusterYamlWithNodes, runSimulatedVerify } = await import(path.join(root, 'dist/simulators/simulated-verify.js'));

const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const sizes = args.length > 0 ? args.map(Number) : [3, 30];
const base = await readFile(path.join(root, 'cluster.yaml'), 'utf8');
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const seconds = new Map(sizes.map((n) => [n, []]));
for (let run = 0; run < runs; run++) {
  for (const nodes of sizes) {
    const spec = parseClusterSpec(clusterYamlWithNodes(base, nodes), { sourcePath: path.join(root, 'cluster.yaml') });
    const { report, durationMs } = await runSimulatedVerify(spec, { verify: { intervalMs: 100 } });
    if (!report.ok || report.checks.ran !== report.checks.expected) {
      throw new Error(`verify of ${nodes} nodes did not pass completely: ${report.checks.ran} of ${report.checks.expected} checks ran, ok=${report.ok}`);
    }
    seconds.get(nodes).push(durationMs / 1000);
    console.log(`run ${run + 1}: ${nodes} nodes, ${report.checks.expected} checks, ${(durationMs / 1000).toFixed(2)} s`);
  }
}
const first = median(seconds.get(sizes[0]));
console.log(JSON.stringify({ runs, sizes: sizes.map((nodes) => ({ nodes, medianSeconds: median(seconds.get(nodes)), seconds: seconds.get(nodes), ratioToFirst: median(seconds.get(nodes)) / first })) }));
