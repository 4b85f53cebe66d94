/**
 * A node's three NoCloud documents from the spec and the inputs. Pure and
 * deterministic: the same spec, secrets, keys and scripts give the same bytes.
 */
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { nodeCloudConfig } from './common.js';
import { controlPlaneInitParts } from './controlplane-init.js';
import type { SeedInputs } from './inputs.js';
import { instanceId, renderMetaData } from './meta-data.js';
import { renderNetworkConfig } from './network-config.js';
import { workerJoinParts } from './worker-join.js';
import { dumpYaml } from './yaml.js';

export interface NodeSeedDocuments {
  userData: string;
  metaData: string;
  networkConfig: string;
  instanceId: string;
}

export function userDataDocument(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs) {
  const role =
    node.role === 'control-plane'
      ? controlPlaneInitParts(spec, node, inputs)
      : workerJoinParts(spec, node, inputs);
  return nodeCloudConfig(spec, node, inputs, role);
}

export function renderUserData(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs): string {
  return `#cloud-config\n# kubestation seed for ${node.name} (${node.role}) in cluster ${spec.name}\n${dumpYaml(userDataDocument(spec, node, inputs))}`;
}

export function renderNodeSeed(spec: ClusterSpec, node: NodeSpec, inputs: SeedInputs): NodeSeedDocuments {
  const userData = renderUserData(spec, node, inputs);
  const networkConfig = renderNetworkConfig(spec, node);
  const id = instanceId(node, userData, networkConfig);
  return { userData, metaData: renderMetaData(node, id), networkConfig, instanceId: id };
}
