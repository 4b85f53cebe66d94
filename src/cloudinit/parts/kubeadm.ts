/**
 * kubeadm configuration documents (kubeadm.k8s.io/v1beta4, the only version
 * kubeadm 1.37 reads) as data. The control plane gets Init + Cluster +
 * Kubelet configuration, a worker a JoinConfiguration pinned to the cluster
 * CA (no unsafe skip).
 */
import type { ClusterSpec, NodeSpec } from '../../config/model.js';
import { DETECTED_VERSION_PLACEHOLDER, GUEST, nodeFqdn } from '../guest.js';
import { dumpYaml } from '../yaml.js';

export const KUBEADM_API_VERSION = 'kubeadm.k8s.io/v1beta4';
/** kubeadm's own group for node bootstrap tokens; its RBAC bindings target it. */
export const NODE_BOOTSTRAP_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

export interface JoinSecrets {
  /** "<id>.<secret>" */
  bootstrapToken: string;
  /** "sha256:<hex>" of the CA's SubjectPublicKeyInfo. */
  caCertHash: string;
}

function nodeRegistration(node: NodeSpec) {
  return {
    name: node.name,
    criSocket: GUEST.criSocket,
    // v1beta4: a list of {name, value}. Without node-ip the kubelet takes the NAT (default route) address.
    kubeletExtraArgs: [{ name: 'node-ip', value: node.nics.hostOnly.address }],
  };
}

/** "v1.37.2" when the spec pins a patch; otherwise the placeholder kubeadm-init.sh fills in on the node. */
export function kubernetesVersionField(spec: ClusterSpec): string {
  return spec.kubernetes.patch ? `v${spec.kubernetes.patch}` : DETECTED_VERSION_PLACEHOLDER;
}

export function initConfiguration(spec: ClusterSpec, node: NodeSpec, bootstrapToken: string) {
  const registration = nodeRegistration(node);
  return {
    apiVersion: KUBEADM_API_VERSION,
    kind: 'InitConfiguration',
    bootstrapTokens: [
      {
        token: bootstrapToken,
        description: `kubestation join token for cluster ${spec.name}`,
        ttl: spec.kubernetes.bootstrapTokenTtl,
        usages: ['signing', 'authentication'],
        groups: [NODE_BOOTSTRAP_GROUP],
      },
    ],
    localAPIEndpoint: {
      advertiseAddress: node.nics.hostOnly.address,
      bindPort: spec.kubernetes.apiServerPort,
    },
    // taints left out (nil) = kubeadm's control-plane NoSchedule taint; [] = no taint at all.
    nodeRegistration: spec.kubernetes.controlPlaneTaint ? registration : { ...registration, taints: [] },
  };
}

export function clusterConfiguration(spec: ClusterSpec, node: NodeSpec) {
  return {
    apiVersion: KUBEADM_API_VERSION,
    kind: 'ClusterConfiguration',
    // Always explicit: without it kubeadm asks dl.k8s.io for "stable-1".
    kubernetesVersion: kubernetesVersionField(spec),
    clusterName: spec.name,
    controlPlaneEndpoint: spec.kubernetes.apiEndpoint,
    certificatesDir: GUEST.kubernetesPki,
    networking: {
      podSubnet: spec.kubernetes.podSubnet.cidr,
      serviceSubnet: spec.kubernetes.serviceSubnet.cidr,
      dnsDomain: spec.kubernetes.dnsDomain,
    },
    apiServer: {
      certSANs: [node.nics.hostOnly.address, node.nics.nat.address, node.name, nodeFqdn(spec, node)],
    },
  };
}

/**
 * The kubelets' configuration. kubeadm init uploads it to the kubelet-config ConfigMap, so joining nodes get
 * it too. With the metrics add-on, serverTLSBootstrap: each kubelet asks the cluster for its serving
 * certificate (a kubernetes.io/kubelet-serving CSR, which kubestation approves only for the spec's nodes and
 * their addresses), so metrics-server verifies the kubelets it scrapes instead of running with
 * --kubelet-insecure-tls (https://kubernetes.io/docs/reference/access-authn-authz/kubelet-tls-bootstrapping/#certificate-rotation).
 */
export function kubeletConfiguration(spec: ClusterSpec) {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'systemd',
    ...(spec.addons.metrics.enabled ? { serverTLSBootstrap: true } : {}),
  };
}

export function joinConfiguration(spec: ClusterSpec, node: NodeSpec, secrets: JoinSecrets) {
  return {
    apiVersion: KUBEADM_API_VERSION,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: {
        apiServerEndpoint: spec.kubernetes.apiEndpoint,
        token: secrets.bootstrapToken,
        caCertHashes: [secrets.caCertHash],
      },
    },
    nodeRegistration: nodeRegistration(node),
  };
}

export function renderKubeadmDocuments(documents: readonly object[]): string {
  return documents.map((d) => dumpYaml(d)).join('---\n');
}
