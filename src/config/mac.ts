import { createHash } from 'node:crypto';

/**
 * A static MAC for a node's NIC, stable for (cluster, node, NIC) and inside
 * VMware's range for manually assigned addresses, 00:50:56:00:00:00 to
 * 00:50:56:3F:FF:FF (Workstation refuses static MACs outside it).
 */
export function deriveMac(clusterName: string, nodeName: string, nic: string): string {
  const digest = createHash('sha256').update(`kubestation/${clusterName}/${nodeName}/${nic}`).digest();
  const bytes = [0x00, 0x50, 0x56, digest[0]! & 0x3f, digest[1]!, digest[2]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
