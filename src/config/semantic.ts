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
function freeRange(s: Ipv4Subnet, reserved: Array<string | undefined>, dhcpStart?: string): string {
  const taken = new Set(reserved.filter((a): a is string => a !== undefined).map(ipToInt));
  let low = ipToInt(s.network) + 1;
  while (taken.has(low)) low++;
  const limit = dhcpStart && subnetContains(s, dhcpStart) ? ipToInt(dhcpStart) : ipToInt(s.broadcast);
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
  const hostOnlyFree = hostOnly ? freeRange(hostOnly, [hostOnlyHost]) : '';
  if (dhcp && gateway && inRange(gateway, dhcp.start, dhcp.end))
    add('networks.nat.gateway', `${gateway} lies inside the DHCP range ${dhcp.start}–${dhcp.end}`);
  return { nat, hostOnly, gateway, natHost, hostOnlyHost, dhcp, natFree, hostOnlyFree };
}

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
  { nat, hostOnly, gateway, natHost, hostOnlyHost, dhcp, natFree, hostOnlyFree }: HostNetworks,
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
