import net from 'node:net';

/** True for localhost, 127.0.0.0/8 and ::1 (also the IPv4-mapped form). */
export function isLoopbackTarget(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (net.isIPv4(bare)) return bare.startsWith('127.');
  if (net.isIPv6(bare)) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false; // any other name would need DNS, which tests never use
}
