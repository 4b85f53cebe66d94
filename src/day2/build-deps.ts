/**
 * The real seed writer and disk grower for commands that rebuild nodes.
 * build-vms wires the same two privately in src/commands/build-vms.ts;
 * these stay here only until that file exports them (see the day-2 report).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DiskGrower, SeedIsoWriter } from '../build/ports.js';
import { prepareSeedInputs, writeNodeSeed, type SeedInputsReport } from '../cloudinit/write-seed.js';
import type { ClusterSpec } from '../spec/model.js';
import { findWorkstationInstallFolder, growDiskArgs, runVdiskmanager, vdiskmanagerFileName } from '../template/vdiskmanager.js';

/**
 * Seeds through the cloud-init module. The inputs (CA, the recorded join
 * token, SSH key) are read at the first write, so a token minted before the
 * first clone is the one every seed of this run carries.
 */
export function day2SeedWriter(): SeedIsoWriter {
  let inputs: Promise<SeedInputsReport> | undefined;
  return async (spec, node) => {
    inputs ??= prepareSeedInputs(spec);
    return (await writeNodeSeed(spec, node, (await inputs).inputs)).iso.path;
  };
}

export function day2DiskGrower(spec: ClusterSpec, env: NodeJS.ProcessEnv): DiskGrower {
  return async (vmdk, sizeGiB) => {
    const folder = findWorkstationInstallFolder({ configured: spec.vmware.installFolder, platform: process.platform, env, exists: existsSync });
    const exe = (process.platform === 'win32' ? path.win32 : path.posix).join(folder, vdiskmanagerFileName(process.platform));
    await runVdiskmanager(exe, growDiskArgs(vmdk, sizeGiB), `grow ${path.basename(vmdk)} to ${sizeGiB} GiB`);
  };
}
