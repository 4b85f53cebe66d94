/** A worker's own parts: the JoinConfiguration pinned to the cluster CA, worker stages. */
import { stagesFor } from '../progress/stages.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { RoleParts } from './common.js';
import { GUEST } from './guest.js';
import type { SeedInputs } from './inputs.js';
import { secretFile } from './parts/files.js';
import { workerFirewallRules } from './parts/firewall.js';
import { joinConfiguration, renderKubeadmDocuments } from './parts/kubeadm.js';

export function workerJoinParts(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs): RoleParts {
  return {
    stages: stagesFor('worker'),
    files: [
      secretFile(GUEST.kubeadmJoin, renderKubeadmDocuments([joinConfiguration(spec, node, inputs.secrets)])),
    ],
    firewallRules: workerFirewallRules(spec),
    env: { KUBEADM_CONFIG: GUEST.kubeadmJoin },
  };
}
