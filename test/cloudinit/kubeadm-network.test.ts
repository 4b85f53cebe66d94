import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { DETECTED_VERSION_PLACEHOLDER, GUEST } from '../../src/cloudinit/guest.js';
import {
  calicoInstallation,
  flannelConfigMapPatch,
  flannelInterfacePatch,
} from '../../src/cloudinit/parts/cni.js';
import {
  controlPlaneFirewallRules,
  renderFirewallRules,
  workerFirewallRules,
  type FirewallRule,
} from '../../src/cloudinit/parts/firewall.js';
import { renderNetworkConfig } from '../../src/cloudinit/network-config.js';
import { renderUserData } from '../../src/cloudinit/seed.js';
import { labInputs, labSpec, repoRoot, tempDir } from './fixtures.js';

function kubeadmDocuments(userData: string, filePath: string): Record<string, any>[] {
  const config = yaml.load(userData) as { write_files: { path: string; content: string }[] };
  const entry = config.write_files.find((f) => f.path === filePath)!;
  return yaml.loadAll(entry.content) as Record<string, any>[];
}

describe('kubeadm v1beta4 documents', () => {
  it('control plane: InitConfiguration, ClusterConfiguration and KubeletConfiguration field by field', async () => {
    const { inputs, secrets } = await labInputs();
    const spec = labSpec();
    const [init, cluster, kubelet, ...rest] = kubeadmDocuments(
      renderUserData(spec, spec.controlPlane, inputs),
      GUEST.kubeadmInit,
    );
    expect(rest).toEqual([]);
    expect(init).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'InitConfiguration',
      bootstrapTokens: [
        {
          token: secrets.bootstrapToken.token,
          description: 'kubestation join token for cluster k8s-lab',
          ttl: '720h',
          usages: ['signing', 'authentication'],
          groups: ['system:bootstrappers:kubeadm:default-node-token'],
        },
      ],
      localAPIEndpoint: { advertiseAddress: '172.100.100.2', bindPort: 6443 },
      nodeRegistration: {
        name: 'k8s-master',
        criSocket: 'unix:///var/run/containerd/containerd.sock',
        kubeletExtraArgs: [{ name: 'node-ip', value: '172.100.100.2' }],
      },
    });
    expect(init!.nodeRegistration).not.toHaveProperty('taints'); // nil = kubeadm's default control-plane taint
    expect(init!.bootstrapTokens[0].token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(cluster).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'ClusterConfiguration',
      kubernetesVersion: DETECTED_VERSION_PLACEHOLDER,
      clusterName: 'k8s-lab',
      controlPlaneEndpoint: '172.100.100.2:6443',
      certificatesDir: '/etc/kubernetes/pki',
      networking: { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12', dnsDomain: 'cluster.local' },
      apiServer: { certSANs: ['172.100.100.2', '192.168.5.11', 'k8s-master', 'k8s-master.k8s-lab.internal'] },
    });
    expect(kubelet).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
      // metrics is on by default: kubelet serving certificates signed by the cluster, for metrics-server
      serverTLSBootstrap: true,
    });
  });

  it('asks for kubelet serving certificates only while the metrics add-on is on', async () => {
    const { inputs } = await labInputs();
    const spec = labSpec([
      [
        '    enabled: true               # metrics-server',
        '    enabled: false              # metrics-server',
      ],
    ]);
    expect(spec.addons.metrics.enabled).toBe(false);
    const [, , kubelet] = kubeadmDocuments(
      renderUserData(spec, spec.controlPlane, inputs),
      GUEST.kubeadmInit,
    );
    expect(kubelet).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
    });
  });

  it('pins kubernetesVersion to the spec patch and writes taints: [] when the taint is off', async () => {
    const { inputs } = await labInputs();
    const spec = labSpec([
      ['version: "1.37" ', 'version: "1.37.2" '],
      ['controlPlaneTaint: true', 'controlPlaneTaint: false'],
    ]);
    const [init, cluster] = kubeadmDocuments(
      renderUserData(spec, spec.controlPlane, inputs),
      GUEST.kubeadmInit,
    );
    expect(cluster!.kubernetesVersion).toBe('v1.37.2');
    expect(init!.nodeRegistration.taints).toEqual([]);
  });

  it('worker: JoinConfiguration with token discovery pinned to the CA, never unsafe', async () => {
    const { inputs, secrets } = await labInputs();
    const spec = labSpec();
    const worker = spec.workers[1]!;
    const [join, ...rest] = kubeadmDocuments(renderUserData(spec, worker, inputs), GUEST.kubeadmJoin);
    expect(rest).toEqual([]);
    expect(join).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'JoinConfiguration',
      discovery: {
        bootstrapToken: {
          apiServerEndpoint: '172.100.100.2:6443',
          token: secrets.bootstrapToken.token,
          caCertHashes: [secrets.caCertHash],
        },
      },
      nodeRegistration: {
        name: 'k8s-worker2',
        criSocket: 'unix:///var/run/containerd/containerd.sock',
        kubeletExtraArgs: [{ name: 'node-ip', value: '172.100.100.4' }],
      },
    });
    expect(JSON.stringify(join)).not.toContain('unsafeSkipCAVerification');
  });

  it('the discovery hash is what openssl computes from the CA the control plane receives', async () => {
    const { inputs, secrets } = await labInputs();
    const spec = labSpec();
    const config = yaml.load(renderUserData(spec, spec.controlPlane, inputs)) as {
      write_files: { path: string; content: string }[];
    };
    const caFile = path.join(tempDir('ca'), 'ca.crt');
    writeFileSync(caFile, config.write_files.find((f) => f.path === '/etc/kubernetes/pki/ca.crt')!.content);
    const der = execFileSync(
      'bash',
      [
        '-c',
        'openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -r',
        '_',
        caFile,
      ],
      { encoding: 'utf8' },
    );
    expect(secrets.caCertHash).toBe(`sha256:${der.split(' ')[0]}`);
    const [join] = kubeadmDocuments(renderUserData(spec, spec.workers[0]!, inputs), GUEST.kubeadmJoin);
    expect(join!.discovery.bootstrapToken.caCertHashes).toEqual([`sha256:${der.split(' ')[0]}`]);
  });
});

