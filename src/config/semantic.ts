/**
 * Checks that need more than one field: addresses against their subnets,
 * overlaps, roles, minimum resources, names, time zones. They run on the raw
 * document alongside the shape check so the user sees every problem at once;
 * a field with the wrong shape is reported there and skipped here.
 */
import net from 'node:net';
import path from 'node:path';
import {
  CONTROL_PLANE_MIN_CPUS,
  CONTROL_PLANE_MIN_MEMORY_MIB,
  DEFAULT_HARDWARE,
  DEFAULT_KUBERNETES_MINOR,
  DEFAULT_POD_SUBNET,
  DEFAULT_SERVICE_SUBNET,
  NODE_MIN_DISK_GIB,
  NODE_MIN_MEMORY_MIB,
  SUPPORTED_KUBERNETES_MINORS,
  CLOUD_IMAGE_DISK_GIB,
  DEFAULT_API_SERVER_PORT,
  defaultHostOnlyDhcpRange,
  defaultLoadBalancerPool,
} from './defaults.js';
import {
  hasHostBits,
  inRange,
  intToIp,
  ipToInt,
  parseSubnet,
  subnetContains,
  subnetsOverlap,
} from './ipv4.js';
import { deriveMac } from './mac.js';
import type { Ipv4Subnet } from './model.js';
import { showValue, type SpecProblem } from './problems.js';
import { splitKubernetesVersion } from './resolve.js';
import { clearTextVmrestUrlProblem } from '../vmrest-url-policy.js';
import { ADDONS } from '../addons/catalog.js';

type Raw = Record<string, unknown>;

const ipv4Re = /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const cidrRe =
  /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(3[0-2]|[12]?\d)$/;
/** RFC 1123 label: what a hostname and a Kubernetes node name may be. */
const rfc1123Label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const hostnameRe =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const localeRe = /^([a-z]{2,3}_[A-Z]{2}|C)\.UTF-8(@[a-z]+)?$/;
/** Ports the control plane's own components use; the API server must not take one of them. */
const reservedPorts: Record<number, string> = {
  22: 'SSH',
  2379: 'etcd',
  2380: 'etcd peers',
  10250: 'kubelet',
  10256: 'kube-proxy',
  10257: 'kube-controller-manager',
  10259: 'kube-scheduler',
};

const obj = (v: unknown): Raw | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Raw) : undefined;
const ip = (v: unknown): string | undefined => (typeof v === 'string' && ipv4Re.test(v) ? v : undefined);
const subnet = (v: unknown): Ipv4Subnet | undefined =>
  typeof v === 'string' && cidrRe.test(v) ? parseSubnet(v) : undefined;
const int = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isInteger(v) ? v : undefined;

/**
 * The block of addresses a user can pick from, for messages: after the
 * network address and any reserved addresses at the start (host .1,
 * gateway .2), up to the DHCP range or the broadcast address.
 */
function freeRange(
  s: Ipv4Subnet,
  reserved: Array<string | undefined>,
  ...above: Array<string | undefined>
): string {
  const taken = new Set(reserved.filter((a): a is string => a !== undefined).map(ipToInt));
  let low = ipToInt(s.network) + 1;
  while (taken.has(low)) low++;
  const limits = above
    .filter((a): a is string => a !== undefined && subnetContains(s, a) && ipToInt(a) > low)
    .map(ipToInt);
  const limit = Math.min(ipToInt(s.broadcast), ...limits);
  return `${intToIp(low)}–${intToIp(limit - 1)}`;
}

let listedTimeZones: Set<string> | undefined;

