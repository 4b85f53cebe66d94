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
 * Opens vmrest and runs `body` with a signal that Ctrl-C aborts (no new step
 * starts, what is done is recorded). An interrupted run prints `interrupted`
 * and exits 130; vmrest is closed either way.
 */
export async function runWithVmrest(
  ctx: CommandContext,
  spec: ClusterSpec,
  interrupted: string,
  body: (vmrest: VmrestClient, signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const vmrest = await openVmrest(ctx, spec);
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
