import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { checkClusterSpec, clusterFilePath, readClusterFile } from '../config/load.js';
import type { ClusterSpec } from '../config/model.js';
import { formatProblem } from '../config/problems.js';

const help = `usage: kubestation validate [--json] [--cluster file]

Checks cluster.yaml and prints the lab it describes (nodes, addresses, MACs,
networks), or every problem at once with the field, the bad value and the fix.
Changes nothing. Exit code 1 when the file has a problem.

  --json          print the result as JSON
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

/** The lab at a glance: what `validate` prints and `--json` returns. */
export function summarizeSpec(spec: ClusterSpec) {
  return {
    cluster: spec.name,
    kubernetes: spec.kubernetes.patch ?? spec.kubernetes.minor,
    apiEndpoint: spec.kubernetes.apiEndpoint,
    cni: `${spec.kubernetes.cni.name} ${spec.kubernetes.cni.version}`,
    podSubnet: spec.kubernetes.podSubnet.cidr,
    serviceSubnet: spec.kubernetes.serviceSubnet.cidr,
    networks: {
      nat: `${spec.networks.nat.vmnet} ${spec.networks.nat.subnet.cidr} gateway ${spec.networks.nat.gateway}`,
      hostOnly: `${spec.networks.hostOnly.vmnet} ${spec.networks.hostOnly.subnet.cidr}`,
    },
    stateDir: spec.stateDir,
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      cpus: n.cpus,
      memoryMiB: n.memoryMiB,
      diskGiB: n.diskGiB,
      nat: { interface: n.nics.nat.guestName, address: `${n.nics.nat.address}/${n.nics.nat.prefix}`, mac: n.nics.nat.mac },
      hostOnly: { interface: n.nics.hostOnly.guestName, address: `${n.nics.hostOnly.address}/${n.nics.hostOnly.prefix}`, mac: n.nics.hostOnly.mac },
    })),
  };
}

function renderSummary(spec: ClusterSpec, file: string): string {
  const s = summarizeSpec(spec);
  const rows = s.nodes.map((n) =>
    [n.name, n.role, `${n.cpus} vCPU / ${n.memoryMiB / 1024} GiB / ${n.diskGiB} GiB`, `${n.nat.interface} ${n.nat.address} ${n.nat.mac}`, `${n.hostOnly.interface} ${n.hostOnly.address} ${n.hostOnly.mac}`],
  );
  const header = ['node', 'role', 'hardware', 'NAT NIC', 'host-only NIC'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    `${file}: valid`,
    `cluster ${s.cluster}: Kubernetes ${s.kubernetes}, API ${s.apiEndpoint}, CNI ${s.cni}`,
    `pods ${s.podSubnet}, services ${s.serviceSubnet}; NAT ${s.networks.nat}; host-only ${s.networks.hostOnly}`,
    `state folder ${s.stateDir}`,
    '',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, { command: 'validate', help, options: { cluster: { type: 'string' }, json: { type: 'boolean', default: false } } });
  if (!args) return 0;
  const { values } = args;
  const file = clusterFilePath(ctx.cwd, values.cluster, ctx.env);
  const { text, problem } = await readClusterFile(file);
  const { spec, problems } = problem || text === undefined ? { spec: undefined, problems: [problem!] } : checkClusterSpec(text, { sourcePath: file });
  if (values.json) {
    ctx.stdout.write(`${JSON.stringify(spec ? { valid: true, file, summary: summarizeSpec(spec) } : { valid: false, file, problems }, null, 2)}\n`);
    return spec ? 0 : 1;
  }
  if (!spec) {
    ctx.stderr.write(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  - ${formatProblem(p)}\n`).join('')}`);
    return 1;
  }
  ctx.stdout.write(renderSummary(spec, file));
  return 0;
}
