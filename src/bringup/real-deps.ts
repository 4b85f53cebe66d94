/**
 * The real seed writer and disk grower, for every command that builds nodes
 * (build-vms, rebuild-node, up). The simulated lab uses growDescriptorDisk
 * (simulate.ts) instead of vmware-vdiskmanager.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { prepareSeedInputs, writeNodeSeed, type SeedInputsReport } from '../cloudinit/write-seed.js';
import type { ClusterSpec } from '../config/model.js';
import {
  findWorkstationInstallFolder,
  growDiskArgs,
  runVdiskmanager,
  vdiskmanagerFileName,
} from '../template/vdiskmanager.js';
import type { DiskGrower, SeedIsoWriter } from './ports.js';

/**
 * Seeds through the cloud-init module. The inputs (CA, the recorded join
 * token, SSH key) are read once, at the first write, so every seed of one
 * run carries the same token (one minted before the first clone included).
 */
export function cloudInitSeedWriter(): SeedIsoWriter {
  let inputs: Promise<SeedInputsReport> | undefined;
  return async (spec, node) => {
    inputs ??= prepareSeedInputs(spec);
    return (await writeNodeSeed(spec, node, (await inputs).inputs)).iso.path;
  };
}

/** Grows disks with Workstation's vmware-vdiskmanager (-x), found in vmware.installFolder or the usual install folder. */
export function vdiskmanagerGrower(
  spec: ClusterSpec,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): DiskGrower {
  return async (vmdk, sizeGiB) => {
    const folder = findWorkstationInstallFolder({
      configured: spec.vmware.installFolder,
      platform,
      env,
      exists: existsSync,
    });
    const exe = (platform === 'win32' ? path.win32 : path.posix).join(folder, vdiskmanagerFileName(platform));
    await runVdiskmanager(exe, growDiskArgs(vmdk, sizeGiB), `grow ${path.basename(vmdk)} to ${sizeGiB} GiB`);
  };
}