export function isKnownTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  // ICU's list of zone names is read in a few ms; the first DateTimeFormat with
  // a time zone loads locale and zone data (~100 ms), so it only decides the
  // names the list leaves out (aliases such as "UTC" or "US/Eastern").
  listedTimeZones ??= new Set(Intl.supportedValuesOf('timeZone'));
  if (listedTimeZones.has(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function isAbsoluteAnywhere(p: string): boolean {
  return path.win32.isAbsolute(p) || path.posix.isAbsolute(p);
}

/** Records a problem at a field path. */
type Add = (path: string, message: string) => void;

/** The host networks' fields that are well-formed, and the free blocks messages suggest. */
interface HostNetworks {
  nat: Ipv4Subnet | undefined;
  hostOnly: Ipv4Subnet | undefined;
  gateway: string | undefined;
  natHost: string | undefined;
  hostOnlyHost: string | undefined;
  /** The NAT DHCP range when both ends are addresses and start ≤ end. */
  dhcp: { start: string; end: string } | undefined;
  /** The host-only DHCP range (cluster.yaml's, else Workstation's default) when it is sound. */
  hostOnlyDhcp: { start: string; end: string } | undefined;
  /** The LoadBalancer pool (cluster.yaml's, else the default) when it is on and sound: node addresses stay out of it. */
  pool: AddressRange | undefined;
  /** Addresses a node may take, for messages ('' when the subnet is not known). */
  natFree: string;
  hostOnlyFree: string;
}

/** What the node checks gather across nodes: names, addresses and MACs taken, the control planes. */
interface NodeTally {
  names: Map<string, number>;
  natAddresses: Map<string, number>;
  hostOnlyAddresses: Map<string, number>;
  macs: Map<string, string>;
  controlPlanes: number[];
  /** A node by its name when it has one: `node "k8s-worker1" (nodes[1])`. */
  label(index: number): string;
}

export function checkSemantics(document: unknown): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const add: Add = (path, message) => problems.push({ path, message });
  const doc = obj(document);
  if (!doc) return problems;

  checkClusterName(doc, add);
  const networks = checkHostNetworks(doc, add);
  checkAddons(doc, networks, add);
  const k8s = obj(doc.kubernetes) ?? {};
  checkKubernetesNetworks(k8s, networks, add);
  checkNodes(doc, k8s, networks, add);
  checkOs(obj(doc.os) ?? {}, add);
  checkKubernetesVersionAndPort(k8s, add);
  checkVmware(obj(doc.vmware) ?? {}, add);
  return problems;
}

function checkClusterName(doc: Raw, add: Add): void {
  if (typeof doc.name === 'string' && !rfc1123Label.test(doc.name)) {
    add(
      'name',
      `${showValue(doc.name)} is not a valid name; use lower-case letters, digits and "-" (at most 63, starting and ending with a letter or digit), e.g. "k8s-lab"`,
    );
  }
}

/** The NAT and host-only networks: subnets, vmnets, the host's and gateway's addresses, the DHCP range. */
function checkHostNetworks(doc: Raw, add: Add): HostNetworks {
  const networks = obj(doc.networks);
  const natRaw = obj(networks?.nat);
  const hostOnlyRaw = obj(networks?.hostOnly);
  const nat = subnet(natRaw?.subnet);
  const hostOnly = subnet(hostOnlyRaw?.subnet);
  const gateway = ip(natRaw?.gateway);
  const natHost = ip(natRaw?.hostAddress);
  const hostOnlyHost = ip(hostOnlyRaw?.hostAddress);
  const dhcpRaw = obj(natRaw?.dhcpRange);
  const dhcpStart = ip(dhcpRaw?.start);
  const dhcpEnd = ip(dhcpRaw?.end);

  checkHostSubnets(nat, hostOnly, add);
  const natVmnet = typeof natRaw?.vmnet === 'string' ? natRaw.vmnet : 'vmnet8';
  const hostOnlyVmnet = typeof hostOnlyRaw?.vmnet === 'string' ? hostOnlyRaw.vmnet : 'vmnet1';
  if (natVmnet === hostOnlyVmnet)
    add(
      'networks.hostOnly.vmnet',
      `${showValue(hostOnlyVmnet)} is also the NAT network's vmnet; each NIC needs its own network (usually vmnet8 NAT, vmnet1 host-only)`,
    );

  checkHostSide('networks.nat.gateway', gateway, nat, 'NAT', add);
  checkHostSide('networks.nat.hostAddress', natHost, nat, 'NAT', add);
  checkHostSide('networks.hostOnly.hostAddress', hostOnlyHost, hostOnly, 'host-only', add);
  if (gateway && natHost && gateway === natHost)
    add(
      'networks.nat.hostAddress',
      `${natHost} is also the gateway; VMware uses .1 for the host and .2 for the NAT gateway`,
    );
  checkHostSide('networks.nat.dhcpRange.start', dhcpStart, nat, 'NAT', add);
  checkHostSide('networks.nat.dhcpRange.end', dhcpEnd, nat, 'NAT', add);
  if (dhcpStart && dhcpEnd && ipToInt(dhcpStart) > ipToInt(dhcpEnd))
    add('networks.nat.dhcpRange', `start ${dhcpStart} is after end ${dhcpEnd}`);
  const dhcp =
    dhcpStart && dhcpEnd && ipToInt(dhcpStart) <= ipToInt(dhcpEnd)
      ? { start: dhcpStart, end: dhcpEnd }
      : undefined;
  const natFree = nat ? freeRange(nat, [natHost, gateway], dhcp?.start) : '';
  if (dhcp && gateway && inRange(gateway, dhcp.start, dhcp.end))
    add('networks.nat.gateway', `${gateway} lies inside the DHCP range ${dhcp.start}–${dhcp.end}`);
  const hostOnlyDhcp = checkHostOnlyDhcp(hostOnlyRaw, hostOnly, add);
  const pool = hostOnly ? soundPool(doc, hostOnly) : undefined;
  const hostOnlyFree = hostOnly ? freeRange(hostOnly, [hostOnlyHost], hostOnlyDhcp?.start, pool?.start) : '';
  return {
    nat,
    hostOnly,
    gateway,
    natHost,
    hostOnlyHost,
    dhcp,
    hostOnlyDhcp,
    pool,
    natFree,
    hostOnlyFree,
  };
}

/** networks.hostOnly.dhcpRange (or Workstation's default .128–.254) inside the subnet, start ≤ end; undefined when not sound. */
function checkHostOnlyDhcp(
  hostOnlyRaw: Raw | undefined,
  hostOnly: Ipv4Subnet | undefined,
  add: Add,
): { start: string; end: string } | undefined {
  if (!hostOnly) return undefined;
  const raw = obj(hostOnlyRaw?.dhcpRange);
  if (!raw) return defaultHostOnlyDhcpRange(hostOnly);
  const start = ip(raw.start);
  const end = ip(raw.end);
  checkHostSide('networks.hostOnly.dhcpRange.start', start, hostOnly, 'host-only', add);
  checkHostSide('networks.hostOnly.dhcpRange.end', end, hostOnly, 'host-only', add);
  if (!start || !end || !subnetContains(hostOnly, start) || !subnetContains(hostOnly, end)) return undefined;
  if (ipToInt(start) > ipToInt(end)) {
    add(
      'networks.hostOnly.dhcpRange',
      `start ${start} is after end ${end}; write the range as Workstation's Virtual Network Editor shows it (${hostOnlyVmnetLabel(hostOnlyRaw)} > DHCP Settings), e.g. start: ${defaultHostOnlyDhcpRange(hostOnly).start}, end: ${defaultHostOnlyDhcpRange(hostOnly).end}`,
    );
    return undefined;
  }
  return { start, end };
}

const hostOnlyVmnetLabel = (hostOnlyRaw: Raw | undefined): string =>
  (typeof hostOnlyRaw?.vmnet === 'string' ? hostOnlyRaw.vmnet : 'vmnet1').replace(/^vmnet/i, 'VMnet');

/** Each host subnet is a network address and large enough; the two are apart. */
function checkHostSubnets(nat: Ipv4Subnet | undefined, hostOnly: Ipv4Subnet | undefined, add: Add): void {
  for (const [where, s] of [
    ['networks.nat.subnet', nat],
    ['networks.hostOnly.subnet', hostOnly],
  ] as const) {
    if (s && hasHostBits(s.cidr))
      add(where, `${showValue(s.cidr)} has host bits set; the network address is ${s.network}/${s.prefix}`);
    if (s && s.prefix > 30)
      add(
        where,
        `${showValue(s.cidr)} is too small for a cluster; use a /24 such as the Virtual Network Editor shows`,
      );
  }
  if (nat && hostOnly && subnetsOverlap(nat, hostOnly)) {
    add(
      'networks.hostOnly.subnet',
      `${hostOnly.cidr} overlaps the NAT network ${nat.cidr}; the two VMware networks must be separate (e.g. 192.168.5.0/24 and 172.100.100.0/24)`,
    );
  }
}

/** A host-side address (host, gateway, DHCP range end) is a host address of its subnet. */
function checkHostSide(
  where: string,
  address: string | undefined,
  s: Ipv4Subnet | undefined,
  label: string,
  add: Add,
): void {
  if (!address || !s) return;
  const whole = `${intToIp(ipToInt(s.network) + 1)}–${intToIp(ipToInt(s.broadcast) - 1)}`;
  if (!subnetContains(s, address))
    add(where, `${address} is outside the ${label} subnet ${s.cidr}; use an address in ${whole}`);
  else if (address === s.network || address === s.broadcast)
    add(
      where,
      `${address} is the ${address === s.network ? 'network' : 'broadcast'} address of ${s.cidr}; use an address in ${whole}`,
    );
}

/** The pod and service subnets: well-formed, large enough, apart from each other and the node networks. */
function checkKubernetesNetworks(k8s: Raw, { nat, hostOnly }: HostNetworks, add: Add): void {
  const podRaw = k8s.podSubnet ?? DEFAULT_POD_SUBNET;
  const serviceRaw = k8s.serviceSubnet ?? DEFAULT_SERVICE_SUBNET;
  const pods = subnet(podRaw);
  const services = subnet(serviceRaw);
  for (const [where, s] of [
    ['kubernetes.podSubnet', pods],
    ['kubernetes.serviceSubnet', services],
  ] as const) {
    if (s && hasHostBits(s.cidr))
      add(where, `${showValue(s.cidr)} has host bits set; the network address is ${s.network}/${s.prefix}`);
  }
  if (pods && pods.prefix > 24)
    add(
      'kubernetes.podSubnet',
      `${pods.cidr} is too small: each node takes a /24 from it; use a /16 such as 10.244.0.0/16`,
    );
  if (services && services.prefix > 24)
    add(
      'kubernetes.serviceSubnet',
      `${services.cidr} is too small for the cluster's Services; use 10.96.0.0/12`,
    );
  if (pods && services && subnetsOverlap(pods, services))
    add(
      'kubernetes.serviceSubnet',
      `${services.cidr} overlaps the pod subnet ${pods.cidr}; they must be disjoint (defaults: pods 10.244.0.0/16, services 10.96.0.0/12)`,
    );
  for (const [label, s] of [
    ['pod subnet', pods],
    ['service subnet', services],
  ] as const) {
    const where = label === 'pod subnet' ? 'kubernetes.podSubnet' : 'kubernetes.serviceSubnet';
    if (s && nat && subnetsOverlap(s, nat))
      add(where, `${s.cidr} overlaps the NAT network ${nat.cidr}; pick a ${label} outside the node networks`);
    if (s && hostOnly && subnetsOverlap(s, hostOnly))
      add(
        where,
        `${s.cidr} overlaps the host-only network ${hostOnly.cidr}; pick a ${label} outside the node networks`,
      );
  }
}

/** Each node (name, addresses, resources), then the roles across nodes and the template's name. */
function checkNodes(doc: Raw, k8s: Raw, networks: HostNetworks, add: Add): void {
  const nodes = Array.isArray(doc.nodes) ? doc.nodes.map(obj) : [];
  const defaults = obj(doc.nodeDefaults) ?? {};
  const tally: NodeTally = {
    names: new Map(),
    natAddresses: new Map(),
    hostOnlyAddresses: new Map(),
    macs: new Map(),
    controlPlanes: [],
    label: (index) => {
      const named = nodes[index]?.name;
      return typeof named === 'string' ? `node ${showValue(named)} (nodes[${index}])` : `nodes[${index}]`;
    },
  };
  const clusterName = typeof doc.name === 'string' ? doc.name : '';
  nodes.forEach((node, i) => {
    if (!node) return;
    const at = `nodes[${i}]`;
    checkNodeName(node, i, at, clusterName, tally, add);
    if (node.role === 'control-plane') tally.controlPlanes.push(i);
    checkNodeAddresses(node, i, at, networks, tally, add);
    checkNodeResources(node, at, defaults, add);
  });
  checkRoles(nodes.length, k8s, tally.controlPlanes, add);
  const templateName =
    typeof obj(obj(doc.vmware)?.template)?.name === 'string'
      ? (obj(obj(doc.vmware)?.template)?.name as string)
      : undefined;
  if (templateName && tally.names.has(templateName))
    add(
      `nodes[${tally.names.get(templateName)}].name`,
      `${showValue(templateName)} is also the template VM's name; nodes are clones and need names of their own`,
    );
}

/** A valid hostname, not taken by an earlier node, and MACs (derived from it) no other node has. */
function checkNodeName(
  node: Raw,
  i: number,
  at: string,
  clusterName: string,
  tally: NodeTally,
  add: Add,
): void {
  const name = typeof node.name === 'string' ? node.name : undefined;
  if (name === undefined) return;
  if (!rfc1123Label.test(name)) {
    add(
      `${at}.name`,
      `${showValue(name)} is not a valid hostname (RFC 1123): use lower-case letters, digits and "-", at most 63 characters, starting and ending with a letter or digit, e.g. "k8s-worker3"`,
    );
  }
  const first = tally.names.get(name);
  if (first !== undefined)
    add(`${at}.name`, `${showValue(name)} is already used by nodes[${first}]; every node needs its own name`);
  else tally.names.set(name, i);
  for (const nic of first === undefined ? ['ens33', 'ens37'] : []) {
    const mac = deriveMac(clusterName, name, nic);
    const owner = tally.macs.get(mac);
    if (owner) add(`${at}.name`, `the derived MAC ${mac} collides with ${owner}; rename one of the nodes`);
    tally.macs.set(mac, `${name}/${nic}`);
  }
}

/** Each static address inside its subnet, clear of the host, the gateway and the DHCP range, and unique. */
function checkNodeAddresses(
  node: Raw,
  i: number,
  at: string,
  { nat, hostOnly, gateway, natHost, hostOnlyHost, dhcp, hostOnlyDhcp, natFree, hostOnlyFree }: HostNetworks,
  tally: NodeTally,
  add: Add,
): void {
  const natAddress = ip(node.natAddress);
  if (natAddress && nat) {
    const where = `${at}.natAddress`;
    if (!subnetContains(nat, natAddress))
      add(where, `${natAddress} is outside the NAT subnet ${nat.cidr}; use a free address in ${natFree}`);
    else if (natAddress === nat.network || natAddress === nat.broadcast)
      add(
        where,
        `${natAddress} is the ${natAddress === nat.network ? 'network' : 'broadcast'} address of ${nat.cidr}; use a free address in ${natFree}`,
      );
    else if (natAddress === gateway)
      add(where, `${natAddress} is the NAT gateway; use a free address in ${natFree}`);
    else if (natAddress === natHost)
      add(
        where,
        `${natAddress} is the Windows host's address on the NAT network; use a free address in ${natFree}`,
      );
    else if (dhcp && inRange(natAddress, dhcp.start, dhcp.end))
      add(
        where,
        `${natAddress} is inside the DHCP range ${dhcp.start}–${dhcp.end}, so VMware could hand it to another VM; use a free address in ${natFree}`,
      );
    const first = tally.natAddresses.get(natAddress);
    if (first !== undefined)
      add(
        where,
        `${natAddress} is already used by ${tally.label(first)}; give ${tally.label(i)} its own address, a free one in ${natFree}`,
      );
    else tally.natAddresses.set(natAddress, i);
  }
  const hostOnlyAddress = ip(node.hostOnlyAddress);
  if (hostOnlyAddress && hostOnly) {
    const where = `${at}.hostOnlyAddress`;
    if (!subnetContains(hostOnly, hostOnlyAddress))
      add(
        where,
        `${hostOnlyAddress} is outside the host-only subnet ${hostOnly.cidr}; use a free address in ${hostOnlyFree}`,
      );
    else if (hostOnlyAddress === hostOnly.network || hostOnlyAddress === hostOnly.broadcast)
      add(
        where,
        `${hostOnlyAddress} is the ${hostOnlyAddress === hostOnly.network ? 'network' : 'broadcast'} address of ${hostOnly.cidr}; use a free address in ${hostOnlyFree}`,
      );
    else if (hostOnlyAddress === hostOnlyHost)
      add(
        where,
        `${hostOnlyAddress} is the Windows host's address on the host-only network; use a free address in ${hostOnlyFree}`,
      );
    else if (hostOnlyDhcp && inRange(hostOnlyAddress, hostOnlyDhcp.start, hostOnlyDhcp.end))
      add(
        where,
        `${hostOnlyAddress} is inside the host-only DHCP range ${hostOnlyDhcp.start}–${hostOnlyDhcp.end} (networks.hostOnly.dhcpRange), so VMware could hand it to another VM; use a free address in ${hostOnlyFree}`,
      );
    const first = tally.hostOnlyAddresses.get(hostOnlyAddress);
    if (first !== undefined)
      add(
        where,
        `${hostOnlyAddress} is already used by ${tally.label(first)}; give ${tally.label(i)} its own address, a free one in ${hostOnlyFree}`,
      );
    else tally.hostOnlyAddresses.set(hostOnlyAddress, i);
  }
}

/** vCPUs, memory and disk (the node's own, else nodeDefaults', else the defaults) against the minimums. */
function checkNodeResources(node: Raw, at: string, defaults: Raw, add: Add): void {
  const cpus = int(node.cpus) ?? int(defaults.cpus) ?? DEFAULT_HARDWARE.cpus;
  const memory = int(node.memoryMiB) ?? int(defaults.memoryMiB) ?? DEFAULT_HARDWARE.memoryMiB;
  const disk = int(node.diskGiB) ?? int(defaults.diskGiB) ?? DEFAULT_HARDWARE.diskGiB;
  const field = (key: string) =>
    node[key] !== undefined
      ? `${at}.${key}`
      : defaults[key] !== undefined
        ? `nodeDefaults.${key}`
        : `${at}.${key}`;
  if (node.role === 'control-plane') {
    if (cpus < CONTROL_PLANE_MIN_CPUS)
      add(
        field('cpus'),
        `${cpus} vCPU is below kubeadm's minimum of ${CONTROL_PLANE_MIN_CPUS} for a control plane; set cpus: 2 or more`,
      );
    if (memory < CONTROL_PLANE_MIN_MEMORY_MIB)
      add(
        field('memoryMiB'),
        `${memory} MiB is below kubeadm's minimum of ${CONTROL_PLANE_MIN_MEMORY_MIB} MiB for a control plane; set memoryMiB: 2048 or more (the lab uses 4096)`,
      );
  } else if (memory < NODE_MIN_MEMORY_MIB) {
    add(
      field('memoryMiB'),
      `${memory} MiB is too little for kubelet, containerd and the CNI; set memoryMiB: ${NODE_MIN_MEMORY_MIB} or more`,
    );
  }
  if (disk < NODE_MIN_DISK_GIB) {
    add(
      field('diskGiB'),
      `${disk} GiB is too small: the Ubuntu cloud image's disk is already ${CLOUD_IMAGE_DISK_GIB} GiB and a clone can only grow; with the Kubernetes images it needs at least ${NODE_MIN_DISK_GIB} GiB`,
    );
  }
}

/** Exactly one control plane; a single-node cluster must let pods run on it. */
function checkRoles(nodeCount: number, k8s: Raw, controlPlanes: number[], add: Add): void {
  if (nodeCount > 0 && controlPlanes.length === 0) {
    add(
      'nodes',
      'no node has role "control-plane"; mark exactly one node (e.g. k8s-master) as role: control-plane',
    );
  } else if (controlPlanes.length > 1) {
    add(
      `nodes[${controlPlanes[1]}].role`,
      `a second control plane (nodes[${controlPlanes.join('], nodes[')}]); kubestation builds exactly one control plane for now (HA control planes come later): make the others role: worker`,
    );
  }
  if (nodeCount === 1 && controlPlanes.length === 1 && k8s.controlPlaneTaint !== false) {
    add(
      'kubernetes.controlPlaneTaint',
      'a single-node cluster with the control-plane taint has nowhere to run pods; add a worker or set kubernetes.controlPlaneTaint: false',
    );
  }
}

/** Time zone, locale, NTP and DNS servers. */
function checkOs(os: Raw, add: Add): void {
  if (typeof os.timezone === 'string' && !isKnownTimeZone(os.timezone)) {
    add(
      'os.timezone',
      `${showValue(os.timezone)} is not an IANA time zone; use a name like "Asia/Seoul" or "UTC" (see timedatectl list-timezones)`,
    );
  }
  if (typeof os.locale === 'string' && !localeRe.test(os.locale)) {
    const fixed = /^([a-z]{2,3})_([a-z]{2})\.utf-?8$/i.exec(os.locale);
    const suggestion = fixed ? `${fixed[1]!.toLowerCase()}_${fixed[2]!.toUpperCase()}.UTF-8` : 'ko_KR.UTF-8';
    add(
      'os.locale',
      `${showValue(os.locale)} is not a UTF-8 locale name of the form language_TERRITORY.UTF-8; use ${JSON.stringify(suggestion)}`,
    );
  }
  if (Array.isArray(os.ntpServers)) {
    os.ntpServers.forEach((server, i) => {
      if (typeof server === 'string' && !(net.isIP(server) || hostnameRe.test(server))) {
        add(
          `os.ntpServers[${i}]`,
          `${showValue(server)} is neither a host name nor an IP address; use e.g. "time.ravnus.com"`,
        );
      }
    });
  }
  if (Array.isArray(os.dnsServers)) {
    os.dnsServers.forEach((server, i) => {
      if (typeof server === 'string' && net.isIP(server) === 0) {
        add(
          `os.dnsServers[${i}]`,
          `${showValue(server)} is not an IP address; resolvers must be addresses such as "8.8.8.8" or "8.8.4.4"`,
        );
      }
    });
  }
}

/** A supported Kubernetes minor (and a package repository of the same minor), an API server port of its own. */
function checkKubernetesVersionAndPort(k8s: Raw, add: Add): void {
  if (typeof k8s.version === 'string') {
    const version = splitKubernetesVersion(k8s.version);
    if (!version) {
      add(
        'kubernetes.version',
        `${showValue(k8s.version)} is not a Kubernetes version; write the minor ("${DEFAULT_KUBERNETES_MINOR}") or an exact release ("${DEFAULT_KUBERNETES_MINOR}.2")`,
      );
    } else if (!(SUPPORTED_KUBERNETES_MINORS as readonly string[]).includes(version.minor)) {
      add(
        'kubernetes.version',
        `${showValue(k8s.version)} is not a supported minor; kubestation writes kubeadm's v1beta4 configuration, which needs ${SUPPORTED_KUBERNETES_MINORS[0]}–${SUPPORTED_KUBERNETES_MINORS.at(-1)}: use one of ${SUPPORTED_KUBERNETES_MINORS.join(', ')}`,
      );
    } else if (typeof k8s.packageRepository === 'string') {
      const repoMinor = /\/v(\d+\.\d+)\//.exec(k8s.packageRepository)?.[1];
      if (repoMinor && repoMinor !== version.minor) {
        add(
          'kubernetes.packageRepository',
          `points at the v${repoMinor} repository but kubernetes.version is ${version.minor}; each minor has its own repository, so use .../v${version.minor}/deb/ or remove the key`,
        );
      }
    }
  }
  const port = int(k8s.apiServerPort) ?? DEFAULT_API_SERVER_PORT;
  if (reservedPorts[port])
    add('kubernetes.apiServerPort', `${port} is the ${reservedPorts[port]} port; use 6443`);
}

interface AddressRange {
  start: string;
  end: string;
}

const rangeText = (r: AddressRange): string => `${r.start}–${r.end}`;
const overlaps = (a: AddressRange, b: AddressRange): boolean =>
  ipToInt(a.start) <= ipToInt(b.end) && ipToInt(b.start) <= ipToInt(a.end);

/** The LoadBalancer pool (cluster.yaml's, else the default) when the add-on is on and the pool is sound: both ends in the subnet, in order. */
function soundPool(doc: Raw, hostOnly: Ipv4Subnet): AddressRange | undefined {
  const lb = obj(obj(doc.addons)?.loadBalancer);
  if (lb?.enabled === false) return undefined;
  const raw = obj(lb?.pool);
  const start = raw ? ip(raw.start) : defaultLoadBalancerPool(hostOnly).start;
  const end = raw ? ip(raw.end) : defaultLoadBalancerPool(hostOnly).end;
  if (!start || !end || !subnetContains(hostOnly, start) || !subnetContains(hostOnly, end)) return undefined;
  return ipToInt(start) <= ipToInt(end) ? { start, end } : undefined;
}

/**
 * A block of `size` host addresses of the subnet clear of `taken` and `busy`, for a fix to suggest: the
 * default pool (.64–.95) when it is clear, else the highest clear block.
 */
function freePool(
  s: Ipv4Subnet,
  taken: string[],
  busy: AddressRange[],
  size: number,
): AddressRange | undefined {
  const low = ipToInt(s.network) + 1;
  const high = ipToInt(s.broadcast) - 1;
  const clear = (a: number): boolean =>
    a >= low &&
    a + size - 1 <= high &&
    !taken.some((t) => ipToInt(t) >= a && ipToInt(t) <= a + size - 1) &&
    !busy.some((r) => overlaps(r, { start: intToIp(a), end: intToIp(a + size - 1) }));
  const block = (a: number): AddressRange => ({ start: intToIp(a), end: intToIp(a + size - 1) });
  const preferred = ipToInt(defaultLoadBalancerPool(s).start);
  if (clear(preferred)) return block(preferred);
  for (let a = high - size + 1, tries = 0; a >= low && tries < 65536; a--, tries++)
    if (clear(a)) return block(a);
  return undefined;
}

/** addons: the LoadBalancer pool against the host-only network, the Gateway against the pool, each add-on against the Kubernetes minor. */
function checkAddons(doc: Raw, networks: HostNetworks, add: Add): void {
  const addons = obj(doc.addons) ?? {};
  const loadBalancer = obj(addons.loadBalancer) ?? {};
  const loadBalancerOn = loadBalancer.enabled !== false;
  if (loadBalancerOn && networks.hostOnly) checkPool(doc, loadBalancer, networks, networks.hostOnly, add);
  checkGateway(obj(addons.gateway) ?? {}, loadBalancerOn, networks.pool, add);
  checkAddonKubernetes(doc, addons, add);
}

/** What the pool must stay clear of: the host, every node's host-only address, every DHCP range on the subnet. */
interface PoolNeighbours {
  host: string | undefined;
  nodes: Array<{ label: string; address: string | undefined }>;
  dhcpRanges: Array<{ range: AddressRange; field: string; label: string }>;
}

function poolNeighbours(doc: Raw, networks: HostNetworks, s: Ipv4Subnet): PoolNeighbours {
  const nodes = (Array.isArray(doc.nodes) ? doc.nodes.map(obj) : []).map((node, i) => ({
    label: typeof node?.name === 'string' ? `node ${showValue(node.name)} (nodes[${i}])` : `nodes[${i}]`,
    address: ip(node?.hostOnlyAddress),
  }));
  const dhcpRanges: PoolNeighbours['dhcpRanges'] = [];
  if (networks.hostOnlyDhcp)
    dhcpRanges.push({
      range: networks.hostOnlyDhcp,
      field: 'networks.hostOnly.dhcpRange',
      label: 'host-only DHCP range',
    });
  // The NAT range can only sit on the host-only subnet when it is outside its own (refused above too).
  if (networks.dhcp && subnetContains(s, networks.dhcp.start))
    dhcpRanges.push({ range: networks.dhcp, field: 'networks.nat.dhcpRange', label: 'NAT DHCP range' });
  return { host: networks.hostOnlyHost, nodes, dhcpRanges };
}

/** The fix every pool problem ends with: a free block of the pool's size (at most 32), or smaller if none is free. */
function poolFix(s: Ipv4Subnet, start: string, end: string, around: PoolNeighbours): string {
  const where = 'addons.loadBalancer.pool';
  const inSubnet = subnetContains(s, start) && subnetContains(s, end);
  const size = Math.min(32, Math.max(1, inSubnet ? ipToInt(end) - ipToInt(start) + 1 : 32));
  const taken = [around.host, ...around.nodes.map((n) => n.address)].filter(
    (a): a is string => a !== undefined,
  );
  const busy = around.dhcpRanges.map((d) => d.range);
  for (let n = size; n >= 1; n = Math.floor(n / 2)) {
    const free = freePool(s, taken, busy, n);
    if (free)
      return `set ${where} to free addresses of ${s.cidr}, e.g. start: ${free.start}, end: ${free.end}`;
  }
  return `make room in ${s.cidr} (move the nodes or shrink the DHCP range) and set ${where} there`;
}

/** The pool: inside the host-only subnet, in order, clear of the host, every node and every DHCP range. */
function checkPool(doc: Raw, loadBalancer: Raw, networks: HostNetworks, s: Ipv4Subnet, add: Add): void {
  const raw = obj(loadBalancer.pool);
  const where = 'addons.loadBalancer.pool';
  const start = raw ? ip(raw.start) : defaultLoadBalancerPool(s).start;
  const end = raw ? ip(raw.end) : defaultLoadBalancerPool(s).end;
  if (!start || !end) return; // the shape check reports a malformed address
  const around = poolNeighbours(doc, networks, s);
  const fix = poolFix(s, start, end, around);
  const whyInSubnet = `MetalLB announces the pool on ens37, the host-only NIC, so only addresses of that subnet reach Windows: ${fix}`;
  /** Why an address cannot be in the pool ("outside", "the network address of"), or undefined when it can. */
  const offSubnet = (address: string): string | undefined =>
    !subnetContains(s, address)
      ? 'outside'
      : address === s.network || address === s.broadcast
        ? `the ${address === s.network ? 'network' : 'broadcast'} address of`
        : undefined;

  if (!raw) {
    if (offSubnet(start) || offSubnet(end)) {
      add(
        where,
        `the default pool ${start}–${end} (.64–.95 of the host-only subnet) does not fit in the host-only subnet ${s.cidr} (networks.hostOnly.subnet); ${whyInSubnet}`,
      );
      return;
    }
  } else {
    const offEnds = (['start', 'end'] as const).filter((key) => offSubnet(key === 'start' ? start : end));
    for (const key of offEnds) {
      const address = key === 'start' ? start : end;
      add(
        `${where}.${key}`,
        `${address} is ${offSubnet(address)} the host-only subnet ${s.cidr} (networks.hostOnly.subnet); ${whyInSubnet}`,
      );
    }
    if (offEnds.length > 0) return;
  }
  if (ipToInt(start) > ipToInt(end)) {
    add(where, `start ${start} is after end ${end}; swap them: start: ${end}, end: ${start}`);
    return;
  }
  const pool = { start, end };
  const shown = `${rangeText(pool)}${raw ? '' : ' (the default pool, .64–.95 of the host-only subnet)'}`;
  if (around.host && inRange(around.host, start, end))
    add(
      where,
      `${shown} holds the Windows host's address ${around.host} (networks.hostOnly.hostAddress); a Service given it would cut Windows off the lab: ${fix}`,
    );
  for (const node of around.nodes)
    if (node.address && inRange(node.address, start, end))
      add(
        where,
        `${shown} holds ${node.label}'s host-only address ${node.address}; MetalLB could give it to a Service and both would answer for it: ${fix}, or give the node an address outside the pool`,
      );
  for (const dhcp of around.dhcpRanges)
    if (overlaps(pool, dhcp.range))
      add(
        where,
        `${shown} overlaps the ${dhcp.label} ${rangeText(dhcp.range)} (${dhcp.field}), so VMware could lease one of its addresses to a VM: ${fix}`,
      );
}

/** The Gateway takes its address from MetalLB: the load balancer must be on and the address in its pool. */
function checkGateway(gateway: Raw, loadBalancerOn: boolean, pool: AddressRange | undefined, add: Add): void {
  if (gateway.enabled === false) return;
  if (!loadBalancerOn) {
    add(
      'addons.gateway.enabled',
      'the Gateway is on but addons.loadBalancer.enabled is false, and the Gateway takes its address from the LoadBalancer pool; set addons.loadBalancer.enabled: true, or addons.gateway.enabled: false',
    );
    return;
  }
  const address = ip(gateway.address);
  if (address && pool && !inRange(address, pool.start, pool.end))
    add(
      'addons.gateway.address',
      `${address} is outside the LoadBalancer pool ${rangeText(pool)} (addons.loadBalancer.pool), and MetalLB hands out pool addresses only; use one in the pool, e.g. ${pool.start}, or leave address out for the pool's first address`,
    );
}

const minorNumber = (minor: string): number => Number(minor.split('.')[1]);

/** Each add-on that is on supports the spec's Kubernetes minor, by its pinned release's own statement. */
function checkAddonKubernetes(doc: Raw, addons: Raw, add: Add): void {
  const k8s = obj(doc.kubernetes) ?? {};
  const written = typeof k8s.version === 'string' ? k8s.version : undefined;
  if (k8s.version !== undefined && written === undefined) return; // the shape check reports it
  const minor = splitKubernetesVersion(written ?? DEFAULT_KUBERNETES_MINOR)?.minor;
  if (!minor || !(SUPPORTED_KUBERNETES_MINORS as readonly string[]).includes(minor)) return; // reported above
  for (const release of ADDONS) {
    if (obj(addons[release.name])?.enabled === false) continue;
    const { min, max } = release.kubernetes;
    const supports = (m: string) => minorNumber(m) >= minorNumber(min) && minorNumber(m) <= minorNumber(max);
    if (supports(minor)) continue;
    const choices = SUPPORTED_KUBERNETES_MINORS.filter(supports).map((m) => `"${m}"`);
    add(
      `addons.${release.name}.enabled`,
      `${release.component} ${release.version}, the release kubestation pins, supports Kubernetes ${min}–${max}, but kubernetes.version is "${written ?? DEFAULT_KUBERNETES_MINOR}"${written && written !== minor ? ` (${minor})` : ''}; set addons.${release.name}.enabled: false, or kubernetes.version to a minor it supports${choices.length ? ` (${choices.join(', ')})` : ''}`,
    );
  }
}

function checkVmware(vmware: Raw, add: Add): void {
  const installFolder = vmware.installFolder;
  if (typeof installFolder === 'string' && installFolder.length > 0 && !isAbsoluteAnywhere(installFolder)) {
    add(
      'vmware.installFolder',
      `${showValue(installFolder)} is not an absolute path; write the full folder, e.g. C:\\Program Files (x86)\\VMware\\VMware Workstation`,
    );
  }
  const vmrestUrl =
    typeof vmware.vmrestUrl === 'string' && URL.canParse(vmware.vmrestUrl) ? vmware.vmrestUrl : '';
  const clearText = vmrestUrl ? clearTextVmrestUrlProblem(new URL(vmrestUrl)) : undefined;
  if (clearText) add('vmware.vmrestUrl', `${clearText.message}; ${clearText.fix}`);
}
