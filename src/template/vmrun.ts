/**
 * Workstation's vmrun, for what vmrest 1.3.1 has no endpoint for: snapshots.
 * It sits beside vmware-vdiskmanager in the install folder and is found and
 * run the same way: execa without a shell (every path one argv entry, spaces
 * and all), `-T ws` for Workstation.
 *
 * vmrun prints failures as "Error: <message>" on stdout and exits non-zero.
 * When each snapshot was taken is not in its output; Workstation records it
 * in the VM's .vmsd (snapshotN.createTimeHigh/Low: microseconds since 1970,
 * split into two 32-bit halves), which readSnapshotTimes reads.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { VmxFile } from '../vmx/vmx-file.js';
import { findWorkstationInstallFolder } from './vdiskmanager.js';

export function vmrunFileName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'vmrun.exe' : 'vmrun';
}

/** The snapshot operations kubestation uses; `vmx` is the VM's .vmx path. */
export interface Vmrun {
  snapshot(vmx: string, name: string): Promise<void>;
  revertToSnapshot(vmx: string, name: string): Promise<void>;
  /** Snapshot names, in Workstation's order. */
  listSnapshots(vmx: string): Promise<string[]>;
  deleteSnapshot(vmx: string, name: string): Promise<void>;
}

/** `Total snapshots: N` then one name per line. */
export function parseListSnapshots(stdout: string): string[] {
  const lines = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const header = lines.findIndex((l) => /^Total snapshots:\s*\d+$/i.test(l));
  if (header < 0) throw new Error(`unexpected vmrun listSnapshots output: ${stdout.slice(0, 200)}`);
  return lines.slice(header + 1);
}

/** The linked clone vmrun makes: `clone <template.vmx> <clone.vmx> linked -snapshot=<name> -cloneName=<name>`. */
export interface VmrunCloner {
  cloneLinked(templateVmx: string, cloneVmx: string, snapshot: string, cloneName: string): Promise<void>;
}

/** `vmrun -T ws clone` arguments for a linked clone from a named snapshot (public Workstation scripts use this form). */
export function linkedCloneArgs(
  templateVmx: string,
  cloneVmx: string,
  snapshot: string,
  cloneName: string,
): string[] {
  return ['clone', templateVmx, cloneVmx, 'linked', `-snapshot=${snapshot}`, `-cloneName=${cloneName}`];
}

/** The vmrun at `executable`, run as `vmrun -T ws <command> <vmx> [name]`. */
export function vmrunAt(executable: string): Vmrun & VmrunCloner {
  const run = async (command: string, vmx: string, name?: string, extra: string[] = []): Promise<string> => {
    const args = ['-T', 'ws', command, vmx, ...(name === undefined ? [] : [name]), ...extra];
    const result = await execa(executable, args, {
      reject: false,
      windowsHide: true,
      stdin: 'ignore',
      all: true,
    });
    if (result.exitCode === 0 && !result.failed) return result.stdout ?? '';
    const output = (result.all ?? '').trim().split(/\r?\n/).slice(-4).join(' / ');
    const how =
      result.exitCode === undefined
        ? `could not start (${result.originalMessage ?? result.shortMessage})`
        : `exited with code ${result.exitCode}`;
    throw new KubestationError(
      'VMRUN_FAILED',
      `vmrun ${command}${name === undefined ? '' : ` "${name}"`} on ${vmx} ${how}${output ? `: ${output}` : ''}`,
      {
        fix: "close the VM's tab in the Workstation window if it is open there, check that the disk has free space, then run the same command again",
      },
    );
  };
  return {
    snapshot: async (vmx, name) => void (await run('snapshot', vmx, name)),
    revertToSnapshot: async (vmx, name) => void (await run('revertToSnapshot', vmx, name)),
    listSnapshots: async (vmx) => parseListSnapshots(await run('listSnapshots', vmx)),
    deleteSnapshot: async (vmx, name) => void (await run('deleteSnapshot', vmx, name)),
    // Unverified: what vmrun prints when the snapshot name is missing (no source shows it); any failure
    // is reported with vmrun's own last lines.
    cloneLinked: async (templateVmx, cloneVmx, snapshot, cloneName) => {
      const [, , , ...extra] = linkedCloneArgs(templateVmx, cloneVmx, snapshot, cloneName);
      await run('clone', templateVmx, cloneVmx, extra);
    },
  };
}

