// The e2e run's record (test/e2e/support/run-record.ts) and the README sentences made from it, from a sample
// journal: the e2e run itself is too long for `npm test` (see test/e2e/).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderE2eSection } from '../scripts/bench/lib/readme.mjs';
import {
  imageBuildOutcome,
  incompleteBecause,
  parseJournal,
  summarizeRun,
  type ImageEvent,
  type RunEvent,
} from './e2e/support/run-record.js';

const machine = { cpus: 2, model: 'AMD EPYC', loadavg1m: 0.4, node: 'v22.12.0', platform: 'linux 6.1' };
const testFiles = [
  'test/e2e/first-boot-truth.test.ts',
  'test/e2e/handmade-seed.test.ts',
  'test/e2e/kubestation-seeds.test.ts',
  'test/e2e/reboot.test.ts',
];
const cachedImage = (seconds: number): ImageEvent => ({
  type: 'image',
  key: 'abc123',
  seconds,
  built: false,
  baseBuilt: false,
  recordedBuildSeconds: 312,
  recordedBaseBuildSeconds: 1490,
});
const bootNames = [
  'handmade',
  'k8s-master',
  'k8s-worker1',
  'k8s-master-kubeadm-fails',
  'no-way-out',
  'long-stages',
  'reboot-first-boot',
  'reboot-second-boot',
];
const boots: RunEvent[] = bootNames.map((name, i) => ({
  type: 'boot',
  name,
  seconds: 200 + i * 10,
  ok: true,
}));
// Journal lines as the rig appends them: the image is checked once per test file.
const journal = [cachedImage(1.2), ...boots.slice(0, 4), cachedImage(0.9), ...boots.slice(4)]
  .map((e) => JSON.stringify(e))
  .join('\n');
const startedAt = new Date('2026-12-07T10:00:00Z');

describe('the e2e run record', () => {
  it('counts every boot with its duration, and the whole run, from the journal', () => {
    const record = summarizeRun({
      events: parseJournal(journal),
      startedAt,
      finishedAt: new Date(startedAt.getTime() + 33 * 60_000),
      machine,
      testFiles,
    });
    expect(record.bootCount).toBe(8);
    expect(record.boots.map((b) => b.name)).toEqual(bootNames);
    expect(record.bootSeconds).toBe(1880);
    expect(record.wallSeconds).toBe(1980);
    expect(record.imageBuildSeconds).toBe(0);
    expect(record.runSecondsWithoutImageBuild).toBe(1980);
    expect(record.image).toEqual({
      key: 'abc123',
      cacheHit: true,
      baseBuilt: false,
      recordedBuildSeconds: 312,
      recordedBaseBuildSeconds: 1490,
    });

    const section = renderE2eSection(record);
    expect(section).toContain('booted 8 guests in about 33 min (the boots themselves 31 min;');
    expect(section).toContain('handmade 3.3, k8s-master 3.5,');
    expect(section).toContain('2026-12-07 10:00 UTC, 2 CPUs, load average 0.4 at the start');
    expect(section).toContain('The guest image was cached');
    expect(section).toContain('about 5.2 min for its build and about 25 min for the debootstrap base');
  });

  it('takes a build of the guest image in the run out of its duration, and says what it cost', () => {
    const built: RunEvent = {
      ...cachedImage(1800),
      built: true,
      baseBuilt: true,
      recordedBuildSeconds: 1800,
    };
    const record = summarizeRun({
      events: [built, ...boots, cachedImage(1)],
      startedAt,
      finishedAt: new Date(startedAt.getTime() + (1800 + 33 * 60) * 1000),
      machine,
      testFiles,
    });
    expect(record.image.cacheHit).toBe(false);
    expect(record.imageBuildSeconds).toBe(1800);
    expect(record.runSecondsWithoutImageBuild).toBe(1980);
    const section = renderE2eSection(record);
    expect(section).toContain('booted 8 guests in about 33 min');
    expect(section).toContain(
      'this run built the guest image in about 30 min (the debootstrap base included: about 25 min of it)',
    );
  });

  it('is not taken from a run that left out a test file, failed a test or a boot', () => {
    const complete = {
      testFiles,
      expectedTestFiles: testFiles,
      failedOrSkippedTests: [],
      events: parseJournal(journal),
    };
    expect(incompleteBecause(complete)).toBeUndefined();
    expect(incompleteBecause({ ...complete, testFiles: testFiles.slice(1) })).toBe(
      'not every e2e test file ran (missing: test/e2e/first-boot-truth.test.ts)',
    );
    expect(
      incompleteBecause({ ...complete, failedOrSkippedTests: ['reboot > swap stays off: failed'] }),
    ).toContain('not every test passed');
    expect(
      incompleteBecause({
        ...complete,
        events: [...complete.events, { type: 'boot', name: 'k8s-worker1', seconds: 900, ok: false }],
      }),
    ).toBe('a guest did not power off cleanly (k8s-worker1)');
  });

  it('reads what the image scripts did from the lines they print on stderr', () => {
    // The lines the scripts print: the record depends on them.
    expect(readFileSync('scripts/e2e/build-image.sh', 'utf8')).toContain(
      'echo "build-image: $out in $seconds s" >&2',
    );
    expect(readFileSync('scripts/e2e/build-base.sh', 'utf8')).toContain(
      'echo "build-base: done in $seconds s" >&2',
    );
    expect(imageBuildOutcome('')).toEqual({ built: false, baseBuilt: false });
    expect(
      imageBuildOutcome(
        'build-base: debootstrap bookworm from http://deb.debian.org/debian into /c/x\nbuild-base: done in 1490 s\nbuild-image: /c/image-abc in 1800 s\n',
      ),
    ).toEqual({ built: true, baseBuilt: true });
    expect(imageBuildOutcome('build-image: /c/image-abc in 300 s\n')).toEqual({
      built: true,
      baseBuilt: false,
    });
  });
});
