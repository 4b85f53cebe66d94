/** NoCloud meta-data: the instance id changes whenever what the node is told changes, so cloud-init re-runs. */
import { createHash } from 'node:crypto';
import type { NodeSpec } from '../config/model.js';
import { dumpYaml } from './yaml.js';

export function instanceId(node: Pick<NodeSpec, 'name'>, userData: string, networkConfig: string): string {
  const digest = createHash('sha256').update(userData).update('\0').update(networkConfig).digest('hex');
  return `${node.name}-${digest.slice(0, 12)}`;
}

export function renderMetaData(node: Pick<NodeSpec, 'name'>, id: string): string {
  return dumpYaml({ 'instance-id': id, 'local-hostname': node.name });
}
