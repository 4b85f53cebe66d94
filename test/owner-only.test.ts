import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/atomic-file.js';
import { KubestationError } from '../src/errors.js';
import {
  icaclsOwnerOnlyCommand,
  windowsAccount,
  windowsOwnerOnlyAccess,
  type CommandLine,
  type CommandRunner,
} from '../src/owner-only.js';
import { writeSecretFileAtomic } from '../src/pki/secret-files.js';

const env = {
  USERDOMAIN: 'DESKTOP-7K2',
  USERNAME: '김 철수',
  SystemRoot: 'C:\\WINDOWS',
  USERPROFILE: 'C:\\Users\\김 철수',
};

describe('owner-only files on Windows: the icacls command lines', () => {
  it('names the account DOMAIN\\user, spaces and non-ASCII letters kept', () => {
    expect(windowsAccount(env)).toBe('DESKTOP-7K2\\김 철수');
    expect(windowsAccount({ USERDOMAIN: 'AzureAD', USERNAME: 'Jane Doe' })).toBe('AzureAD\\Jane Doe');
    expect(windowsAccount({}, () => 'pista')).toBe('pista');
  });

  it('removes inherited entries and grants the user full control, one argv entry each (no shell, no quoting by us)', () => {
    const key = 'D:\\Labs (test)\\김 철수\\.kubestation\\pki\\ca.key';
    expect(icaclsOwnerOnlyCommand(key, 'DESKTOP-7K2\\김 철수', env)).toEqual({
      file: 'C:\\WINDOWS\\System32\\icacls.exe',
      args: [key, '/inheritance:r', '/grant:r', 'DESKTOP-7K2\\김 철수:F'],
    });
    expect(
      icaclsOwnerOnlyCommand(
        'C:\\Users\\Jane Doe\\lab\\.kubestation\\pki',
        'AzureAD\\Jane Doe',
        {},
        'folder',
      ),
    ).toEqual({
      file: 'C:\\Windows\\System32\\icacls.exe',
      args: [
        'C:\\Users\\Jane Doe\\lab\\.kubestation\\pki',
        '/inheritance:r',
        '/grant:r',
        'AzureAD\\Jane Doe:(OI)(CI)F',
      ],
    });
  });
});

describe('writeFileAtomic with owner-only access', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ks-owner-only-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restricts the file while it is still empty, then writes the secret', async () => {
    const seen: Array<{ command: CommandLine; sizeThen: number }> = [];
    const run: CommandRunner = async (command) => {
      seen.push({ command, sizeThen: (await stat(command.args[0]!)).size });
      return { exitCode: 0, output: 'processed file: ...' };
    };
    const file = path.join(dir, 'pki', 'ca.key');
    await writeFileAtomic(file, '-----BEGIN PRIVATE KEY-----\n', {
      ownerOnly: windowsOwnerOnlyAccess(env, run),
    });
    expect(await readFile(file, 'utf8')).toBe('-----BEGIN PRIVATE KEY-----\n');
    expect(seen).toHaveLength(1);
    expect(seen[0]!.sizeThen).toBe(0);
    const [target, ...rest] = seen[0]!.command.args;
    expect(path.dirname(target!)).toBe(path.dirname(file)); // the temp file beside it, renamed afterwards
    expect(rest).toEqual(['/inheritance:r', '/grant:r', 'DESKTOP-7K2\\김 철수:F']);
    expect(seen[0]!.command.file).toBe('C:\\WINDOWS\\System32\\icacls.exe');
  });

  it('stops with the fix when the ACL cannot be set, leaving the old file and no temp file', async () => {
    const file = path.join(dir, 'bootstrap-token');
    await writeFile(file, 'old\n');
    const run: CommandRunner = async () => ({
      exitCode: 5,
      output: 'D:\\x: Access is denied.\nSuccessfully processed 0 files; Failed processing 1 files',
    });
    const error = await writeFileAtomic(file, 'abcdef.0123456789abcdef\n', {
      ownerOnly: windowsOwnerOnlyAccess(env, run),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubestationError);
    expect((error as KubestationError).code).toBe('SECRET_ACL_FAILED');
    expect((error as KubestationError).message).toContain('readable by DESKTOP-7K2\\김 철수 only');
    expect((error as KubestationError).message).toContain(
      'icacls exited with code 5: D:\\x: Access is denied.',
    );
    expect((error as KubestationError).message).not.toContain('0123456789abcdef');
    expect((error as KubestationError).fix).toContain('stateDir');
    expect((error as KubestationError).fix).toContain('C:\\Users\\김 철수');
    expect(await readFile(file, 'utf8')).toBe('old\n');
    expect(await readdir(dir)).toEqual(['bootstrap-token']);
  });

  it('says when icacls cannot start at all, after a second try', async () => {
    let starts = 0;
    const run: CommandRunner = async () => (
      starts++,
      { exitCode: undefined, output: '', startError: 'spawn ENOENT' }
    );
    const error = (await writeFileAtomic(path.join(dir, 'admin.key'), 'k', {
      ownerOnly: windowsOwnerOnlyAccess(env, run),
    }).catch((e: unknown) => e)) as KubestationError;
    expect(error.message).toContain('C:\\WINDOWS\\System32\\icacls.exe could not start (spawn ENOENT)');
    expect(starts).toBe(2);
    expect(existsSync(path.join(dir, 'admin.key'))).toBe(false);
  });

  it('writes the secret when icacls starts on the second try', async () => {
    const results = [
      { exitCode: undefined, output: '', startError: 'spawn UNKNOWN' },
      { exitCode: 0, output: 'processed 1 file' },
    ];
    const run: CommandRunner = async () => results.shift()!;
    await writeFileAtomic(path.join(dir, 'admin.key'), 'k', { ownerOnly: windowsOwnerOnlyAccess(env, run) });
    expect(await readFile(path.join(dir, 'admin.key'), 'utf8')).toBe('k');
  });

  it.runIf(process.platform !== 'win32')('keeps POSIX mode 0600 on Linux', async () => {
    const file = path.join(dir, 'id_ed25519');
    await writeSecretFileAtomic(file, 'private');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });
});
