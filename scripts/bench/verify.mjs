// verify of a 3-node and a 30-node lab against the fake Kubernetes API (the cluster `build-vms --simulate`
// plays), in rounds alternating the sizes (issue 15 §1): every run must complete every expected check.
// Target: 30 nodes <= 3 x 3 nodes.
//
// verify runs in this process beside the fake API server, so the CPU each side uses can be told apart:
// this process (verify and the fake API server) and its child processes (the simulated pods: every test
// pod's shell script and its curl/dig/date stubs, run for real on this machine). On a real cluster the pods
// run on the nodes' own CPUs, 30 VMs' worth; here all of them share this machine's cores. The pods' CPU
// divided by the cores is the least wall time the simulated pods alone take: the floor any verify of this
// simulated lab has on this machine, reported beside the ratio.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { root, median, stats } from './lib/measure.mjs';

export const title =
  '3 vs 30 nodes against the fake Kubernetes API (alternating rounds), with the CPU of the simulated pods';

const ROUNDS = 7;
const SIZES = [3, 30];

/** CPU seconds of this process's waited-for children (utime + stime of the children, /proc/self/stat). */
function childCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16 and 17 of stat(5), in clock ticks (USER_HZ 100)
}

export async function run(report) {
  if (process.platform !== 'linux') throw new Error('the verify bench reads /proc/self/stat (Linux)');
  const { parseClusterSpec } = await import(path.join(root, 'dist/src/config/load.js'));
  const { clusterYamlWithNodes, runSimulatedVerify } = await import(
    path.join(root, 'dist/simulators/simulated-verify.js')
  );
  const base = readFileSync(path.join(root, 'cluster.yaml'), 'utf8');
  const specs = Object.fromEntries(
    SIZES.map((n) => [
      n,
      parseClusterSpec(clusterYamlWithNodes(base, n), { sourcePath: path.join(root, 'cluster.yaml') }),
    ]),
  );

  const once = async (nodes) => {
    const children = childCpuSeconds();
    const own = process.cpuUsage();
    const { report: verified, durationMs } = await runSimulatedVerify(specs[nodes], {
      verify: { intervalMs: 100 },
    });
    const ownUsage = process.cpuUsage(own);
    if (!verified.ok || verified.checks.ran !== verified.checks.expected) {
      throw new Error(
        `verify of ${nodes} nodes did not pass completely: ${verified.checks.ran} of ${verified.checks.expected} checks ran, ok=${verified.ok}`,
      );
    }
    return {
      seconds: durationMs / 1000,
      checks: verified.checks.expected,
      podCpu: childCpuSeconds() - children,
      ownCpu: (ownUsage.user + ownUsage.system) / 1e6,
    };
  };

  for (const nodes of SIZES) await once(nodes); // warm-up: module loading and JIT
  const samples = Object.fromEntries(SIZES.map((n) => [n, []]));
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    const results = {};
    for (const nodes of round % 2 === 0 ? SIZES : [...SIZES].reverse()) results[nodes] = await once(nodes);
    for (const nodes of SIZES) samples[nodes].push(results[nodes]);
    ratios.push(results[30].seconds / results[3].seconds);
  }

  for (const nodes of SIZES) {
    const s = samples[nodes];
    report.stats(
      `${nodes} nodes: verify wall time`,
      stats(s.map((r) => r.seconds)),
      's',
      `${s[0].checks} checks, every one ran`,
    );
    report.stats(
      `${nodes} nodes: CPU of the simulated pods (child processes)`,
      stats(s.map((r) => r.podCpu)),
      's',
    );
    report.stats(
      `${nodes} nodes: CPU of verify + the fake API server (this process)`,
      stats(s.map((r) => r.ownCpu)),
      's',
    );
  }
  const ratio = stats(ratios);
  report.stats('30 nodes / 3 nodes, per round', ratio, 'x');
  const cores = cpus().length;
  const floor = median(samples[30].map((r) => r.podCpu)) / cores / median(samples[3].map((r) => r.seconds));
  report(
    `floor of that ratio on ${cores} cores: the simulated pods' CPU / cores / 3-node wall time`,
    floor,
    'x',
    'what the 30 simulated pods alone cost here; on a real cluster they run on the nodes',
  );
  report.target('30-node verify <= 3 x 3-node verify (median of the per-round ratios)', ratio.median <= 3, {
    value: ratio.median,
    limit: 3,
  });
  report.data('readmeNotes', [
    `On this ${cores}-core machine the 30 simulated test pods (real shell scripts with curl/dig/date stubs) need ${median(samples[30].map((r) => r.podCpu)).toFixed(1)} CPU-s per 30-node verify, ` +
      `${floor.toFixed(1)} x the whole 3-node verify once spread over the cores, before verify or the fake API server does anything: ` +
      'the 3 x target is out of reach for this simulation here. On a real cluster each probe runs on its own node, in parallel.',
  ]);
}
