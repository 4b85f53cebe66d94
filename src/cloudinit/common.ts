/**
 * The cloud-config every node shares. A role renderer (controlplane-init.ts,
 * worker-join.ts) hands in what is its own — files, stages, firewall rules,
 * extra environment — and gets the whole document back.
 */
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../config/defaults.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { type StageDefinition } from '../progress/stages.js';
import { DETECTED_VERSION_PLACEHOLDER, GUEST, PINNED_SANDBOX_IMAGE, VXLAN_INTERFACE } from './guest.js';
import type { SeedInputs } from './inputs.js';
import { renderContainerdConfig } from './parts/containerd.js';
import { file, renderShellEnv, scriptFiles, type WriteFile } from './parts/files.js';
import { type FirewallRule, renderFirewallRules } from './parts/firewall.js';
import { osCloudConfig, osFiles } from './parts/os.js';
import { usersCloudConfig } from './parts/users.js';

export interface RoleParts {
  stages: readonly StageDefinition[];
  files: readonly WriteFile[];
  firewallRules: readonly FirewallRule[];
  /** Extra node.env variables only this role's stages read. */
  env: Readonly<Record<string, string>>;
}

/** The variables every stage script may read (cloud-init/lib/common.sh documents them). */
export function nodeEnvironment(spec: ClusterSpec, node: NodeSpec): Record<string, string> {
  const k = spec.kubernetes;
  return {
    KUBESTATION_NODE: node.name,
    KUBESTATION_ROLE: node.role,
    KUBESTATION_CLUSTER: spec.name,
    KUBESTATION_USER: spec.os.user.name,
    NODE_IP: node.nics.hostOnly.address,
    HOST_ONLY_INTERFACE: node.nics.hostOnly.guestName,
    K8S_MINOR: k.minor,
    K8S_PATCH: k.patch ?? '',
    K8S_PACKAGE_REPOSITORY: k.packageRepository,
    K8S_PACKAGE_KEY_URL: k.packageRepositoryKeyUrl,
    CONTAINERD_PACKAGE_SOURCE: k.containerdPackageSource,
    CONTAINERD_PACKAGE_KEY_URL: k.containerdPackageKeyUrl,
    CONTAINERD2_FIRST_MINOR: FIRST_MINOR_NEEDING_CONTAINERD2,
    API_ENDPOINT: k.apiEndpoint,
    CNI_NAME: k.cni.name,
    CNI_VERSION: k.cni.version,
    CNI_VXLAN_INTERFACE: VXLAN_INTERFACE[k.cni.name],
    FIREWALL_ENABLED: spec.firewall.enabled ? 'true' : 'false',
    FIREWALL_RULES: GUEST.firewallRules,
    CONTAINERD_CONFIG_V2: GUEST.containerdV2,
    CONTAINERD_CONFIG_V3: GUEST.containerdV3,
    PINNED_SANDBOX_IMAGE,
    VERSION_PLACEHOLDER: DETECTED_VERSION_PLACEHOLDER,
    GOLDEN_MARKER: GUEST.goldenMarker,
    CRI_SOCKET: GUEST.criSocket,
  };
}

/** `<stage> <deadline seconds>` per line, in order: the runner's whole schedule. */
export function renderStagesFile(stages: readonly StageDefinition[]): string {
  return `# stage deadline-seconds (written by kubestation; run in this order by bootstrap.sh)\n${stages.map((s) => `${s.name} ${s.deadlineSeconds}`).join('\n')}\n`;
}

export function nodeCloudConfig(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs, role: RoleParts) {
  const files: WriteFile[] = [
    ...osFiles(spec),
    file(GUEST.nodeEnv, renderShellEnv({ ...nodeEnvironment(spec, node), ...role.env })),
    file(GUEST.stagesFile, renderStagesFile(role.stages)),
    file(GUEST.firewallRules, renderFirewallRules(role.firewallRules)),
    file(GUEST.containerdV2, renderContainerdConfig(2)),
    file(GUEST.containerdV3, renderContainerdConfig(3)),
    ...role.files,
    ...scriptFiles(
      inputs.scripts,
      role.stages.map((s) => s.name),
    ),
  ];
  return {
    ...osCloudConfig(spec, node),
    ...usersCloudConfig(spec.os.user, inputs.sshAuthorizedKeys),
    write_files: files,
    // Everything after cloud-init's own modules is one runner with progress lines and deadlines.
    runcmd: [[`${GUEST.libDir}/bootstrap.sh`]],
  };
}
