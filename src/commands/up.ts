/**
 * `kubestation up`: the template, then the cluster, in one process — so the
 * vmrest credentials are resolved (and asked for) once. The template steps
 * already done are skipped (build-template), then build-vms runs with the
 * options given here; running `up` again on a built lab changes nothing.
 */
import { existsSync } from 'node:fs';
import { KubestationError } from '../errors.js';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { clusterFilePath, loadClusterSpec } from '../config/load.js';
import { createVmrestClient } from '../vmrest/client.js';
import { findWorkstationInstallFolder } from '../template/vdiskmanager.js';
import { resolveVmrestCredentials, terminalPrompt, type PromptFunction } from '../vmrest/credentials.js';
import { buildTemplateSteps, goldenChoice } from './build-template.js';
import { buildVmsOptions, runBuildVms, type BuildVmsCommandOverrides } from './build-vms.js';
import { checkVmrestHost, PreflightError } from '../bringup/preflight.js';
import { vmrestUrlOf } from '../vmrest/endpoint.js';
import { vmrestRefusesConnections } from '../vmrest/listening.js';
import { COMMAND_PREFIX, commandHint } from '../command-hint.js';

const usage = `usage: ${COMMAND_PREFIX} up [options]

Builds everything cluster.yaml describes: the template VM (build-template,
skipping the steps already done), then the cluster (build-vms). The vmrest
credentials are asked for once. Running it again continues where it stopped,
and on a finished lab changes nothing.

options:
  --cluster <file>        cluster file (default ./cluster.yaml or KUBESTATION_CLUSTER)
  --no-golden             do not bake the template (by default it is baked: containerd,
                          kubelet, kubeadm and every image pre-installed, so a node's
                          first boot downloads nothing; a bake that no longer matches
                          cluster.yaml is done again)
  --dry-run               build nothing: print build-vms' plan (the template must exist already)
  --concurrency <n>       nodes configured at once (default vmware.concurrency)
  --skip-verify           do not run the cluster checks at the end
  --merge-kubeconfig      also merge the admin context into ~/.kube/config (or KUBECONFIG)
  --deadline-scale <x>    multiply the stage deadlines (e.g. 2 on a slow host)
  --json                  build-vms' JSON events on stdout; the template's lines go to stderr
  --simulate              the whole flow against in-process simulators (their lab brings its own template)
`;

export interface UpOverrides {
  /** Asks for the vmrest credentials missing from the environment (default: the terminal, when there is one). */
  prompt?: PromptFunction;
  buildVms?: Omit<BuildVmsCommandOverrides, 'vmrest'>;
}

export async function runUp(ctx: CommandContext, overrides: UpOverrides = {}): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'up',
    help: usage,
    options: {
      ...buildVmsOptions,
      'no-golden': { type: 'boolean', default: false },
      golden: { type: 'boolean', default: false },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const golden = goldenChoice(values);
  // build-vms' own options, handed on as given.
  const buildVmsArgv = Object.keys(buildVmsOptions).flatMap((name) => {
    const value = values[name as keyof typeof buildVmsOptions];
    return typeof value === 'string' ? [`--${name}`, value] : value === true ? [`--${name}`] : [];
  });
  const buildVms = (extra: BuildVmsCommandOverrides): Promise<number> =>
    runBuildVms({ ...ctx, argv: buildVmsArgv }, { ...overrides.buildVms, ...extra });
  // The simulated lab makes its own template and vmrest: nothing to build or ask for first.
  if (values.simulate) return buildVms({});

  const spec = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  // Local checks before vmrest's credentials are asked for: no password typed for a run that cannot work.
  try {
    findWorkstationInstallFolder({
      configured: spec.vmware.installFolder,
      platform: process.platform,
      env: ctx.env,
      exists: existsSync,
    });
  } catch (error) {
    if (!(error instanceof KubestationError)) throw error;
    throw new KubestationError(error.code, error.message, {
      fix: `${error.fix ?? ''} To try kubestation without Workstation first: ${commandHint('up --simulate')}`.trim(),
      cause: error,
    });
  }
  // vmrest not running: no password is asked for. A dry run plans from the state folder (build-vms says what
  // it could not check); a real run stops before the download.
  const vmrestDown = await vmrestRefusesConnections(vmrestUrlOf(ctx.env, spec.vmware.vmrestUrl));
  if (vmrestDown && values['dry-run']) return buildVms({});
  if (vmrestDown)
    throw new PreflightError([
      { code: vmrestDown.code, message: vmrestDown.message, fix: vmrestDown.fix ?? '' },
    ]);
  const credentials = await resolveVmrestCredentials({
    env: ctx.env,
    prompt: overrides.prompt ?? (process.stdin.isTTY ? terminalPrompt() : undefined),
  });
  const vmrest = await createVmrestClient({ env: ctx.env, vmrestUrl: spec.vmware.vmrestUrl, credentials });
  try {
    // With --json, stdout carries build-vms' events only.
    const templateOut = values.json ? ctx.stderr : ctx.stdout;
    if (values['dry-run']) {
      templateOut.write(
        `dry run: the template ${spec.vmware.template.name} is not built or changed; build-vms' preflight checks it\n`,
      );
    } else {
      // Before the image download and the disk conversion (minutes): vmrest not running, refused credentials
      // or host networks build-vms would refuse stop the run now, not after them.
      const host = await checkVmrestHost(spec, vmrest, spec.vmware.installFolder);
      if (host.problems.length > 0) throw new PreflightError(host.problems);
      await buildTemplateSteps({ stdout: templateOut, env: ctx.env }, spec, vmrest, {
        golden,
        force: false,
      });
    }
    return await buildVms({ vmrest });
  } finally {
    await vmrest.close();
  }
}

export function run(ctx: CommandContext): Promise<number> {
  return runUp(ctx);
}
