/**
 * `kubestation start [--dry-run] [--json]`: powers the lab on, control plane
 * first, waits for the API server and every node Ready, then runs verify in
 * full (src/day2/lab-power.ts). Exit 0 only when verify passed.
 */
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { loadDay2Spec, runWithVmrest } from './support.js';
import type { LabCommandOverrides } from './stop.js';
import { startLab } from '../day2/lab-power.js';
import { createLabView } from '../day2/lab-view.js';
import { apiVerifier } from '../bringup/verify-step.js';
import type { VerifyOptions } from '../verify/verify-cluster.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} start [--dry-run] [--json] [--cluster file]

Starts a stopped lab: the control plane first, then (once the API server
answers on the host-only address, or KUBESTATION_API_SERVER) the workers;
waits until every node is Ready, then runs verify in full (DNS, pod-to-pod
across nodes, Services, NodePorts, clocks): a restart is where kubeadm labs
break. A seed ISO still attached to a powered-off VM is detached first.
Exit code 0 only when verify passed.

  --dry-run       print the plan only
  --json          one JSON event per line
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export interface StartCommandOverrides extends LabCommandOverrides {
  verify?: Omit<VerifyOptions, 'signal' | 'handleSigint' | 'log'>;
}

export async function runStart(ctx: CommandContext, overrides: StartCommandOverrides = {}): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'start',
    help,
    options: {
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      cluster: { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  const view = createLabView(values.json ? 'json' : 'plain', ctx.stdout);
  return runWithVmrest(
    ctx,
    spec,
    'start interrupted; run the same command again (running nodes are left as they are)',
    async (vmrest, signal) => {
      const verify = apiVerifier({
        server: kube.server,
        kubeconfig: kube.kubeconfig,
        ...(overrides.verify ? { verify: overrides.verify } : {}),
      });
      const result = await startLab(spec, { vmrest, kube, emit: view.emit }, verify, {
        ...overrides.timing,
        dryRun: values['dry-run'],
        signal,
      });
      if (!values['dry-run'])
        view.line(`lab ${spec.name} started: ${result.verifySummary ?? 'verify passed'}`);
      return 0;
    },
    true,
  );
}

export function run(ctx: CommandContext): Promise<number> {
  return runStart(ctx);
}
