/**
 * The shape of the source tree: imports flow one way (bin → cli → commands →
 * the core; within the core, day-2 → bring-up), and the core never reaches the
 * simulators, which only the command layer may load for --simulate.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

/** Every relative module a file imports, statically or with import(), type-only included. */
function importsOf(file: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const found = new Set<string>();
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = path.posix
      .normalize(path.posix.join(path.posix.dirname(file), m[1]!))
      .replace(/\.js$/, '.ts');
    found.add(target);
  }
  return [...found];
}

function graph(): Map<string, string[]> {
  const files = [...sourceFiles('src'), ...sourceFiles('simulators')];
  return new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
}

/** Every cycle, each as the chain of files that closes it. */
function cycles(g: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of g.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of g.keys()) if (!state.has(file)) visit(file);
  return found;
}

function reachable(g: Map<string, string[]>, from: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...from];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    todo.push(...(g.get(file) ?? []));
  }
  return seen;
}

describe('source tree', () => {
  const g = graph();

  it('has no import cycle', () => {
    expect(cycles(g).map((c) => c.join(' → '))).toEqual([]);
  });

  it('keeps every module outside src/commands and simulators/ ignorant of the simulators', () => {
    const core = [...g.keys()].filter(
      (f) =>
        f.startsWith('src/') && !f.startsWith('src/commands/') && f !== 'src/cli.ts' && f !== 'src/bin.ts',
    );
    const leaks = core.filter((f) => [...reachable(g, [f])].some((r) => r.startsWith('simulators/')));
    expect(leaks).toEqual([]);
  });

  it('lets the core depend on no command', () => {
    const core = [...g.keys()].filter(
      (f) =>
        f.startsWith('src/') && !f.startsWith('src/commands/') && f !== 'src/cli.ts' && f !== 'src/bin.ts',
    );
    const leaks = core.flatMap((f) =>
      (g.get(f) ?? [])
        .filter((t) => t.startsWith('src/commands/') || t === 'src/cli.ts')
        .map((t) => `${f} → ${t}`),
    );
    expect(leaks).toEqual([]);
  });

  it('keeps bring-up beneath the day-2 commands: nothing in src/bringup imports src/day2', () => {
    // The lab's membership (add, remove, observe) is shared by build-vms and the day-2 commands, so it
    // lives in src/bringup; an arrow back up would make a build walk between the two layers.
    const upward = [...g.entries()]
      .filter(([f]) => f.startsWith('src/bringup/'))
      .flatMap(([f, targets]) => targets.filter((t) => t.startsWith('src/day2/')).map((t) => `${f} → ${t}`));
    expect(upward).toEqual([]);
  });

  it('sees the modules it checks (the walker is not blind)', () => {
    expect(g.get('src/cli.ts')).toContain('src/commands/build-vms.ts');
    expect(g.get('src/bringup/build-vms.ts')).toContain('src/bringup/scale.ts');
    expect(g.get('src/day2/rebuild.ts')).toContain('src/bringup/observe.ts');
    expect(g.get('src/commands/build-vms.ts')).toContain('simulators/simulated-lab.ts');
    expect(g.size).toBeGreaterThan(80);
  });
});
