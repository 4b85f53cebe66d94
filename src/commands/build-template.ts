/**
 * `kubestation build-template [--golden] [--force]`: the template VM every
 * node is cloned from (src/template/build.ts), and optionally its golden
 * bake (src/template/golden.ts).
 */
import { parseArgs } from 'node:util';
import type { CommandContext } from '../cli.js';
import { clusterFilePath, loadClusterSpec } from '../spec/load.js';
import { buildTemplate } from '../template/build.js';
import { bakeGolden } from '../template/golden.js';
import { createProgressSink } from '../template/progress-bar.js';
import { templateStatePath } from '../template/state.js';
import { terminalPrompt } from '../vmrest/credentials.js';
import { createVmrestClient } from '../vmrest/client.js';

const help = `usage: kubestation build-template [--golden] [--force] [--cluster <path>]

Builds the template VM every node is cloned from: downloads Ubuntu 24.04's
cloud image (resumable, SHA-256 checked), converts its disk for Workstation,
writes the .vmx and registers the VM through vmrest. Steps already done are
skipped.

  --golden          also bake it: boot it once to install containerd, kubelet,
                    kubeadm, kubectl and pre-pull the images, so nodes start faster
  --force           redo every step (re-verify the image, reconvert the disk, re-bake)
  --cluster <path>  cluster.yaml to use (default ./cluster.yaml or KUBESTATION_CLUSTER)
`;

export async function run(ctx: CommandContext): Promise<number> {
  const { values } = parseArgs({
    args: ctx.argv,
    options: {
      cluster: { type: 'string' },
      golden: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    ctx.stdout.write(help);
    return 0;
  }
  const spec = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  const log = (line: string): void => {
    ctx.stdout.write(`${line}\n`);
  };
  const vmrest = await createVmrestClient({
    env: ctx.env,
    vmrestUrl: spec.vmware.vmrestUrl,
    prompt: process.stdin.isTTY ? terminalPrompt() : undefined,
  });
  try {
    const built = await buildTemplate(spec, { vmrest, log, progress: createProgressSink(ctx.stdout), env: ctx.env }, { force: values.force });
    const image = built.state.image!;
    log(`template ${spec.vmware.template.name} is ready: ${built.state.vm!.vmxPath}`);
    log(`  image ${image.fileName}${image.serial ? ` ${image.serial}` : ''}, sha256 ${image.sha256}; disk ${built.state.disk!.sizeGiB} GiB`);
    if (values.golden) {
      const golden = await bakeGolden(spec, { vmrest, log }, { force: values.force });
      log(`  golden: Kubernetes ${golden.marker.kubernetes.version}, containerd ${golden.marker.containerd.version}, ${golden.marker.images.length} images${golden.skipped ? ' (already baked)' : ''}`);
    }
    log(`  recorded in ${templateStatePath(spec)}`);
    return 0;
  } finally {
    await vmrest.close();
  }
}
