/**
 * The live build table on terminals of 60, 80 and 120 columns, and across resizes: what the view writes is
 * replayed through a terminal emulator (@xterm/headless, which wraps long lines and re-wraps them on resize
 * as xterm.js, VS Code's panel and Windows Terminal do), and the final screen must hold exactly one table and
 * no stale copy or piece of one. First in-process through a TTY-like stream, then in a real pseudo-terminal
 * (util-linux `script`) where Node's own tty stream reports the width and SIGWINCH the resize.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Terminal } from '@xterm/headless';
import { describe, expect, it } from 'vitest';
import { createBuildView } from '../../src/bringup/view.js';
import { displayWidth, fitToWidth, screenLines } from '../../src/bringup/screen-width.js';
import { repoRoot, seedSpec } from './lab.js';
import { liveTableScenario, logicalLines, RESIZE_MARK, staleTableProblems } from './live-table-scenario.js';

function screenOf(term: Terminal): string[] {
  const buffer = term.buffer.active;
  const rows: Array<{ text: string; wrapped: boolean }> = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i)!;
    rows.push({ text: line.translateToString(true), wrapped: line.isWrapped });
  }
  return logicalLines(rows);
}

const write = (term: Terminal, data: string): Promise<void> =>
  new Promise((resolve) => term.write(data, resolve));

/** Runs the scenario through the view into a TTY-like stream of `columns`, replayed by the emulator. */
async function replayInProcess(
  columns: number,
  resizes: number[] = [],
): Promise<{ term: Terminal; nodes: string[] }> {
  const spec = await seedSpec();
  // convertEol: a pty's line discipline turns \n into \r\n; here the emulator does.
  const term = new Terminal({
    cols: columns,
    rows: 40,
    scrollback: 5000,
    allowProposedApi: true,
    convertEol: true,
  });
  const out = Object.assign(new PassThrough(), { isTTY: true, columns });
  let pending = '';
  out.on('data', (d: Buffer) => (pending += d.toString()));
  let now = Date.parse('2026-12-07T10:00:00Z');
  const view = createBuildView(spec, 'tty', out, () => now);
  for (const step of liveTableScenario(spec, now, resizes)) {
    if ('resize' in step) {
      // The terminal re-wraps what it shows, then the program hears of it (SIGWINCH → 'resize').
      await write(term, pending);
      pending = '';
      term.resize(step.resize, 40);
      out.columns = step.resize;
      out.emit('resize');
      continue;
    }
    now += step.advanceMs;
    view.emit(step.event);
  }
  view.close();
  await write(term, pending);
  return { term, nodes: spec.nodes.map((n) => n.name) };
}

describe('screen width helpers', () => {
  it('count wide characters as two cells, cut to a width and count the lines a wrap makes', () => {
    expect(displayWidth('k8s-master')).toBe(10);
    expect(displayWidth('パッケージ')).toBe(10);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(fitToWidth('abcdefghijklmnop', 10)).toBe('abcdefg...');
    expect(displayWidth(fitToWidth('apt: パッケージリストを読み込んでいます', 20))).toBeLessThanOrEqual(20);
    expect(fitToWidth('short', 10)).toBe('short');
    expect(screenLines(['a'.repeat(119), 'b', ''], 60)).toBe(4);
  });
});

describe('live build table', () => {
  for (const columns of [60, 80, 120]) {
    it(`leaves exactly one table on a ${columns}-column terminal`, async () => {
      const { term, nodes } = await replayInProcess(columns);
      const lines = screenOf(term);
      expect(staleTableProblems(lines, nodes, columns - 1)).toEqual([]);
      // The rows still say what a user needs: node, role and where it is.
      expect(lines.at(-3)).toMatch(/^k8s-master\s+control-plane\s+complete/);
    });
  }

  it('follows resizes (120 → 60 → 80 → 120 columns) without a stale copy', async () => {
    const { term, nodes } = await replayInProcess(120, [60, 80, 120]);
    expect(term.cols).toBe(120);
    expect(staleTableProblems(screenOf(term), nodes, 119)).toEqual([]);
  });

  it('draws no table before the plan (a preflight that fails shows its problems only)', async () => {
    const spec = await seedSpec();
    const out = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const view = createBuildView(spec, 'tty', out);
    view.emit({ type: 'preflight', ok: false, problems: ['vmrest is not answering'], warnings: 0 });
    view.close();
    expect(text).toBe('preflight: 1 problem(s)\n');
  });
});

