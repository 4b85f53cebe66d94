/**
 * The record of a whole e2e run, kept in bench-results/e2e.json (issue 20 §7): how many guests it booted,
 * how long each boot took, and what the guest image cost, so the README's e2e figures come from a run and
 * not from memory (scripts/bench/lib/readme.mjs renders them; test/bench-readme.test.ts holds the README to
 * the file).
 *
 * The test files run in worker processes, so each boot and each image check appends one line to a journal
 * in the e2e cache (appendRunEvent); the reporter (run-record-reporter.ts), in vitest's main process, clears
 * the journal when the run starts and turns it into the record when the run ends (summarizeRun).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

/** One guest boot, from QEMU's start to the guest's power-off; `ok` false when it did not power off cleanly. */
export interface BootEvent {
  type: 'boot';
  name: string;
  seconds: number;
  ok: boolean;
}

/** One ensureGuestImage call: whether it built the image (and the debootstrap base) or found it cached. */
export interface ImageEvent {
  type: 'image';
  key: string;
  /** Wall time of this call: the whole build, or only the cache check. */
  seconds: number;
  built: boolean;
  baseBuilt: boolean;
  /** The build times the image's image.json records (from the run that built it). */
  recordedBuildSeconds: number;
  recordedBaseBuildSeconds: number;
}

export type RunEvent = BootEvent | ImageEvent;

export interface E2eMachine {
  cpus: number;
  model: string | undefined;
  loadavg1m: number;
  node: string;
  platform: string;
}

/** bench-results/e2e.json. */
export interface E2eRecord {
  record: 'e2e';
  startedAt: string;
  machine: E2eMachine;
  /** The whole run, from vitest's start to its end. */
  wallSeconds: number;
  /** Time this run spent building the guest image (0 when it was cached). */
  imageBuildSeconds: number;
  /** The whole run less the image build: what a run with a cached image takes. */
  runSecondsWithoutImageBuild: number;
  bootCount: number;
  bootSeconds: number;
  boots: { name: string; seconds: number }[];
  image: {
    key: string;
    cacheHit: boolean;
    baseBuilt: boolean;
    recordedBuildSeconds: number;
    recordedBaseBuildSeconds: number;
  };
  testFiles: string[];
}

/**
 * What one build-image.sh call did, from its stderr: it prints "build-image: <dir> in <n> s" only when it
 * built the image, and build-base.sh "build-base: done in <n> s" only when it built the base.
 */
export function imageBuildOutcome(log: string): { built: boolean; baseBuilt: boolean } {
  return {
    built: /^build-image: .* in \d+ s$/m.test(log),
    baseBuilt: /^build-base: done in \d+ s$/m.test(log),
  };
}

export function journalPath(cacheDir: string): string {
  return path.join(cacheDir, 'run-record.jsonl');
}

/** Appends one event to the run's journal (one line: the test files run one at a time, each line whole). */
export function appendRunEvent(cacheDir: string, event: RunEvent): void {
  mkdirSync(cacheDir, { recursive: true });
  appendFileSync(journalPath(cacheDir), `${JSON.stringify(event)}\n`);
}

export function parseJournal(text: string): RunEvent[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RunEvent);
}

/**
 * Why a run cannot stand for the suite (so its record must not replace the last one), or undefined when it
 * can: every e2e test file ran, every test in it passed, and every boot powered off cleanly.
 */
export function incompleteBecause(run: {
  testFiles: string[];
  expectedTestFiles: string[];
  failedOrSkippedTests: string[];
  events: RunEvent[];
}): string | undefined {
  const missing = run.expectedTestFiles.filter((f) => !run.testFiles.includes(f));
  if (missing.length > 0) return `not every e2e test file ran (missing: ${missing.join(', ')})`;
  if (run.failedOrSkippedTests.length > 0)
    return `not every test passed (${run.failedOrSkippedTests.length}: ${run.failedOrSkippedTests.slice(0, 3).join('; ')})`;
  const failedBoots = run.events.filter((e): e is BootEvent => e.type === 'boot' && !e.ok);
  if (failedBoots.length > 0)
    return `a guest did not power off cleanly (${failedBoots.map((b) => b.name).join(', ')})`;
  if (!run.events.some((e) => e.type === 'boot')) return 'no guest booted';
  if (!run.events.some((e) => e.type === 'image')) return 'no guest image was checked';
  return undefined;
}

const tenths = (seconds: number): number => Math.round(seconds * 10) / 10;

/** The record of one complete run from its journal. */
export function summarizeRun(run: {
  events: RunEvent[];
  startedAt: Date;
  finishedAt: Date;
  machine: E2eMachine;
  testFiles: string[];
}): E2eRecord {
  const boots = run.events.filter((e): e is BootEvent => e.type === 'boot');
  const images = run.events.filter((e): e is ImageEvent => e.type === 'image');
  const last = images.at(-1);
  if (!last) throw new Error('the e2e run checked no guest image');
  const built = images.filter((e) => e.built);
  const imageBuildSeconds = tenths(built.reduce((sum, e) => sum + e.seconds, 0));
  const wallSeconds = tenths((run.finishedAt.getTime() - run.startedAt.getTime()) / 1000);
  return {
    record: 'e2e',
    startedAt: run.startedAt.toISOString(),
    machine: run.machine,
    wallSeconds,
    imageBuildSeconds,
    runSecondsWithoutImageBuild: tenths(wallSeconds - imageBuildSeconds),
    bootCount: boots.length,
    bootSeconds: tenths(boots.reduce((sum, b) => sum + b.seconds, 0)),
    boots: boots.map((b) => ({ name: b.name, seconds: b.seconds })),
    image: {
      key: last.key,
      cacheHit: built.length === 0,
      baseBuilt: images.some((e) => e.baseBuilt),
      recordedBuildSeconds: last.recordedBuildSeconds,
      recordedBaseBuildSeconds: last.recordedBaseBuildSeconds,
    },
    testFiles: [...run.testFiles].sort(),
  };
}
