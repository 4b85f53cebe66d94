/**
 * Workstation's per-user preferences file as Workstation writes it, naming
 * its default VM folder (`prefvmx.defaultVMPath`, Edit > Preferences >
 * Workspace): where vmrest's clones land. Tests and the Windows tier write
 * it so kubestation finds the simulator's clone folder the way it finds the
 * real one.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { workstationPreferencesFile } from '../src/bringup/host-folders.js';

/** Writes the preferences file `env`'s profile points at (APPDATA on win32, HOME elsewhere); returns its path. */
export async function writeWorkstationPreferences(
  env: NodeJS.ProcessEnv,
  defaultVmFolder: string,
  options: { platform?: NodeJS.Platform; localPath?: (hostPath: string) => string } = {},
): Promise<string> {
  const platform = options.platform ?? process.platform;
  const file = workstationPreferencesFile(env, platform);
  if (!file)
    throw new Error(
      `no ${platform === 'win32' ? 'APPDATA' : 'HOME'} in the environment: nowhere to write Workstation's preferences`,
    );
  const local = options.localPath ? options.localPath(file) : file;
  await mkdir(path.dirname(local), { recursive: true });
  await writeFile(
    local,
    `.encoding = "UTF-8"\npref.lastUpdateCheckSec = "1700000000"\nprefvmx.defaultVMPath = "${defaultVmFolder}"\n`,
  );
  return file;
}
