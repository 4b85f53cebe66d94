/**
 * What the vmrest simulator does to real .vmx files and VM folders: read and
 * write them atomically through VmxFile, clone a VM folder the way
 * Workstation's full clone lays it out, map ethernetN keys to vmrest NICs,
 * and find the files a power-on needs.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { VmxFile } from '../src/vmx/vmx-file.js';

export async function readVmx(vmxPath: string): Promise<VmxFile> {
  return VmxFile.parse(await fs.readFile(vmxPath, 'utf8'));
}

export async function writeVmx(vmxPath: string, vmx: VmxFile): Promise<void> {
  const temp = `${vmxPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(temp, vmx.toString(), 'utf8');
  await fs.rename(temp, vmxPath);
}

export async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

/** uuid.bios format: "56 4d 12 34 ... -ab cd ..." (16 bytes, a dash after the eighth). */
export function freshBiosUuid(): string {
  const hex = randomUUID().replace(/-/g, '');
  const bytes = hex.match(/../g)!;
  return `${bytes.slice(0, 8).join(' ')}-${bytes.slice(8).join(' ')}`;
}

/** A MAC in VMware's generated range (00:0c:29:xx:xx:xx). */
export function generatedMac(): string {
  const b = randomBytes(3);
  return ['00', '0c', '29', ...[...b].map((x) => x.toString(16).padStart(2, '0'))].join(':');
}

/**
 * Full clone: the parent's whole folder copied to <defaultVmFolder>/<name>/,
 * the .vmx renamed to <name>.vmx, displayName set, a fresh BIOS/location UUID
 * and generated MACs dropped (Workstation generates new ones at the next
 * power-on). Static MACs are kept as they are. Returns the new .vmx path.
 */
export async function cloneVmFolder(
  parentVmx: string,
  destinationFolder: string,
  name: string,
): Promise<string> {
  const parentFolder = path.dirname(parentVmx);
  await fs.cp(parentFolder, destinationFolder, {
    recursive: true,
    errorOnExist: true,
    force: false,
    // Lock folders and logs of the parent are not part of a clone.
    filter: (source) => !/\.lck$|vmware(-\d+)?\.log$/i.test(source),
  });
  const copiedVmx = path.join(destinationFolder, path.basename(parentVmx));
  const vmxPath = path.join(destinationFolder, `${name}.vmx`);
  if (copiedVmx !== vmxPath) await fs.rename(copiedVmx, vmxPath);
  const vmx = await readVmx(vmxPath);
  vmx.set('displayName', name);
  vmx.set('uuid.bios', freshBiosUuid());
  vmx.set('uuid.location', freshBiosUuid());
  vmx.delete('vc.uuid');
  for (const [key] of vmx.entries()) {
    if (/^ethernet\d+\.(generatedAddress|generatedAddressOffset)$/i.test(key)) vmx.delete(key);
  }
  await writeVmx(vmxPath, vmx);
  return vmxPath;
}

export interface VmxNic {
  /** vmrest's 1-based index: ethernet0 is index 1. */
  index: number;
  slot: number;
  type: 'custom' | 'bridged' | 'nat' | 'hostonly';
  vmnet: string;
  macAddress: string;
}

const impliedVmnet: Record<string, string> = { nat: 'vmnet8', hostonly: 'vmnet1', bridged: 'vmnet0' };

export function nicSlots(vmx: VmxFile): number[] {
  const slots = new Set<number>();
  for (const [key] of vmx.entries()) {
    const m = /^ethernet(\d+)\.present$/i.exec(key);
    if (m && vmx.get(key)?.toUpperCase() === 'TRUE') slots.add(Number(m[1]));
  }
  return [...slots].sort((a, b) => a - b);
}

export function readNic(vmx: VmxFile, slot: number): VmxNic {
  const p = `ethernet${slot}.`;
  const connection = (vmx.get(`${p}connectionType`) ?? 'bridged').toLowerCase();
  const type = (
    ['custom', 'nat', 'hostonly', 'bridged'].includes(connection) ? connection : 'bridged'
  ) as VmxNic['type'];
  const vmnet = type === 'custom' ? (vmx.get(`${p}vnet`) ?? '').toLowerCase() : impliedVmnet[type]!;
  const isStatic = (vmx.get(`${p}addressType`) ?? '').toLowerCase() === 'static';
  const macAddress = (
    (isStatic ? vmx.get(`${p}address`) : vmx.get(`${p}generatedAddress`)) ?? ''
  ).toLowerCase();
  return { index: slot + 1, slot, type, vmnet, macAddress };
}

export function readNics(vmx: VmxFile): VmxNic[] {
  return nicSlots(vmx).map((slot) => readNic(vmx, slot));
}

