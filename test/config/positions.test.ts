/**
 * A problem in cluster.yaml names where it is: schema errors carry the line
 * and column of the value (or of the unwanted key), and an unclosed quote is
 * reported where it opened, not where the parser gave up.
 */
import { describe, expect, it } from 'vitest';
import { checkClusterSpec } from '../../src/config/load.js';
import { formatProblem } from '../../src/config/problems.js';
import { seedLabText } from './bad-spec-cases.js';

/** 1-based line and column of the first `needle` in `text`, `skip` characters into it. */
function where(text: string, needle: string, skip = 0): string {
  const found = text.indexOf(needle);
  const index = found + skip;
  if (found < 0) throw new Error(`no ${needle} in the text`);
  const before = text.slice(0, index).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

const problems = (text: string) =>
  checkClusterSpec(text, { sourcePath: '/lab/cluster.yaml', locate: true }).problems.map(formatProblem);

describe('problem positions', () => {
  it('an unknown key, an unquoted version and `cpus: two` each carry their line and column', () => {
    const text = seedLabText
      .replace(/^ {2}cpus: .*$/m, '  cpus: two')
      .replace('version: "1.37"', 'version: 1.37')
      .replace(/^vmware:$/m, 'vmware:\n  colour: blue');
    const found = problems(text);
    expect(found).toContainEqual(
      expect.stringMatching(
        new RegExp(`^nodeDefaults\\.cpus \\(${where(text, 'cpus: two', 'cpus: '.length)}\\): `),
      ),
    );
    expect(found).toContainEqual(
      expect.stringMatching(new RegExp(`^vmware\\.colour \\(${where(text, 'colour: blue')}\\): unknown key`)),
    );
    expect(found.some((p) => /^kubernetes\.version \(line \d+, column \d+\): /.test(p))).toBe(true);
    // Without `locate`, paths stay bare (what the exact-message tests compare).
    expect(checkClusterSpec(text).problems.map((p) => p.path)).toContain('nodeDefaults.cpus');
  });

  it('an unclosed quote is reported on the line where it opened', () => {
    const text = seedLabText.replace('  - name: k8s-worker1', '  - name: "k8s-worker1');
    const [problem] = problems(text);
    expect(problem).toMatch(
      new RegExp(`^\\(yaml ${where(text, '"k8s-worker1')}\\): a quoted value opens here and is not closed`),
    );
  });
});
