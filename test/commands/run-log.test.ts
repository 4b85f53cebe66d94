/**
 * Each command's last run in `<stateDir>/logs/`: written through the real
 * CLI entry, only into a state folder that exists, the run before kept as
 * .previous.log, owner-only, and redacted.
 */
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { writeRunLog } from '../../src/run-log.js';
import { captureOutput } from '../template/fixtures.js';
import { repoRoot } from '../bringup/lab.js';
import { tempDir } from '../support/temp-dir.js';

async function cli(cwd: string, argv: string[]) {
  const stdout = captureOutput();
  const stderr = captureOutput();
  const code = await main(argv, { stdout: stdout.stream, stderr: stderr.stream, env: {}, cwd });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('command run logs', () => {
  it('a lab never built: no state folder is created to log into', async () => {
    const dir = tempDir('run-log-');
    await copyFile(path.join(repoRoot, 'cluster.yaml'), path.join(dir, 'cluster.yaml'));
    expect((await cli(dir, ['validate'])).code).toBe(0);
    expect(existsSync(path.join(dir, '.kubestation'))).toBe(false);
  });

  it('keeps the last run and the one before, with command, exit code and output, owner-only', async () => {
    const dir = tempDir('run-log-');
    await copyFile(path.join(repoRoot, 'cluster.yaml'), path.join(dir, 'cluster.yaml'));
    await mkdir(path.join(dir, '.kubestation'));
    const failed = await cli(dir, ['validate', '--no-such-option']);
    expect(failed.code).not.toBe(0);
    const ok = await cli(dir, ['validate']);
    expect(ok.code).toBe(0);
    const logs = path.join(dir, '.kubestation', 'logs');
    const last = await readFile(path.join(logs, 'validate.log'), 'utf8');
    expect(last).toMatch(/^kubestation \S+ validate\nstarted \S+, took [\d.]+ s, exit code 0\n/);
    expect(last).toContain(ok.stdout);
    const previous = await readFile(path.join(logs, 'validate.previous.log'), 'utf8');
    expect(previous).toMatch(/validate --no-such-option\n.*exit code [1-9]/);
    expect(previous).toContain('--no-such-option');
    if (process.platform !== 'win32') {
      expect(statSync(logs).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(logs, 'validate.log')).mode & 0o077).toBe(0);
    }
  });

  it('redacts the secrets the state folder holds and secret-shaped text', async () => {
    const dir = tempDir('run-log-');
    await mkdir(path.join(dir, 'pki'), { recursive: true });
    const token = 'abcdef.0123456789abcdef';
    await (
      await import('node:fs/promises')
    ).writeFile(path.join(dir, 'pki', 'bootstrap-token'), `${token}\n`);
    const now = new Date();
    await writeRunLog(
      dir,
      {
        command: 'rebuild-node',
        argv: ['k8s-worker1'],
        startedAt: now,
        finishedAt: now,
        exitCode: 1,
        output: `join with ${token} failed; secret half 0123456789abcdef; password: Hunter2!\n`,
      },
      {},
      '0.0.0-test',
    );
    const text = await readFile(path.join(dir, 'logs', 'rebuild-node.log'), 'utf8');
    expect(text).not.toContain('0123456789abcdef');
    expect(text).not.toContain('Hunter2!');
    expect(text).toContain('<redacted: join token>');
  });
});
