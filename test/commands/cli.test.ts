/**
 * What every command shares: --help / -h, `kubestation --version`, "did you
 * mean" for a mistyped command or option, and one argument parser (the one
 * with the npm guard) for every command.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { captureOutput } from '../template/fixtures.js';

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = captureOutput();
  const err = captureOutput();
  // No cluster.yaml in this folder: a command that went past its help would fail.
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: {},
    cwd: path.join(import.meta.dirname, 'no-such-folder'),
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

/** The command names `kubestation --help` lists. */
async function listedCommands(): Promise<string[]> {
  const { stdout } = await cli(['--help']);
  const block = stdout.split('commands:\n')[1]!.split('\n\n')[0]!;
  return block.split('\n').map((line) => line.trim().split(/\s+/)[0]!);
}

describe('kubestation', () => {
  it('lists its commands', async () => {
    expect(await listedCommands()).toEqual(
      expect.arrayContaining([
        'up',
        'validate',
        'build-template',
        'build-vms',
        'verify',
        'status',
        'doctor',
        'rebuild-node',
        'destroy',
        'seed-isos',
      ]),
    );
  });

  it("prints each command's own help for --help and -h, and changes nothing", async () => {
    for (const name of await listedCommands()) {
      for (const flag of ['--help', '-h']) {
        const { code, stdout, stderr } = await cli([name, flag]);
        expect({ name, flag, code, stderr }).toEqual({ name, flag, code: 0, stderr: '' });
        expect(stdout).toMatch(new RegExp(`^usage: \\.\\\\kubestation ${name}\\b`));
      }
    }
  });

  it('prints its version for --version, -v and version', async () => {
    const { version } = JSON.parse(
      readFileSync(path.join(import.meta.dirname, '../../package.json'), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-v', 'version']) {
      expect(await cli([flag])).toEqual({ code: 0, stdout: `kubestation ${version}\n`, stderr: '' });
    }
  });

  it('suggests the closest command for a mistyped one', async () => {
    const typo = await cli(['biuld-vms', '--dry-run']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/^kubestation: unknown command 'biuld-vms' \(did you mean 'build-vms'\?\)\n/);
    expect((await cli(['stauts'])).stderr).toContain("did you mean 'status'?");
    expect((await cli(['rebuild'])).stderr).toContain("did you mean 'rebuild-node'?");
    // Nothing close: no guess.
    expect((await cli(['kubectl'])).stderr).toMatch(/^kubestation: unknown command 'kubectl'\n/);
    // Not an inherited object property.
    expect((await cli(['constructor'])).stderr).toMatch(/^kubestation: unknown command 'constructor'\n/);
  });

  it("names a mistyped option, suggests the closest one and points at the command's help", async () => {
    const { code, stderr } = await cli(['build-vms', '--dryrun']);
    expect(code).toBe(1);
    expect(stderr).toBe(
      "kubestation build-vms: unknown option --dryrun (did you mean '--dry-run'?)\n  fix: '.\\kubestation build-vms --help' lists its options\n",
    );
    expect((await cli(['validate', '--jsn'])).stderr).toContain(
      "unknown option --jsn (did you mean '--json'?)",
    );
    expect((await cli(['status', 'k8s-master'])).stderr).toContain(
      "unexpected argument 'k8s-master' (this command takes options only)",
    );
    expect((await cli(['verify', '--cluster'])).stderr).toContain(
      '--cluster needs a value: the path of a cluster file (e.g. cluster.yaml)',
    );
  });

  it('has every command read its arguments through the one parser that guards against npm', () => {
    const dir = path.join(import.meta.dirname, '../../src/commands');
    const direct = readdirSync(dir)
      .filter((f) => f.endsWith('.ts') && f !== 'args.ts' && f !== 'npm-guard.ts')
      .filter((f) => /\bparseArgs\s*\(/.test(readFileSync(path.join(dir, f), 'utf8')));
    expect(direct, 'use parseCommandArgs (src/commands/args.ts) instead of parseArgs').toEqual([]);
  });
});
