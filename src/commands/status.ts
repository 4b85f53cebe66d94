/**
 * `kubestation status [--json] [--cluster file]`: per node, the VM (present,
 * power, addresses), the Kubernetes Node (Ready, version, roles) and the
 * last progress line of its console. See src/day2/status.ts.
 */
import type { CommandContext } from './context.js';
import { loadDay2Spec, openVmrest, parseReportArgs } from './support.js';
import { collectStatus, formatStatus } from '../day2/status.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} status [--json] [--cluster file]

Shows each node's VM (present, power state, addresses reported by VMware
Tools), its Kubernetes node (Ready, version, roles; when the API server
answers) and the last progress line on its serial console.

  --json          print the status as JSON
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export async function run(ctx: CommandContext): Promise<number> {
  const values = parseReportArgs(ctx, 'status', help);
  if (!values) return 0;
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  const vmrest = await openVmrest(ctx, spec);
  try {
    const status = await collectStatus(spec, { vmrest, kube });
    ctx.stdout.write(values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    return 0;
  } finally {
    await vmrest.close();
  }
}
