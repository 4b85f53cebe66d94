/**
 * `kubestation doctor [--json] [--cluster file]`: checks the known causes of
 * a broken lab and prints the fix for each (src/day2/doctor.ts). Exit code 1
 * when a check fails, 0 otherwise (warnings included).
 */
import type { CommandContext } from './context.js';
import { loadDay2Spec, openVmrest, parseReportArgs } from './support.js';
import { formatDoctorReport, runDoctor } from '../day2/doctor.js';
import { KubestationError } from '../errors.js';
import type { VmrestClient } from '../vmrest/client.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} doctor [--json] [--cluster file]

Diagnoses the known failure causes: vmrest not running or wrong credentials,
host networks differing from cluster.yaml, static addresses inside a DHCP pool,
template missing or powered on, seed ISOs left after bootstrap, an expired join
token, node InternalIP not on the host-only network, CNI pods not running and
node clocks out of sync. Prints ok / WARN / FAIL and the fix for each.
Exit code 1 when a check fails.

  --json          print the report as JSON
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export async function run(ctx: CommandContext): Promise<number> {
  const values = parseReportArgs(ctx, 'doctor', help);
  if (!values) return 0;
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  let vmrest: VmrestClient | undefined;
  let vmrestUnavailable: KubestationError | undefined;
  try {
    vmrest = await openVmrest(ctx, spec);
  } catch (error) {
    if (!(error instanceof KubestationError)) throw error;
    vmrestUnavailable = error;
  }
  try {
    const report = await runDoctor(spec, {
      vmrest,
      vmrestUnavailable,
      kube,
      installFolder: spec.vmware.installFolder,
    });
    ctx.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await vmrest?.close();
  }
}
