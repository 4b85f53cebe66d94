/** Reads the first-boot shell scripts shipped in cloud-init/ (the one I/O step before rendering). */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { asset } from '../assets.js';
import type { BootScripts } from './parts/files.js';

/** Folders under cloud-init/ that hold first-boot scripts (cloud-init/bake/ belongs to the template bake). */
const SCRIPT_FOLDERS = ['.', 'lib', 'stages'];

/** Code-unit order: the same on every host whatever its locale (localeCompare would also load ICU's collator, ~50 ms). */
const byName = (a: { name: string }, b: { name: string }): number =>
  a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

export async function loadBootScripts(root: string = asset('cloud-init')): Promise<BootScripts> {
  const scripts: Record<string, string> = {};
  for (const folder of SCRIPT_FOLDERS) {
    const entries = await readdir(path.join(root, folder), { withFileTypes: true });
    for (const entry of entries.filter((e) => e.isFile() && e.name.endsWith('.sh')).sort(byName)) {
      const relative = folder === '.' ? entry.name : `${folder}/${entry.name}`;
      // Normalise line endings: a Windows checkout with autocrlf must not put CRs into bash scripts.
      scripts[relative] = (await readFile(path.join(root, folder, entry.name), 'utf8')).replace(
        /\r\n/g,
        '\n',
      );
    }
  }
  return scripts;
}
