/**
 * Where things live inside a node, and the names the guest side and the
 * generator must agree on. One place, so the shell scripts' paths and the
 * write_files paths cannot drift apart (the scripts read the same values
 * from node.env).
 */
import type { ClusterSpec, NodeSpec } from '../config/model.js';

export const GUEST = {
  /** Shell scripts shipped in cloud-init/ (bootstrap.sh, lib/, stages/). */
  libDir: '/usr/local/lib/kubestation',
  /** Data the generator renders for the scripts. */
  configDir: '/etc/kubestation',
  nodeEnv: '/etc/kubestation/node.env',
  stagesFile: '/etc/kubestation/stages',
  firewallRules: '/etc/kubestation/firewall.rules',
  kubeadmInit: '/etc/kubestation/kubeadm/init.yaml',
  kubeadmJoin: '/etc/kubestation/kubeadm/join.yaml',
  containerdV2: '/etc/kubestation/containerd/config-v2.toml',
  containerdV3: '/etc/kubestation/containerd/config-v3.toml',
  cniDir: '/etc/kubestation/cni',
  /** Written by the template bake when the image already holds Kubernetes (see src/template/state.ts). */
  goldenMarker: '/etc/kubestation/golden.json',
  logDir: '/var/log/kubestation',
  serialConsole: '/dev/ttyS0',
  criSocket: 'unix:///var/run/containerd/containerd.sock',
  kubernetesPki: '/etc/kubernetes/pki',
} as const;

/**
 * Placeholder kubeadm-init.sh replaces with `kubeadm version -o short` when
 * the spec names only a minor ("1.37"): the newest patch of the repository
 * is what apt installs, so only the guest knows it.
 */
export const DETECTED_VERSION_PLACEHOLDER = 'KUBESTATION_DETECTED_KUBERNETES_VERSION';

/** pause image written into the containerd config; containerd.sh swaps in kubeadm's own when it differs. */
export const PINNED_SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10.1';

/** VXLAN devices the CNIs create; their tx checksum offload breaks on VMware's vmxnet3/e1000 (peer-lessons 5). */
export const VXLAN_INTERFACE = { flannel: 'flannel.1', calico: 'vxlan.calico' } as const;

/** "<node>.<cluster>.internal" — `.internal` is reserved for private use, so it never leaks to public DNS. */
export function nodeFqdn(spec: Pick<ClusterSpec, 'name'>, node: Pick<NodeSpec, 'name'>): string {
  return `${node.name}.${spec.name}.internal`;
}
