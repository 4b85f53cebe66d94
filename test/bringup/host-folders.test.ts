import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { workstationDefaultVmFolder, workstationPreferencesFile } from '../../src/bringup/host-folders.js';
import { writeWorkstationPreferences } from '../../simulators/workstation-preferences.js';

const windowsEnv = { APPDATA: 'C:\\Users\\김 철수\\AppData\\Roaming', USERPROFILE: 'C:\\Users\\김 철수' };

describe("Workstation's default VM folder (where vmrest's clones land)", () => {
  it('reads prefvmx.defaultVMPath from %APPDATA%\\VMware\\preferences.ini on Windows', async () => {
    const files: string[] = [];
    const read = async (file: string): Promise<string> => {
      files.push(file);
      return '.encoding = "UTF-8"\nprefvmx.defaultVMPath = "D:\\OneDrive - Contoso\\Virtual Machines"\n';
    };
    expect(await workstationDefaultVmFolder(windowsEnv, 'win32', read)).toBe(
      'D:\\OneDrive - Contoso\\Virtual Machines',
    );
    expect(files).toEqual(['C:\\Users\\김 철수\\AppData\\Roaming\\VMware\\preferences.ini']);
  });

  it("falls back to Workstation's built-in default when the preferences name no folder or do not exist", async () => {
    const missing = async (): Promise<string> => {
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    expect(await workstationDefaultVmFolder(windowsEnv, 'win32', missing)).toBe(
      'C:\\Users\\김 철수\\Documents\\Virtual Machines',
    );
    expect(await workstationDefaultVmFolder(windowsEnv, 'win32', async () => 'pref.autoFit = "TRUE"\n')).toBe(
      'C:\\Users\\김 철수\\Documents\\Virtual Machines',
    );
    expect(await workstationDefaultVmFolder({ HOME: '/home/pista' }, 'linux', missing)).toBe(
      '/home/pista/vmware',
    );
  });

  it('is unknown without a user profile in the environment', async () => {
    expect(await workstationDefaultVmFolder({}, 'win32')).toBeUndefined();
    expect(workstationPreferencesFile({}, 'win32')).toBeUndefined();
  });

  describe('with a real file', () => {
    let dir: string | undefined;
    afterEach(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });
    it('finds the folder the preferences file written as Workstation writes it names', async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'ks-prefs-'));
      const env = { HOME: dir };
      const file = await writeWorkstationPreferences(env, '/srv/vms with space', { platform: 'linux' });
      expect(file).toBe(path.join(dir, '.vmware', 'preferences'));
      expect(await workstationDefaultVmFolder(env, 'linux')).toBe('/srv/vms with space');
    });
  });
});
