/**
 * `kubestation build-vms`: cluster.yaml → VMs → a Ready, verified cluster.
 * See src/bringup/build-vms.ts for the flow; this file wires the real
 * dependencies (vmrest, seed writer, vdiskmanager, Kubernetes API) or, with
 * --simulate, the in-process simulators, and handles Ctrl-C.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ClusterSpec } from '../config/model.js';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import { buildVms, planWithoutVmrest, type BuildVmsDeps, type BuildVmsResult } from '../bringup/build-vms.js';
import { lookUpVmrun, type VmrunLookup } from '../template/vmrun.js';
import { vmnetDhcpConfigFile } from '../workstation/vmnet-dhcp.js';
import { workstationDefaultVmFolder } from '../bringup/host-folders.js';
import { defaultKubeconfigPath } from '../bringup/finish.js';
import { NodeFailedError } from '../bringup/follow.js';
import type { ClusterVerifier, DiskGrower, SeedIsoWriter, SimulatorCost } from '../bringup/ports.js';
import { PreflightError } from '../bringup/preflight.js';
import { cloudInitSeedWriter, vdiskmanagerGrower } from '../bringup/real-deps.js';
import { STAGES } from '../progress/stages.js';
import type { SimulatedLabOptions } from '../../simulators/simulated-lab.js';
import { apiVerifier, scaledVerifyTimeouts, type ApiVerifierOptions } from '../bringup/verify-step.js';
import { apiAddonApplier, type ApiAddonApplierOptions } from '../bringup/addons-step.js';
import { scaledAddonTimeouts } from '../addons/apply.js';
import { createBuildView, type BuildView, type ViewMode } from '../bringup/view.js';
import { defaultKubeAccess } from '../bringup/observe.js';
import { describeError, KubestationError } from '../errors.js';
import { loadClusterSpec, clusterFilePath } from '../config/load.js';
import { sshKeyPaths } from '../ssh/keypair.js';
import { createVmrestClient, type VmrestClient } from '../vmrest/client.js';
import { terminalPrompt } from '../vmrest/credentials.js';
import type { VmrestNotRunningError } from '../vmrest/errors.js';
import { vmrestUrlOf } from '../vmrest/endpoint.js';
import { vmrestRefusesConnections } from '../vmrest/listening.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const usage = `usage: ${COMMAND_PREFIX} build-vms [options]

Builds the cluster in cluster.yaml: clones and configures one VM per node,
powers them on, follows their first boot, applies the add-ons and verifies
the cluster.
Re-running continues where an earlier run stopped. A worker added to
cluster.yaml is built and joins the running cluster; the other nodes are
left alone. The add-ons are applied on every run: what drifted is put
back, an add-on turned off in cluster.yaml is removed.

options:
  --cluster <file>        cluster file (default ./cluster.yaml or KUBESTATION_CLUSTER)
  --dry-run               check and print the plan (nodes to build, add and remove), change nothing
  --prune                 remove the workers cluster.yaml no longer lists: cordon, drain, delete
                          the Node, the VM, its DHCP reservation and state (without it, such
                          workers stop the run before any change)
  --concurrency <n>       nodes configured at once (default vmware.concurrency)
  --skip-verify           do not run the cluster checks at the end
  --merge-kubeconfig      also merge the admin context into ~/.kube/config (or KUBECONFIG)
  --deadline-scale <x>    multiply the stage deadlines (e.g. 2 on a slow host)
  --json                  one JSON event per line instead of the progress table
  --simulate              run the whole flow against in-process simulators (no VMware needed)
`;

/** Dependencies a caller may replace (tests, the benchmark, `up`). */
export interface BuildVmsCommandOverrides {
  /** A vmrest client the caller made (and closes): `up` resolves the credentials once for both of its steps. */
  vmrest?: VmrestClient;
  writeSeed?: SeedIsoWriter;
  growDisk?: DiskGrower;
  verify?: ClusterVerifier;
  clonesFolder?: string;
  vmrun?: VmrunLookup;
  /** Workstation's DHCP settings file (default: where Workstation keeps it on this host). */
  vmnetDhcpConfig?: string;
  /** Settings for --simulate (tiny delays in tests; the cluster the fake API server plays). */
  simulate?: SimulateTiming & {
    kubeApiScenario?: SimulatedLabOptions['kubeApiScenario'];
    verify?: ApiVerifierOptions['verify'];
    /** The add-on step's waits, poll interval and (tests) a stand-in catalogue. */
    addons?: Partial<Omit<ApiAddonApplierOptions, 'server' | 'kubeconfig'>>;
  };
}

