/** IPv4 arithmetic on 32-bit unsigned integers; inputs are already pattern-checked. */
import type { Ipv4Subnet } from './model.js';

export function ipToInt(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0) >>> 0;
}

export function intToIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function parseSubnet(cidr: string): Ipv4Subnet {
  const [address, prefixText] = cidr.split('/') as [string, string];
  const prefix = Number(prefixText);
  const mask = prefixMask(prefix);
  const network = (ipToInt(address) & mask) >>> 0;
  return {
    cidr,
    network: intToIp(network),
    prefix,
    mask: intToIp(mask),
    broadcast: intToIp((network | ~mask) >>> 0),
  };
}

/** True when the CIDR's address part has host bits set (192.168.5.1/24 instead of 192.168.5.0/24). */
export function hasHostBits(cidr: string): boolean {
  const [address] = cidr.split('/') as [string];
  return parseSubnet(cidr).network !== address;
}

export function subnetContains(subnet: Ipv4Subnet, address: string): boolean {
  const mask = ipToInt(subnet.mask);
  return (ipToInt(address) & mask) >>> 0 === ipToInt(subnet.network);
}

export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  const shorter = a.prefix <= b.prefix ? a : b;
  const longer = shorter === a ? b : a;
  return subnetContains(shorter, longer.network);
}

export function inRange(address: string, start: string, end: string): boolean {
  const value = ipToInt(address);
  return value >= ipToInt(start) && value <= ipToInt(end);
}
