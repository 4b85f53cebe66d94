/**
 * The resolved cluster spec: what every other module consumes. It is built
 * from cluster.yaml by load.ts (parse → schema check → defaults → derived
 * values → semantic checks). Nothing here is optional-by-accident: defaults
 * are filled in, and derived values (MACs, API endpoint, node lists by role)
 * are computed, never typed by the user.
 */

export type NodeRole = 'control-plane' | 'worker';
export type CniName = 'flannel' | 'calico';

export interface Ipv4Subnet {
  /** As written, e.g. "192.168.5.0/24". */
  cidr: string;
  /** Network address, e.g. "192.168.5.0". */
  network: string;
  prefix: number;
  /** Dotted mask, e.g. "255.255.255.0" (the form vmrest's GET /vmnet reports). */
  mask: string;
  broadcast: string;
}

export interface NatNetworkSpec {
  kind: 'nat';
  /** Workstation virtual network name, e.g. "vmnet8". */
  vmnet: string;
  subnet: Ipv4Subnet;
  /** VMware NAT gateway, ".2" by VMware convention. */
  gateway: string;
  /** The Windows host's own address on the network, ".1". */
  hostAddress: string;
  dhcpRange: { start: string; end: string };
}

export interface HostOnlyNetworkSpec {
  kind: 'hostonly';
  vmnet: string;
  subnet: Ipv4Subnet;
  hostAddress: string;
  /** VMware DHCP range on the network (Workstation's default: .128–.254); static addresses and the pool stay outside it. */
  dhcpRange: { start: string; end: string };
}

export interface NicSpec {
  /** Which host network the NIC sits on. */
  network: 'nat' | 'hostOnly';
  /** Guest interface name set by network-config (matched by MAC): "ens33" / "ens37". */
  guestName: string;
  /** .vmx adapter index: ethernet0 (NAT), ethernet1 (host-only). */
  vmxIndex: number;
  /** Pinned PCI slot; Ubuntu's slot naming turns 33 into ens33. */
  pciSlot: number;
  vmnet: string;
  address: string;
  prefix: number;
  /** Static MAC in VMware's range 00:50:56:00:00:00–00:50:56:3F:FF:FF, lower case. */
  mac: string;
}

export interface NodeSpec {
  name: string;
  role: NodeRole;
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  nics: { nat: NicSpec; hostOnly: NicSpec };
}

export interface UserSpec {
  name: string;
  /** Public keys from cluster.yaml; empty means "generate one in the state folder". */
  sshAuthorizedKeys: string[];
  /** Optional console password, already hashed (crypt(3) SHA-512 "$6$..."). */
  passwordHash?: string;
}

export interface OsSpec {
  /** Ubuntu Server release; only "24.04" for now. */
  release: '24.04';
  user: UserSpec;
  timezone: string;
  locale: string;
  ntpServers: string[];
  dnsServers: string[];
  /** Always false: kubelet requires swap off. */
  swap: false;
  kernelModules: string[];
  /** Kernel parameters persisted in /etc/sysctl.d. */
  sysctl: Record<string, string>;
}

export interface CniSpec {
  name: CniName;
  /** Pinned release, e.g. "v0.28.9" (flannel) or "v3.32.1" (calico). */
  version: string;
  /** Manifest URLs the control plane applies (configurable so tests can serve them locally). */
  manifestUrls: string[];
}

export interface KubernetesSpec {
  /** Minor version, e.g. "1.37". */
  minor: string;
  /** Exact version when pinned (e.g. "1.37.2"), otherwise undefined = newest patch of the minor. */
  patch: string | undefined;
  podSubnet: Ipv4Subnet;
  serviceSubnet: Ipv4Subnet;
  apiServerPort: number;
  /** "<control plane host-only address>:<port>", e.g. "172.100.100.2:6443". */
  apiEndpoint: string;
  dnsDomain: string;
  cni: CniSpec;
  /** Base of the per-minor apt repository, e.g. "https://pkgs.k8s.io/core:/stable:/v1.37/deb/". */
  packageRepository: string;
  /** URL of the repository's signing key (armoured); the node fetches it with curl at first boot, so seeds are made offline. */
  packageRepositoryKeyUrl: string;
  /** containerd 2.x source for Kubernetes 1.36+ when the archive has only 1.x: apt source "URI suite components", and its key URL. */
  containerdPackageSource: string;
  containerdPackageKeyUrl: string;
  /** Bootstrap token lifetime, kubeadm duration syntax, e.g. "720h". */
  bootstrapTokenTtl: string;
  /** Keep the NoSchedule taint on the control plane (kubeadm default). */
  controlPlaneTaint: boolean;
}

export interface FirewallSpec {
  enabled: boolean;
}

export interface TemplateSpec {
  /** Name of the template VM in Workstation's library. */
  name: string;
  /** Ubuntu cloud image (.ova) to build it from. */
  imageUrl: string;
  /** SHA256SUMS published beside the image. */
  checksumsUrl: string;
}

export interface VmwareSpec {
  vmrestUrl: string;
  template: TemplateSpec;
  /** Workstation install folder (vmware-vdiskmanager, vmrest); undefined = search the usual places. */
  installFolder: string | undefined;
  /** How many nodes are cloned and configured at once. */
  concurrency: number;
  /** linked: vmrun clone from a snapshot of the template (default); full: vmrest POST /vms. */
  cloneMode: CloneMode;
  /** Whether cluster.yaml names cloneMode itself (linked asked for explicitly stops when vmrun is missing). */
  cloneModeExplicit: boolean;
}

export type CloneMode = 'linked' | 'full';

/** The lab services applied after the CNI (issue 23); each on unless cluster.yaml turns it off. */
export interface AddonsSpec {
  /** MetalLB in L2 mode: LoadBalancer addresses from `pool`, announced on the host-only NIC (ens37) only. */
  loadBalancer: { enabled: boolean; pool: { start: string; end: string } };
  /** Rancher local-path-provisioner as the default StorageClass. */
  storage: { enabled: boolean };
  /** metrics-server, with kubelet serving certificates signed by the cluster (serverTLSBootstrap). */
  metrics: { enabled: boolean };
  /** NGINX Gateway Fabric. address: in the pool; default the pool's first address. */
  gateway: { enabled: boolean; address: string };
}

export interface ClusterSpec {
  /** Cluster name; also seeds the MACs and the ownership marker. */
  name: string;
  /** Absolute path of the cluster.yaml this came from (undefined when built in memory). */
  sourcePath: string | undefined;
  /** Absolute path of the state folder (PKI, seeds, logs, kubeconfig). */
  stateDir: string;
  networks: { nat: NatNetworkSpec; hostOnly: HostOnlyNetworkSpec };
  nodes: NodeSpec[];
  controlPlane: NodeSpec;
  workers: NodeSpec[];
  os: OsSpec;
  kubernetes: KubernetesSpec;
  firewall: FirewallSpec;
  vmware: VmwareSpec;
  addons: AddonsSpec;
}
