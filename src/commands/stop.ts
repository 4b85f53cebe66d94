/**
 * `kubestation stop [--node NAME] [--force] [--timeout S] [--dry-run] [--json]`:
 * shuts the lab's guests down through vmrest, workers first and the control
 * plane last (src/day2/lab-power.ts).
 */
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { loadDay2Spec, runWithVmrest, terminalConfirm } from './support.js';
import { stopLab, type LabTiming } from '../day2/lab-power.js';
import { createLabView } from '../day2/lab-view.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} stop [--node NAME] [--force] [--timeout SECONDS] [--dry-run] [--json] [--cluster file]

Shuts the lab down cleanly: each guest is asked to shut down through vmrest
(this needs VMware Tools, open-vm-tools, running in the guest), the workers
first and the control plane last, each within --timeout. A node that does not
shut down in time (or whose Tools do not report) is powered off hard only
with --force, or when you answer yes on a terminal. The seed ISO is detached
from every VM found powered off. Run it again to finish a partial stop.
Start the lab again with \`${COMMAND_PREFIX} start\`.

  --node NAME         stop only this node
  --force             power off hard a node that does not shut down
  --timeout SECONDS   how long each guest may take to shut down (default 180)
  --dry-run           print the plan only
  --json              one JSON event per line
  --cluster file      default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export interface LabCommandOverrides {
  /** Asks before a hard power-off; default: a terminal prompt when stdin is a TTY. */
  confirm?: ((question: string) => Promise<boolean>) | undefined;
  timing?: LabTiming;
}

/** --timeout in seconds, as milliseconds; undefined when not given. */
export function parseTimeoutOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!(seconds > 0))
    throw new KubestationError(
      'BAD_OPTION',
      `--timeout must be a positive number of seconds, got "${value}"`,
      { fix: 'e.g. --timeout 300' },
    );
  return seconds * 1000;
}

export async function runStop(ctx: CommandContext, overrides: LabCommandOverrides = {}): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'stop',
    help,
    options: {
      node: { type: 'string' },
      force: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      cluster: { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const shutdownTimeoutMs = parseTimeoutOption(values.timeout);
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  const view = createLabView(values.json ? 'json' : 'plain', ctx.stdout);
  const confirm = overrides.confirm ?? (process.stdin.isTTY ? terminalConfirm : undefined);
  return runWithVmrest(
    ctx,
    spec,
    'stop interrupted; run the same command again to finish (nodes already off are skipped)',
    async (vmrest, signal) => {
      const result = await stopLab(
        spec,
        {
          vmrest,
          kube,
          emit: view.emit,
          confirmHardOff: confirm
            ? (node, reason) =>
                confirm(`${node}: ${reason}. Power it off hard (like pulling the plug)? [y/N] `)
            : undefined,
        },
        {
          ...overrides.timing,
          ...(shutdownTimeoutMs ? { shutdownTimeoutMs } : {}),
          node: values.node,
          force: values.force,
          dryRun: values['dry-run'],
          signal,
        },
      );
      if (values['dry-run']) return 0;
      const hard = result.nodes.filter((n) => n.outcome === 'powered off hard').map((n) => n.node);
      if (hard.length > 0) view.line(`powered off hard: ${hard.join(', ')}`);
      view.line(
        result.labStopped
          ? `lab ${spec.name} stopped; start it with \`${COMMAND_PREFIX} start\``
          : `stopped ${result.nodes.map((n) => n.node).join(', ')}; the rest of the lab keeps running`,
      );
      return 0;
    },
    true,
  );
}

export function run(ctx: CommandContext): Promise<number> {
  return runStop(ctx);
}
