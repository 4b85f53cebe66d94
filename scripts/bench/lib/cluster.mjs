// cluster.yaml files for the benches: the shipped one with its nodes replaced by a control plane and N-1 workers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { root } from './measure.mjs';

export function clusterYaml(nodeCount) {
  const base = readFileSync(path.join(root, 'cluster.yaml'), 'utf8');
  const nodes = [
    '  - name: k8s-master\n    role: control-plane\n    natAddress: 192.168.5.11\n    hostOnlyAddress: 172.100.100.2',
  ];
  for (let i = 1; i < nodeCount; i++) {
    nodes.push(
      `  - name: k8s-worker${i}\n    role: worker\n    natAddress: 192.168.5.${11 + i}\n    hostOnlyAddress: 172.100.100.${2 + i}`,
    );
  }
  // The nodes: block runs to the next top-level key.
  const replaced = base.replace(/^nodes:\n(?:[ \t].*\n|\n)*/m, `nodes:\n${nodes.join('\n')}\n\n`);
  if (!/^nodes:\n/m.test(base)) throw new Error('cluster.yaml has no nodes: list the bench can replace');
  return replaced;
}
