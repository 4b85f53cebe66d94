/**
 * A vitest reporter for `npm run test:e2e` (test/e2e/vitest.config.ts): when a run is complete (every e2e test
 * file, every test passed, every guest powered off cleanly) it writes bench-results/e2e.json from the run's
 * journal (run-record.ts) and regenerates the README's e2e figures from it, as `npm run bench` does for the
 * benchmark section. A partial or failed run leaves the last record alone and says why.
 */
import { readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release } from 'node:os';
import path from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { updateReadme } from '../../../scripts/bench/lib/readme.mjs';
import { cacheDir, repoRoot } from './rig.js';
import { incompleteBecause, journalPath, parseJournal, summarizeRun, type E2eMachine } from './run-record.js';

const e2eDir = path.join(repoRoot, 'test/e2e');

function say(message: string): void {
  process.stdout.write(`[e2e] ${message}\n`);
}

export default class RunRecordReporter implements Reporter {
  private startedAt = new Date();
  private machine: E2eMachine | undefined;

  async onTestRunStart(): Promise<void> {
    this.startedAt = new Date();
    this.machine = {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      loadavg1m: loadavg()[0] ?? 0,
      node: process.version,
      platform: `${process.platform} ${release()}`,
    };
    await rm(journalPath(cacheDir), { force: true });
  }

  async onTestRunEnd(testModules: ReadonlyArray<TestModule>): Promise<void> {
    const finishedAt = new Date();
    const events = parseJournal(await readFile(journalPath(cacheDir), 'utf8').catch(() => ''));
    const testFiles = testModules.map((m) => path.relative(repoRoot, m.moduleId).split(path.sep).join('/'));
    const expectedTestFiles = readdirSync(e2eDir)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => `test/e2e/${f}`);
    const failedOrSkippedTests = testModules.flatMap((m) => [
      ...(m.state() === 'passed' ? [] : [`${path.basename(m.moduleId)}: ${m.state()}`]),
      ...[...m.children.allTests()]
        .filter((t) => t.result().state !== 'passed')
        .map((t) => `${t.fullName}: ${t.result().state}`),
    ]);
    const why = incompleteBecause({ testFiles, expectedTestFiles, failedOrSkippedTests, events });
    if (why || !this.machine) {
      say(
        `bench-results/e2e.json not written: ${why ?? 'the run did not start'}; it keeps the last full run`,
      );
      return;
    }
    const record = summarizeRun({
      events,
      startedAt: this.startedAt,
      finishedAt,
      machine: this.machine,
      testFiles,
    });
    await mkdir(path.join(repoRoot, 'bench-results'), { recursive: true });
    await writeFile(path.join(repoRoot, 'bench-results/e2e.json'), `${JSON.stringify(record, null, 2)}\n`);
    say(
      `bench-results/e2e.json: ${record.bootCount} boots, ${record.wallSeconds} s in all` +
        (record.image.cacheHit
          ? ' (guest image cached)'
          : ` (${record.imageBuildSeconds} s of it building the guest image)`),
    );
    if (updateReadme()) say('README.md: e2e figures regenerated from bench-results/e2e.json');
  }
}
