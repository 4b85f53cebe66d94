/**
 * How the simulated Workstation host names files. The simulators keep real
 * files on the machine they run on (Linux in CI); vmrest on a Windows host
 * speaks drive-letter paths with backslashes and compares them without
 * regard to case. `windowsHostPaths` maps between the two the way Wine does:
 * each drive letter is a local folder (Wine's `dosdevices`: `Z:` is `/`,
 * `C:` the prefix's `drive_c`), and a host path is looked up component by
 * component, case-insensitively, as Wine (and NTFS) do.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

export interface HostPaths {
  /** 'win32' when the simulated host is Windows. */
  readonly platform: 'win32' | 'posix';
  /** path.win32 or path.posix: how host paths are joined and resolved. */
  readonly api: path.PlatformPath;
  /** The host's name for a local file (what vmrest shows). */
  toHost(local: string): string;
  /** The local file a host path names (an absolute host path). */
  toLocal(host: string): string;
  /** Whether two host paths name the same file (case-insensitive on Windows). */
  same(a: string, b: string): boolean;
}

/** The simulator's host is the machine it runs on: paths are used as they are. */
export const localHostPaths: HostPaths = {
  platform: 'posix',
  api: path.posix,
  toHost: (local) => path.resolve(local),
  toLocal: (host) => path.resolve(host),
  same: (a, b) => path.resolve(a) === path.resolve(b),
};

/** Looks `rest` up under `root` one component at a time, taking an existing entry that matches without case. */
function resolveCaseInsensitive(root: string, rest: string[]): string {
  let current = root;
  for (const part of rest) {
    let entries: string[] = [];
    try {
      entries = readdirSync(current);
    } catch {
      // not a folder (yet): keep the name as given
    }
    const match = entries.includes(part) ? part : entries.find((e) => e.toLowerCase() === part.toLowerCase());
    current = path.join(current, match ?? part);
  }
  return current;
}

/**
 * A Windows host whose drives are local folders, e.g. `{ c: '<prefix>/drive_c', z: '/' }`.
 * Local files outside every drive have no host name (an error: the simulator would leak a Linux path).
 */
export function windowsHostPaths(drives: Record<string, string>): HostPaths {
  const table = Object.entries(drives).map(([letter, root]) => ({
    letter: letter.toUpperCase().replace(/:$/, ''),
    root: path.resolve(root),
  }));
  // The most specific drive first: C: (inside /) before Z: (/).
  const byDepth = [...table].sort((a, b) => b.root.length - a.root.length);
  const toLocal = (host: string): string => {
    const m = /^([a-zA-Z]):[\\/]?(.*)$/.exec(host);
    if (!m) throw new Error(`simulated Windows host: ${JSON.stringify(host)} is not a drive-letter path`);
    const drive = table.find((d) => d.letter === m[1]!.toUpperCase());
    if (!drive) throw new Error(`simulated Windows host: no drive ${m[1]!.toUpperCase()}: for ${host}`);
    const parts = path.win32
      .normalize(`\\${m[2]!}`)
      .split('\\')
      .filter((p) => p !== '');
    return resolveCaseInsensitive(drive.root, parts);
  };
  return {
    platform: 'win32',
    api: path.win32,
    toHost(local) {
      const absolute = path.resolve(local);
      const drive = byDepth.find(
        (d) => absolute === d.root || absolute.startsWith(d.root === '/' ? '/' : `${d.root}/`),
      );
      if (!drive)
        throw new Error(
          `simulated Windows host: ${absolute} is on no drive (${table.map((d) => `${d.letter}: = ${d.root}`).join(', ')})`,
        );
      const rest = path
        .relative(drive.root, absolute)
        .split(path.sep)
        .filter((p) => p !== '');
      return `${drive.letter}:\\${rest.join('\\')}`;
    },
    toLocal,
    same: (a, b) => path.win32.normalize(a).toLowerCase() === path.win32.normalize(b).toLowerCase(),
  };
}
