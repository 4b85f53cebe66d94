/**
 * Operating-system pieces every node gets: names and /etc/hosts, time,
 * locale, kernel modules and sysctls for Kubernetes, the VXLAN offload fix.
 */
import type { ClusterSpec, NodeSpec } from '../../config/model.js';
import { VXLAN_INTERFACE, nodeFqdn } from '../guest.js';
import { file, type WriteFile } from './files.js';

export const OS_FILES = {
  hosts: '/etc/hosts',
  modules: '/etc/modules-load.d/kubestation.conf',
  sysctl: '/etc/sysctl.d/90-kubestation.conf',
  vxlanUdevRule: '/etc/udev/rules.d/90-kubestation-vxlan-offload.rules',
} as const;

/**
 * The whole /etc/hosts: every node by its host-only address (the address
 * the cluster talks on). cloud-init is told not to manage the file, so it
 * stays as written across reboots.
 */
export function hostsFile(spec: ClusterSpec): string {
  const nodes = spec.nodes.map((n) => `${n.nics.hostOnly.address} ${nodeFqdn(spec, n)} ${n.name}`);
  return [
    '# Written by kubestation (cloud-init manage_etc_hosts is off, so this file is kept as is).',
    '127.0.0.1 localhost',
    '::1 localhost ip6-localhost ip6-loopback',
    'ff02::1 ip6-allnodes',
    'ff02::2 ip6-allrouters',
    `# cluster ${spec.name}`,
    ...nodes,
    '',
  ].join('\n');
}

export function kernelModulesFile(spec: ClusterSpec): string {
  return `# Loaded at boot for containerd (overlay) and bridged pod traffic (br_netfilter).\n${spec.os.kernelModules.join('\n')}\n`;
}

export function sysctlFile(spec: ClusterSpec): string {
  return `# Kubernetes networking (written by kubestation).\n${Object.entries(spec.os.sysctl)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
}

/**
 * VMware's virtual NICs corrupt the checksum of VXLAN packets when the VXLAN
 * device offloads it, so cross-node pod traffic silently drops. udev turns tx
 * checksum offload off whenever the CNI creates its device, on every boot.
 */
export function vxlanOffloadUdevRule(spec: ClusterSpec): string {
  const device = VXLAN_INTERFACE[spec.kubernetes.cni.name];
  return `# VXLAN over VMware NICs: tx checksum offload off on ${device} (written by kubestation).\nACTION=="add", SUBSYSTEM=="net", KERNEL=="${device}", RUN+="/usr/sbin/ethtool -K %k tx off"\n`;
}

export function osFiles(spec: ClusterSpec): WriteFile[] {
  return [
    file(OS_FILES.hosts, hostsFile(spec)),
    file(OS_FILES.modules, kernelModulesFile(spec)),
    file(OS_FILES.sysctl, sysctlFile(spec)),
    file(OS_FILES.vxlanUdevRule, vxlanOffloadUdevRule(spec)),
  ];
}

/** cloud-config keys for names, time and locale (cloud-init's own modules do the work). */
export function osCloudConfig(spec: ClusterSpec, node: NodeSpec) {
  return {
    preserve_hostname: false,
    hostname: node.name,
    fqdn: nodeFqdn(spec, node),
    prefer_fqdn_over_hostname: false,
    manage_etc_hosts: false,
    timezone: spec.os.timezone,
    locale: spec.os.locale,
    ntp: { enabled: true, ntp_client: 'chrony', servers: [...spec.os.ntpServers] },
  };
}
