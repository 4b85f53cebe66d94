/**
 * Clusters the fake Kubernetes API server can play. The healthy preset is the
 * seed lab after a good build; each broken preset changes one thing the way
 * it goes wrong on real hardware.
 */
import type { ClusterSpec, NodeSpec } from '../src/config/model.js';
import type { Node } from '../src/kube/index.js';

export interface FakeNode {
  name: string;
  role: 'control-plane' | 'worker';
  internalIP: string;
  /** false: Ready=False ("cni plugin not initialized"), with the not-ready taint. Default true. */
  ready?: boolean;
  /**
   * 'stopped': the kubelet no longer posts status (service stopped, or no route to the API server): the
   * node controller sets Ready=Unknown with the unreachable taints and marks the node's pods not ready;
   * nothing new starts there and its pods' logs cannot be fetched. Default 'running'.
   */
  kubelet?: 'running' | 'stopped';
  /** ufw on this node blocks 30000-32767/tcp: connections to its NodePorts get no answer. Default false. */
  nodePortsBlocked?: boolean;
  /**
   * The first N script containers started on this node hang in their first network call (a starved or
   * wedged node) and end only when killed, e.g. at the pod's activeDeadlineSeconds. Default 0.
   */
  stalledScriptRuns?: number;
  kubeletVersion: string;
  /** Seconds this node's clock is ahead (+) or behind (−) the control plane. */
  clockOffsetSeconds?: number;
  /** What flannel recorded as the node's public IP (default: internalIP). */
  flannelPublicIp?: string;
  /** The names the kubelet's serving-certificate request asks for (default: its name and internalIP). */
  servingCertNames?: { dnsNames: string[]; ipAddresses: string[] };
}

export interface KubeApiScenario {
  name: string;
  nodes: FakeNode[];
  controlPlaneTaint: boolean;
  cni: 'flannel' | 'calico';
  dnsDomain: string;
  /** CoreDNS pods crash-loop (forwarding loop). */
  coreDnsCrashLoop: boolean;
  /** Pod-to-pod packets between different nodes are dropped (VXLAN blocked). */
  crossNodePodTraffic: 'ok' | 'dropped';
  /** Node pairs whose pod-to-pod packets are dropped both ways (VXLAN blocked between just these two). */
  droppedPodPaths: [string, string][];
  /** Whether CoreDNS reaches its upstream resolvers (the nodes' DNS servers): if not, names outside the cluster get SERVFAIL. */
  dnsUpstream: 'reachable' | 'unreachable';
  /** Names outside the cluster and the address the upstream resolvers give (documentation addresses: nothing connects to them). */
  externalNames: Record<string, string>;
  /** Traffic to Service ClusterIPs and NodePorts is not forwarded (kube-proxy rules missing). */
  serviceTraffic: 'ok' | 'dropped';
  /** Namespaces whose pods never finish terminating unless force-deleted (gracePeriodSeconds 0). */
  stuckNamespaces: string[];
  /** The kubelets ask the cluster CA for serving certificates at start (a pending kubelet-serving CSR each). */
  serverTLSBootstrap?: boolean;
  /** "namespace/name" of Deployments and DaemonSets whose pods never start (their image cannot be pulled). */
  stalledWorkloads?: string[];
  /** The add-ons build-vms applies (issue 23), installed and running as their controllers behave (addon-controllers.ts); undefined: none. */
  addons?: AddonScenario;
}

export interface AddonScenario {
  pool: { start: string; end: string };
  gatewayAddress: string;
  /** Which add-ons are installed (one turned off in cluster.yaml is absent). */
  installed: { loadBalancer: boolean; storage: boolean; metrics: boolean; gateway: boolean };
  /** MetalLB assigns addresses but nothing answers ARP for them where the PC is (wrong interface, VMnet1 adapter down). */
  noArpAnswer?: boolean;
  /** The kubelets' serving-certificate CSRs are pending (nobody approved them): metrics-server cannot scrape. */
  csrPending?: boolean;
  /** local-path-provisioner crash-loops: claims stay Pending. */
  provisionerStopped?: boolean;
  /** LoadBalancer Services the user made, already holding these addresses ("namespace/name" → address). */
  userServices?: Record<string, string>;
}

/** Every add-on installed and healthy, with the seed lab's default pool. */
export function healthyAddons(
  pool = { start: '172.100.100.64', end: '172.100.100.95' },
  gatewayAddress = pool.start,
): AddonScenario {
  return {
    pool,
    gatewayAddress,
    installed: { loadBalancer: true, storage: true, metrics: true, gateway: true },
  };
}

const seedNodes = (minor: string): FakeNode[] => [
  { name: 'k8s-master', role: 'control-plane', internalIP: '172.100.100.2', kubeletVersion: `v${minor}.2` },
  { name: 'k8s-worker1', role: 'worker', internalIP: '172.100.100.3', kubeletVersion: `v${minor}.2` },
  { name: 'k8s-worker2', role: 'worker', internalIP: '172.100.100.4', kubeletVersion: `v${minor}.2` },
];

/** The seed lab (k8s-master + two workers on 172.100.100.0/24) healthy, Kubernetes `minor` (default 1.37). */
export function healthySeedLab(
  overrides: Partial<KubeApiScenario> & { minor?: string } = {},
): KubeApiScenario {
  const { minor = '1.37', ...rest } = overrides;
  return {
    name: 'healthy',
    nodes: seedNodes(minor),
    controlPlaneTaint: true,
    cni: 'flannel',
    dnsDomain: 'cluster.local',
    coreDnsCrashLoop: false,
    crossNodePodTraffic: 'ok',
    droppedPodPaths: [],
    dnsUpstream: 'reachable',
    externalNames: { 'registry.k8s.io': '192.0.2.10' },
    serviceTraffic: 'ok',
    stuckNamespaces: [],
    addons: healthyAddons(),
    serverTLSBootstrap: true,
    ...rest,
  };
}

