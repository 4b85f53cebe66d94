/**
 * Turns a structurally valid cluster.yaml into the resolved ClusterSpec:
 * defaults filled in and derived values (MACs, API endpoint, role lists)
 * computed. Pure: the caller supplies the file's location.
 */
import path from 'node:path';
import {
  CNI_DEFAULTS,
  DEFAULT_API_SERVER_PORT,
  DEFAULT_BOOTSTRAP_TOKEN_TTL,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_HARDWARE,
  DEFAULT_KUBERNETES_MINOR,
  DEFAULT_OS,
  DEFAULT_POD_SUBNET,
  DEFAULT_SERVICE_SUBNET,
  DEFAULT_STATE_DIR,
  DEFAULT_CONTAINERD_PACKAGE_KEY_URL,
  DEFAULT_CONTAINERD_PACKAGE_SOURCE,
  DEFAULT_VMWARE,
  NIC_LAYOUT,
  REQUIRED_KERNEL_MODULES,
  REQUIRED_SYSCTL,
  defaultHostOnlyDhcpRange,
  defaultLoadBalancerPool,
  kubernetesPackageRepository,
} from './defaults.js';
import { parseSubnet } from './ipv4.js';
import { deriveMac } from './mac.js';
import type { AddonsSpec, ClusterSpec, Ipv4Subnet, NicSpec, NodeSpec } from './model.js';
import type { ClusterFile } from './schema.js';

export interface ResolveOptions {
  /** Absolute path of cluster.yaml; relative paths in it (stateDir) are resolved against its folder. */
  sourcePath: string | undefined;
  /** Folder used when there is no source file. */
  cwd: string;
  /** path.win32 or path.posix; the host's by default. */
  pathApi?: path.PlatformPath;
}

/** "1.37" → { minor: "1.37", patch: undefined }; "v1.37.2" → { minor: "1.37", patch: "1.37.2" }. */
export function splitKubernetesVersion(
  version: string,
): { minor: string; patch: string | undefined } | undefined {
  const match = /^v?(\d+)\.(\d+)(?:\.(\d+))?$/.exec(version);
  if (!match) return undefined;
  const minor = `${Number(match[1])}.${Number(match[2])}`;
  return { minor, patch: match[3] === undefined ? undefined : `${minor}.${Number(match[3])}` };
}

/** The add-ons with their defaults: each enabled, the pool .64–.95 of the host-only subnet, the Gateway on its first address. */
export function resolveAddons(addons: ClusterFile['addons'], hostOnlySubnet: Ipv4Subnet): AddonsSpec {
  const pool = { ...(addons?.loadBalancer?.pool ?? defaultLoadBalancerPool(hostOnlySubnet)) };
  return {
    loadBalancer: { enabled: addons?.loadBalancer?.enabled ?? true, pool },
    storage: { enabled: addons?.storage?.enabled ?? true },
    metrics: { enabled: addons?.metrics?.enabled ?? true },
    gateway: { enabled: addons?.gateway?.enabled ?? true, address: addons?.gateway?.address ?? pool.start },
  };
}

function unique<T>(items: Iterable<T>): T[] {
  return [...new Set(items)];
}

