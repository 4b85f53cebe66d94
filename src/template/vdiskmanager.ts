/**
 * Workstation's install folder and its disk tool, vmware-vdiskmanager.
 *
 * The folder search is a pure function over `platform`, `env` and an
 * `exists` probe, so the Windows rules are tested on any machine.
 */
import { execa } from 'execa';
import path from 'node:path';
import { KubestationError } from '../errors.js';

export interface InstallFolderProbe {
  /** spec.vmware.installFolder (cluster.yaml `vmware.installFolder`). */
  configured: string | undefined;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** True when the file exists (the probe looks for the tool, not just the folder). */
  exists: (filePath: string) => boolean;
  /** The tool that must be in the folder; default vmware-vdiskmanager. */
  tool?: string | undefined;
}

export function vdiskmanagerFileName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'vmware-vdiskmanager.exe' : 'vmware-vdiskmanager';
}

function pathFor(platform: NodeJS.Platform): path.PlatformPath {
  return platform === 'win32' ? path.win32 : path.posix;
}

/** Folders Workstation installs into, in the order they are tried. */
export function candidateInstallFolders(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform !== 'win32') return ['/usr/bin', '/usr/lib/vmware/bin'];
  const suffix = path.win32.join('VMware', 'VMware Workstation');
  const roots = [
    env['ProgramFiles(x86)'],
    env['ProgramFiles'],
    'C:\\Program Files (x86)',
    'C:\\Program Files',
  ];
  const folders = roots.filter((r): r is string => !!r).map((root) => path.win32.join(root, suffix));
  return [...new Set(folders.map((f) => f.toLowerCase()))].map((lower) =>
    folders.find((f) => f.toLowerCase() === lower)!,
  );
}

/** The Workstation install folder holding vmware-vdiskmanager, or a KubestationError saying where to set it. */
export function findWorkstationInstallFolder(probe: InstallFolderProbe): string {
  const p = pathFor(probe.platform);
  const tool = probe.tool ?? vdiskmanagerFileName(probe.platform);
  if (probe.configured) {
    if (probe.exists(p.join(probe.configured, tool))) return probe.configured;
    throw new KubestationError(
      'WORKSTATION_NOT_FOUND',
      `vmware.installFolder in cluster.yaml is ${probe.configured}, but ${tool} is not in it.`,
      {
        fix: `Set vmware.installFolder to the folder holding ${tool} and vmrest.exe (usually C:\\Program Files (x86)\\VMware\\VMware Workstation), or remove it to search the usual places.`,
      },
    );
  }
  const candidates = candidateInstallFolders(probe.platform, probe.env);
  const found = candidates.find((folder) => probe.exists(p.join(folder, tool)));
  if (found) return found;
  throw new KubestationError(
    'WORKSTATION_NOT_FOUND',
    `VMware Workstation was not found: no ${tool} in ${candidates.join(' or ')}.`,
    {
      fix: `Install VMware Workstation Pro 17, or set vmware.installFolder in cluster.yaml to the folder holding ${tool}.`,
    },
  );
}

/** `-r <src> -t 0 <dst>`: copy any VMDK (here: stream-optimized) into a single growable disk. */
export function convertDiskArgs(sourceVmdk: string, targetVmdk: string): string[] {
  return ['-r', sourceVmdk, '-t', '0', targetVmdk];
}

/** `-x <N>GB <disk>`: grow the virtual disk to N GiB (vdiskmanager's "GB" is binary). */
export function growDiskArgs(vmdk: string, sizeGiB: number): string[] {
  if (!Number.isInteger(sizeGiB) || sizeGiB <= 0)
    throw new Error(`disk size must be a whole number of GiB, got ${sizeGiB}`);
  return ['-x', `${sizeGiB}GB`, vmdk];
}

/** Runs vdiskmanager without a shell: every path is one argv entry, spaces and all. */
export async function runVdiskmanager(executable: string, args: string[], what: string): Promise<void> {
  const result = await execa(executable, args, {
    reject: false,
    windowsHide: true,
    stdin: 'ignore',
    all: true,
  });
  if (result.exitCode === 0 && !result.failed) return;
  const output = (result.all ?? '').trim().split(/\r?\n/).slice(-6).join('\n    ');
  const started =
    result.exitCode === undefined
      ? ` could not start (${result.originalMessage ?? result.shortMessage})`
      : ` exited with code ${result.exitCode}`;
  throw new KubestationError(
    'VDISKMANAGER_FAILED',
    `vmware-vdiskmanager (${what})${started}.${output ? `\n    ${output}` : ''}`,
    {
      fix: 'Make sure no VM has this disk open (close the template in the Workstation window), that the disk has free space, then run the command again.',
    },
  );
}