/** The simulated lab's latencies (ms); --simulate's defaults are small, the benchmark sets Workstation's. */
export interface SimulateTiming {
  cloneMs?: number;
  powerOnMs?: number;
  bootDelayMs?: number;
  firstReportMs?: number;
  /** One figure for every first-boot stage, or one per stage (e.g. { packages: 2000 }). */
  stageMs?: number | Record<string, number>;
  pollMs?: number;
  /**
   * The simulated template is golden and matches the spec (default true, as `up` bakes it): first boots
   * download nothing, so packages and images take a tenth of the other stages unless stageMs says otherwise.
   */
  golden?: boolean;
}

const SIMULATE_TIMING_ENV = 'KUBESTATION_SIMULATE_TIMING';

/** How long the add-on step waits for every node to be Ready (a node whose first boot just ended is, or soon). */
const NODES_READY_MS = 120_000;

/**
 * KUBESTATION_SIMULATE_TIMING: JSON of SimulateTiming, read only with --simulate, so `npm run bench` times
 * the real command with its Workstation model. Anything else in it is an error naming the key.
 */
export function simulateTimingFromEnv(env: NodeJS.ProcessEnv): SimulateTiming {
  const text = env[SIMULATE_TIMING_ENV];
  if (text === undefined || text.trim() === '') return {};
  const fix = `set ${SIMULATE_TIMING_ENV} to JSON such as {"cloneMs":1000,"stageMs":{"packages":2000}} (milliseconds), or unset it`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new KubestationError('BAD_OPTION', `${SIMULATE_TIMING_ENV} is not JSON`, { fix });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new KubestationError('BAD_OPTION', `${SIMULATE_TIMING_ENV} must be a JSON object`, { fix });
  const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  const keys = ['cloneMs', 'powerOnMs', 'bootDelayMs', 'firstReportMs', 'stageMs', 'pollMs', 'golden'];
  for (const [key, value] of Object.entries(parsed)) {
    if (!keys.includes(key))
      throw new KubestationError(
        'BAD_OPTION',
        `${SIMULATE_TIMING_ENV}: unknown key "${key}" (known: ${keys.join(', ')})`,
        { fix },
      );
    const ok =
      key === 'golden'
        ? typeof value === 'boolean'
        : key === 'stageMs' && typeof value === 'object' && value !== null && !Array.isArray(value)
          ? Object.values(value).every(isMs)
          : isMs(value);
    if (!ok)
      throw new KubestationError(
        'BAD_OPTION',
        key === 'golden'
          ? `${SIMULATE_TIMING_ENV}: golden must be true or false`
          : `${SIMULATE_TIMING_ENV}: ${key} must be milliseconds (a number >= 0)${key === 'stageMs' ? ' or an object of them per stage' : ''}`,
        { fix },
      );
  }
  return parsed as SimulateTiming;
}

/** Every first-boot stage takes `ms`, but packages and images a tenth of it: a golden template holds them. */
function simulatedGoldenStageMs(ms: number): Record<string, number> {
  const stages = Object.fromEntries(STAGES.map((stage) => [stage.name, ms]));
  return { ...stages, packages: ms / 10, images: ms / 10 };
}

/** build-vms' options (`up` takes them too and hands them on). */
export const buildVmsOptions = {
  cluster: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  prune: { type: 'boolean', default: false },
  concurrency: { type: 'string' },
  'skip-verify': { type: 'boolean', default: false },
  'merge-kubeconfig': { type: 'boolean', default: false },
  'deadline-scale': { type: 'string' },
  json: { type: 'boolean', default: false },
  simulate: { type: 'boolean', default: false },
} as const;

/** The dependencies the simulated and the real lab provide each their own way. */
type LabDeps = Pick<
  BuildVmsDeps,
  | 'vmrest'
  | 'clonesFolder'
  | 'growDisk'
  | 'verify'
  | 'addons'
  | 'kube'
  | 'freeBytes'
  | 'vmrun'
  | 'vmnetDhcpConfig'
>;

/** The lab a run builds on: the simulated one in a temporary folder, or the real one through vmrest. */
interface Lab {
  /** The cluster to build (the simulated lab's own copy under --simulate). */
  spec: ClusterSpec;
  /** Undefined while vmrest refuses connections: --dry-run then plans from the state folder alone. */
  deps: LabDeps | undefined;
  /** vmrest refused the connection: no credentials were asked for. */
  vmrestDown?: VmrestNotRunningError | undefined;
  /** The simulated lab's folder, deleted when the command ends. */
  simDir?: string | undefined;
  /** How often the simulated lab is polled (ms); the real lab keeps buildVms' default. */
  pollMs?: number | undefined;
  /** Closes what the command opened (the vmrest client it made; the simulators and their folder). */
  close(): Promise<void>;
  /** --simulate: the simulators' own time so far (reported with --json's result). */
  simulatorCost?: () => SimulatorCost;
}

