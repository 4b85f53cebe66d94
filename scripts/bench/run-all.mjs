// Runs every benchmark module in scripts/bench/ (each *.mjs file except this one), in file-name order.
//
//   npm run bench               build, then run all benches
//   node scripts/bench/run-all.mjs iso     run only benches whose file name contains "iso" (after `npm run build`)
//
// A bench module is plain Node ESM that measures the BUILT code in dist/ and exports:
//   export const title = 'what is measured';                 (optional, printed as a heading)
//   export async function run(report) { ... }
// where report(metric, value, unit, note?) records one measurement, e.g.
//   report('whole command, 3 ISOs, median', 0.112, 's', 'kubestation');
// and report.target(description, met) records whether a target was met. A module that throws fails the run
// (exit 1); a missed target is printed as MISSED but does not fail it: speed targets inform, they do not gate.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const modules = (await readdir(here))
  .filter((f) => f.endsWith('.mjs') && f !== 'run-all.mjs' && f.includes(filter))
  .sort();

let failed = false;
const missed = [];
for (const file of modules) {
  const bench = await import(pathToFileURL(path.join(here, file)).href);
  const name = path.basename(file, '.mjs');
  process.stdout.write(`\n== ${name}${bench.title ? `: ${bench.title}` : ''}\n`);
  const report = (metric, value, unit = '', note = '') => {
    const shown = typeof value === 'number' ? Number(value.toPrecision(4)).toString() : String(value);
    process.stdout.write(`  ${metric.padEnd(58)} ${`${shown} ${unit}`.trim().padStart(14)}${note ? `  (${note})` : ''}\n`);
  };
  report.target = (description, met) => {
    process.stdout.write(`  target: ${description}: ${met ? 'met' : 'MISSED'}\n`);
    if (!met) missed.push(`${name}: ${description}`);
  };
  try {
    await bench.run(report);
  } catch (error) {
    failed = true;
    process.stdout.write(`  FAILED: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
}
if (modules.length === 0) process.stdout.write(`no bench module matches '${filter}'\n`);
if (missed.length > 0) process.stdout.write(`\nmissed targets:\n${missed.map((m) => `  - ${m}`).join('\n')}\n`);
process.exitCode = failed ? 1 : 0;
