/**
 * The vnetlib64 lines printed with a vmnet mismatch must run as pasted in
 * cmd and in Windows PowerShell 5.1: one command per line (5.1 has no "&&"),
 * no line starting with a quoted path (PowerShell reads that as a string
 * and prints it instead of running it), and the working folder changed with
 * pushd (cmd's cd does not change the drive; PowerShell's cd has no /d).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { vnetlibFix } from '../../src/bringup/preflight.js';
import { parseClusterSpec } from '../../src/config/load.js';
import { seedLabText } from '../config/bad-spec-cases.js';

const spec = parseClusterSpec(seedLabText, { sourcePath: path.resolve('cluster.yaml') });

function commandLines(fix: string): string[] {
  const [, ...lines] = fix.split('\n');
  return lines.map((line) => line.trim());
}

describe('the vnetlib64 fix', () => {
  it('is one command per line, in the Workstation folder, for the NAT network', () => {
    const fix = vnetlibFix(spec.networks.nat, 'D:\\Apps\\VMware Workstation');
    expect(fix.split('\n')[0]).toMatch(
      /Virtual Network Editor.*run these lines one by one in a Command Prompt or PowerShell opened as Administrator:$/,
    );
    expect(commandLines(fix)).toEqual([
      'pushd "D:\\Apps\\VMware Workstation"',
      '.\\vnetlib64.exe -- stop dhcp',
      '.\\vnetlib64.exe -- stop nat',
      '.\\vnetlib64.exe -- set vnet vmnet8 addr 192.168.5.0',
      '.\\vnetlib64.exe -- set vnet vmnet8 mask 255.255.255.0',
      '.\\vnetlib64.exe -- update adapter vmnet8',
      '.\\vnetlib64.exe -- update nat vmnet8',
      '.\\vnetlib64.exe -- update dhcp vmnet8',
      '.\\vnetlib64.exe -- start nat',
      '.\\vnetlib64.exe -- start dhcp',
      'popd',
    ]);
  });

  it('uses the default install folder and no NAT steps for the host-only network', () => {
    const lines = commandLines(vnetlibFix(spec.networks.hostOnly, undefined));
    expect(lines[0]).toBe('pushd "C:\\Program Files (x86)\\VMware\\VMware Workstation"');
    expect(lines).toContain('.\\vnetlib64.exe -- set vnet vmnet1 addr 172.100.100.0');
    expect(lines.some((l) => l.includes('nat'))).toBe(false);
  });

  it('has nothing that cmd or PowerShell 5.1 would read differently', () => {
    for (const net of [spec.networks.nat, spec.networks.hostOnly]) {
      for (const line of commandLines(
        vnetlibFix(net, 'C:\\Program Files (x86)\\VMware\\VMware Workstation'),
      )) {
        expect(line).not.toMatch(/&&|\|\||;|^"|^&|`|\$/);
      }
    }
  });
});