type BuildVmsValues = NonNullable<ReturnType<typeof parseCommandArgs<typeof buildVmsOptions>>>['values'];

function exitCodeFor(result: BuildVmsResult): number {
  return result.status === 'interrupted' ? 130 : 0;
}

export async function runBuildVms(
  ctx: CommandContext,
  overrides: BuildVmsCommandOverrides = {},
): Promise<number> {
  const args = parseCommandArgs(ctx, { command: 'build-vms', help: usage, options: buildVmsOptions });
  if (!args) return 0;
  const { values } = args;
  const { concurrency, deadlineScale } = checkNumberOptions(values);
  const clusterSpec = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  const mode: ViewMode = values.json ? 'json' : ctx.stdout.isTTY ? 'tty' : 'plain';
  const lab = values.simulate
    ? await simulatedLab(ctx, clusterSpec, values, deadlineScale, mode, overrides)
    : await realLab(ctx, clusterSpec, values, deadlineScale, overrides);
  const { spec } = lab;
  const deps: Omit<BuildVmsDeps, 'emit'> | undefined = lab.deps && {
    ...lab.deps,
    writeSeed: overrides.writeSeed ?? cloudInitSeedWriter(),
    installFolder: spec.vmware.installFolder,
    sshIdentityFile:
      spec.os.user.sshAuthorizedKeys.length === 0 ? sshKeyPaths(spec.stateDir).privateKey : undefined,
  };

  const view = createBuildView(spec, mode, ctx.stdout);
  const abort = new AbortController();
  const stopCatchingCtrlC = catchCtrlC(ctx, abort);
  try {
    if (lab.vmrestDown && !values['dry-run']) refuseWhileVmrestDown(lab.vmrestDown, view);
    const result = !deps
      ? await planWithoutVmrest(spec, view.emit, lab.vmrestDown!, { prune: values.prune })
      : await buildVms(
          spec,
          { ...deps, emit: view.emit },
          {
            dryRun: values['dry-run'],
            prune: values.prune,
            concurrency,
            signal: abort.signal,
            timing: { deadlineScale, ...(lab.pollMs ? { pollMs: lab.pollMs } : {}) },
            mergeKubeconfigInto: values['merge-kubeconfig'] ? defaultKubeconfigPath(ctx.env) : undefined,
          },
        );
    view.close();
    reportResult(ctx, view, mode, spec, result, lab);
    return exitCodeFor(result);
  } catch (error) {
    view.close();
    return reportFailure(ctx, view, mode, error);
  } finally {
    stopCatchingCtrlC();
    await lab.close();
  }
}

/** --concurrency and --deadline-scale as numbers, or an error naming the option and a good value. */
function checkNumberOptions(values: BuildVmsValues): {
  concurrency: number | undefined;
  deadlineScale: number;
} {
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)) {
    throw new KubestationError(
      'BAD_OPTION',
      `--concurrency must be a whole number from 1 to 64, got "${values.concurrency}"`,
      { fix: 'e.g. --concurrency 3' },
    );
  }
  const deadlineScale = values['deadline-scale'] === undefined ? 1 : Number(values['deadline-scale']);
  if (!(deadlineScale > 0))
    throw new KubestationError(
      'BAD_OPTION',
      `--deadline-scale must be a positive number, got "${values['deadline-scale']}"`,
      { fix: 'e.g. --deadline-scale 2' },
    );
  return { concurrency, deadlineScale };
}

