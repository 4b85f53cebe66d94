import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BEGIN, END, renderBenchSection } from '../scripts/bench/lib/readme.mjs';

describe('README benchmark section', () => {
  it('quotes bench-results/*.json exactly (run `npm run bench` or node scripts/bench/run-all.mjs to regenerate)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf(BEGIN), readme.indexOf(END) + END.length);
    expect(section).toBe(renderBenchSection());
  });
});
