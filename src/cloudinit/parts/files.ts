/** write_files entries: one shape for every file the generator puts on a node. */
import { GUEST } from '../guest.js';

export interface WriteFile {
  path: string;
  content: string;
  /** Octal string, as cloud-init expects ("0644"). */
  permissions: string;
  owner: string;
}

export function file(path: string, content: string, permissions = '0644'): WriteFile {
  return { path, content, permissions, owner: 'root:root' };
}

/** Root-only: keys, tokens and the documents that carry them. */
export function secretFile(path: string, content: string): WriteFile {
  return file(path, content, '0600');
}

/**
 * The shell scripts under cloud-init/, keyed by their path relative to it
 * ("bootstrap.sh", "lib/progress.sh", "stages/os.sh"). Read from disk by
 * loadBootScripts() (scripts.ts) and passed in, so renderers stay pure.
 */
export type BootScripts = Readonly<Record<string, string>>;

/** The runner, its libraries and the given stages' scripts, installed under GUEST.libDir. */
export function scriptFiles(scripts: BootScripts, stageNames: readonly string[]): WriteFile[] {
  const wanted = [
    'bootstrap.sh',
    ...Object.keys(scripts)
      .filter((p) => p.startsWith('lib/'))
      .sort(),
    ...stageNames.map((s) => `stages/${s}.sh`),
  ];
  return wanted.map((relative) => {
    const content = scripts[relative];
    if (content === undefined)
      throw new Error(`boot script cloud-init/${relative} is missing from the package`);
    return file(`${GUEST.libDir}/${relative}`, content, relative.startsWith('lib/') ? '0644' : '0755');
  });
}

/** KEY='value' lines the scripts source; single quotes make every value literal. */
export function renderShellEnv(values: Readonly<Record<string, string>>): string {
  const lines = Object.entries(values).map(([key, value]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`shell variable name ${key} is not UPPER_SNAKE_CASE`);
    return `${key}='${value.replace(/'/g, `'\\''`)}'`;
  });
  return `# Written by kubestation; sourced by ${GUEST.libDir}/bootstrap.sh and its stages.\n${lines.join('\n')}\n`;
}
