/**
 * What the four day-2 commands set up the same way: the spec (--cluster),
 * the vmrest client as build-vms makes it (VMREST_URL / VMREST_USERNAME /
 * VMREST_PASSWORD, else a prompt on a terminal), and the admin kubeconfig
 * with KUBESTATION_API_SERVER overriding its server URL.
 */
import { createInterface } from 'node:readline/promises';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { clusterFilePath, loadClusterSpec } from '../config/load.js';
import type { ClusterSpec } from '../config/model.js';
import { createVmrestClient, type VmrestClient } from '../vmrest/client.js';
import { terminalPrompt } from '../vmrest/credentials.js';
import { defaultKubeAccess, type KubeAccess } from '../bringup/observe.js';
import { BuildInterruptedError } from '../bringup/apply.js';
import { nothingRecorded, refuseIfNeverBuilt } from '../bringup/lab-state.js';

export interface Day2Setup {
  spec: ClusterSpec;
  kube: KubeAccess;
}

export async function loadDay2Spec(ctx: CommandContext, clusterFlag: string | undefined): Promise<Day2Setup> {
  const spec = await loadClusterSpec(clusterFilePath(ctx.cwd, clusterFlag, ctx.env));
  return { spec, kube: defaultKubeAccess(spec, ctx.env) };
}

export function openVmrest(ctx: CommandContext, spec: ClusterSpec): Promise<VmrestClient> {
  return createVmrestClient({
    env: ctx.env,
    vmrestUrl: spec.vmware.vmrestUrl,
    prompt: process.stdin.isTTY ? terminalPrompt() : undefined,
  });
}

/** `--json`, `--cluster`, `--help` (printing `help`): the options of the read-only commands. Undefined after --help. */
export function parseReportArgs(
  ctx: CommandContext,
  command: string,
  help: string,
): { json: boolean; cluster: string | undefined } | undefined {
  const args = parseCommandArgs(ctx, {
    command,
    help,
    options: { json: { type: 'boolean', default: false }, cluster: { type: 'string' } },
  });
  return args && { json: args.values.json, cluster: args.values.cluster };
}

/** Asks a yes/no question on the terminal (stderr, so --json output stays clean); only "y"/"yes" is yes. */
export async function terminalConfirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^(y|yes)$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Refuses, before any change, a command that needs a built lab when the lab
 * was never built (src/day2/lab-state.ts): nothing recorded, and vmrest lists
 * no VM of this cluster, or cannot be asked (not running, no credentials).
 * Returns the open vmrest client when it had to open one.
 */
async function refuseOnNeverBuiltLab(
  ctx: CommandContext,
  spec: ClusterSpec,
): Promise<VmrestClient | undefined> {
  if (!(await nothingRecorded(spec))) return undefined;
  let vmrest: VmrestClient | undefined;
  try {
    vmrest = await openVmrest(ctx, spec);
    const vms = await vmrest.listVms();
    await refuseIfNeverBuilt(spec, vms);
    return vmrest;
  } catch (error) {
    await vmrest?.close();
    if ((error as { code?: string }).code === 'LAB_NOT_BUILT') throw error;
    await refuseIfNeverBuilt(spec, { unavailable: (error as Error).message.split('\n')[0]! });
    throw error;
  }
}

/**
 * Opens vmrest and runs `body` with a signal that Ctrl-C aborts (no new step
 * starts, what is done is recorded). An interrupted run prints `interrupted`
 * and exits 130; vmrest is closed either way. With `requireBuilt`, a lab
 * never built is refused first, with the command that builds it.
 */
export async function runWithVmrest(
  ctx: CommandContext,
  spec: ClusterSpec,
  interrupted: string,
  body: (vmrest: VmrestClient, signal: AbortSignal) => Promise<number>,
  requireBuilt = false,
): Promise<number> {
  const vmrest =
    (requireBuilt ? await refuseOnNeverBuiltLab(ctx, spec) : undefined) ?? (await openVmrest(ctx, spec));
  const abort = new AbortController();
  const onSigint = (): void => {
    ctx.stderr.write('\ninterrupted: finishing the calls in flight and saving progress\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await body(vmrest, abort.signal);
  } catch (error) {
    if (!(error instanceof BuildInterruptedError)) throw error;
    ctx.stderr.write(`${interrupted}\n`);
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
    await vmrest.close();
  }
}
