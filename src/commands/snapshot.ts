/**
 * `kubestation snapshot save|restore|list|delete [NAME]`: whole-lab
 * snapshots through Workstation's vmrun (src/day2/snapshot.ts).
 */
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { loadDay2Spec, runWithVmrest, terminalConfirm } from './support.js';
import type { StartCommandOverrides } from './start.js';
import { createLabView } from '../day2/lab-view.js';
import {
  deleteSnapshot,
  listLabSnapshots,
  restoreSnapshot,
  saveSnapshot,
  validateSnapshotName,
} from '../day2/snapshot.js';
import { apiVerifier } from '../bringup/verify-step.js';
import { workstationVmrun } from '../template/vmrun.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} snapshot save NAME [--live] [--replace] [--force] [--json]
       ${COMMAND_PREFIX} snapshot restore NAME [--force] [--json]
       ${COMMAND_PREFIX} snapshot list [--json]
       ${COMMAND_PREFIX} snapshot delete NAME [--json]

Whole-lab snapshots: one Workstation snapshot per node, all named NAME, taken
with Workstation's vmrun (vmrest has no snapshot endpoint).

  save      stops the lab (clean disks, no memory image), snapshots every node,
            and starts the lab again (with verify) if it was running
  restore   stops the lab, reverts every node to NAME, starts it and verifies
  list      each snapshot with the nodes that have it and when it was taken;
            a name only some nodes have is marked incomplete
  delete    removes NAME from every node

  --live      save: snapshot the running VMs with their memory instead of
              stopping them (their clocks jump back on restore; see the output)
  --replace   save: take NAME again where it exists
  --force     power off hard a node that does not shut down when stopping
  --json      one JSON event per line (list: the listing as JSON)
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml

NAME: letters, digits, ".", "_" and "-", starting with a letter or digit.
A save or restore that failed part-way is finished by running it again.
`;

export interface SnapshotCommandOverrides extends StartCommandOverrides {}

export async function runSnapshot(
  ctx: CommandContext,
  overrides: SnapshotCommandOverrides = {},
): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'snapshot',
    help,
    allowPositionals: true,
    options: {
      live: { type: 'boolean', default: false },
      replace: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      cluster: { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values, positionals } = args;
  const [action, name, ...extra] = positionals;
  const actions = ['save', 'restore', 'list', 'delete'];
  if (
    !action ||
    !actions.includes(action) ||
    extra.length > 0 ||
    (action === 'list') !== (name === undefined)
  ) {
    throw new KubestationError(
      'BAD_ARGUMENTS',
      `snapshot takes one of ${actions.join(', ')} and, except for list, a name; got "${positionals.join(' ')}"`,
      {
        fix: `e.g. \`${COMMAND_PREFIX} snapshot save before-upgrade\`, \`${COMMAND_PREFIX} snapshot list\``,
      },
    );
  }
  if (action !== 'list') validateSnapshotName(name);
  if ((values.live || values.replace) && action !== 'save')
    throw new KubestationError('BAD_OPTION', '--live and --replace belong to snapshot save', {
      fix: `drop them from snapshot ${action}`,
    });
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  const view = createLabView(values.json ? 'json' : 'plain', ctx.stdout);
  const confirm = overrides.confirm ?? (process.stdin.isTTY ? terminalConfirm : undefined);
  return runWithVmrest(
    ctx,
    spec,
    `snapshot ${action} interrupted; run the same command again to finish it`,
    async (vmrest, signal) => {
      const deps = {
        vmrest,
        kube,
        emit: view.emit,
        vmrun: workstationVmrun(spec, ctx.env),
        verify: apiVerifier({
          server: kube.server,
          kubeconfig: kube.kubeconfig,
          ...(overrides.verify ? { verify: overrides.verify } : {}),
        }),
        confirmHardOff: confirm
          ? (node: string, reason: string) =>
              confirm(`${node}: ${reason}. Power it off hard (like pulling the plug)? [y/N] `)
          : undefined,
      };
      const options = {
        ...overrides.timing,
        live: values.live,
        replace: values.replace,
        force: values.force,
        signal,
      };
      switch (action) {
        case 'list': {
          const listing = await listLabSnapshots(spec, deps);
          if (values.json) ctx.stdout.write(`${JSON.stringify(listing, null, 2)}\n`);
          else if (listing.length === 0) view.line(`no snapshots of lab ${spec.name}`);
          else {
            for (const s of listing) {
              const when = [...new Set(s.nodes.map((n) => n.takenAt ?? 'time unknown'))].sort();
              view.line(
                `${s.name}  ${s.complete ? 'complete' : `INCOMPLETE (missing on ${s.missingOn.join(', ')})`}  taken ${when[0] === when.at(-1) ? when[0] : `${when[0]} … ${when.at(-1)}`}  nodes: ${s.nodes.map((n) => n.node).join(', ')}`,
              );
            }
          }
          return 0;
        }
        case 'save': {
          const result = await saveSnapshot(spec, deps, name!, options);
          view.line(
            `snapshot ${name} saved on every node of ${spec.name}${result.restarted ? `; lab started again: ${result.verifySummary ?? 'verify passed'}` : ''}`,
          );
          return 0;
        }
        case 'restore': {
          const result = await restoreSnapshot(spec, deps, name!, options);
          view.line(
            `lab ${spec.name} restored to ${name} and started: ${result.verifySummary ?? 'verify passed'}`,
          );
          return 0;
        }
        default: {
          const result = await deleteSnapshot(spec, deps, name!);
          view.line(`snapshot ${name} deleted from ${result.deletedOn.join(', ')}`);
          return 0;
        }
      }
    },
    true,
  );
}

export function run(ctx: CommandContext): Promise<number> {
  return runSnapshot(ctx);
}