const haveScript = spawnSync('script', ['--version']).status === 0;

describe.runIf(haveScript)('live build table in a real pseudo-terminal (script)', () => {
  /** Runs the driver in a pty `columns` wide; resolves with what the terminal received. */
  function runInPty(columns: number, resizes: number[]): Promise<string> {
    const driver = path.join(repoRoot, 'test', 'bringup', 'live-table-driver.ts');
    return runCommandInPty(columns, `node --import tsx ${JSON.stringify(driver)} ${resizes.join(' ')}`);
  }

  function runCommandInPty(columns: number, commandLine: string): Promise<string> {
    const command = `stty cols ${columns} rows 40; exec ${commandLine}`;
    return new Promise((resolve, reject) => {
      const child = spawn('script', ['-qfec', command, '/dev/null'], {
        cwd: repoRoot,
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, TERM: 'xterm-256color' },
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(output) : reject(new Error(`script exited ${code}: ${output}`)),
      );
      child.stdin.end();
    });
  }

  async function replay(output: string, columns: number): Promise<Terminal> {
    const term = new Terminal({ cols: columns, rows: 40, scrollback: 5000, allowProposedApi: true });
    // The driver marks each resize it makes (stty in its own pty) just before making it.
    const parts = output.split(RESIZE_MARK);
    await write(term, parts[0]!);
    for (const part of parts.slice(1)) {
      const [cols, rest] = [Number(/^(\d+)\u0007/.exec(part)![1]), part.replace(/^\d+\u0007/, '')];
      term.resize(cols, 40);
      await write(term, rest);
    }
    return term;
  }

  for (const columns of [60, 80, 120]) {
    it(`leaves exactly one table at ${columns} columns`, async () => {
      const spec = await seedSpec();
      const term = await replay(await runInPty(columns, []), columns);
      expect(
        staleTableProblems(
          screenOf(term),
          spec.nodes.map((n) => n.name),
          columns - 1,
        ),
      ).toEqual([]);
    });
  }

  it('follows SIGWINCH: 120 → 60 → 80 columns', async () => {
    const spec = await seedSpec();
    const term = await replay(await runInPty(120, [60, 80]), 120);
    expect(term.cols).toBe(80);
    expect(
      staleTableProblems(
        screenOf(term),
        spec.nodes.map((n) => n.name),
        79,
      ),
    ).toEqual([]);
  });

  it('a whole build-vms --simulate at 80 columns leaves one table', { timeout: 120_000 }, async () => {
    const spec = await seedSpec();
    const bin = path.join(repoRoot, 'src', 'bin.ts');
    const output = await runCommandInPty(
      80,
      `node --import tsx ${JSON.stringify(bin)} build-vms --simulate --skip-verify`,
    );
    expect(output).toContain('simulated cluster k8s-lab is ready');
    const lines = screenOf(await replay(output, 80));
    expect(lines.filter((l) => /^node\s+role\s+step \/ stage/.test(l))).toHaveLength(1);
    for (const node of spec.nodes.map((n) => n.name)) {
      const rows = lines.filter((l) => new RegExp(`^${node}\\s+(control-plane|worker)\\s`).test(l));
      expect(rows, node).toHaveLength(1);
      expect(rows[0]).toMatch(/\scomplete\s/);
    }
  });
});
