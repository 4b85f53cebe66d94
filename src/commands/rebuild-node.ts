/**
 * `kubestation rebuild-node <name> [--force] [--json] [--cluster file]`:
 * replaces one node's VM with a fresh one (src/day2/rebuild.ts). A worker is
 * drained and re-joined with a fresh token; the control plane needs --force
 * because rebuilding it re-creates the cluster (and every worker with it).
 */
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { createBuildView } from '../bringup/view.js';
import { vmnetDhcpConfigFile } from '../workstation/vmnet-dhcp.js';
import { lookUpVmrun } from '../template/vmrun.js';
import { workstationDefaultVmFolder } from '../bringup/host-folders.js';
import { cloudInitSeedWriter, vdiskmanagerGrower } from '../bringup/real-deps.js';
import { loadDay2Spec, runWithVmrest } from './support.js';
import { rebuildNode } from '../day2/rebuild.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} rebuild-node <node> [--force] [--json] [--cluster file]

Rebuilds one node from the template, leaving every other VM alone.
A worker is cordoned, drained (bounded) and removed from the cluster, gets a
fresh join token registered through the API server, and is followed until it
is Ready again. If the API server does not answer, the worker is rebuilt only
while the recorded join token is still valid.

The control plane is refused without --force: rebuilding it re-creates the
cluster (the CA is kept, so kubeconfigs stay valid) and rebuilds every worker.

  --force               allow rebuilding the control plane
  --json                one JSON event per line
  --deadline-scale <x>  multiply the first-boot stage deadlines (e.g. 2 on a slow host)
  --cluster file        default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'rebuild-node',
    help,
    allowPositionals: true,
    options: {
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'deadline-scale': { type: 'string' },
      cluster: { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values, positionals } = args;
  if (positionals.length !== 1) {
    throw new KubestationError(
      'BAD_ARGUMENTS',
      `rebuild-node takes exactly one node name, got ${positionals.length}`,
      { fix: `e.g. ${COMMAND_PREFIX} rebuild-node k8s-worker1` },
    );
  }
  const deadlineScale = values['deadline-scale'] === undefined ? 1 : Number(values['deadline-scale']);
  if (!(deadlineScale > 0))
    throw new KubestationError(
      'BAD_OPTION',
      `--deadline-scale must be a positive number, got "${values['deadline-scale']}"`,
      { fix: 'e.g. --deadline-scale 2' },
    );
  const { spec, kube } = await loadDay2Spec(ctx, values.cluster);
  const view = createBuildView(spec, values.json ? 'json' : 'plain', ctx.stdout);
  const log = (message: string): void => {
    ctx.stdout.write(
      values.json
        ? `${JSON.stringify({ time: new Date().toISOString(), type: 'log', message })}\n`
        : `${message}\n`,
    );
  };
  return runWithVmrest(
    ctx,
    spec,
    'rebuild interrupted; run the same command again to start the node over',
    async (vmrest, signal) => {
      try {
        const result = await rebuildNode(
          spec,
          positionals[0]!,
          {
            vmrest,
            writeSeed: cloudInitSeedWriter(),
            growDisk: vdiskmanagerGrower(spec, ctx.env),
            clonesFolder: await workstationDefaultVmFolder(ctx.env),
            kube,
            emit: view.emit,
            log,
            installFolder: spec.vmware.installFolder,
            vmrun: lookUpVmrun(spec, ctx.env),
            vmnetDhcpConfig: vmnetDhcpConfigFile(ctx.env, process.platform, spec.networks.hostOnly.vmnet),
          },
          { force: values.force, signal, timing: { deadlineScale } },
        );
        view.close();
        log(
          `rebuilt ${result.rebuilt.join(', ')}${result.readyConfirmed ? ' (Ready through the API server)' : ' (joined; Ready not confirmed: the API server did not answer)'}`,
        );
        return 0;
      } finally {
        view.close();
      }
    },
    true,
  );
}