function withNode(scenario: KubeApiScenario, name: string, change: Partial<FakeNode>): KubeApiScenario {
  return { ...scenario, nodes: scenario.nodes.map((n) => (n.name === name ? { ...n, ...change } : n)) };
}

/** Broken variants of the seed lab, one fault each. */
export const brokenSeedLab = {
  nodeNotReady: (node = 'k8s-worker2') =>
    withNode({ ...healthySeedLab(), name: `${node} NotReady` }, node, { ready: false }),
  coreDnsCrashLoop: () => ({ ...healthySeedLab(), name: 'CoreDNS CrashLoopBackOff', coreDnsCrashLoop: true }),
  crossNodeTrafficDropped: () => ({
    ...healthySeedLab(),
    name: 'cross-node pod traffic dropped',
    crossNodePodTraffic: 'dropped' as const,
  }),
  nodePairDropped: (a = 'k8s-worker1', b = 'k8s-worker2') => ({
    ...healthySeedLab(),
    name: `pod traffic ${a} <-> ${b} dropped`,
    droppedPodPaths: [[a, b]] as [string, string][],
  }),
  kubeletStopped: (node = 'k8s-worker2') =>
    withNode({ ...healthySeedLab(), name: `${node} kubelet stopped` }, node, { kubelet: 'stopped' }),
  nodePortsBlocked: (node = 'k8s-worker1') =>
    withNode({ ...healthySeedLab(), name: `${node} firewall blocks NodePorts` }, node, {
      nodePortsBlocked: true,
    }),
  dnsUpstreamUnreachable: () => ({
    ...healthySeedLab(),
    name: 'DNS upstream unreachable',
    dnsUpstream: 'unreachable' as const,
  }),
  serviceTrafficDropped: () => ({
    ...healthySeedLab(),
    name: 'Service traffic not forwarded',
    serviceTraffic: 'dropped' as const,
  }),
  stuckWorkload: (namespace: string) => ({
    ...healthySeedLab(),
    name: 'stuck workload',
    stuckNamespaces: [namespace],
  }),
  clockSkew: (node = 'k8s-worker1', seconds = 42) =>
    withNode({ ...healthySeedLab(), name: `${node} clock skew` }, node, { clockOffsetSeconds: seconds }),
  /** The kubelet's serving-certificate request asks for an address that is not the node's. */
  servingCertWrongNames: (node = 'k8s-worker2', address = '10.0.0.9') =>
    withNode({ ...healthySeedLab(), name: `${node} asks for a serving certificate for ${address}` }, node, {
      servingCertNames: { dnsNames: [node], ipAddresses: [address] },
    }),
  /** A workload's image cannot be pulled: its pods never start. */
  workloadStalled: (workload: string) => ({
    ...healthySeedLab(),
    name: `${workload} never starts`,
    stalledWorkloads: [workload],
  }),
  flannelOnNatNic: (node = 'k8s-worker1', natAddress = '192.168.5.12') =>
    withNode({ ...healthySeedLab(), name: 'flannel on the NAT NIC' }, node, { flannelPublicIp: natAddress }),
  /** Every pool address but the Gateway's is held by a Service the user made. */
  poolExhausted: (): KubeApiScenario => {
    const addons = healthyAddons();
    const first = Number(addons.pool.start.split('.')[3]);
    const last = Number(addons.pool.end.split('.')[3]);
    const userServices: Record<string, string> = {};
    for (let i = first + 1; i <= last; i++) userServices[`default/demo-${i - first}`] = `172.100.100.${i}`;
    return { ...healthySeedLab(), name: 'LoadBalancer pool exhausted', addons: { ...addons, userServices } };
  },
  noArpAnswer: (): KubeApiScenario => ({
    ...healthySeedLab(),
    name: 'no ARP answer on VMnet1',
    addons: { ...healthyAddons(), noArpAnswer: true },
  }),
  csrNotApproved: (): KubeApiScenario => ({
    ...healthySeedLab(),
    name: 'kubelet-serving CSRs not approved',
    addons: { ...healthyAddons(), csrPending: true },
  }),
  provisionerNotRunning: (): KubeApiScenario => ({
    ...healthySeedLab(),
    name: 'local-path-provisioner not running',
    addons: { ...healthyAddons(), provisionerStopped: true },
  }),
  /** A Service the user made holds the Gateway's address, so the Gateway never gets it. */
  gatewayNotProgrammed: (): KubeApiScenario => ({
    ...healthySeedLab(),
    name: 'Gateway not programmed',
    addons: { ...healthyAddons(), userServices: { 'default/web': '172.100.100.64' } },
  }),
};

/** A Node object as the kubelet registers it. */
export function registeredNode(spec: ClusterSpec, node: NodeSpec): Node {
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node.name,
      labels: {
        'kubernetes.io/hostname': node.name,
        'kubernetes.io/os': 'linux',
        ...(node.role === 'control-plane' ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
      },
    },
    spec: {},
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
        },
      ],
      addresses: [
        { type: 'InternalIP', address: node.nics.hostOnly.address },
        { type: 'Hostname', address: node.name },
      ],
      nodeInfo: { kubeletVersion: `v${spec.kubernetes.minor}.2` },
    },
  };
}
