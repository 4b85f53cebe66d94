/**
 * `kubestation seed-isos`: renders each node's cloud-init seed and writes it
 * with its ISO into the state folder. Offline: no VMware, no network (the
 * Kubernetes apt key is fetched by the nodes at boot).
 */
import path from 'node:path';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { prepareSeedInputs, writeNodeSeed, type NodeSeedResult } from '../cloudinit/write-seed.js';
import { KubestationError } from '../errors.js';
import { clusterFilePath, loadClusterSpec } from '../config/load.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const HELP = `usage: ${COMMAND_PREFIX} seed-isos [--cluster cluster.yaml] [--node NAME] [--state-dir DIR] [--json]

Writes <state-dir>/<node>/{user-data,meta-data,network-config,seed.iso} for every node
(or only --node), creating the cluster CA, join token and SSH key on the first run.
`;

export function selectNodes(spec: ClusterSpec, name: string | undefined): NodeSpec[] {
  if (name === undefined) return spec.nodes;
  const node = spec.nodes.find((n) => n.name === name);
  if (!node) {
    throw new KubestationError(
      'UNKNOWN_NODE',
      `node '${name}' is not in the cluster spec (nodes: ${spec.nodes.map((n) => n.name).join(', ')})`,
      {
        fix: 'pass --node with one of those names, or leave --node out to write every node',
      },
    );
  }
  return [node];
}

function describe(result: NodeSeedResult): string {
  const { iso } = result;
  const changedFiles = [...result.files, iso].filter((f) => f.changed).map((f) => f.name);
  const state = changedFiles.length === 0 ? 'unchanged' : `changed (${changedFiles.join(', ')})`;
  return `${result.node}: ${iso.path}\n  ${iso.size} bytes  sha256 ${iso.sha256}  ${state}  instance-id ${result.instanceId}\n`;
}

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'seed-isos',
    help: HELP,
    options: {
      cluster: { type: 'string' },
      node: { type: 'string' },
      'state-dir': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const loaded = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  const spec: ClusterSpec = values['state-dir']
    ? { ...loaded, stateDir: path.resolve(ctx.cwd, values['state-dir']) }
    : loaded;
  const nodes = selectNodes(spec, values.node);
  const { inputs, created, sshPrivateKeyPath } = await prepareSeedInputs(spec);
  const results: NodeSeedResult[] = [];
  for (const node of nodes) results.push(await writeNodeSeed(spec, node, inputs));

  if (values.json) {
    ctx.stdout.write(
      `${JSON.stringify({ stateDir: spec.stateDir, created, sshPrivateKey: sshPrivateKeyPath, nodes: results }, null, 2)}\n`,
    );
    return 0;
  }
  for (const file of created) ctx.stdout.write(`created ${file}\n`);
  for (const result of results) ctx.stdout.write(describe(result));
  if (sshPrivateKeyPath)
    ctx.stdout.write(
      `log in with: ssh -i "${sshPrivateKeyPath}" ${spec.os.user.name}@<node host-only address>\n`,
    );
  return 0;
}
