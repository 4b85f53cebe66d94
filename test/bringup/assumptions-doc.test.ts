/**
 * docs/assumptions.md describes every assumption the code records as observed
 * (src/bringup/observations.ts), and nothing else: one `## \`<id>\`` section
 * each, naming the files it is used in (which must exist) and each answer the
 * code can record (ASSUMPTIONS[id].answers, the only values it compiles).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ASSUMPTION_IDS, ASSUMPTIONS, type AssumptionId } from '../../src/bringup/observations.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const doc = readFileSync(path.join(root, 'docs', 'assumptions.md'), 'utf8');

/** Each `## \`id\`` section's text, by id. */
function sections(): Map<string, string> {
  const found = new Map<string, string>();
  const parts = doc.split(/^## /m).slice(1);
  for (const part of parts) {
    const id = /^`([a-z0-9-]+)`\n/.exec(part)?.[1];
    if (id) found.set(id, part);
  }
  return found;
}

describe('docs/assumptions.md', () => {
  it('has one section per assumption id in the code, and none for an id the code does not have', () => {
    expect([...sections().keys()].sort()).toEqual([...ASSUMPTION_IDS].sort());
  });

  it('names, per assumption, files that exist and every answer the code records', () => {
    for (const [id, text] of sections()) {
      const files = [...text.matchAll(/`((?:src|simulators)\/[\w/.-]+\.ts)`/g)].map((m) => m[1]!);
      expect(files.length, id).toBeGreaterThan(0);
      for (const file of files) expect(existsSync(path.join(root, file)), `${id}: ${file}`).toBe(true);
      for (const answer of ASSUMPTIONS[id as AssumptionId].answers)
        expect(text, id).toContain(`- \`${answer}\`:`);
    }
  });
});
