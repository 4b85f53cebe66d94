/**
 * The template VM's .vmx, rendered from vmx-templates/template.vmx.
 *
 * Choices the template file encodes, and why:
 * - Firmware: UEFI. Ubuntu's noble cloud image boots either way (a BIOS boot
 *   partition for grub-pc and an EFI system partition with the removable-media
 *   loader \EFI\BOOT\BOOTX64.EFI). UEFI is what Workstation 17 gives new
 *   Ubuntu VMs, and the fallback loader needs no NVRAM boot entry, so clones
 *   boot whatever NVRAM they carry. Secure Boot stays off: nothing here needs
 *   it and it would refuse unsigned kernel modules.
 * - Disk on paravirtual SCSI (pvscsi): the image runs Ubuntu's generic kernel,
 *   which carries vmw_pvscsi, and it is Workstation's fastest SCSI device.
 * - virtualHW.version 20: introduced by Workstation 17.0, so the template
 *   opens on every 17.x (17.5 added 21, which brings nothing needed here).
 * - NIC slots 33/37 so Ubuntu names them ens33/ens37; network-config still
 *   matches by MAC.
 * Values are filled in after parsing, so VmxFile escapes them (paths with
 * `|` or quotes stay intact).
 */
import { readFile } from 'node:fs/promises';
import { asset } from '../assets.js';
import { VmxFile } from '../vmx/vmx-file.js';

export interface TemplateVmxValues {
  displayName: string;
  annotation: string;
  cpus: number;
  memoryMiB: number;
  /** Disk file name relative to the .vmx folder. */
  diskFile: string;
  /** Serial log file name relative to the .vmx folder (clones inherit the relative name). */
  serialFile: string;
  /** Workstation network names, e.g. "vmnet8", "vmnet1". */
  natVnet: string;
  hostOnlyVnet: string;
}

/** The SATA slot holding the seed ISO CD-ROM (build-vms and the golden bake attach ISOs here). */
export const SEED_CDROM = 'sata0:1';
/** The serial log file name every VM built from the template writes to (relative to its .vmx). */
export const SERIAL_LOG_FILE = 'serial0.log';

/** "vmnet8" → "VMnet8", the spelling Workstation writes into .vmx files. */
export function vnetName(vmnet: string): string {
  return vmnet.replace(/^vmnet/i, 'VMnet');
}

/** Fills `{{name}}` placeholders in a template text; an unknown or unfilled placeholder is an error. */
/** Comments in the template explain it to its readers; the rendered .vmx holds entries only. */
export function renderVmxTemplate(templateText: string, values: Record<string, string | number>): VmxFile {
  const entries = VmxFile.parse(templateText)
    .entries()
    .map(([key, raw]): [string, string] => [
      key,
      raw.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
        const v = values[name];
        if (v === undefined) throw new Error(`vmx template: no value for {{${name}}} in ${key}`);
        return String(v);
      }),
    ]);
  return VmxFile.fromEntries(entries);
}

export async function renderTemplateVmx(values: TemplateVmxValues): Promise<VmxFile> {
  const text = await readFile(asset('vmx-templates', 'template.vmx'), 'utf8');
  return renderVmxTemplate(text, {
    ...values,
    memoryMiB: Math.ceil(values.memoryMiB / 4) * 4, // Workstation wants a multiple of 4 MB
    natVnet: vnetName(values.natVnet),
    hostOnlyVnet: vnetName(values.hostOnlyVnet),
  });
}

/**
 * Brings an existing .vmx in line with a freshly rendered one: our keys take
 * the rendered values, every key Workstation added (uuid.bios, nvram, slot
 * numbers it assigned...) stays. Returns true when anything changed.
 */
export function mergeRenderedVmx(existing: VmxFile, rendered: VmxFile): boolean {
  let changed = false;
  for (const [key, value] of rendered.entries()) {
    // The CD-ROM state belongs to whoever attached an ISO last; do not detach it behind their back.
    if (key.toLowerCase().startsWith(`${SEED_CDROM}.`) && existing.has(key)) continue;
    if (existing.get(key) !== value) {
      existing.set(key, value);
      changed = true;
    }
  }
  return changed;
}