/** --simulate: vmrest, the guests and the API server played in process, files in a temporary folder. */
async function simulatedLab(
  ctx: CommandContext,
  clusterSpec: ClusterSpec,
  values: BuildVmsValues,
  deadlineScale: number,
  mode: ViewMode,
  overrides: BuildVmsCommandOverrides,
): Promise<Lab> {
  const sim = { ...simulateTimingFromEnv(ctx.env), ...overrides.simulate };
  // Loaded only here: the simulators never load on a real build.
  const { startSimulatedLab, growDescriptorDisk } = await import('../../simulators/simulated-lab.js');
  const labStart = performance.now();
  const simDir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-simulate-'));
  const golden = sim.golden ?? true;
  const lab = await startSimulatedLab(clusterSpec, {
    dir: simDir,
    // Always: the add-ons are applied through it even when verify is skipped.
    kubeApi: true,
    bootDelayMs: sim.bootDelayMs ?? 400,
    latencies: { cloneMs: sim.cloneMs ?? 1500, powerOnMs: sim.powerOnMs ?? 300 },
    golden,
    guest: {
      firstReportMs: sim.firstReportMs ?? 300,
      stageMs: sim.stageMs ?? (golden ? simulatedGoldenStageMs(600) : 600),
    },
    ...(sim.kubeApiScenario ? { kubeApiScenario: sim.kubeApiScenario } : {}),
  });
  const labStartMs = performance.now() - labStart;
  const spec = lab.spec;
  if (mode !== 'json')
    ctx.stdout.write(
      `simulating cluster ${spec.name}: vmrest simulator at ${lab.vmrest.url}, files in ${simDir}\n`,
    );
  return {
    spec,
    simDir,
    pollMs: sim.pollMs ?? 100,
    deps: {
      vmrest: lab.client,
      clonesFolder: lab.clonesFolder,
      vmrun: lab.vmrunLookup,
      vmnetDhcpConfig: lab.vmnetDhcpConfig,
      growDisk: growDescriptorDisk,
      // The simulated disks are descriptors in the temporary folder, never grown: no free space to check.
      freeBytes: async () => Number.MAX_SAFE_INTEGER,
      // The fake API server trusts the cluster's own CA, so verify uses the real admin kubeconfig.
      verify: values['skip-verify']
        ? undefined
        : apiVerifier({
            server: lab.kubeApi?.url,
            verify: {
              ...(sim.verify ?? { intervalMs: 100, timeouts: scaledVerifyTimeouts(deadlineScale) }),
              // The fake API server's stand-in for VMnet1: LoadBalancer and Gateway addresses answer there.
              hostOnlyProxy: lab.kubeApi?.hostOnlyProxy,
            },
          }),
      addons: apiAddonApplier({
        server: lab.kubeApi?.url,
        timeouts: scaledAddonTimeouts(deadlineScale),
        nodesReadyMs: NODES_READY_MS * deadlineScale,
        intervalMs: 100,
        ...sim.addons,
      }),
      kube: { ...defaultKubeAccess(spec, {}), server: lab.kubeApi?.url ?? 'https://127.0.0.1:9' },
    },
    close: async () => {
      await lab.close();
      await rm(simDir, { recursive: true, force: true });
    },
    simulatorCost: () => ({
      labStartMs,
      vmrunStandInStarts: (lab.vmrun?.calls ?? []).flatMap((call) =>
        call.standInStartMs === undefined
          ? []
          : [
              {
                command: (call.args[0] === '-T' ? call.args[2] : call.args[0]) ?? '',
                ms: call.standInStartMs,
              },
            ],
      ),
    }),
  };
}

/** The real lab: Workstation through vmrest (unless it refuses connections), vmrun, vdiskmanager, the API server. */
async function realLab(
  ctx: CommandContext,
  spec: ClusterSpec,
  values: BuildVmsValues,
  deadlineScale: number,
  overrides: BuildVmsCommandOverrides,
): Promise<Lab> {
  const vmrestDown = overrides.vmrest
    ? undefined
    : await vmrestRefusesConnections(vmrestUrlOf(ctx.env, spec.vmware.vmrestUrl));
  const client = vmrestDown
    ? undefined
    : (overrides.vmrest ??
      (await createVmrestClient({
        env: ctx.env,
        vmrestUrl: spec.vmware.vmrestUrl,
        prompt: process.stdin.isTTY ? terminalPrompt() : undefined,
      })));
  // A client the caller made is the caller's to close.
  const close = client && !overrides.vmrest ? () => client.close() : async () => undefined;
  // No lab deps while vmrest refuses connections: --dry-run then plans from the state folder alone.
  const deps = client && {
    vmrest: client,
    clonesFolder: overrides.clonesFolder ?? (await workstationDefaultVmFolder(ctx.env)),
    vmrun: overrides.vmrun ?? lookUpVmrun(spec, ctx.env),
    vmnetDhcpConfig:
      overrides.vmnetDhcpConfig ??
      vmnetDhcpConfigFile(ctx.env, process.platform, spec.networks.hostOnly.vmnet),
    growDisk: overrides.growDisk ?? vdiskmanagerGrower(spec, ctx.env),
    verify: values['skip-verify']
      ? undefined
      : (overrides.verify ??
        apiVerifier({
          server: ctx.env.KUBESTATION_API_SERVER || undefined,
          verify: {
            timeouts: scaledVerifyTimeouts(deadlineScale),
            hostOnlyProxy: ctx.env.KUBESTATION_HOST_ONLY_PROXY || undefined,
          },
        })),
    addons: apiAddonApplier({
      server: ctx.env.KUBESTATION_API_SERVER || undefined,
      timeouts: scaledAddonTimeouts(deadlineScale),
      nodesReadyMs: NODES_READY_MS * deadlineScale,
    }),
    kube: defaultKubeAccess(spec, ctx.env),
  };
  return { spec, deps, vmrestDown, close };
}

