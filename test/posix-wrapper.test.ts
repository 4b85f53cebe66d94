/**
 * `./kubestation`, the repository-root wrapper for POSIX shells, runs
 * dist/src/bin.js beside it with the arguments exactly as given and exits
 * with its exit code, from a folder whose path has a space, Korean letters
 * and parentheses. bin.js is replaced here by one that prints what it got;
 * test/production-install.test.ts runs the real one through this wrapper.
 */
import { execa } from 'execa';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/temp-dir.js';

const repoRoot = path.resolve(import.meta.dirname, '..');
let folder: string;

async function run(args: string[], options: { cwd?: string; command?: string } = {}) {
  return execa(options.command ?? path.join(folder, 'kubestation'), args, {
    cwd: options.cwd ?? folder,
    reject: false,
  });
}

beforeAll(async () => {
  folder = path.join(tempDir('kubestation-wrapper-'), '김 철수 (x86)', 'kubestation');
  await mkdir(path.join(folder, 'dist', 'src'), { recursive: true });
  await copyFile(path.join(repoRoot, 'kubestation'), path.join(folder, 'kubestation'));
  await writeFile(
    path.join(folder, 'dist', 'src', 'bin.js'),
    [
      'const args = process.argv.slice(2);',
      'process.stdout.write(JSON.stringify({ script: process.argv[1], args }));',
      "const exit = args.find((a) => a.startsWith('--exit-code='));",
      "process.exitCode = exit ? Number(exit.slice('--exit-code='.length)) : 0;",
      '',
    ].join('\n'),
  );
});

describe('./kubestation (POSIX sh)', () => {
  it('passes spaces, quotes, =, $, globs, backslashes, empty and multi-line arguments through untouched', async () => {
    const args = [
      'build-vms',
      '--concurrency=1',
      '--cluster',
      '/tmp/a b/김 철수/cluster.yaml',
      'a=b=c',
      '--name=two words',
      `say "hi" and 'bye'`,
      '$HOME `id` $(id)',
      '*',
      'C:\\Program Files (x86)\\VMware',
      '',
      'line one\nline two',
    ];
    const result = await run(args);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ script: path.join(folder, 'dist', 'src', 'bin.js'), args });
  });

  it('finds bin.js beside itself when run as ./kubestation from its folder and through a relative path', async () => {
    const here = await run(['validate'], { command: './kubestation' });
    expect(JSON.parse(here.stdout)).toMatchObject({ args: ['validate'] });
    const parent = path.dirname(folder);
    const below = await run(['status'], { command: './kubestation/kubestation', cwd: parent });
    expect(JSON.parse(below.stdout)).toMatchObject({
      script: path.join(folder, 'dist', 'src', 'bin.js'),
      args: ['status'],
    });
  });

  it("exits with the CLI's exit code", async () => {
    for (const code of [1, 2, 3, 130]) {
      const result = await run(['validate', `--exit-code=${code}`]);
      expect(result.exitCode).toBe(code);
    }
  });

  it('says how to compile when dist/ is missing, and exits 1', async () => {
    const bare = path.join(tempDir('kubestation-wrapper-'), 'no build');
    await mkdir(bare, { recursive: true });
    await copyFile(path.join(repoRoot, 'kubestation'), path.join(bare, 'kubestation'));
    const result = await execa(path.join(bare, 'kubestation'), ['validate'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(`kubestation is not compiled yet: run npm ci in ${bare} first.`);
  });

  it('passes shellcheck', async () => {
    const result = await execa('shellcheck', ['--shell=sh', path.join(repoRoot, 'kubestation')], {
      reject: false,
    });
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});
