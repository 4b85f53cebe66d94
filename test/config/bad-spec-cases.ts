/**
 * Bad cluster specs, each a change to the seed lab, and the exact problems
 * the validator must report for it (field path: message).
 */
import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

type Doc = Record<string, any>;

export const seedLabText = readFileSync(new URL('../../cluster.yaml', import.meta.url), 'utf8');
export const seedLab = (): Doc => yaml.load(seedLabText, { schema: yaml.CORE_SCHEMA }) as Doc;

export interface BadSpecCase {
  name: string;
  /** Either a change to the seed lab or a whole text. */
  change?: (doc: Doc) => void;
  text?: string;
  problems: string[];
}

export const badSpecCases: BadSpecCase[] = [
  {
    name: 'typo at top level',
    change: (d) => {
      d.nodez = d.nodes;
      delete d.nodes;
    },
    problems: [
      'nodes: is required but missing (The VMs.)',
      'nodez: unknown key "nodez" (did you mean "nodes"?); valid keys here: apiVersion, kind, name, stateDir, networks, nodeDefaults, nodes, os, kubernetes, firewall, vmware, addons',
    ],
  },
  {
    name: 'typo in a node',
    change: (d) => {
      d.nodes[0].hostOnlyAdress = d.nodes[0].hostOnlyAddress;
      delete d.nodes[0].hostOnlyAddress;
    },
    problems: [
      'nodes[0].hostOnlyAddress: is required but missing (Static address on the host-only network (ens37); kubelet node-ip and, on the control plane, the API server address.)',
      'nodes[0].hostOnlyAdress: unknown key "hostOnlyAdress" (did you mean "hostOnlyAddress"?); valid keys here: name, role, natAddress, hostOnlyAddress, cpus, memoryMiB, diskGiB',
    ],
  },
  {
    name: 'typo with wrong case',
    change: (d) => {
      d.networks.nat.DhcpRange = d.networks.nat.dhcpRange;
      delete d.networks.nat.dhcpRange;
    },
    problems: [
      'networks.nat.dhcpRange: is required but missing (VMware DHCP range; static node addresses must stay outside it.)',
      'networks.nat.DhcpRange: unknown key "DhcpRange" (did you mean "dhcpRange"?); valid keys here: vmnet, subnet, gateway, hostAddress, dhcpRange',
    ],
  },
  {
    name: 'unknown key far from any',
    change: (d) => {
      d.kubernetes.featureFlags = { x: true };
    },
    problems: [
      'kubernetes.featureFlags: unknown key "featureFlags"; valid keys here: version, podSubnet, serviceSubnet, apiServerPort, dnsDomain, containerRuntime, cni, packageRepository, packageRepositoryKeyUrl, bootstrapTokenTtl, controlPlaneTaint',
    ],
  },
  {
    name: 'wrong apiVersion',
    change: (d) => {
      d.apiVersion = 'v1';
    },
    problems: [
      'apiVersion: "v1" is not allowed; the only valid value is "kubestation/v1" (Spec format version.)',
    ],
  },
  {
    name: 'missing networks',
    change: (d) => {
      delete d.networks;
    },
    problems: ['networks: is required but missing (Workstation virtual networks.)'],
  },
  {
    name: 'cpus as text',
    change: (d) => {
      d.nodeDefaults.cpus = 'two';
    },
    problems: ['nodeDefaults.cpus: "two" is a string; expected a whole number'],
  },
  {
    name: 'version as a number',
    change: (d) => {
      d.kubernetes.version = 1.3;
    },
    problems: [
      'kubernetes.version: 1.3 is a number; expected a version in quotes such as "1.37" or "1.37.2" (put it in quotes so YAML keeps it as text)',
    ],
  },
  {
    name: 'nodes not a list',
    change: (d) => {
      d.nodes = { name: 'k8s-master' };
    },
    problems: ['nodes: is a mapping; expected a list'],
  },
  {
    name: 'unknown role',
    change: (d) => {
      d.nodes[1].role = 'master';
    },
    problems: ['nodes[1].role: "master" is not one of: "control-plane", "worker"'],
  },
  {
    name: 'firewall enabled as text',
    change: (d) => {
      d.firewall.enabled = 'yes';
    },
    problems: ['firewall.enabled: "yes" is a string; expected true or false'],
  },
  {
    name: 'swap turned on',
    change: (d) => {
      d.os.swap = true;
    },
    problems: [
      'os.swap: true is not allowed; the only valid value is false (Swap stays disabled: kubelet requires it.)',
    ],
  },
  {
    name: 'systemd cgroup off',
    change: (d) => {
      d.kubernetes.containerRuntime.systemdCgroup = false;
    },
    problems: [
      "kubernetes.containerRuntime.systemdCgroup: false is not allowed; the only valid value is true (containerd SystemdCgroup; must match kubelet's systemd cgroup driver.)",
    ],
  },
  {
    name: 'weave as CNI',
    change: (d) => {
      d.kubernetes.cni.name = 'weave';
    },
    problems: [
      'kubernetes.cni.name: "weave" is not supported: Weave Net is archived (Weaveworks shut down in 2024 and nobody maintains it for current Kubernetes). Choose one of: "flannel", "calico"',
    ],
  },
  {
    name: 'unknown CNI',
    change: (d) => {
      d.kubernetes.cni.name = 'cilium';
    },
    problems: ['kubernetes.cni.name: "cilium" is not one of: "flannel", "calico"'],
  },
  {
    name: 'unknown clone mode',
    change: (d) => {
      d.vmware.cloneMode = 'instant';
    },
    problems: ['vmware.cloneMode: "instant" is not one of: "linked", "full"'],
  },
  {
    name: 'malformed address',
    change: (d) => {
      d.nodes[0].natAddress = '192.168.5.300';
    },
    problems: ['nodes[0].natAddress: "192.168.5.300" is not an IPv4 address such as 192.168.5.11'],
  },
  {
    name: 'NAT address outside subnet',
    change: (d) => {
      d.nodes[1].natAddress = '192.168.6.12';
    },
    problems: [
      'nodes[1].natAddress: 192.168.6.12 is outside the NAT subnet 192.168.5.0/24; use a free address in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'host-only address outside subnet',
    change: (d) => {
      d.nodes[2].hostOnlyAddress = '172.100.101.4';
    },
    problems: [
      'nodes[2].hostOnlyAddress: 172.100.101.4 is outside the host-only subnet 172.100.100.0/24; use a free address in 172.100.100.2–172.100.100.63',
    ],
  },
  {
    name: 'NAT address is the network address',
    change: (d) => {
      d.nodes[0].natAddress = '192.168.5.0';
    },
    problems: [
      'nodes[0].natAddress: 192.168.5.0 is the network address of 192.168.5.0/24; use a free address in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'NAT address is the broadcast address',
    change: (d) => {
      d.nodes[0].natAddress = '192.168.5.255';
    },
    problems: [
      'nodes[0].natAddress: 192.168.5.255 is the broadcast address of 192.168.5.0/24; use a free address in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'NAT address is the gateway',
    change: (d) => {
      d.nodes[2].natAddress = '192.168.5.2';
    },
    problems: [
      'nodes[2].natAddress: 192.168.5.2 is the NAT gateway; use a free address in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'NAT address is the host',
    change: (d) => {
      d.nodes[2].natAddress = '192.168.5.1';
    },
    problems: [
      "nodes[2].natAddress: 192.168.5.1 is the Windows host's address on the NAT network; use a free address in 192.168.5.3–192.168.5.200",
    ],
  },
  {
    name: 'host-only address is the host',
    change: (d) => {
      d.nodes[1].hostOnlyAddress = '172.100.100.1';
    },
    problems: [
      "nodes[1].hostOnlyAddress: 172.100.100.1 is the Windows host's address on the host-only network; use a free address in 172.100.100.2–172.100.100.63",
    ],
  },
  {
    name: 'NAT address inside the DHCP range',
    change: (d) => {
      d.nodes[1].natAddress = '192.168.5.201';
    },
    problems: [
      'nodes[1].natAddress: 192.168.5.201 is inside the DHCP range 192.168.5.201–192.168.5.254, so VMware could hand it to another VM; use a free address in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'duplicate NAT address',
    change: (d) => {
      d.nodes[2].natAddress = '192.168.5.12';
    },
    problems: [
      'nodes[2].natAddress: 192.168.5.12 is already used by node "k8s-worker1" (nodes[1]); give node "k8s-worker2" (nodes[2]) its own address, a free one in 192.168.5.3–192.168.5.200',
    ],
  },
  {
    name: 'duplicate host-only address',
    change: (d) => {
      d.nodes[2].hostOnlyAddress = '172.100.100.2';
    },
    problems: [
      'nodes[2].hostOnlyAddress: 172.100.100.2 is already used by node "k8s-master" (nodes[0]); give node "k8s-worker2" (nodes[2]) its own address, a free one in 172.100.100.2–172.100.100.63',
    ],
  },
  {
    name: 'gateway outside the NAT subnet',
    change: (d) => {
      d.networks.nat.gateway = '192.168.50.2';
    },
    problems: [
      'networks.nat.gateway: 192.168.50.2 is outside the NAT subnet 192.168.5.0/24; use an address in 192.168.5.1–192.168.5.254',
    ],
  },
  {
    name: 'gateway equals host address',
    change: (d) => {
      d.networks.nat.hostAddress = '192.168.5.2';
    },
    problems: [
      'networks.nat.hostAddress: 192.168.5.2 is also the gateway; VMware uses .1 for the host and .2 for the NAT gateway',
    ],
  },
  {
    name: 'subnet with host bits',
    change: (d) => {
      d.networks.nat.subnet = '192.168.5.1/24';
    },
    problems: [
      'networks.nat.subnet: "192.168.5.1/24" has host bits set; the network address is 192.168.5.0/24',
    ],
  },
  {
    name: 'DHCP range reversed',
    change: (d) => {
      d.networks.nat.dhcpRange = { start: '192.168.5.254', end: '192.168.5.201' };
    },
    problems: ['networks.nat.dhcpRange: start 192.168.5.254 is after end 192.168.5.201'],
  },
  {
    name: 'node networks overlap',
    change: (d) => {
      d.networks.hostOnly.subnet = '192.168.0.0/16';
      d.networks.hostOnly.hostAddress = '192.168.100.1';
      delete d.networks.hostOnly.dhcpRange;
      delete d.addons;
      d.nodes.forEach((n: Doc, i: number) => {
        n.hostOnlyAddress = `192.168.100.${i + 2}`;
      });
    },
    problems: [
      'networks.hostOnly.subnet: 192.168.0.0/16 overlaps the NAT network 192.168.5.0/24; the two VMware networks must be separate (e.g. 192.168.5.0/24 and 172.100.100.0/24)',
    ],
  },
  {
    name: 'same vmnet twice',
    change: (d) => {
      d.networks.hostOnly.vmnet = 'vmnet8';
    },
    problems: [
      'networks.hostOnly.vmnet: "vmnet8" is also the NAT network\'s vmnet; each NIC needs its own network (usually vmnet8 NAT, vmnet1 host-only)',
    ],
  },
  {
    name: 'pod and service CIDRs overlap',
    change: (d) => {
      d.kubernetes.serviceSubnet = '10.244.128.0/20';
    },
    problems: [
      'kubernetes.serviceSubnet: 10.244.128.0/20 overlaps the pod subnet 10.244.0.0/16; they must be disjoint (defaults: pods 10.244.0.0/16, services 10.96.0.0/12)',
    ],
  },
  {
    name: 'pod CIDR overlaps the NAT network',
    change: (d) => {
      d.kubernetes.podSubnet = '192.168.0.0/16';
    },
    problems: [
      'kubernetes.podSubnet: 192.168.0.0/16 overlaps the NAT network 192.168.5.0/24; pick a pod subnet outside the node networks',
    ],
  },
  {
    name: 'service CIDR overlaps the host-only network',
    change: (d) => {
      d.kubernetes.serviceSubnet = '172.100.0.0/16';
    },
    problems: [
      'kubernetes.serviceSubnet: 172.100.0.0/16 overlaps the host-only network 172.100.100.0/24; pick a service subnet outside the node networks',
    ],
  },
  {
    name: 'pod CIDR too small',
    change: (d) => {
      d.kubernetes.podSubnet = '10.244.0.0/25';
    },
    problems: [
      'kubernetes.podSubnet: 10.244.0.0/25 is too small: each node takes a /24 from it; use a /16 such as 10.244.0.0/16',
    ],
  },
  {
    name: 'invalid node name',
    change: (d) => {
      d.nodes[1].name = 'K8s_Worker1';
    },
    problems: [
      'nodes[1].name: "K8s_Worker1" is not a valid hostname (RFC 1123): use lower-case letters, digits and "-", at most 63 characters, starting and ending with a letter or digit, e.g. "k8s-worker3"',
    ],
  },
  {
    name: 'duplicate node names',
    change: (d) => {
      d.nodes[2].name = 'k8s-worker1';
    },
    problems: ['nodes[2].name: "k8s-worker1" is already used by nodes[1]; every node needs its own name'],
  },
  {
    name: 'no control plane',
    change: (d) => {
      d.nodes[0].role = 'worker';
    },
    problems: [
      'nodes: no node has role "control-plane"; mark exactly one node (e.g. k8s-master) as role: control-plane',
    ],
  },
  {
    name: 'two control planes',
    change: (d) => {
      d.nodes[1].role = 'control-plane';
    },
    problems: [
      'nodes[1].role: a second control plane (nodes[0], nodes[1]); kubestation builds exactly one control plane for now (HA control planes come later): make the others role: worker',
    ],
  },
  {
    name: 'control plane with one vCPU',
    change: (d) => {
      d.nodes[0].cpus = 1;
    },
    problems: [
      "nodes[0].cpus: 1 vCPU is below kubeadm's minimum of 2 for a control plane; set cpus: 2 or more",
    ],
  },
  {
    name: 'control plane below kubeadm memory minimum',
    change: (d) => {
      d.nodes[0].memoryMiB = 1536;
    },
    problems: [
      "nodes[0].memoryMiB: 1536 MiB is below kubeadm's minimum of 1700 MiB for a control plane; set memoryMiB: 2048 or more (the lab uses 4096)",
    ],
  },
  {
    name: 'default memory too small for a worker',
    change: (d) => {
      d.nodeDefaults.memoryMiB = 768;
      d.nodes[0].memoryMiB = 4096;
    },
    problems: [
      'nodeDefaults.memoryMiB: 768 MiB is too little for kubelet, containerd and the CNI; set memoryMiB: 1024 or more',
    ],
  },
  {
    name: 'disk below the image size',
    change: (d) => {
      d.nodes[2].diskGiB = 3;
    },
    problems: [
      "nodes[2].diskGiB: 3 GiB is too small: the Ubuntu cloud image's disk is already 3.5 GiB and a clone can only grow; with the Kubernetes images it needs at least 10 GiB",
    ],
  },
  {
    name: 'unknown time zone',
    change: (d) => {
      d.os.timezone = 'Seoul';
    },
    problems: [
      'os.timezone: "Seoul" is not an IANA time zone; use a name like "Asia/Seoul" or "UTC" (see timedatectl list-timezones)',
    ],
  },
  {
    name: 'lower-case locale',
    change: (d) => {
      d.os.locale = 'ko_kr.utf8';
    },
    problems: [
      'os.locale: "ko_kr.utf8" is not a UTF-8 locale name of the form language_TERRITORY.UTF-8; use "ko_KR.UTF-8"',
    ],
  },
  {
    name: 'locale without encoding',
    change: (d) => {
      d.os.locale = 'Korean';
    },
    problems: [
      'os.locale: "Korean" is not a UTF-8 locale name of the form language_TERRITORY.UTF-8; use "ko_KR.UTF-8"',
    ],
  },
  {
    name: 'NTP server not a host name',
    change: (d) => {
      d.os.ntpServers = ['time ravnus com'];
    },
    problems: [
      'os.ntpServers[0]: "time ravnus com" is neither a host name nor an IP address; use e.g. "time.ravnus.com"',
    ],
  },
  {
    name: 'DNS server given as a name',
    change: (d) => {
      d.os.dnsServers = ['dns.google', '8.8.4.4'];
    },
    problems: [
      'os.dnsServers[0]: "dns.google" is not an IP address; resolvers must be addresses such as "8.8.8.8" or "8.8.4.4"',
    ],
  },
  {
    name: 'malformed Kubernetes version',
    change: (d) => {
      d.kubernetes.version = '1.37-rc';
    },
    problems: [
      'kubernetes.version: "1.37-rc" is not a Kubernetes version; write the minor ("1.37") or an exact release ("1.37.2")',
    ],
  },
  {
    name: 'unsupported Kubernetes minor',
    change: (d) => {
      d.kubernetes.version = '1.29';
    },
    problems: [
      'kubernetes.version: "1.29" is not a supported minor; kubestation writes kubeadm\'s v1beta4 configuration, which needs 1.31–1.37: use one of 1.31, 1.32, 1.33, 1.34, 1.35, 1.36, 1.37',
    ],
  },
  {
    name: 'package repository for another minor',
    change: (d) => {
      d.kubernetes.packageRepository = 'https://pkgs.k8s.io/core:/stable:/v1.36/deb/';
    },
    problems: [
      'kubernetes.packageRepository: points at the v1.36 repository but kubernetes.version is 1.37; each minor has its own repository, so use .../v1.37/deb/ or remove the key',
    ],
  },
  {
    name: 'API port taken by kubelet',
    change: (d) => {
      d.kubernetes.apiServerPort = 10250;
    },
    problems: ['kubernetes.apiServerPort: 10250 is the kubelet port; use 6443'],
  },
  {
    name: 'bad token TTL',
    change: (d) => {
      d.kubernetes.bootstrapTokenTtl = '30 days';
    },
    problems: ['kubernetes.bootstrapTokenTtl: "30 days" is not a duration such as 720h or 24h30m'],
  },
  {
    name: 'single node keeps the taint',
    change: (d) => {
      d.nodes = [d.nodes[0]];
    },
    problems: [
      'kubernetes.controlPlaneTaint: a single-node cluster with the control-plane taint has nowhere to run pods; add a worker or set kubernetes.controlPlaneTaint: false',
    ],
  },
  {
    name: 'node named like the template',
    change: (d) => {
      d.nodes[2].name = 'kubestation-noble-template';
    },
    problems: [
      'nodes[2].name: "kubestation-noble-template" is also the template VM\'s name; nodes are clones and need names of their own',
    ],
  },
  {
    name: 'relative install folder',
    change: (d) => {
      d.vmware.installFolder = 'VMware\\VMware Workstation';
    },
    problems: [
      'vmware.installFolder: "VMware\\VMware Workstation" is not an absolute path; write the full folder, e.g. C:\\Program Files (x86)\\VMware\\VMware Workstation',
    ],
  },
  {
    name: 'removed vmFolder (vmrest cannot choose where clones go)',
    change: (d) => {
      d.vmware.vmFolder = 'D:\\VMs\\kubestation';
    },
    problems: [
      "vmware.vmFolder: was removed: vmrest cannot choose where a clone goes, so the node VMs always land in Workstation's default VM folder, which kubestation reads from %APPDATA%\\VMware\\preferences.ini (the template stays in the state folder). Delete this line; to put the VMs on another drive, change Edit > Preferences > Workspace > Default location for virtual machines in Workstation",
    ],
  },
  {
    name: 'vmrest URL without scheme',
    change: (d) => {
      d.vmware.vmrestUrl = '127.0.0.1:8697/api';
    },
    problems: [
      'vmware.vmrestUrl: "127.0.0.1:8697/api" is not an http(s):// URL such as http://127.0.0.1:8697/api',
    ],
  },
  {
    name: 'vmrest URL in clear text to another machine (Basic-auth credentials would cross the network)',
    change: (d) => {
      d.vmware.vmrestUrl = 'http://192.168.1.20:8697/api';
    },
    problems: [
      "vmware.vmrestUrl: http://192.168.1.20:8697/api would send vmrest's username and password (HTTP Basic auth) unencrypted across the network to 192.168.1.20; http:// is accepted only for this PC (127.0.0.1, localhost, [::1]); use https://192.168.1.20:8697/api, with vmrest serving HTTPS (`vmrest.exe -c cert.pem -k key.pem`) and its certificate pinned in VMREST_CERT_SHA256; or run kubestation on the PC that runs vmrest, with http://127.0.0.1:8697/api",
    ],
  },
  {
    name: 'invalid cluster name',
    change: (d) => {
      d.name = 'K8s Lab';
    },
    problems: [
      'name: "K8s Lab" is not a valid name; use lower-case letters, digits and "-" (at most 63, starting and ending with a letter or digit), e.g. "k8s-lab"',
    ],
  },
  {
    name: 'SSH key that is not a public key',
    change: (d) => {
      d.os.user.sshAuthorizedKeys = ['-----BEGIN OPENSSH PRIVATE KEY-----'];
    },
    problems: [
      'os.user.sshAuthorizedKeys[0]: "-----BEGIN OPENSSH PRIVATE KEY-----" is not an OpenSSH public key line such as "ssh-ed25519 AAAA... you@pc"',
    ],
  },
  {
    name: 'plain password instead of a hash',
    change: (d) => {
      d.os.user.passwordHash = 'hunter2';
    },
    problems: [
      'os.user.passwordHash: "hunter2" is not a crypt(3) hash starting with $6$ (mkpasswd -m sha-512)',
    ],
  },
  {
    name: 'LoadBalancer pool outside the host-only subnet',
    change: (d) => {
      d.addons.loadBalancer.pool = { start: '172.100.101.64', end: '172.100.101.95' };
      d.addons.gateway.address = '172.100.101.64';
    },
    problems: [
      'addons.loadBalancer.pool.start: 172.100.101.64 is outside the host-only subnet 172.100.100.0/24 (networks.hostOnly.subnet); MetalLB announces the pool on ens37, the host-only NIC, so only addresses of that subnet reach Windows: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.64, end: 172.100.100.95',
      'addons.loadBalancer.pool.end: 172.100.101.95 is outside the host-only subnet 172.100.100.0/24 (networks.hostOnly.subnet); MetalLB announces the pool on ens37, the host-only NIC, so only addresses of that subnet reach Windows: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.64, end: 172.100.100.95',
    ],
  },
  {
    name: "LoadBalancer pool holding a node's address",
    change: (d) => {
      d.nodes[2].hostOnlyAddress = '172.100.100.70';
    },
    problems: [
      'addons.loadBalancer.pool: 172.100.100.64–172.100.100.95 holds node "k8s-worker2" (nodes[2])\'s host-only address 172.100.100.70; MetalLB could give it to a Service and both would answer for it: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.96, end: 172.100.100.127, or give the node an address outside the pool',
    ],
  },
  {
    name: "LoadBalancer pool holding the host's address",
    change: (d) => {
      d.addons.loadBalancer.pool = { start: '172.100.100.1', end: '172.100.100.1' };
      d.addons.gateway.address = '172.100.100.1';
    },
    problems: [
      "addons.loadBalancer.pool: 172.100.100.1–172.100.100.1 holds the Windows host's address 172.100.100.1 (networks.hostOnly.hostAddress); a Service given it would cut Windows off the lab: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.64, end: 172.100.100.64",
    ],
  },
  {
    name: 'LoadBalancer pool overlapping the default host-only DHCP range',
    change: (d) => {
      delete d.networks.hostOnly.dhcpRange;
      d.addons.loadBalancer.pool = { start: '172.100.100.120', end: '172.100.100.140' };
      d.addons.gateway.address = '172.100.100.120';
    },
    problems: [
      'addons.loadBalancer.pool: 172.100.100.120–172.100.100.140 overlaps the host-only DHCP range 172.100.100.128–172.100.100.254 (networks.hostOnly.dhcpRange), so VMware could lease one of its addresses to a VM: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.64, end: 172.100.100.84',
    ],
  },
  {
    name: 'LoadBalancer pool overlapping the host-only DHCP range cluster.yaml declares',
    change: (d) => {
      d.networks.hostOnly.dhcpRange = { start: '172.100.100.50', end: '172.100.100.254' };
    },
    problems: [
      'addons.loadBalancer.pool: 172.100.100.64–172.100.100.95 overlaps the host-only DHCP range 172.100.100.50–172.100.100.254 (networks.hostOnly.dhcpRange), so VMware could lease one of its addresses to a VM: set addons.loadBalancer.pool to free addresses of 172.100.100.0/24, e.g. start: 172.100.100.18, end: 172.100.100.49',
    ],
  },
  {
    name: 'LoadBalancer pool start after its end',
    change: (d) => {
      d.addons.loadBalancer.pool = { start: '172.100.100.95', end: '172.100.100.64' };
    },
    problems: [
      'addons.loadBalancer.pool: start 172.100.100.95 is after end 172.100.100.64; swap them: start: 172.100.100.64, end: 172.100.100.95',
    ],
  },
  {
    name: 'default LoadBalancer pool outside a small host-only subnet',
    change: (d) => {
      d.networks.hostOnly.subnet = '172.100.100.0/26';
      delete d.networks.hostOnly.dhcpRange;
      delete d.addons;
    },
    problems: [
      'addons.loadBalancer.pool: the default pool 172.100.100.64–172.100.100.95 (.64–.95 of the host-only subnet) does not fit in the host-only subnet 172.100.100.0/26 (networks.hostOnly.subnet); MetalLB announces the pool on ens37, the host-only NIC, so only addresses of that subnet reach Windows: set addons.loadBalancer.pool to free addresses of 172.100.100.0/26, e.g. start: 172.100.100.16, end: 172.100.100.31',
    ],
  },
  {
    name: 'Gateway address outside the pool',
    change: (d) => {
      d.addons.gateway.address = '172.100.100.100';
    },
    problems: [
      "addons.gateway.address: 172.100.100.100 is outside the LoadBalancer pool 172.100.100.64–172.100.100.95 (addons.loadBalancer.pool), and MetalLB hands out pool addresses only; use one in the pool, e.g. 172.100.100.64, or leave address out for the pool's first address",
    ],
  },
  {
    name: 'Gateway on while the load balancer is off',
    change: (d) => {
      d.addons.loadBalancer.enabled = false;
    },
    problems: [
      'addons.gateway.enabled: the Gateway is on but addons.loadBalancer.enabled is false, and the Gateway takes its address from the LoadBalancer pool; set addons.loadBalancer.enabled: true, or addons.gateway.enabled: false',
    ],
  },
  {
    name: 'Kubernetes minor the pinned metrics-server does not support',
    change: (d) => {
      d.kubernetes.version = '1.33';
    },
    problems: [
      'addons.metrics.enabled: metrics-server v0.9.0, the release kubestation pins, supports Kubernetes 1.34–1.37, but kubernetes.version is "1.33"; set addons.metrics.enabled: false, or kubernetes.version to a minor it supports ("1.34", "1.35", "1.36", "1.37")',
    ],
  },
  {
    name: 'add-on version given',
    change: (d) => {
      d.addons.metrics.version = 'v0.8.1';
    },
    problems: [
      'addons.metrics.version: cannot be set: kubestation pins metrics-server v0.9.0 (its manifests and their sha256 are in the repository, under addons/), and only a pinned release is applied. Delete this line; to leave metrics-server out, set addons.metrics.enabled: false',
    ],
  },
  {
    name: 'host-only DHCP range reversed',
    change: (d) => {
      d.networks.hostOnly.dhcpRange = { start: '172.100.100.254', end: '172.100.100.128' };
    },
    problems: [
      "networks.hostOnly.dhcpRange: start 172.100.100.254 is after end 172.100.100.128; write the range as Workstation's Virtual Network Editor shows it (VMnet1 > DHCP Settings), e.g. start: 172.100.100.128, end: 172.100.100.254",
    ],
  },
  {
    name: 'host-only address inside the host-only DHCP range',
    change: (d) => {
      d.nodes[2].hostOnlyAddress = '172.100.100.200';
    },
    problems: [
      'nodes[2].hostOnlyAddress: 172.100.100.200 is inside the host-only DHCP range 172.100.100.128–172.100.100.254 (networks.hostOnly.dhcpRange), so VMware could hand it to another VM; use a free address in 172.100.100.2–172.100.100.63',
    ],
  },
  {
    name: 'host-only DHCP range outside the subnet',
    change: (d) => {
      d.networks.hostOnly.dhcpRange.end = '172.100.101.254';
    },
    problems: [
      'networks.hostOnly.dhcpRange.end: 172.100.101.254 is outside the host-only subnet 172.100.100.0/24; use an address in 172.100.100.1–172.100.100.254',
    ],
  },
];
