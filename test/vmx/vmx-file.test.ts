import { describe, expect, it } from 'vitest';
import { VmxFile } from '../../src/vmx/vmx-file.js';

const workstationVmx = [
  '.encoding = "UTF-8"',
  'config.version = "8"',
  '# a comment Workstation keeps',
  'displayName = "k8s-master"',
  'ethernet0.present = "TRUE"',
  'ethernet0.pciSlotNumber = "33"',
  'sata0:1.fileName = "C:\\Users\\Pista Kim\\Documents\\Virtual Machines\\k8s-master\\seed.iso"',
  'annotation = "line one|0Aline two with |22quotes|22 and a pipe |7C"',
].join('\r\n');

describe('VmxFile', () => {
  it('reads values, case-insensitively, with |XX escapes decoded', () => {
    const vmx = VmxFile.parse(workstationVmx);
    expect(vmx.get('DisplayName')).toBe('k8s-master');
    expect(vmx.get('ETHERNET0.PCISLOTNUMBER')).toBe('33');
    expect(vmx.get('sata0:1.fileName')).toBe(
      'C:\\Users\\Pista Kim\\Documents\\Virtual Machines\\k8s-master\\seed.iso',
    );
    expect(vmx.get('annotation')).toBe('line one\nline two with "quotes" and a pipe |');
  });

  it('patches in place and keeps unknown keys, comments and order', () => {
    const vmx = VmxFile.parse(workstationVmx);
    vmx.set('ethernet0.PCISlotNumber', '160').set('serial0.present', 'TRUE');
    const lines = vmx.toString().split('\n');
    expect(lines[2]).toBe('# a comment Workstation keeps');
    expect(lines[5]).toBe('ethernet0.pciSlotNumber = "160"');
    expect(lines.at(-2)).toBe('serial0.present = "TRUE"');
  });

  it('round-trips escapes so Workstation reads back the same value', () => {
    const vmx = VmxFile.parse(workstationVmx);
    expect(VmxFile.parse(vmx.toString()).entries()).toEqual(vmx.entries());
    expect(vmx.toString()).toContain('annotation = "line one|0Aline two with |22quotes|22 and a pipe |7C"');
  });

  it('deletes single keys and whole adapter prefixes', () => {
    const vmx = VmxFile.parse(workstationVmx);
    expect(vmx.deletePrefix('ETHERNET0.')).toBe(2);
    expect(vmx.delete('displayname')).toBe(true);
    expect(vmx.delete('displayname')).toBe(false);
    expect(vmx.has('ethernet0.present')).toBe(false);
  });
});
