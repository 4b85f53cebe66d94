/**
 * network-config (version 2) for one node: both NICs matched by MAC and
 * renamed to the names the rest of kubestation uses (ens33 NAT, ens37
 * host-only), static addresses, the default route only on the NAT NIC, no
 * DHCP anywhere.
 */
import type { ClusterSpec, NicSpec, NodeSpec } from '../config/model.js';
import { dumpYaml } from './yaml.js';

function ethernet(nic: NicSpec, extra: Record<string, unknown>) {
  return {
    match: { macaddress: nic.mac.toLowerCase() },
    'set-name': nic.guestName,
    dhcp4: false,
    dhcp6: false,
    addresses: [`${nic.address}/${nic.prefix}`],
    ...extra,
  };
}

export function networkConfigDocument(spec: ClusterSpec, node: NodeSpec) {
  const { nat, hostOnly } = node.nics;
  return {
    version: 2,
    ethernets: {
      [nat.guestName]: ethernet(nat, {
        routes: [{ to: 'default', via: spec.networks.nat.gateway }],
        nameservers: { addresses: [...spec.os.dnsServers] },
      }),
      [hostOnly.guestName]: ethernet(hostOnly, {}),
    },
  };
}

export function renderNetworkConfig(spec: ClusterSpec, node: NodeSpec): string {
  // Every string quoted: a MAC such as 00:50:56:12:34:56 is a base-60 integer to a YAML 1.1 reader.
  return dumpYaml(networkConfigDocument(spec, node), { quoteAllStrings: true });
}
