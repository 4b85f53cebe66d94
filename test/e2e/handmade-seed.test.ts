/**
 * Proves the e2e rig itself with a small hand-written seed (independent of kubestation's
 * generator): real cloud-init in the Debian guest reads a genisoimage NoCloud ISO, renames
 * the NICs by MAC, installs the stand-in packages from the image's signed local repository,
 * and the image's hook reports and powers off. When this passes and the generated-seed
 * test fails, the product seed is at fault, not the rig. (The failure switch is exercised
 * by kubestation-seeds.test.ts.)
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, it } from 'vitest';
import { checkCloudInitSucceeded, checkNode, type NodeExpectation } from './support/node-checks.js';
import {
  STANDIN_APT_REPOSITORY,
  boot,
  describeImage,
  ensureGuestImage,
  logTiming,
  readBack,
  runDir,
  writeSeedIso,
  type GuestImage,
} from './support/rig.js';

const KUBEADM_CONFIG = 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n# hand-made e2e seed\n';

const node: NodeExpectation = {
  hostname: 'e2e-handmade',
  hosts: [['172.100.100.10', 'e2e-handmade']],
  user: {
    name: 'pista',
    sshAuthorizedKeys: [
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eHandMadeSeedKeyOnlyForTheRigXXXXXXXXXXXX e2e',
    ],
  },
  timezone: 'Asia/Seoul',
  locale: 'ko_KR.UTF-8',
  ntpServers: ['time.ravnus.com'],
  nics: [
    { name: 'ens33', mac: '00:50:56:3e:00:10', address: '192.168.5.10', prefix: 24 },
    { name: 'ens37', mac: '00:50:56:3e:00:11', address: '172.100.100.10', prefix: 24 },
  ],
  defaultRoute: { via: '192.168.5.2', dev: 'ens33' },
  kernelModules: ['overlay', 'br_netfilter'],
  sysctl: { 'net.ipv4.ip_forward': '1', 'net.bridge.bridge-nf-call-iptables': '1' },
  firewallAllows: [{ to: '22/tcp' }, { to: '6443/tcp' }],
  kubeadm: { subcommand: 'init', configText: KUBEADM_CONFIG },
};

function indent(text: string, spaces: number): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
}

/** A minimal seed doing by hand what kubestation's generated seed does. */
function handmadeSeed(aptKey: string): Record<string, string> {
  const [nat, hostOnly] = node.nics as [NicLike, NicLike];
  const userData = `#cloud-config
hostname: ${node.hostname}
manage_etc_hosts: false
timezone: ${node.timezone}
locale: ${node.locale}
users:
  - name: ${node.user.name}
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/bash
    ssh_authorized_keys: ${JSON.stringify(node.user.sshAuthorizedKeys)}
ntp:
  enabled: true
  servers: ${JSON.stringify(node.ntpServers)}
apt:
  sources:
    kubernetes:
      source: "deb [signed-by=$KEY_FILE] ${STANDIN_APT_REPOSITORY} /"
      key: |
${indent(aptKey, 8)}
package_update: true
packages: [containerd, kubelet, kubeadm, kubectl]
write_files:
  - path: /etc/hosts
    content: |
      127.0.0.1 localhost
      ${hostOnly.address} ${node.hostname}
  - path: /etc/modules-load.d/k8s.conf
    content: |
${indent(node.kernelModules.join('\n'), 6)}
  - path: /etc/sysctl.d/99-k8s.conf
    content: |
${indent(
  Object.entries(node.sysctl)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n'),
  6,
)}
  - path: /etc/kubernetes/kubeadm.yaml
    content: |
${indent(KUBEADM_CONFIG, 6)}
runcmd:
  - [sh, -c, "modprobe overlay && modprobe br_netfilter && sysctl --system >/dev/null"]
  - [sh, -c, "swapoff -a && sed -i '/ swap /d' /etc/fstab"]
  - [sh, -c, "mkdir -p /etc/containerd && containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' >/etc/containerd/config.toml && systemctl restart containerd"]
  - [sh, -c, "ufw allow 22/tcp && ufw allow 6443/tcp && ufw --force enable"]
  - [kubeadm, init, --config, /etc/kubernetes/kubeadm.yaml]
`;
  const networkConfig = `version: 2
ethernets:
  nat:
    match: {macaddress: "${nat.mac}"}
    set-name: ${nat.name}
    addresses: [${nat.address}/${nat.prefix}]
    routes: [{to: default, via: ${node.defaultRoute.via}}]
    nameservers: {addresses: [8.8.8.8]}
  hostonly:
    match: {macaddress: "${hostOnly.mac}"}
    set-name: ${hostOnly.name}
    addresses: [${hostOnly.address}/${hostOnly.prefix}]
`;
  return {
    'user-data': userData,
    'meta-data': `instance-id: ${node.hostname}-1\nlocal-hostname: ${node.hostname}\n`,
    'network-config': networkConfig,
  };
}
type NicLike = NodeExpectation['nics'][number];

describe('e2e rig with a hand-made seed', () => {
  let image: GuestImage;

  beforeAll(async () => {
    image = await ensureGuestImage();
    logTiming(describeImage(image));
  });

  it('configures the node: cloud-init, identity, locale, time, network, kernel, firewall, containerd then kubeadm', async () => {
    const dir = await runDir('handmade');
    const seedIso = await writeSeedIso(dir, handmadeSeed(await readFile(image.aptKeyPath, 'utf8')));
    const result = await boot({
      name: 'handmade',
      dir,
      image,
      seedIso,
      macs: node.nics.map((nic) => nic.mac),
    });
    logTiming(`hand-made seed: boot to power-off ${result.seconds} s`);
    const root = await readBack(result);
    await checkCloudInitSucceeded(result, root);
    await checkNode(result, root, node);
  });
});
