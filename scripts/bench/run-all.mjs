// Runs every benchmark module in scripts/bench/ (each *.mjs file except this one), in file-name order,
// writes each module's figures to bench-results/<module>.json and regenerates the README's benchmark
// section from those files (scripts/bench/lib/readme.mjs), so no figure is typed by hand.
//
//   npm run bench                          build, then run all benches
//   node scripts/bench/run-all.mjs iso     run only benches whose file name contains "iso" (after `npm run build`)
//   BENCH_ROUNDS=2 node scripts/bench/run-all.mjs   fewer rounds in each bench, to try a change quickly
//
// A bench module is plain Node ESM that measures the BUILT code in dist/ and exports:
//   export const title = 'what is measured';                 (optional, printed as a heading)
//   export async function run(report) { ... }
// where
//   report(metric, value, unit, note?)          records one figure
//   report.stats(metric, {n, median, min, max}, unit, note?)   records a median and its range
//   report.target(description, met, {value, limit})            records whether a target was met
//   report.data(key, value)                     records anything else worth keeping (e.g. the model)
// A module that throws fails the run (exit 1) and writes no results; a missed target is printed as MISSED
// but does not fail it: speed targets inform, they do not gate.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machine, root } from './lib/measure.mjs';
import { updateReadme } from './lib/readme.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const modules = (await readdir(here))
  .filter((f) => f.endsWith('.mjs') && f !== 'run-all.mjs' && f.includes(filter))
  .sort();
const show = (value) => (typeof value === 'number' ? Number(value.toPrecision(4)).toString() : String(value));

let failed = false;
const missed = [];
await mkdir(path.join(root, 'bench-results'), { recursive: true });
for (const file of modules) {
  const bench = await import(pathToFileURL(path.join(here, file)).href);
  const name = path.basename(file, '.mjs');
  process.stdout.write(`\n== ${name}${bench.title ? `: ${bench.title}` : ''}\n`);
  const result = {
    bench: name,
    title: bench.title ?? name,
    startedAt: new Date().toISOString(),
    machine: await machine(),
    figures: [],
    targets: [],
    data: {},
  };
  const line = (metric, shown, note) =>
    process.stdout.write(`  ${metric.padEnd(62)} ${shown.padStart(26)}${note ? `  (${note})` : ''}\n`);
  const report = (metric, value, unit = '', note = '') => {
    result.figures.push({ metric, value, unit, ...(note ? { note } : {}) });
    line(metric, `${show(value)} ${unit}`.trim(), note);
  };
  report.stats = (metric, s, unit = '', note = '') => {
    result.figures.push({ metric, ...s, unit, ...(note ? { note } : {}) });
    line(
      metric,
      `${show(s.median)} ${unit} [${show(s.min)}–${show(s.max)}]`.trim(),
      `median [min–max] of ${s.n}${note ? `; ${note}` : ''}`,
    );
  };
  report.target = (description, met, { value, limit } = {}) => {
    result.targets.push({ description, met, value, limit });
    process.stdout.write(
      `  target: ${description}: ${met ? 'met' : 'MISSED'}${value === undefined ? '' : ` (${show(value)} vs ${show(limit)})`}\n`,
    );
    if (!met) missed.push(`${name}: ${description}`);
  };
  report.data = (key, value) => {
    result.data[key] = value;
  };
  try {
    const started = performance.now();
    await bench.run(report);
    result.seconds = (performance.now() - started) / 1000;
    await writeFile(path.join(root, 'bench-results', `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`  (${show(result.seconds)} s; bench-results/${name}.json)\n`);
  } catch (error) {
    failed = true;
    process.stdout.write(`  FAILED: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
}
if (modules.length === 0) process.stdout.write(`no bench module matches '${filter}'\n`);
if (missed.length > 0)
  process.stdout.write(`\nmissed targets:\n${missed.map((m) => `  - ${m}`).join('\n')}\n`);
if (await updateReadme())
  process.stdout.write('\nREADME.md: benchmark section regenerated from bench-results/*.json\n');
process.exitCode = failed ? 1 : 0;
