/**
 * Which VMs are linked clones of the template: a VM whose system disk names a
 * parent disk in the template's folder, among the VMs vmrest lists and the
 * clones the template's .vmsd records (Workstation writes them there; a clone
 * not registered in the library is found that way too). While one exists,
 * the template's disk must stay: without it the clone cannot power on.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { systemDiskPath, vmdkParentPath } from '../bringup/disk.js';
import { sameHostPath } from '../vmrest/host-paths.js';
import { VmxFile } from '../vmx/vmx-file.js';
import { vmsdPath } from './vmrun.js';

export interface LinkedClone {
  vmxPath: string;
  /** The template disk it reads. */
  parentDisk: string;
}

/** The disk a VM's system disk reads from, when it is a linked clone (undefined otherwise or unreadable). */
export async function parentDiskOfVm(vmxPath: string): Promise<string | undefined> {
  try {
    const disk = systemDiskPath(VmxFile.parse(await readFile(vmxPath, 'utf8')), vmxPath);
    return disk ? await vmdkParentPath(disk) : undefined;
  } catch {
    return undefined;
  }
}

/** The .vmx paths the template's .vmsd records as its clones (`snapshotN.cloneK`). */
async function recordedClones(templateVmx: string): Promise<string[]> {
  try {
    const vmsd = VmxFile.parse(await readFile(vmsdPath(templateVmx), 'utf8'));
    return vmsd
      .entries()
      .filter(([key]) => /^snapshot\d+\.clone\d+$/i.test(key))
      .map(([, value]) => value);
  } catch {
    return [];
  }
}

/** Linked clones of the template at `templateVmx` that exist now, from `vmxPaths` (vmrest's list) and the .vmsd. */
export async function linkedClonesOf(templateVmx: string, vmxPaths: string[]): Promise<LinkedClone[]> {
  const templateFolder = path.dirname(templateVmx);
  const candidates = [...vmxPaths, ...(await recordedClones(templateVmx))].filter(
    (p, i, all) => !sameHostPath(p, templateVmx) && all.findIndex((q) => sameHostPath(p, q)) === i,
  );
  const clones: LinkedClone[] = [];
  for (const vmxPath of candidates) {
    if (!existsSync(vmxPath)) continue;
    const parentDisk = await parentDiskOfVm(vmxPath);
    if (parentDisk && sameHostPath(path.dirname(parentDisk), templateFolder))
      clones.push({ vmxPath, parentDisk });
  }
  return clones;
}