describe('network-config through cloud-init net-convert', () => {
  it('renders netplan with MAC matches, set-name, static addresses, one default route and DNS on ens33 only', () => {
    const spec = labSpec();
    for (const node of spec.nodes) {
      const dir = tempDir('net');
      writeFileSync(path.join(dir, 'network-config'), renderNetworkConfig(spec, node));
      const run = spawnSync(
        'cloud-init',
        [
          'devel',
          'net-convert',
          '-p',
          path.join(dir, 'network-config'),
          '-k',
          'yaml',
          '-d',
          path.join(dir, 'out'),
          '-D',
          'ubuntu',
          '-O',
          'netplan',
        ],
        { encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      const netplan = yaml.load(
        readFileSync(path.join(dir, 'out/etc/netplan/50-cloud-init.yaml'), 'utf8'),
      ) as any;
      const { ens33, ens37 } = netplan.network.ethernets;
      expect(ens33.match).toEqual({ macaddress: node.nics.nat.mac });
      expect(ens33['set-name']).toBe('ens33');
      expect(ens33.addresses).toEqual([`${node.nics.nat.address}/24`]);
      expect(ens33.routes).toEqual([{ to: 'default', via: '192.168.5.2' }]);
      expect(ens33.nameservers).toEqual({ addresses: ['8.8.8.8', '8.8.4.4'] });
      expect(ens33.dhcp4).toBe(false);
      expect(ens37.match).toEqual({ macaddress: node.nics.hostOnly.mac });
      expect(ens37['set-name']).toBe('ens37');
      expect(ens37.addresses).toEqual([`${node.nics.hostOnly.address}/24`]);
      expect(ens37.routes).toBeUndefined();
      expect(ens37.nameservers).toBeUndefined();
      expect(ens37.dhcp4).toBe(false);
    }
  });

  it('quotes every MAC (a YAML 1.1 reader would turn 00:50:56:12:34:56 into a number)', () => {
    const spec = labSpec();
    const text = renderNetworkConfig(spec, spec.controlPlane);
    expect(text).toContain(`macaddress: "${spec.controlPlane.nics.nat.mac}"`);
    expect(text).toContain(`macaddress: "${spec.controlPlane.nics.hostOnly.mac}"`);
  });
});

const key = (r: FirewallRule) => `${r.kind} ${r.proto} ${r.port ?? '-'} ${r.from} ${r.to}`;

describe('firewall rules per role', () => {
  const spec = labSpec();
  const cluster = ['172.100.100.0/24', '10.244.0.0/16'];
  const fromCluster = (proto: string, port: string) => cluster.map((c) => `allow ${proto} ${port} ${c} any`);

  it('control plane: API, etcd, kubelet, scheduler, controller-manager, SSH, NodePorts, flannel VXLAN, routed pod traffic', () => {
    const rules = controlPlaneFirewallRules(spec).map(key);
    expect(rules).toEqual(
      expect.arrayContaining([
        'allow tcp 22 any any',
        'allow tcp 6443 any any',
        ...fromCluster('tcp', '2379:2380'),
        ...fromCluster('tcp', '10250'),
        ...fromCluster('tcp', '10259'),
        ...fromCluster('tcp', '10257'),
        ...fromCluster('tcp', '10256'),
        'allow tcp 30000:32767 any any',
        'allow udp 30000:32767 any any',
        ...fromCluster('udp', '8472'),
        'route any - 10.244.0.0/16 any',
        'route any - any 10.244.0.0/16',
        'route any - any 10.96.0.0/12',
      ]),
    );
  });

  it('worker: no control-plane ports', () => {
    const rules = workerFirewallRules(spec).map(key);
    expect(rules).toEqual(
      expect.arrayContaining([
        'allow tcp 22 any any',
        ...fromCluster('tcp', '10250'),
        ...fromCluster('tcp', '10256'),
        'allow tcp 30000:32767 any any',
        'allow udp 30000:32767 any any',
        ...fromCluster('udp', '8472'),
      ]),
    );
    for (const port of ['6443', '2379:2380', '10259', '10257'])
      expect(rules.some((r) => r.split(' ')[2] === port)).toBe(false);
  });

  it('calico: BGP, VXLAN 4789 and Typha instead of flannel 8472', () => {
    const rules = workerFirewallRules(labSpec([['name: flannel', 'name: calico']])).map(key);
    expect(rules).toEqual(
      expect.arrayContaining([
        ...fromCluster('tcp', '179'),
        ...fromCluster('udp', '4789'),
        ...fromCluster('tcp', '5473'),
      ]),
    );
    expect(rules.some((r) => r.includes(' 8472 '))).toBe(false);
  });

  it('firewall.sh turns every rule into the ufw command line it should be', () => {
    const dir = tempDir('ufw');
    const rulesFile = path.join(dir, 'firewall.rules');
    writeFileSync(rulesFile, renderFirewallRules(controlPlaneFirewallRules(spec)));
    writeFileSync(path.join(dir, 'node.env'), `FIREWALL_ENABLED='true'\nFIREWALL_RULES='${rulesFile}'\n`);
    writeFileSync(
      path.join(dir, 'before.rules'),
      '-A ufw-before-input -p icmp --icmp-type echo-request -j ACCEPT\n',
    );
    const bin = path.join(dir, 'bin');
    execFileSync('mkdir', [bin]);
    writeFileSync(path.join(bin, 'ufw'), `#!/bin/bash\nprintf '%s\\n' "$*" >>"${dir}/calls"\n`, {
      mode: 0o755,
    });
    const run = spawnSync('bash', [path.join(repoRoot, 'cloud-init/stages/firewall.sh')], {
      encoding: 'utf8',
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        KUBESTATION_ENV: path.join(dir, 'node.env'),
        UFW_BEFORE_RULES: path.join(dir, 'before.rules'),
        KUBESTATION_SUMMARY_FILE: path.join(dir, 'summary'),
      },
    });
    expect(run.status, run.stderr).toBe(0);
    const calls = readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
    expect(calls.slice(0, 3)).toEqual([
      'default deny incoming',
      'default allow outgoing',
      'default deny routed',
    ]);
    expect(calls).toContain('allow proto tcp from any to any port 6443 comment Kubernetes API server');
    expect(calls).toContain('allow proto tcp from 172.100.100.0/24 to any port 2379:2380 comment etcd');
    expect(calls).toContain('route allow from any to 10.244.0.0/16 comment to pods');
    expect(calls.at(-2)).toBe('--force enable');
    expect(calls).toHaveLength(3 + controlPlaneFirewallRules(spec).length + 2);
    expect(readFileSync(path.join(dir, 'summary'), 'utf8')).toBe(
      `ufw active with ${controlPlaneFirewallRules(spec).length} rules\n`,
    );
  });
});

describe('CNI documents', () => {
  it('flannel: net-conf.json with the pod CIDR, --iface on the host-only NIC after checking the container name', () => {
    const spec = labSpec();
    const netConf = JSON.parse(flannelConfigMapPatch(spec).data['net-conf.json']);
    expect(netConf).toEqual({ Network: '10.244.0.0/16', EnableNFTables: false, Backend: { Type: 'vxlan' } });
    expect(flannelInterfacePatch(spec)).toEqual([
      { op: 'test', path: '/spec/template/spec/containers/0/name', value: 'kube-flannel' },
      { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--iface=ens37' },
    ]);
  });

  it('calico: Installation with the pod CIDR, VXLAN and ens37 autodetection', () => {
    const installation = calicoInstallation(labSpec([['name: flannel', 'name: calico']]));
    expect(installation.kind).toBe('Installation');
    expect(installation.apiVersion).toBe('operator.tigera.io/v1');
    expect(installation.spec.calicoNetwork.ipPools).toEqual([
      expect.objectContaining({ cidr: '10.244.0.0/16', encapsulation: 'VXLAN' }),
    ]);
    expect(installation.spec.calicoNetwork.nodeAddressAutodetectionV4).toEqual({ interface: 'ens37' });
  });
});
