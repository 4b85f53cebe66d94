/**
 * Host paths as Workstation on the host compares them: Windows paths (drive
 * letters, UNC, backslashes) case-insensitively and with either slash, POSIX
 * paths exactly. vmrest reports .vmx paths in the host's own form.
 */
import path from 'node:path';

/** Compares host paths the way the host does: Windows paths case-insensitively, with either slash. */
export function sameHostPath(a: string, b: string): boolean {
  return hostPathKey(a) === hostPathKey(b);
}

export function isWindowsPath(p: string): boolean {
  return /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\\\') || p.includes('\\');
}

function hostPathKey(p: string): string {
  return isWindowsPath(p) ? path.win32.normalize(p).toLowerCase() : path.posix.normalize(p);
}

/** The VM name a clone gets: the .vmx file name without extension (clones land in <name>/<name>.vmx). */
export function vmNameFromVmxPath(vmxPath: string): string {
  return path.win32.basename(vmxPath).replace(/\.vmx$/i, '');
}
