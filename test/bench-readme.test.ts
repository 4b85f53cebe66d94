import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/temp-dir.js';
import {
  BEGIN,
  E2E_BEGIN,
  E2E_END,
  END,
  readBenchResults,
  renderBenchSection,
  renderE2eSection,
  updateReadme,
} from '../scripts/bench/lib/readme.mjs';

const readme = () => readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const between = (text: string, begin: string, end: string) =>
  text.slice(text.indexOf(begin), text.indexOf(end) + end.length);

describe('README benchmark section', () => {
  it('quotes bench-results/*.json exactly (run `npm run bench` or node scripts/bench/run-all.mjs to regenerate)', () => {
    expect(between(readme(), BEGIN, END)).toBe(renderBenchSection());
  });

  it('shows start-up in the forms a user types, verify as a whole command and build-vms in seconds beyond the model', () => {
    const section = between(readme(), BEGIN, END);
    for (const form of [
      'validate',
      './kubestation validate',
      'npx kubestation validate',
      'npm run -s validate',
    ])
      expect(section).toContain(`| ${form} / node -e 0, per round |`);
    for (const nodes of [3, 30]) {
      expect(section).toContain(`| ${nodes} nodes: kubestation verify, whole process |`);
      expect(section).toMatch(
        new RegExp(`\\| ${nodes} nodes, warm: whole command - critical path \\| [\\d.]+ s \\|`),
      );
    }
  });

  it('leaves the e2e record out of the benchmark tables', () => {
    const dir = tempDir('kubestation-bench-readme-');
    writeFileSync(path.join(dir, 'iso.json'), JSON.stringify({ bench: 'iso' }));
    writeFileSync(path.join(dir, 'e2e.json'), JSON.stringify({ record: 'e2e' }));
    expect(readBenchResults(dir)).toEqual([{ bench: 'iso' }]);
  });
});

describe("README's e2e figures", () => {
  it('quote bench-results/e2e.json exactly, or say that no complete run is recorded', () => {
    expect(between(readme(), E2E_BEGIN, E2E_END)).toBe(renderE2eSection());
  });

  it('without a record, say so and give no figure', () => {
    const section = renderE2eSection(null);
    expect(section).toContain('not recorded yet');
    expect(section).toContain('npm run test:e2e');
    expect(section).not.toMatch(/\d+ (boots|min)/);
  });

  it('regenerate both generated parts of a stale README', () => {
    const dir = tempDir('kubestation-bench-readme-');
    const file = path.join(dir, 'README.md');
    writeFileSync(
      file,
      `intro\n${E2E_BEGIN}\ntakes about 33 minutes for its 9 boots\n${E2E_END}\nmiddle\n${BEGIN}\nold figures\n${END}\nend\n`,
    );
    expect(updateReadme(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe(
      `intro\n${renderE2eSection()}\nmiddle\n${renderBenchSection()}\nend\n`,
    );
    expect(updateReadme(file)).toBe(false);
  });
});
