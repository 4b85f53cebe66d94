/** The control plane's own parts: CA, kubeadm init documents, the CNI documents, control-plane stages. */
import { stagesFor } from '../progress/stages.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { RoleParts } from './common.js';
import { GUEST } from './guest.js';
import type { SeedInputs } from './inputs.js';
import { CNI_FILES, cniFiles } from './parts/cni.js';
import { file, secretFile } from './parts/files.js';
import { controlPlaneFirewallRules } from './parts/firewall.js';
import {
  clusterConfiguration,
  initConfiguration,
  kubeletConfiguration,
  renderKubeadmDocuments,
} from './parts/kubeadm.js';

const withNewline = (pem: string) => (pem.endsWith('\n') ? pem : `${pem}\n`);

export function controlPlaneInitParts(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs): RoleParts {
  return {
    stages: stagesFor('control-plane'),
    files: [
      // kubeadm signs everything with a CA it finds in certificatesDir and never overwrites it.
      file(`${GUEST.kubernetesPki}/ca.crt`, withNewline(inputs.secrets.caCertPem)),
      secretFile(`${GUEST.kubernetesPki}/ca.key`, withNewline(inputs.secrets.caKeyPem)),
      secretFile(
        GUEST.kubeadmInit,
        renderKubeadmDocuments([
          initConfiguration(spec, node, inputs.secrets.bootstrapToken),
          clusterConfiguration(spec, node),
          kubeletConfiguration(spec),
        ]),
      ),
      ...cniFiles(spec),
    ],
    firewallRules: controlPlaneFirewallRules(spec),
    env: {
      KUBEADM_CONFIG: GUEST.kubeadmInit,
      EXPECTED_NODES: spec.nodes.map((n) => n.name).join(' '),
      CNI_MANIFEST_URLS: spec.kubernetes.cni.manifestUrls.join(' '),
      CNI_FLANNEL_CONFIGMAP_PATCH: CNI_FILES.flannelConfigMapPatch,
      CNI_FLANNEL_DAEMONSET_PATCH: CNI_FILES.flannelInterfacePatch,
      CNI_CALICO_INSTALLATION: CNI_FILES.calicoInstallation,
    },
  };
}
