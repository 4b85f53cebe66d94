/**
 * The real WorkstationProbe: files through node:fs, programs through execa
 * without a shell (loaded only when a program is run, so commands that never
 * ask stay quick to start).
 */
import { existsSync } from 'node:fs';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { findWorkstationInstallFolder } from '../template/vdiskmanager.js';
import { vmrunFileName } from '../template/vmrun.js';
import type { WorkstationProbe } from './identity.js';

/** The install folder as the snapshot or the disk tool finds it, or undefined when there is none. */
function installFolderOrUndefined(spec: ClusterSpec, env: NodeJS.ProcessEnv): string | undefined {
  for (const tool of [vmrunFileName(process.platform), undefined]) {
    try {
      return findWorkstationInstallFolder({
        configured: spec.vmware.installFolder,
        platform: process.platform,
        env,
        exists: existsSync,
        tool,
      });
    } catch (error) {
      if (!(error instanceof KubestationError)) throw error;
    }
  }
  return undefined;
}

export function hostWorkstationProbe(spec: ClusterSpec, env: NodeJS.ProcessEnv): WorkstationProbe {
  return {
    platform: process.platform,
    env,
    installFolder: installFolderOrUndefined(spec, env),
    exists: existsSync,
    async run(file, args) {
      const { execa } = await import('execa');
      const result = await execa(file, args, {
        reject: false,
        windowsHide: true,
        stdin: 'ignore',
        timeout: 10_000,
      });
      return { exitCode: result.exitCode, stdout: String(result.stdout ?? '') };
    },
  };
}