/**
 * Ctrl-C: stop starting steps, let calls in flight end, save state, exit 130. A second Ctrl-C exits at once.
 * Returns the function that stops listening.
 */
function catchCtrlC(ctx: CommandContext, abort: AbortController): () => void {
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts === 1) {
      ctx.stderr.write(
        '\ninterrupted: finishing the calls in flight and saving progress (Ctrl-C again to quit now)\n',
      );
      abort.abort();
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', onSigint);
  return () => void process.off('SIGINT', onSigint);
}

/** A build (not a dry run) while vmrest refuses connections: the preflight problem that says so. */
function refuseWhileVmrestDown(vmrestDown: VmrestNotRunningError, view: BuildView): never {
  const problem = { code: vmrestDown.code, message: vmrestDown.message, fix: vmrestDown.fix ?? '' };
  view.emit({ type: 'preflight', ok: false, problems: [problem.message], warnings: 0 });
  throw new PreflightError([problem]);
}

/** How the run ended: the dry run's plan, the interrupted run's next step, or the ready cluster's commands. */
function reportResult(
  ctx: CommandContext,
  view: BuildView,
  mode: ViewMode,
  spec: ClusterSpec,
  result: BuildVmsResult,
  lab: Pick<Lab, 'simDir' | 'simulatorCost'>,
): void {
  const simDir = lab.simDir;
  if (result.status === 'dry-run') {
    if (mode === 'json') view.emit({ type: 'result', status: 'dry-run' });
    else ctx.stdout.write(`${result.planText}\n(dry run: nothing was changed)\n`);
  } else if (result.status === 'interrupted') {
    view.emit({ type: 'result', status: 'interrupted' });
    ctx.stderr.write(
      simDir
        ? `simulation interrupted; the simulated lab in ${simDir} is deleted now, so a new run starts over\n`
        : 'build interrupted; progress is saved. Run the same command again to continue.\n',
    );
  } else {
    const simulator = lab.simulatorCost?.();
    view.emit({ type: 'result', status: 'ready', ...(simulator ? { simulator } : {}) });
    if (mode !== 'json' && simDir) {
      // The simulated lab's files (kubeconfig, SSH config) are deleted when this command ends: point at none of them.
      ctx.stdout.write(
        `\nsimulated cluster ${spec.name} is ready${result.verifySummary ? ` (${result.verifySummary})` : ' (verify skipped)'}; ` +
          `its files in ${simDir} are deleted now and no VM was made. Build the real lab with: ${COMMAND_PREFIX} up\n`,
      );
    } else if (mode !== 'json') {
      ctx.stdout.write(
        `\ncluster ${spec.name} is ready${result.verifySummary ? ` (${result.verifySummary})` : ' (verify skipped)'}\n` +
          `  kubectl --kubeconfig ${path.join(spec.stateDir, 'admin.kubeconfig')} get nodes\n` +
          `  ssh -F ${path.join(spec.stateDir, 'ssh_config')} ${spec.controlPlane.name}\n`,
      );
    }
  }
}

/**
 * A failed run: with --json a `result` event naming the failed nodes, else the error on stderr; exit code 1.
 * An error that is no user-facing problem (a bug) is thrown on.
 */
function reportFailure(ctx: CommandContext, view: BuildView, mode: ViewMode, error: unknown): number {
  if (mode === 'json') {
    view.emit({
      type: 'result',
      status: 'failed',
      message: describeError(error),
      ...(error instanceof NodeFailedError
        ? {
            node: error.node,
            stage: error.stage,
            failures: error.failures.map((f) => ({
              node: f.node,
              stage: f.stage,
              kind: f.state === 'silent' ? ('silent' as const) : ('failed' as const),
            })),
          }
        : {}),
    });
    return 1;
  }
  if (error instanceof PreflightError || error instanceof KubestationError) {
    ctx.stderr.write(`kubestation build-vms: ${describeError(error)}\n`);
    return 1;
  }
  throw error;
}

export function run(ctx: CommandContext): Promise<number> {
  return runBuildVms(ctx);
}