export function resolveClusterSpec(file: ClusterFile, options: ResolveOptions): ClusterSpec {
  const p = options.pathApi ?? path;
  const baseDir = options.sourcePath ? p.dirname(options.sourcePath) : options.cwd;
  const natSubnet = parseSubnet(file.networks.nat.subnet);
  const hostOnlySubnet = parseSubnet(file.networks.hostOnly.subnet);
  const nat = {
    kind: 'nat' as const,
    vmnet: file.networks.nat.vmnet ?? 'vmnet8',
    subnet: natSubnet,
    gateway: file.networks.nat.gateway,
    hostAddress: file.networks.nat.hostAddress,
    dhcpRange: { ...file.networks.nat.dhcpRange },
  };
  const hostOnly = {
    kind: 'hostonly' as const,
    vmnet: file.networks.hostOnly.vmnet ?? 'vmnet1',
    subnet: hostOnlySubnet,
    hostAddress: file.networks.hostOnly.hostAddress,
    dhcpRange: { ...(file.networks.hostOnly.dhcpRange ?? defaultHostOnlyDhcpRange(hostOnlySubnet)) },
  };

  const nodes: NodeSpec[] = file.nodes.map((node) => {
    const nic = (network: 'nat' | 'hostOnly', address: string): NicSpec => ({
      network,
      ...NIC_LAYOUT[network],
      vmnet: network === 'nat' ? nat.vmnet : hostOnly.vmnet,
      address,
      prefix: network === 'nat' ? natSubnet.prefix : hostOnlySubnet.prefix,
      mac: deriveMac(file.name, node.name, NIC_LAYOUT[network].guestName),
    });
    return {
      name: node.name,
      role: node.role,
      cpus: node.cpus ?? file.nodeDefaults?.cpus ?? DEFAULT_HARDWARE.cpus,
      memoryMiB: node.memoryMiB ?? file.nodeDefaults?.memoryMiB ?? DEFAULT_HARDWARE.memoryMiB,
      diskGiB: node.diskGiB ?? file.nodeDefaults?.diskGiB ?? DEFAULT_HARDWARE.diskGiB,
      nics: { nat: nic('nat', node.natAddress), hostOnly: nic('hostOnly', node.hostOnlyAddress) },
    };
  });
  // Semantic validation guarantees exactly one control plane before anything uses the spec.
  const controlPlane = nodes.find((n) => n.role === 'control-plane') ?? nodes[0]!;

  const k = file.kubernetes ?? {};
  const version = splitKubernetesVersion(k.version ?? DEFAULT_KUBERNETES_MINOR) ?? {
    minor: DEFAULT_KUBERNETES_MINOR,
    patch: undefined,
  };
  const cniName = k.cni?.name ?? 'flannel';
  const cniVersion = k.cni?.version ?? CNI_DEFAULTS[cniName].version;
  const apiServerPort = k.apiServerPort ?? DEFAULT_API_SERVER_PORT;
  const packageRepository = k.packageRepository ?? kubernetesPackageRepository(version.minor);
  const os = file.os ?? {};
  const template = file.vmware?.template ?? {};

  return {
    name: file.name,
    sourcePath: options.sourcePath,
    stateDir: p.resolve(baseDir, file.stateDir ?? DEFAULT_STATE_DIR),
    networks: { nat, hostOnly },
    nodes,
    controlPlane,
    workers: nodes.filter((n) => n.role === 'worker'),
    os: {
      release: '24.04',
      user: {
        name: os.user?.name ?? DEFAULT_OS.userName,
        sshAuthorizedKeys: os.user?.sshAuthorizedKeys ?? [],
        ...(os.user?.passwordHash ? { passwordHash: os.user.passwordHash } : {}),
      },
      timezone: os.timezone ?? DEFAULT_OS.timezone,
      locale: os.locale ?? DEFAULT_OS.locale,
      ntpServers: os.ntpServers ?? [...DEFAULT_OS.ntpServers],
      dnsServers: os.dnsServers ?? [...DEFAULT_OS.dnsServers],
      swap: false,
      kernelModules: unique([...REQUIRED_KERNEL_MODULES, ...(os.kernelModules ?? [])]),
      sysctl: { ...REQUIRED_SYSCTL, ...(os.sysctl ?? {}) },
    },
    kubernetes: {
      minor: version.minor,
      patch: version.patch,
      podSubnet: parseSubnet(k.podSubnet ?? DEFAULT_POD_SUBNET),
      serviceSubnet: parseSubnet(k.serviceSubnet ?? DEFAULT_SERVICE_SUBNET),
      apiServerPort,
      apiEndpoint: `${controlPlane.nics.hostOnly.address}:${apiServerPort}`,
      dnsDomain: k.dnsDomain ?? DEFAULT_DNS_DOMAIN,
      cni: {
        name: cniName,
        version: cniVersion,
        manifestUrls: k.cni?.manifestUrls ?? CNI_DEFAULTS[cniName].manifestUrls(cniVersion),
      },
      packageRepository,
      packageRepositoryKeyUrl:
        k.packageRepositoryKeyUrl ?? `${packageRepository.replace(/\/?$/, '/')}Release.key`,
      containerdPackageSource: k.containerRuntime?.packageRepository ?? DEFAULT_CONTAINERD_PACKAGE_SOURCE,
      containerdPackageKeyUrl:
        k.containerRuntime?.packageRepositoryKeyUrl ?? DEFAULT_CONTAINERD_PACKAGE_KEY_URL,
      bootstrapTokenTtl: k.bootstrapTokenTtl ?? DEFAULT_BOOTSTRAP_TOKEN_TTL,
      controlPlaneTaint: k.controlPlaneTaint ?? true,
    },
    firewall: { enabled: file.firewall?.enabled ?? true },
    vmware: {
      vmrestUrl: file.vmware?.vmrestUrl ?? DEFAULT_VMWARE.vmrestUrl,
      template: {
        name: template.name ?? DEFAULT_VMWARE.templateName,
        imageUrl: template.imageUrl ?? DEFAULT_VMWARE.imageUrl,
        checksumsUrl: template.checksumsUrl ?? DEFAULT_VMWARE.checksumsUrl,
      },
      installFolder: file.vmware?.installFolder,
      concurrency: file.vmware?.concurrency ?? DEFAULT_VMWARE.concurrency,
      cloneMode: file.vmware?.cloneMode ?? DEFAULT_VMWARE.cloneMode,
      cloneModeExplicit: file.vmware?.cloneMode !== undefined,
    },
    addons: resolveAddons(file.addons, hostOnlySubnet),
  };
}
