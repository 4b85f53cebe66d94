/**
 * What the control plane applies after the CNI's upstream manifests, as
 * documents rendered here (no network needed on the host):
 * - flannel: a merge patch for ConfigMap kube-flannel-cfg (net-conf.json with
 *   the spec's pod CIDR) and a JSON patch adding --iface=ens37 to the
 *   DaemonSet's flannel container (checked by name first, so a changed
 *   manifest fails loudly instead of patching the wrong container);
 * - calico: the operator's Installation (pool = pod CIDR, VXLAN, addresses
 *   autodetected on ens37).
 */
import type { ClusterSpec } from '../../config/model.js';
import { GUEST } from '../guest.js';
import { dumpYaml } from '../yaml.js';
import { file, type WriteFile } from './files.js';

export const FLANNEL = {
  namespace: 'kube-flannel',
  configMap: 'kube-flannel-cfg',
  daemonSet: 'kube-flannel-ds',
  container: 'kube-flannel',
} as const;

export function flannelNetConf(spec: ClusterSpec) {
  return { Network: spec.kubernetes.podSubnet.cidr, EnableNFTables: false, Backend: { Type: 'vxlan' } };
}

export function flannelConfigMapPatch(spec: ClusterSpec) {
  return { data: { 'net-conf.json': `${JSON.stringify(flannelNetConf(spec), null, 2)}\n` } };
}

export function flannelInterfacePatch(spec: ClusterSpec) {
  return [
    { op: 'test', path: '/spec/template/spec/containers/0/name', value: FLANNEL.container },
    {
      op: 'add',
      path: '/spec/template/spec/containers/0/args/-',
      value: `--iface=${spec.controlPlane.nics.hostOnly.guestName}`,
    },
  ];
}

export function calicoInstallation(spec: ClusterSpec) {
  return {
    apiVersion: 'operator.tigera.io/v1',
    kind: 'Installation',
    metadata: { name: 'default' },
    spec: {
      calicoNetwork: {
        bgp: 'Disabled',
        ipPools: [
          {
            name: 'default-ipv4-ippool',
            cidr: spec.kubernetes.podSubnet.cidr,
            blockSize: 26,
            encapsulation: 'VXLAN',
            natOutgoing: 'Enabled',
            nodeSelector: 'all()',
          },
        ],
        nodeAddressAutodetectionV4: { interface: spec.controlPlane.nics.hostOnly.guestName },
      },
    },
  };
}

/** Files the cni stage reads, named in node.env (CNI_* variables). */
export const CNI_FILES = {
  flannelConfigMapPatch: `${GUEST.cniDir}/flannel-configmap.patch.json`,
  flannelInterfacePatch: `${GUEST.cniDir}/flannel-daemonset.patch.json`,
  calicoInstallation: `${GUEST.cniDir}/calico-installation.yaml`,
} as const;

export function cniFiles(spec: ClusterSpec): WriteFile[] {
  if (spec.kubernetes.cni.name === 'flannel') {
    return [
      file(CNI_FILES.flannelConfigMapPatch, `${JSON.stringify(flannelConfigMapPatch(spec), null, 2)}\n`),
      file(CNI_FILES.flannelInterfacePatch, `${JSON.stringify(flannelInterfacePatch(spec), null, 2)}\n`),
    ];
  }
  return [file(CNI_FILES.calicoInstallation, dumpYaml(calicoInstallation(spec)))];
}
