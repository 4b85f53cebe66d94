// cluster.yaml files for the benches: the shipped one with its nodes replaced by a control plane and N-1
// workers, as the simulators' own helper writes it (the verify scaling test uses the same one).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root } from './measure.mjs';

const { clusterYamlWithNodes } = await import(path.join(root, 'dist/simulators/simulated-verify.js'));

export function clusterYaml(nodeCount) {
  return clusterYamlWithNodes(readFileSync(path.join(root, 'cluster.yaml'), 'utf8'), nodeCount);
}
