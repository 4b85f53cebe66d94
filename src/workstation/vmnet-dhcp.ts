/**
 * Workstation's DHCP settings, as its DHCP service reads them: on Windows one
 * file for every virtual network, `%ProgramData%\VMware\vmnetdhcp.conf`; on
 * Linux one per network, `/etc/vmware/<vmnet>/dhcpd/dhcpd.conf`. Both are ISC
 * dhcpd syntax: a `subnet <network> netmask <mask> { range <first> <last>; ... }`
 * block per network (the Virtual Network Editor's DHCP Settings rewrite it).
 * vmrest does not report the range, so this file is where the host tells it.
 */
import path from 'node:path';

/** The file holding `vmnet`'s DHCP settings on this host, or undefined when the environment does not say where. */
export function vmnetDhcpConfigFile(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  vmnet: string,
): string | undefined {
  if (platform === 'win32') {
    const programData = env.ProgramData ?? env.PROGRAMDATA ?? env.ALLUSERSPROFILE;
    return programData ? path.win32.join(programData, 'VMware', 'vmnetdhcp.conf') : undefined;
  }
  return path.posix.join('/etc/vmware', vmnet.toLowerCase(), 'dhcpd', 'dhcpd.conf');
}

export interface DhcpSubnetBlock {
  network: string;
  netmask: string;
  /** The block's `range` statement; undefined when it has none (no addresses handed out). */
  range: { start: string; end: string } | undefined;
}

/** Every `subnet ... netmask ... { ... }` block of an ISC dhcpd configuration, with its range. Comments are ignored. */
export function dhcpSubnetBlocks(text: string): DhcpSubnetBlock[] {
  const code = text.replace(/#[^\n]*/g, '');
  const blocks: DhcpSubnetBlock[] = [];
  const subnetRe = /\bsubnet\s+([\d.]+)\s+netmask\s+([\d.]+)\s*\{([^}]*)\}/g;
  for (const m of code.matchAll(subnetRe)) {
    const range = /\brange\s+([\d.]+)\s+([\d.]+)\s*;/.exec(m[3]!);
    blocks.push({
      network: m[1]!,
      netmask: m[2]!,
      range: range ? { start: range[1]!, end: range[2]! } : undefined,
    });
  }
  return blocks;
}
