/**
 * A node's system disk: which file it is and how large it is. The capacity
 * comes from the VMDK itself — the header of a monolithic sparse disk
 * ("KDMV", capacity in sectors at byte 12) or the extent lines ("RW <sectors>
 * ...") of a text descriptor — so nothing has to be remembered about how
 * the template was built.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { VmxFile } from '../vmx/vmx-file.js';

/** The first present, non-CD-ROM disk's file, resolved against the VM folder. */
export function systemDiskPath(vmx: VmxFile, vmxPath: string): string | undefined {
  for (const [key, value] of vmx.entries()) {
    const m = /^((?:scsi|sata|nvme|ide)\d+:\d+)\.fileName$/i.exec(key);
    if (!m || !value.toLowerCase().endsWith('.vmdk')) continue;
    const device = m[1]!;
    if ((vmx.get(`${device}.present`) ?? '').toUpperCase() !== 'TRUE') continue;
    if ((vmx.get(`${device}.deviceType`) ?? 'disk').toLowerCase().includes('cdrom')) continue;
    const pathApi = /^[a-zA-Z]:[\\/]|\\/.test(vmxPath) ? path.win32 : path;
    return pathApi.resolve(pathApi.dirname(vmxPath), value);
  }
  return undefined;
}

/** Virtual capacity in bytes, or undefined when the file is not a VMDK this understands. */
export async function vmdkCapacityBytes(vmdkPath: string): Promise<number | undefined> {
  const handle = await open(vmdkPath, 'r');
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const head = buffer.subarray(0, bytesRead);
    if (head.length >= 20 && head.toString('latin1', 0, 4) === 'KDMV')
      return Number(head.readBigUInt64LE(12)) * 512;
    const text = head.toString('latin1');
    if (!/^#\s*Disk DescriptorFile/m.test(text)) return undefined;
    let sectors = 0;
    for (const m of text.matchAll(/^\s*(?:RW|RDONLY)\s+(\d+)\s+/gm)) sectors += Number(m[1]);
    return sectors > 0 ? sectors * 512 : undefined;
  } finally {
    await handle.close();
  }
}

/**
 * The parent disk a VMDK names (a linked clone's or snapshot's delta: `parentFileNameHint` in its
 * descriptor, a text file or the one embedded in a sparse disk), resolved against the disk's folder;
 * undefined for a disk with no parent or one this cannot read.
 */
export async function vmdkParentPath(vmdkPath: string): Promise<string | undefined> {
  let text: string;
  try {
    const handle = await open(vmdkPath, 'r');
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const head = buffer.subarray(0, bytesRead);
      if (head.length >= 44 && head.toString('latin1', 0, 4) === 'KDMV') {
        // Sparse extent header: descriptorOffset and descriptorSize (sectors) at bytes 28 and 36.
        const offset = Number(head.readBigUInt64LE(28)) * 512;
        const size = Math.min(Number(head.readBigUInt64LE(36)) * 512, 64 * 1024);
        if (offset === 0 || size === 0) return undefined;
        const embedded = Buffer.alloc(size);
        const read = await handle.read(embedded, 0, size, offset);
        text = embedded.subarray(0, read.bytesRead).toString('latin1');
      } else text = head.toString('latin1');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
  if (!/^#\s*Disk DescriptorFile/m.test(text)) return undefined;
  const hint = /^parentFileNameHint\s*=\s*"([^"]*)"/m.exec(text)?.[1];
  if (!hint) return undefined;
  const pathApi = /^[a-zA-Z]:[\\/]|\\/.test(hint) || /^[a-zA-Z]:[\\/]|\\/.test(vmdkPath) ? path.win32 : path;
  return pathApi.resolve(pathApi.dirname(vmdkPath), hint);
}
