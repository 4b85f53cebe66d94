/**
 * `kubestation build-template [--no-golden] [--force]`: the template VM every
 * node is cloned from (src/template/build.ts), and its golden bake
 * (src/template/golden.ts) unless --no-golden.
 */
import { existsSync } from 'node:fs';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { clusterFilePath, loadClusterSpec } from '../config/load.js';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { buildTemplate } from '../template/build.js';
import { bakeGolden } from '../template/golden.js';
import { createProgressSink } from '../template/progress-bar.js';
import { templateStatePath } from '../template/state.js';
import type { TemplateVmrest } from '../template/vmrest-port.js';
import { terminalPrompt } from '../vmrest/credentials.js';
import { createVmrestClient } from '../vmrest/client.js';
import { findWorkstationInstallFolder } from '../template/vdiskmanager.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} build-template [--no-golden] [--force] [--cluster <path>]

Builds the template VM every node is cloned from: downloads Ubuntu 24.04's
cloud image (resumable, SHA-256 checked), converts its disk for Workstation,
writes the .vmx and registers the VM through vmrest, then bakes it (golden):
boots it once to install containerd, kubelet, kubeadm, kubectl and pull every
image a node needs, so a node's first boot downloads nothing. Steps already
done are skipped; a bake that no longer matches cluster.yaml is done again.

  --no-golden       do not bake: every node downloads its packages and images
                    at first boot (an earlier bake stays in the template)
  --force           redo every step (re-verify the image, reconvert the disk, re-bake)
  --cluster <path>  cluster.yaml to use (default ./cluster.yaml or KUBESTATION_CLUSTER)
`;

/** Golden unless --no-golden; --golden (the old opt-in) with --no-golden is a contradiction. */
export function goldenChoice(values: { golden?: boolean; 'no-golden'?: boolean }): boolean {
  if (values.golden && values['no-golden']) {
    throw new KubestationError('BAD_OPTION', '--golden and --no-golden contradict each other.', {
      fix: 'Leave both out to bake the template (the default), or give --no-golden alone to skip the bake.',
    });
  }
  return !values['no-golden'];
}

export interface TemplateCommandOptions {
  golden: boolean;
  force: boolean;
}

/**
 * Builds the template (and with `golden`, bakes it), skipping the steps
 * already done, and prints what it did: the template's summary, or one line
 * when there was nothing to do. `up` runs this too, with its own client.
 */
export async function buildTemplateSteps(
  ctx: Pick<CommandContext, 'stdout' | 'env'>,
  spec: ClusterSpec,
  vmrest: TemplateVmrest,
  options: TemplateCommandOptions,
): Promise<void> {
  const log = (line: string): void => {
    ctx.stdout.write(`${line}\n`);
  };
  const name = spec.vmware.template.name;
  const built = await buildTemplate(
    spec,
    { vmrest, log, progress: createProgressSink(ctx.stdout), env: ctx.env },
    { force: options.force },
  );
  const golden = options.golden
    ? await bakeGolden(spec, { vmrest, log }, { force: options.force })
    : undefined;
  if (built.ran.length === 0 && (golden === undefined || golden.skipped)) {
    log(`template ${name} is up to date (nothing to do)`);
    return;
  }
  const image = built.state.image!;
  log(`template ${name} is ready: ${built.state.vm!.vmxPath}`);
  log(
    `  image ${image.fileName}${image.serial ? ` ${image.serial}` : ''}, sha256 ${image.sha256}; disk ${built.state.disk!.sizeGiB} GiB`,
  );
  if (golden) {
    log(
      `  golden: Kubernetes ${golden.marker.kubernetes.version}, containerd ${golden.marker.containerd.version}, ${golden.marker.images.length} images${golden.skipped ? ' (already baked)' : ''}`,
    );
  }
  log(`  recorded in ${templateStatePath(spec)}`);
}

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'build-template',
    help,
    options: {
      cluster: { type: 'string' },
      'no-golden': { type: 'boolean', default: false },
      // The default since golden became the default road; still accepted as typed before.
      golden: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const golden = goldenChoice(values);
  const spec = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  // Local checks before vmrest's credentials are asked for: no password typed for a run that cannot work.
  findWorkstationInstallFolder({
    configured: spec.vmware.installFolder,
    platform: process.platform,
    env: ctx.env,
    exists: existsSync,
  });
  const vmrest = await createVmrestClient({
    env: ctx.env,
    vmrestUrl: spec.vmware.vmrestUrl,
    prompt: process.stdin.isTTY ? terminalPrompt() : undefined,
  });
  try {
    await buildTemplateSteps(ctx, spec, vmrest, { golden, force: values.force });
    return 0;
  } finally {
    await vmrest.close();
  }
}
