/**
 * The one definition of cluster.yaml's shape. TypeBox turns it into both the
 * TypeScript type (`ClusterFile`) and the JSON Schema shipped in
 * schema/cluster.schema.json for editors, so the two cannot drift.
 * Defaults live in defaults.ts; checks that need more than one field
 * (subnets, overlaps, roles) live in semantic.ts.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import {
  DEFAULT_API_SERVER_PORT,
  DEFAULT_BOOTSTRAP_TOKEN_TTL,
  DEFAULT_CONTAINERD_PACKAGE_KEY_URL,
  DEFAULT_CONTAINERD_PACKAGE_SOURCE,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_HARDWARE,
  DEFAULT_KUBERNETES_MINOR,
  DEFAULT_OS,
  DEFAULT_POD_SUBNET,
  DEFAULT_SERVICE_SUBNET,
  DEFAULT_STATE_DIR,
  DEFAULT_VMWARE,
} from './defaults.js';

const ipv4Pattern = '^((25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$';
const cidrPattern = ipv4Pattern.slice(0, -1) + '/(3[0-2]|[12]?\\d)$';

const Ipv4 = (description: string) =>
  Type.String({
    pattern: ipv4Pattern,
    description,
    examples: ['192.168.5.11'],
    'x-expected': 'an IPv4 address such as 192.168.5.11',
  });
const Cidr = (description: string, defaultValue?: string) =>
  Type.String({
    pattern: cidrPattern,
    description,
    'x-expected': 'an IPv4 network in CIDR form such as 10.244.0.0/16',
    ...(defaultValue ? { default: defaultValue } : {}),
  });
const Strict = <T extends Record<string, TSchema>>(properties: T, description: string) =>
  Type.Object(properties, { additionalProperties: false, description });

const NatNetwork = Strict(
  {
    vmnet: Type.Optional(
      Type.String({
        pattern: '^vmnet\\d{1,2}$',
        default: 'vmnet8',
        description: 'Workstation virtual network of the NAT NIC (ens33).',
        'x-expected': 'a Workstation network name such as vmnet8',
      }),
    ),
    subnet: Cidr('NAT network, as set in the Virtual Network Editor.'),
    gateway: Ipv4('VMware NAT gateway (".2" of the subnet).'),
    hostAddress: Ipv4('The Windows host\'s own address on this network (".1").'),
    dhcpRange: Strict(
      {
        start: Ipv4('First address VMware DHCP hands out.'),
        end: Ipv4('Last address VMware DHCP hands out.'),
      },
      'VMware DHCP range; static node addresses must stay outside it.',
    ),
  },
  'VMnet8: NAT network giving the nodes Internet access (ens33).',
);

const HostOnlyNetwork = Strict(
  {
    vmnet: Type.Optional(
      Type.String({
        pattern: '^vmnet\\d{1,2}$',
        default: 'vmnet1',
        description: 'Workstation virtual network of the host-only NIC (ens37).',
        'x-expected': 'a Workstation network name such as vmnet1',
      }),
    ),
    subnet: Cidr('Host-only network, as set in the Virtual Network Editor.'),
    hostAddress: Ipv4('The Windows host\'s own address on this network (".1").'),
    dhcpRange: Type.Optional(
      Strict(
        {
          start: Ipv4('First address VMware DHCP hands out.'),
          end: Ipv4('Last address VMware DHCP hands out.'),
        },
        "VMware DHCP range (default .128–.254 of the subnet, Workstation's own); static node addresses and the LoadBalancer pool must stay outside it. Preflight compares it with the host's vmnetdhcp.conf.",
      ),
    ),
  },
  'VMnet1: host-only network for host-to-node and node-to-node traffic (ens37); the cluster runs on it.',
);

const Hardware = {
  cpus: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 64, default: DEFAULT_HARDWARE.cpus, description: 'Virtual CPUs.' }),
  ),
  memoryMiB: Type.Optional(
    Type.Integer({
      minimum: 512,
      maximum: 262144,
      default: DEFAULT_HARDWARE.memoryMiB,
      description: 'Memory in MiB (4 GiB = 4096).',
    }),
  ),
  diskGiB: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 8192,
      default: DEFAULT_HARDWARE.diskGiB,
      description: 'System disk size in GiB.',
    }),
  ),
};

const Node = Strict(
  {
    name: Type.String({
      description: 'VM name and hostname (RFC 1123 label: lower-case letters, digits, "-").',
    }),
    role: Type.Union([Type.Literal('control-plane'), Type.Literal('worker')], {
      description: 'Exactly one control-plane node; the rest are workers.',
    }),
    natAddress: Ipv4('Static address on the NAT network (ens33).'),
    hostOnlyAddress: Ipv4(
      'Static address on the host-only network (ens37); kubelet node-ip and, on the control plane, the API server address.',
    ),
    ...Hardware,
  },
  'One VM of the cluster.',
);

const Os = Strict(
  {
    release: Type.Optional(
      Type.Literal('24.04', { description: 'Ubuntu Server release.', default: '24.04' }),
    ),
    user: Type.Optional(
      Strict(
        {
          name: Type.Optional(
            Type.String({
              pattern: '^[a-z_][a-z0-9_-]{0,31}$',
              default: DEFAULT_OS.userName,
              description: 'Login user created on every node, with sudo.',
              'x-expected': 'a Linux user name (lower case, up to 32 characters)',
            }),
          ),
          sshAuthorizedKeys: Type.Optional(
            Type.Array(
              Type.String({
                pattern:
                  '^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\\.com) [A-Za-z0-9+/=]+( .*)?$',
                'x-expected': 'an OpenSSH public key line such as "ssh-ed25519 AAAA... you@pc"',
              }),
              {
                description:
                  'Public keys allowed to log in; empty = kubestation generates a key pair in the state folder.',
              },
            ),
          ),
          passwordHash: Type.Optional(
            Type.String({
              pattern: '^\\$(6|y|5)\\$.+',
              description:
                'Optional console password as a crypt(3) hash (e.g. `mkpasswd -m sha-512`). Never a plain password.',
              'x-expected': 'a crypt(3) hash starting with $6$ (mkpasswd -m sha-512)',
            }),
          ),
        },
        'The login user.',
      ),
    ),
    timezone: Type.Optional(Type.String({ default: DEFAULT_OS.timezone, description: 'IANA time zone.' })),
    locale: Type.Optional(
      Type.String({ default: DEFAULT_OS.locale, description: 'System locale, e.g. ko_KR.UTF-8.' }),
    ),
    ntpServers: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        default: [...DEFAULT_OS.ntpServers],
        description: 'NTP servers (chrony).',
      }),
    ),
    dnsServers: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        maxItems: 3,
        default: [...DEFAULT_OS.dnsServers],
        description: 'DNS resolvers on ens33.',
      }),
    ),
    swap: Type.Optional(Type.Literal(false, { description: 'Swap stays disabled: kubelet requires it.' })),
    kernelModules: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z0-9_-]+$' }), {
        description: 'Kernel modules loaded now and at boot (overlay, br_netfilter are always included).',
      }),
    ),
    sysctl: Type.Optional(
      Type.Record(Type.String({ pattern: '^[a-z0-9_.-]+$' }), Type.String(), {
        description:
          'Kernel parameters persisted in /etc/sysctl.d (IP forwarding and bridge netfilter are always set).',
      }),
    ),
  },
  'Operating system settings for every node.',
);

const Kubernetes = Strict(
  {
    version: Type.Optional(
      Type.String({
        default: DEFAULT_KUBERNETES_MINOR,
        description:
          'Kubernetes minor ("1.37") or exact version ("1.37.2"). Quote it: YAML reads 1.30 as the number 1.3.',
        'x-expected': 'a version in quotes such as "1.37" or "1.37.2"',
      }),
    ),
    podSubnet: Type.Optional(
      Cidr('Pod network (kubeadm podSubnet, flannel Network / Calico pool).', DEFAULT_POD_SUBNET),
    ),
    serviceSubnet: Type.Optional(Cidr('Service network (kubeadm serviceSubnet).', DEFAULT_SERVICE_SUBNET)),
    apiServerPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        default: DEFAULT_API_SERVER_PORT,
        description: 'API server port.',
      }),
    ),
    dnsDomain: Type.Optional(
      Type.String({ default: DEFAULT_DNS_DOMAIN, description: 'Cluster DNS domain.' }),
    ),
    containerRuntime: Type.Optional(
      Strict(
        {
          name: Type.Optional(Type.Literal('containerd', { description: 'Container runtime.' })),
          systemdCgroup: Type.Optional(
            Type.Literal(true, {
              description: "containerd SystemdCgroup; must match kubelet's systemd cgroup driver.",
            }),
          ),
          packageRepository: Type.Optional(
            Type.String({
              pattern: '^(https?|file)://[^ ]+ [^ ]+',
              default: DEFAULT_CONTAINERD_PACKAGE_SOURCE,
              description:
                'apt source ("URI suite components") of containerd.io 2.x, used when Kubernetes is 1.36 or newer and the Ubuntu archive offers only containerd 1.x.',
              'x-expected': 'an apt source such as "https://download.docker.com/linux/ubuntu noble stable"',
            }),
          ),
          packageRepositoryKeyUrl: Type.Optional(
            Type.String({
              pattern: '^(https?|file)://',
              default: DEFAULT_CONTAINERD_PACKAGE_KEY_URL,
              description: 'Signing key of that source.',
              'x-expected': 'an http(s):// or file:// URL',
            }),
          ),
        },
        'Container runtime.',
      ),
    ),
    cni: Type.Optional(
      Strict(
        {
          name: Type.Optional(
            Type.Union([Type.Literal('flannel'), Type.Literal('calico')], {
              default: 'flannel',
              description: 'Pod network add-on.',
            }),
          ),
          version: Type.Optional(
            Type.String({
              pattern: '^v\\d+\\.\\d+\\.\\d+$',
              description: 'Pinned CNI release, e.g. v0.28.9.',
              'x-expected': 'a release tag such as v0.28.9',
            }),
          ),
          manifestUrls: Type.Optional(
            Type.Array(Type.String({ pattern: '^(https?|file)://' }), {
              minItems: 1,
              description: 'Override where the CNI manifests are fetched from (mirrors, tests).',
            }),
          ),
        },
        'Pod network (CNI).',
      ),
    ),
    packageRepository: Type.Optional(
      Type.String({
        pattern: '^(https?|file)://',
        description: 'Kubernetes apt repository for the minor (default pkgs.k8s.io).',
        'x-expected': 'an http(s):// or file:// URL',
      }),
    ),
    packageRepositoryKeyUrl: Type.Optional(
      Type.String({
        pattern: '^(https?|file)://',
        description: 'Signing key of that repository (default: its Release.key).',
        'x-expected': 'an http(s):// or file:// URL',
      }),
    ),
    bootstrapTokenTtl: Type.Optional(
      Type.String({
        pattern: '^(0|(\\d+h)?(\\d+m)?(\\d+s)?)$',
        default: DEFAULT_BOOTSTRAP_TOKEN_TTL,
        description: 'Lifetime of the join token (Go duration, "0" = never expires).',
        'x-expected': 'a duration such as 720h or 24h30m',
      }),
    ),
    controlPlaneTaint: Type.Optional(
      Type.Boolean({ default: true, description: 'Keep workloads off the control plane (kubeadm default).' }),
    ),
  },
  'Kubernetes settings.',
);

const Vmware = Strict(
  {
    vmrestUrl: Type.Optional(
      Type.String({
        pattern: '^https?://',
        default: DEFAULT_VMWARE.vmrestUrl,
        description:
          'Workstation REST API (vmrest) base URL; http:// only for this PC (127.0.0.1, localhost, [::1]), https:// for another host; env VMREST_URL overrides.',
        'x-expected': 'an http(s):// URL such as http://127.0.0.1:8697/api',
      }),
    ),
    concurrency: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 16,
        default: DEFAULT_VMWARE.concurrency,
        description: 'Nodes cloned at once.',
      }),
    ),
    cloneMode: Type.Optional(
      Type.Union([Type.Literal('linked'), Type.Literal('full')], {
        default: DEFAULT_VMWARE.cloneMode,
        description:
          "How nodes are cloned from the template: linked (Workstation's vmrun, from a snapshot of the template; a small delta disk that needs the template's disk for as long as it lives) or full (vmrest, a copy of the whole disk).",
      }),
    ),
    installFolder: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Workstation install folder (default: searched in Program Files).',
      }),
    ),
    template: Type.Optional(
      Strict(
        {
          name: Type.Optional(
            Type.String({
              pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$',
              default: DEFAULT_VMWARE.templateName,
              description: 'Template VM every node is cloned from.',
              'x-expected': 'letters, digits, ".", "_" or "-"',
            }),
          ),
          imageUrl: Type.Optional(
            Type.String({
              pattern: '^https?://',
              default: DEFAULT_VMWARE.imageUrl,
              description: 'Ubuntu 24.04 cloud image (.ova) to build the template from.',
              'x-expected': 'an http(s):// URL',
            }),
          ),
          checksumsUrl: Type.Optional(
            Type.String({
              pattern: '^https?://',
              default: DEFAULT_VMWARE.checksumsUrl,
              description: 'SHA256SUMS published beside the image.',
              'x-expected': 'an http(s):// URL',
            }),
          ),
        },
        'Template VM.',
      ),
    ),
  },
  'VMware Workstation settings. None is required for the default lab.',
);

const Enabled = (description: string) =>
  Type.Optional(Type.Boolean({ default: true, description: `${description} On unless set to false.` }));

const Addons = Strict(
  {
    loadBalancer: Type.Optional(
      Strict(
        {
          enabled: Enabled(
            'MetalLB (L2 mode) gives Services of type LoadBalancer an address from the pool, announced on the host-only NIC (ens37) only, so Windows reaches it.',
          ),
          pool: Type.Optional(
            Strict(
              {
                start: Ipv4('First address of the pool.'),
                end: Ipv4('Last address of the pool.'),
              },
              'Addresses MetalLB hands out (default .64–.95 of the host-only subnet): inside networks.hostOnly.subnet, clear of the nodes, the host (.1) and the DHCP range.',
            ),
          ),
        },
        'LoadBalancer Services on the host-only network.',
      ),
    ),
    storage: Type.Optional(
      Strict(
        { enabled: Enabled("Rancher's local-path-provisioner as the default StorageClass (local-path).") },
        'Dynamic node-local volumes.',
      ),
    ),
    metrics: Type.Optional(
      Strict(
        {
          enabled: Enabled(
            "metrics-server (kubectl top); kubelets get serving certificates signed by the cluster (serverTLSBootstrap), approved by kubestation for the spec's nodes only.",
          ),
        },
        'Resource metrics API.',
      ),
    ),
    gateway: Type.Optional(
      Strict(
        {
          enabled: Enabled(
            'NGINX Gateway Fabric (Gateway API) with the Gateway kubestation/kubestation-gateway; needs loadBalancer.',
          ),
          address: Type.Optional(
            Ipv4("The Gateway's address, inside the pool (default: the pool's first address)."),
          ),
        },
        'HTTP routing into the cluster through the Gateway API.',
      ),
    ),
  },
  'Lab services applied after the CNI. Each release is pinned in kubestation with its manifests and checksums; versions cannot be chosen here.',
);

export const ClusterFileSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'Editor hint; ignored.' })),
    apiVersion: Type.Literal('kubestation/v1', { description: 'Spec format version.' }),
    kind: Type.Literal('Cluster'),
    name: Type.String({
      description: 'Cluster name (RFC 1123 label); part of every MAC address and VM ownership marker.',
    }),
    stateDir: Type.Optional(
      Type.String({
        minLength: 1,
        default: DEFAULT_STATE_DIR,
        description: 'State folder (CA, tokens, seeds, logs, kubeconfig), relative to this file.',
      }),
    ),
    networks: Strict({ nat: NatNetwork, hostOnly: HostOnlyNetwork }, 'Workstation virtual networks.'),
    nodeDefaults: Type.Optional(Strict(Hardware, 'Hardware for nodes that do not set their own.')),
    nodes: Type.Array(Node, { minItems: 1, description: 'The VMs.' }),
    os: Type.Optional(Os),
    kubernetes: Type.Optional(Kubernetes),
    firewall: Type.Optional(
      Strict(
        {
          enabled: Type.Optional(
            Type.Boolean({ default: true, description: 'ufw with the ports each role needs.' }),
          ),
        },
        'Node firewall.',
      ),
    ),
    vmware: Type.Optional(Vmware),
    addons: Type.Optional(Addons),
  },
  {
    additionalProperties: false,
    title: 'kubestation cluster spec (cluster.yaml)',
  },
);

export type ClusterFile = Static<typeof ClusterFileSchema>;
