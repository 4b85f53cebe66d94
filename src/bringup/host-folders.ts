/**
 * Where Workstation puts clones: vmrest's POST /vms has no destination, so
 * a clone always lands in Workstation's default VM folder —
 * `prefvmx.defaultVMPath` in its preferences file, else its built-in
 * default. kubestation reads it to know where clones go (free-space
 * preflight, leftover folders); it cannot choose another folder.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { VmxFile } from '../vmx/vmx-file.js';

/**
 * Workstation's per-user preferences file: `%APPDATA%\VMware\preferences.ini`
 * on Windows, `~/.vmware/preferences` on Linux. Undefined when the
 * environment does not say where the user's profile is.
 */
export function workstationPreferencesFile(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
): string | undefined {
  if (platform === 'win32')
    return env.APPDATA ? path.win32.join(env.APPDATA, 'VMware', 'preferences.ini') : undefined;
  return env.HOME ? path.posix.join(env.HOME, '.vmware', 'preferences') : undefined;
}

/** Workstation's built-in default VM folder when the preferences name none. */
function builtInDefaultVmFolder(env: NodeJS.ProcessEnv, platform: NodeJS.Platform): string | undefined {
  if (platform === 'win32')
    return env.USERPROFILE ? path.win32.join(env.USERPROFILE, 'Documents', 'Virtual Machines') : undefined;
  return env.HOME ? path.posix.join(env.HOME, 'vmware') : undefined;
}

/** The folder Workstation clones into, or undefined when it cannot be known (no profile in the environment). */
export async function workstationDefaultVmFolder(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
  read: (file: string) => Promise<string> = (f) => readFile(f, 'utf8'),
): Promise<string | undefined> {
  const preferences = workstationPreferencesFile(env, platform);
  if (preferences) {
    try {
      const configured = VmxFile.parse(await read(preferences)).get('prefvmx.defaultVMPath');
      if (configured) return configured;
    } catch {
      // no preferences yet: Workstation uses its built-in default
    }
  }
  return builtInDefaultVmFolder(env, platform);
}
