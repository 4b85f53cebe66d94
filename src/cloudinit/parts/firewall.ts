/**
 * ufw rules per node role, as data (firewall.sh applies them). Sources:
 * Kubernetes "Ports and Protocols", flannel/calico requirements. Ports only
 * the cluster itself uses are opened to the host-only network and the pod
 * network; SSH, the API server and NodePorts to anyone. Routed (forwarded)
 * traffic to and from the pod network and to the service network is allowed,
 * since ufw's default routed policy (DROP) would break pod-to-pod and
 * NodePort traffic.
 */
import type { ClusterSpec } from '../../config/model.js';

export interface FirewallRule {
  /** `allow` = incoming to this node (ufw allow); `route` = forwarded traffic (ufw route allow). */
  kind: 'allow' | 'route';
  proto: 'tcp' | 'udp' | 'any';
  /** "6443" or a range "2379:2380" (ufw syntax); undefined = every port. */
  port: string | undefined;
  from: string;
  to: string;
  comment: string;
}

const ANY = 'any';

function rule(
  kind: FirewallRule['kind'],
  proto: FirewallRule['proto'],
  port: string | undefined,
  from: string,
  comment: string,
  to = ANY,
): FirewallRule {
  return { kind, proto, port, from, to, comment };
}

/** Where cluster-internal traffic comes from: other nodes (host-only NIC) and pods on this node. */
function clusterSources(spec: ClusterSpec): string[] {
  return [spec.networks.hostOnly.subnet.cidr, spec.kubernetes.podSubnet.cidr];
}

function fromCluster(spec: ClusterSpec, proto: 'tcp' | 'udp', port: string, comment: string): FirewallRule[] {
  return clusterSources(spec).map((source) => rule('allow', proto, port, source, comment));
}

function everyNodeRules(spec: ClusterSpec): FirewallRule[] {
  return [
    rule('allow', 'tcp', '22', ANY, 'ssh'),
    ...fromCluster(spec, 'tcp', '10250', 'kubelet API'),
    ...fromCluster(spec, 'tcp', '10256', 'kube-proxy health'),
    rule('allow', 'tcp', '30000:32767', ANY, 'NodePort services tcp'),
    rule('allow', 'udp', '30000:32767', ANY, 'NodePort services udp'),
  ];
}

function controlPlaneRules(spec: ClusterSpec): FirewallRule[] {
  return [
    rule('allow', 'tcp', String(spec.kubernetes.apiServerPort), ANY, 'Kubernetes API server'),
    ...fromCluster(spec, 'tcp', '2379:2380', 'etcd'),
    ...fromCluster(spec, 'tcp', '10259', 'kube-scheduler'),
    ...fromCluster(spec, 'tcp', '10257', 'kube-controller-manager'),
  ];
}

function cniRules(spec: ClusterSpec): FirewallRule[] {
  if (spec.kubernetes.cni.name === 'flannel') return fromCluster(spec, 'udp', '8472', 'flannel VXLAN');
  // Calico runs VXLAN here (no IP-in-IP, so IP protocol 4 is not needed; ufw 0.36 cannot name it anyway).
  return [
    ...fromCluster(spec, 'tcp', '179', 'calico BGP'),
    ...fromCluster(spec, 'udp', '4789', 'calico VXLAN'),
    ...fromCluster(spec, 'tcp', '5473', 'calico Typha'),
  ];
}

function routedRules(spec: ClusterSpec): FirewallRule[] {
  const pods = spec.kubernetes.podSubnet.cidr;
  return [
    rule('route', 'any', undefined, pods, 'from pods', ANY),
    rule('route', 'any', undefined, ANY, 'to pods', pods),
    rule('route', 'any', undefined, ANY, 'to services', spec.kubernetes.serviceSubnet.cidr),
  ];
}

export function controlPlaneFirewallRules(spec: ClusterSpec): FirewallRule[] {
  return [...everyNodeRules(spec), ...controlPlaneRules(spec), ...cniRules(spec), ...routedRules(spec)];
}

export function workerFirewallRules(spec: ClusterSpec): FirewallRule[] {
  return [...everyNodeRules(spec), ...cniRules(spec), ...routedRules(spec)];
}

/**
 * One rule per line: `kind proto port from to comment…` (`-` = every port);
 * the comment is the rest of the line. firewall.sh turns each into ufw args.
 */
export function renderFirewallRules(rules: readonly FirewallRule[]): string {
  const lines = rules.map((r) => [r.kind, r.proto, r.port ?? '-', r.from, r.to, r.comment].join(' '));
  return `# kind proto port from to comment (written by kubestation; applied by firewall.sh)\n${lines.join('\n')}\n`;
}
