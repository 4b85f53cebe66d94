// Timing helpers shared by the bench modules: whole processes, timed from spawn to exit, and their statistics.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The installed command a user runs (`npx kubestation` runs this file with node). */
export const kubestationBin = path.join(root, 'dist/src/bin.js');

/**
 * The environment of a user's shell: this one without what npm adds when it runs a script (npm_* variables,
 * INIT_CWD, node_modules/.bin on PATH), so a timed npm or npx starts as it does when a user types it.
 */
export function userShellEnv(env = process.env) {
  const clean = Object.fromEntries(
    Object.entries(env).filter(([name]) => !/^npm_/i.test(name) && name !== 'INIT_CWD'),
  );
  if (clean.PATH)
    clean.PATH = clean.PATH.split(path.delimiter)
      .filter((dir) => !dir.split(/[\\/]/).includes('node_modules'))
      .join(path.delimiter);
  return clean;
}

/** Runs one process to completion; returns its wall time in seconds. Throws (with stderr) when it fails. */
export function timeProcess(command, args, options = {}) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.error) throw result.error;
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return seconds;
}

/**
 * CPU seconds of this process's waited-for children and, through them, of their own waited-for children
 * (utime + stime of the children in /proc/self/stat; Linux only).
 */
export function childCpuSeconds() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16 and 17 of stat(5), in clock ticks (USER_HZ 100)
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** { n, median, min, max } of a list of samples. */
export function stats(values) {
  return { n: values.length, median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/**
 * Runs each named job once per round, in turn (A, B, C, A, B, C, ...), after `warmups` untimed rounds, so
 * every job sees the same machine load; returns each job's samples and, per round, ratio[name] = job / base.
 */
export function pairedRounds(jobs, { rounds, warmups = 1, base }) {
  const names = Object.keys(jobs);
  for (let i = 0; i < warmups; i++) for (const name of names) jobs[name]();
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const ratios = Object.fromEntries(names.filter((n) => n !== base).map((n) => [n, []]));
  for (let i = 0; i < rounds; i++) {
    const round = {};
    // Alternate the order too, so neither job always runs right after the other.
    for (const name of i % 2 === 0 ? names : [...names].reverse()) round[name] = jobs[name]();
    for (const name of names) samples[name].push(round[name]);
    for (const name of Object.keys(ratios)) ratios[name].push(round[name] / round[base]);
  }
  return { samples, ratios };
}

/** How loaded the machine was (the figures are only comparable within one run). */
export async function machine() {
  const os = await import('node:os');
  return {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    loadavg1m: os.loadavg()[0],
    node: process.version,
    platform: `${process.platform} ${os.release()}`,
  };
}
