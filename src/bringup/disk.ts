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
