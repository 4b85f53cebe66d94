import { describe, expect, it } from 'vitest';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { mergeRenderedVmx, renderTemplateVmx, renderVmxTemplate, vnetName } from '../../src/template/vmx.js';

const values = {
  displayName: 'kubestation-noble-template',
  annotation: 'kubestation template from noble-server-cloudimg-amd64.ova | "current"',
  cpus: 2,
  memoryMiB: 4095,
  diskFile: 'kubestation-noble-template.vmdk',
  serialFile: 'serial0.log',
  natVnet: 'vmnet8',
  hostOnlyVnet: 'vmnet1',
};

describe('template .vmx', () => {
  it('renders every key the template promises, read back through VmxFile', async () => {
    const vmx = VmxFile.parse((await renderTemplateVmx(values)).toString());
    const expected: Record<string, string> = {
      '.encoding': 'UTF-8',
      'config.version': '8',
      'virtualHW.version': '20',
      displayName: 'kubestation-noble-template',
      guestOS: 'ubuntu-64',
      firmware: 'efi',
      'uefi.secureBoot.enabled': 'FALSE',
      numvcpus: '2',
      memsize: '4096',
      'scsi0.present': 'TRUE',
      'scsi0.virtualDev': 'pvscsi',
      'scsi0:0.present': 'TRUE',
      'scsi0:0.fileName': 'kubestation-noble-template.vmdk',
      'sata0.present': 'TRUE',
      'sata0:1.present': 'TRUE',
      'sata0:1.deviceType': 'cdrom-image',
      'sata0:1.startConnected': 'FALSE',
      'ethernet0.present': 'TRUE',
      'ethernet0.virtualDev': 'vmxnet3',
      'ethernet0.pciSlotNumber': '33',
      'ethernet0.connectionType': 'custom',
      'ethernet0.vnet': 'VMnet8',
      'ethernet1.present': 'TRUE',
      'ethernet1.virtualDev': 'vmxnet3',
      'ethernet1.pciSlotNumber': '37',
      'ethernet1.connectionType': 'custom',
      'ethernet1.vnet': 'VMnet1',
      'serial0.present': 'TRUE',
      'serial0.fileType': 'file',
      'serial0.fileName': 'serial0.log',
      'msg.autoAnswer': 'TRUE',
      'tools.syncTime': 'FALSE',
      'time.synchronize.continue': 'FALSE',
      'time.synchronize.restore': 'FALSE',
      'time.synchronize.resume.disk': 'FALSE',
      'time.synchronize.shrink': 'FALSE',
      'time.synchronize.tools.startup': 'FALSE',
      'time.synchronize.tools.enable': 'FALSE',
      'time.synchronize.resume.host': 'FALSE',
      'pciBridge0.present': 'TRUE',
    };
    for (const [key, value] of Object.entries(expected)) expect([key, vmx.get(key)]).toEqual([key, value]);
    // Pipes and quotes survive the file format's |XX escaping.
    expect(vmx.get('annotation')).toBe(values.annotation);
    expect(vmx.toString()).toContain('|7C');
    // No placeholder is left behind anywhere.
    expect(vmx.toString()).not.toContain('{{');
    // Each key appears once.
    const keys = vmx.entries().map(([k]) => k.toLowerCase());
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('fails loudly on a placeholder without a value', () => {
    expect(() => renderVmxTemplate('displayName = "{{name}}"\n', {})).toThrow(/\{\{name\}\}/);
  });

  it('spells vmnets the way Workstation does', () => {
    expect(vnetName('vmnet8')).toBe('VMnet8');
    expect(vnetName('VMnet1')).toBe('VMnet1');
  });

  it('merges into an existing .vmx keeping what Workstation added and an attached ISO', async () => {
    const rendered = await renderTemplateVmx(values);
    const existing = VmxFile.parse(rendered.toString());
    existing.set('uuid.bios', '56 4d 12 34');
    existing.set('sata0:1.fileName', 'bake.iso');
    existing.set('numvcpus', '1');
    expect(mergeRenderedVmx(existing, rendered)).toBe(true);
    expect(existing.get('uuid.bios')).toBe('56 4d 12 34');
    expect(existing.get('sata0:1.fileName')).toBe('bake.iso');
    expect(existing.get('numvcpus')).toBe('2');
    expect(mergeRenderedVmx(existing, rendered)).toBe(false);
  });
});
