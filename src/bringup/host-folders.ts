/**
 * Where Workstation puts clones: vmrest's POST /vms has no destination, so
 * a clone lands in Workstation's default VM folder — `prefvmx.defaultVMPath`
 * in %APPDATA%\VMware\preferences.ini, else "Documents\Virtual Machines".
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { VmxFile } from '../vmx/vmx-file.js';

export async function workstationDefaultVmFolder(env: NodeJS.ProcessEnv, platform: NodeJS.Platform, read: (file: string) => Promise<string> = (f) => readFile(f, 'utf8')): Promise<string | undefined> {
  if (platform !== 'win32') return undefined;
  if (env.APPDATA) {
    try {
      const prefs = VmxFile.parse(await read(path.win32.join(env.APPDATA, 'VMware', 'preferences.ini')));
      const configured = prefs.get('prefvmx.defaultVMPath');
      if (configured) return configured;
    } catch {
      // no preferences yet: Workstation uses its built-in default
    }
  }
  return env.USERPROFILE ? path.win32.join(env.USERPROFILE, 'Documents', 'Virtual Machines') : undefined;
}

/** vmware.vmFolder when set (it must then be Workstation's default folder too), else Workstation's default. */
export async function clonesFolder(vmFolder: string | undefined, env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): Promise<string | undefined> {
  return vmFolder ?? (await workstationDefaultVmFolder(env, platform));
}
