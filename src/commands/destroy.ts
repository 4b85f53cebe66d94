/**
 * `kubestation destroy [--yes] [--purge] [--purge-template] [--cluster file]`: lists what it
 * will delete (only VMs carrying this cluster's marker, their DHCP
 * reservations, the seed ISOs; VMs of the same name that are not ours are
 * listed as left alone), asks for confirmation, then deletes.
 * See src/day2/destroy.ts.
 */
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { loadDay2Spec, openVmrest, terminalConfirm } from './support.js';
import { executeDestroy, formatDestroyPlan, planDestroy, planIsEmpty } from '../day2/destroy.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} destroy [--yes] [--purge] [--purge-template] [--cluster file]

Deletes the lab: every VM whose .vmx carries this cluster's kubestation marker
(powered off first), the nodes' DHCP reservations and seed ISOs. VMs without
the marker, or with another cluster's, are never touched, even with a node's
name. The CA, join token, SSH key, admin kubeconfig and logs are kept, so a
later build-vms makes a cluster the old kubeconfig still works with. The
template VM and the Ubuntu image it was made from are kept for the next build.
It lists exactly what it will delete and asks first.

  --yes             do not ask for confirmation (needed when not on a terminal)
  --purge           also delete the state folder (CA, token, keys, kubeconfig,
                    logs), except the template's files
  --purge-template  also delete the template VM and the cached Ubuntu image
  --cluster file    default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export interface DestroyCommandOverrides {
  /** Asks the user; default: a terminal prompt when stdin is a TTY. */
  confirm?: (question: string) => Promise<boolean>;
}

export async function runDestroy(
  ctx: CommandContext,
  overrides: DestroyCommandOverrides = {},
): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'destroy',
    help,
    options: {
      yes: { type: 'boolean', short: 'y', default: false },
      purge: { type: 'boolean', default: false },
      'purge-template': { type: 'boolean', default: false },
      cluster: { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const { spec } = await loadDay2Spec(ctx, values.cluster);
  const vmrest = await openVmrest(ctx, spec);
  try {
    const plan = await planDestroy(spec, vmrest, {
      purge: values.purge,
      purgeTemplate: values['purge-template'],
    });
    ctx.stdout.write(formatDestroyPlan(plan));
    if (planIsEmpty(plan)) {
      ctx.stdout.write('nothing to delete\n');
      return 0;
    }
    if (!values.yes) {
      const confirm = overrides.confirm ?? (process.stdin.isTTY ? terminalConfirm : undefined);
      if (!confirm) {
        throw new KubestationError(
          'DESTROY_NOT_CONFIRMED',
          'destroy needs a confirmation and there is no terminal to ask: nothing was deleted',
          {
            fix: 'read the list above, then run the same command with --yes',
          },
        );
      }
      if (!(await confirm(`delete the above for cluster ${spec.name}? [y/N] `))) {
        ctx.stdout.write('nothing was deleted\n');
        return 1;
      }
    }
    const result = await executeDestroy(spec, vmrest, plan, (line) => ctx.stdout.write(`${line}\n`));
    ctx.stdout.write(
      `destroyed: ${result.deletedVms.length} VM(s), ${result.removedReservations.length} DHCP reservation(s), ${result.removedFiles.length} file(s)/folder(s)\n`,
    );
    return 0;
  } finally {
    await vmrest.close();
  }
}

export function run(ctx: CommandContext): Promise<number> {
  return runDestroy(ctx);
}