/** Where vmrun was looked for and whether it is there: linked clones need it, full clones do not. */
export type VmrunLookup =
  { found: true; executable: string; vmrun: Vmrun & VmrunCloner } | { found: false; reason: string };

/** Finds vmrun as workstationVmrun does, but says why it is missing instead of throwing. */
export function lookUpVmrun(
  spec: ClusterSpec,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
  exists: (file: string) => boolean = existsSync,
): VmrunLookup {
  const tool = vmrunFileName(platform);
  try {
    const folder = findWorkstationInstallFolder({
      configured: spec.vmware.installFolder,
      platform,
      env,
      exists,
      tool,
    });
    const executable = (platform === 'win32' ? path.win32 : path.posix).join(folder, tool);
    return { found: true, executable, vmrun: vmrunAt(executable) };
  } catch (error) {
    if (!(error instanceof KubestationError)) throw error;
    return { found: false, reason: error.message.replace(/\.$/, '') };
  }
}

/** vmrun in vmware.installFolder or the usual install folders (findWorkstationInstallFolder). */
export function workstationVmrun(
  spec: ClusterSpec,
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform = process.platform,
): Vmrun {
  const tool = vmrunFileName(platform);
  const folder = findWorkstationInstallFolder({
    configured: spec.vmware.installFolder,
    platform,
    env,
    exists: existsSync,
    tool,
  });
  return vmrunAt((platform === 'win32' ? path.win32 : path.posix).join(folder, tool));
}

/** The .vmsd beside a .vmx: Workstation's snapshot record of that VM. */
export function vmsdPath(vmxPath: string): string {
  return vmxPath.replace(/\.vmx$/i, '.vmsd');
}

/** When each snapshot of the VM was taken, by name, from its .vmsd (empty when it has none). */
export async function readSnapshotTimes(vmxPath: string): Promise<Map<string, Date>> {
  let text: string;
  try {
    text = await readFile(vmsdPath(vmxPath), 'utf8');
  } catch {
    return new Map();
  }
  const vmsd = VmxFile.parse(text);
  const times = new Map<string, Date>();
  for (const [key, value] of vmsd.entries()) {
    const m = /^(snapshot\d+)\.displayName$/.exec(key);
    if (!m) continue;
    const high = Number(vmsd.get(`${m[1]}.createTimeHigh`));
    const low = Number(vmsd.get(`${m[1]}.createTimeLow`));
    if (!Number.isFinite(high) || !Number.isFinite(low)) continue;
    const micros = high * 2 ** 32 + (low >>> 0);
    times.set(value, new Date(Math.floor(micros / 1000)));
  }
  return times;
}

/**
 * Whether the named snapshot holds the VM's memory: its memory file (`<vm>-Snapshot<uid>.vmem`, beside
 * the `.vmsn` the .vmsd names) exists. Undefined when the .vmsd does not name the snapshot's file.
 */
export async function snapshotHasMemory(vmxPath: string, name: string): Promise<boolean | undefined> {
  let vmsd: VmxFile;
  try {
    vmsd = VmxFile.parse(await readFile(vmsdPath(vmxPath), 'utf8'));
  } catch {
    return undefined;
  }
  const key = vmsd.entries().find(([k, v]) => /^snapshot\d+\.displayName$/.test(k) && v === name)?.[0];
  const file = key ? vmsd.get(key.replace(/displayName$/, 'filename')) : undefined;
  if (!file || !/\.vmsn$/i.test(file)) return undefined;
  const pathApi = /^[a-zA-Z]:[\\/]|\\/.test(vmxPath) ? path.win32 : path;
  return existsSync(pathApi.resolve(pathApi.dirname(vmxPath), file.replace(/\.vmsn$/i, '.vmem')));
}

/** snapshotN.createTimeHigh/Low as Workstation writes them, for a time. */
export function snapshotCreateTime(at: Date): { high: number; low: number } {
  const micros = at.getTime() * 1000;
  const high = Math.floor(micros / 2 ** 32);
  const low = (micros - high * 2 ** 32) | 0; // signed 32-bit, as in the .vmsd
  return { high, low };
}