/** Writes a NIC's network into ethernet<slot>.*; "custom" keeps the vmnet (VMnetN), the others imply it. */
export function writeNicNetwork(vmx: VmxFile, slot: number, type: VmxNic['type'], vmnet: string): void {
  const p = `ethernet${slot}.`;
  vmx.set(`${p}connectionType`, type);
  if (type === 'custom') vmx.set(`${p}vnet`, vmnet.replace(/^vmnet/i, 'VMnet'));
  else vmx.delete(`${p}vnet`);
}

/** Adds an adapter as vmrest does: e1000, generated MAC not yet assigned. Returns its slot. */
export function addNic(vmx: VmxFile, type: VmxNic['type'], vmnet: string): number {
  const used = new Set(nicSlots(vmx));
  let slot = 0;
  while (used.has(slot)) slot++;
  vmx.deletePrefix(`ethernet${slot}.`);
  vmx.set(`ethernet${slot}.present`, 'TRUE');
  vmx.set(`ethernet${slot}.virtualDev`, 'e1000');
  writeNicNetwork(vmx, slot, type, vmnet);
  vmx.set(`ethernet${slot}.addressType`, 'generated');
  return slot;
}

/** Power-on assigns a MAC to every generated adapter that has none. Returns true if the .vmx changed. */
export function assignGeneratedMacs(vmx: VmxFile): boolean {
  let changed = false;
  for (const slot of nicSlots(vmx)) {
    const p = `ethernet${slot}.`;
    const isStatic = (vmx.get(`${p}addressType`) ?? '').toLowerCase() === 'static';
    if (!isStatic && !vmx.get(`${p}generatedAddress`)) {
      vmx.set(`${p}addressType`, 'generated');
      vmx.set(`${p}generatedAddress`, generatedMac());
      vmx.set(`${p}generatedAddressOffset`, '0');
      changed = true;
    }
  }
  return changed;
}

export interface PowerOnProblem {
  device: string;
  file: string;
  kind: 'disk' | 'iso';
}

/**
 * Disk and CD-ROM image files a power-on opens: present disks on any bus, and
 * ISOs connected at power-on. Each missing one is a problem.
 */
/** The local file a path written in a .vmx names (absolute, or relative to the VM's folder). */
export type VmxPathResolver = (value: string) => string;

export async function missingPowerOnFiles(
  vmx: VmxFile,
  resolveFile: VmxPathResolver,
): Promise<PowerOnProblem[]> {
  const problems: PowerOnProblem[] = [];
  for (const [key, value] of vmx.entries()) {
    const m = /^((?:scsi|sata|nvme|ide)\d+:\d+)\.fileName$/i.exec(key);
    if (!m) continue;
    const device = m[1]!;
    if ((vmx.get(`${device}.present`) ?? '').toUpperCase() !== 'TRUE') continue;
    const deviceType = (vmx.get(`${device}.deviceType`) ?? 'disk').toLowerCase();
    let kind: PowerOnProblem['kind'];
    if (deviceType === 'cdrom-image') {
      if ((vmx.get(`${device}.startConnected`) ?? 'TRUE').toUpperCase() === 'FALSE') continue;
      kind = 'iso';
    } else if (deviceType.includes('cdrom') || deviceType.includes('raw')) {
      continue; // host drives and passthrough devices are not files
    } else {
      kind = 'disk';
    }
    const file = resolveFile(value);
    if (!(await exists(file))) problems.push({ device, file: value, kind });
    else if (kind === 'disk') {
      // A linked clone's delta disk names its parent; Workstation cannot open the clone without it.
      const parent = await parentDiskOf(file);
      if (parent !== undefined && !(await exists(parent))) problems.push({ device, file: value, kind });
    }
  }
  return problems;
}

/** serial0 backed by a file: the resolved file path, else undefined. */
export function serialFilePath(vmx: VmxFile, resolveFile: VmxPathResolver): string | undefined {
  if ((vmx.get('serial0.present') ?? '').toUpperCase() !== 'TRUE') return undefined;
  if ((vmx.get('serial0.fileType') ?? '').toLowerCase() !== 'file') return undefined;
  const name = vmx.get('serial0.fileName');
  return name ? resolveFile(name) : undefined;
}

/** The parent disk a VMDK text descriptor names (parentFileNameHint, resolved against its folder), if any. */
export async function parentDiskOf(vmdk: string): Promise<string | undefined> {
  let text: string;
  try {
    text = (await fs.readFile(vmdk, 'latin1')).slice(0, 64 * 1024);
  } catch {
    return undefined;
  }
  if (!/^#\s*Disk DescriptorFile/m.test(text)) return undefined;
  const hint = /^parentFileNameHint="([^"]*)"/m.exec(text)?.[1];
  return hint ? path.resolve(path.dirname(vmdk), hint) : undefined;
}
