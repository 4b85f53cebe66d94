/** Defaults and pinned versions for everything cluster.yaml may leave out. */
import { intToIp, ipToInt } from './ipv4.js';
import type { Ipv4Subnet } from './model.js';

export const DEFAULT_STATE_DIR = '.kubestation';
export const DEFAULT_HARDWARE = { cpus: 2, memoryMiB: 4096, diskGiB: 100 } as const;

export const DEFAULT_OS = {
  release: '24.04',
  userName: 'pista',
  timezone: 'Asia/Seoul',
  locale: 'ko_KR.UTF-8',
  ntpServers: ['time.ravnus.com'],
  dnsServers: ['8.8.8.8', '8.8.4.4'],
} as const;

/** Always loaded and set: kubeadm and the CNI do not work without them. */
export const REQUIRED_KERNEL_MODULES = ['overlay', 'br_netfilter'] as const;
export const REQUIRED_SYSCTL: Readonly<Record<string, string>> = {
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
};

export const DEFAULT_KUBERNETES_MINOR = '1.37';
/** Minors this kubestation knows: kubeadm config v1beta4 exists from 1.31 on; 1.37 is the newest release. */
export const SUPPORTED_KUBERNETES_MINORS = ['1.31', '1.32', '1.33', '1.34', '1.35', '1.36', '1.37'] as const;
export const DEFAULT_POD_SUBNET = '10.244.0.0/16';
export const DEFAULT_SERVICE_SUBNET = '10.96.0.0/12';
export const DEFAULT_API_SERVER_PORT = 6443;
export const DEFAULT_DNS_DOMAIN = 'cluster.local';
export const DEFAULT_BOOTSTRAP_TOKEN_TTL = '720h';

export const CNI_DEFAULTS = {
  flannel: {
    version: 'v0.28.9',
    manifestUrls: (v: string) => [
      `https://github.com/flannel-io/flannel/releases/download/${v}/kube-flannel.yml`,
    ],
  },
  calico: {
    version: 'v3.32.1',
    manifestUrls: (v: string) => [
      `https://raw.githubusercontent.com/projectcalico/calico/${v}/manifests/operator-crds.yaml`,
      `https://raw.githubusercontent.com/projectcalico/calico/${v}/manifests/tigera-operator.yaml`,
    ],
  },
} as const;

/**
 * Where containerd 2.x comes from when Ubuntu's archive offers only 1.x and Kubernetes needs 2.0
 * (1.36 and newer): Docker's repository (package containerd.io), as an apt source "URI suite components".
 */
export const DEFAULT_CONTAINERD_PACKAGE_SOURCE = 'https://download.docker.com/linux/ubuntu noble stable';
export const DEFAULT_CONTAINERD_PACKAGE_KEY_URL = 'https://download.docker.com/linux/ubuntu/gpg';
/** The first Kubernetes minor that no longer supports containerd 1.x (1.35 was the last). */
export const FIRST_MINOR_NEEDING_CONTAINERD2 = '1.36';

export function kubernetesPackageRepository(minor: string): string {
  return `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/`;
}

export const DEFAULT_VMWARE = {
  vmrestUrl: 'http://127.0.0.1:8697/api',
  concurrency: 3,
  cloneMode: 'linked',
  templateName: 'kubestation-noble-template',
  imageUrl: 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.ova',
  checksumsUrl: 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS',
} as const;

/** kubeadm's preflight minimums for a control-plane node. */
export const CONTROL_PLANE_MIN_CPUS = 2;
export const CONTROL_PLANE_MIN_MEMORY_MIB = 1700;
/** Below this a worker cannot run kubelet, containerd and a CNI with any room for pods. */
export const NODE_MIN_MEMORY_MIB = 1024;
/**
 * The Ubuntu 24.04 cloud image's disk is 3.5 GiB; a clone can only grow it. 10 GiB leaves room for the
 * Kubernetes and CNI images and for kubelet's 10% free-space eviction threshold.
 */
export const CLOUD_IMAGE_DISK_GIB = 3.5;
export const NODE_MIN_DISK_GIB = 10;

/** Guest NIC names and the PCI slots that produce them (Ubuntu's slot naming: slot 33 → ens33). */
export const NIC_LAYOUT = {
  nat: { guestName: 'ens33', pciSlot: 33, vmxIndex: 0 },
  hostOnly: { guestName: 'ens37', pciSlot: 37, vmxIndex: 1 },
} as const;

/**
 * The DHCP range Workstation gives a host-only network: the upper half of the subnet without the broadcast
 * address, i.e. .128–.254 of a /24 (the Virtual Network Editor's DHCP Settings show it).
 */
export function defaultHostOnlyDhcpRange(subnet: Ipv4Subnet): { start: string; end: string } {
  const network = ipToInt(subnet.network);
  const size = ipToInt(subnet.broadcast) - network + 1;
  return { start: intToIp(network + size / 2), end: intToIp(ipToInt(subnet.broadcast) - 1) };
}

/**
 * The LoadBalancer pool when cluster.yaml names none: .64–.95 of the host-only subnet, above the nodes'
 * static addresses (.2 up) and below the DHCP range (.128 up).
 */
export function defaultLoadBalancerPool(subnet: Ipv4Subnet): { start: string; end: string } {
  const network = ipToInt(subnet.network);
  return { start: intToIp(network + 64), end: intToIp(network + 95) };
}
