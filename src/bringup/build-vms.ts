/**
 * build-vms end to end: preflight → plan → apply (nodes in parallel, bounded)
 * → follow (serial consoles, concurrently with the applies: a node is
 * followed from its power-on) → add-ons (src/addons through the API server,
 * once every node is Ready) → verify (src/verify through the API server)
 * → finish. The result is 'ready' only when verify passed (or was skipped).
 *
 * Stops on the first failure: a failing node aborts the others between
 * steps (an HTTP call in flight finishes or times out), state is saved, and
 * the error names the node, the stage and the tail of its console.
 */
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { KubeAccess } from './observe.js';
import { ensureJoinToken, pruneRemovedNodes } from './scale.js';
import type { VmSummary } from '../vmrest/client.js';
import { applyNode, BuildInterruptedError, findNodeVm, type AppliedVm, type ApplyContext } from './apply.js';
import { finishBuild, writeSshConfig, type FinishResult } from './finish.js';
import { ConsoleFollower, type FollowTiming } from './follow.js';
import {
  clusterBootstrapped,
  compareWithBuilt,
  controlPlaneRemovedError,
  nodesToRemoveError,
  type MarkedVm,
} from './membership.js';
import { recordConsoleRead } from './observations.js';
import { inspectOwnership } from './ownership.js';
import { nodePaths } from './paths.js';
import { goldenStatusLine } from '../template/golden.js';
import { type BuildPlan, formatPlan, type ObservedNode, planBuild, planFromState } from './plan.js';
import type {
  BuildEventSink,
  BuildVmrest,
  CloneRoad,
  AddonApplier,
  ClusterVerifier,
  DiskGrower,
  SeedIsoWriter,
} from './ports.js';
import { PreflightError, type PreflightDeps, type PreflightResult, runPreflight } from './preflight.js';
import { BuildStateStore, buildStatePath, readBuildState } from './state.js';
import { cloneRoadFor } from './clone-mode.js';
import type { VmrunLookup } from '../template/vmrun.js';
import type { VmrestError } from '../vmrest/errors.js';
import { ClusterVerifyError } from './verify-step.js';
import { limiter } from '../limiter.js';

export interface BuildVmsDeps {
  vmrest: BuildVmrest;
  writeSeed: SeedIsoWriter;
  growDisk: DiskGrower;
  /** Undefined = verify skipped (--skip-verify). */
  verify: ClusterVerifier | undefined;
  /** Applies the add-ons once the nodes are Ready, before verify; undefined = not applied (tests of the node steps). */
  addons?: AddonApplier | undefined;
  emit: BuildEventSink;
  clonesFolder: string | undefined;
  installFolder?: string | undefined;
  freeBytes?: PreflightDeps['freeBytes'];
  /** Where vmrun is (linked clones); undefined = not looked for (the default mode falls back to full). */
  vmrun?: VmrunLookup | undefined;
  /** Workstation's DHCP settings file (preflight compares networks.hostOnly.dhcpRange with it). */
  vmnetDhcpConfig?: string | undefined;
  sshIdentityFile: string | undefined;
  /**
   * The Kubernetes API (admin kubeconfig, server override), for what the
   * running cluster must do when nodes are added (a fresh join token, if the
   * recorded one expired) or removed (--prune: drain, delete the Node).
   */
  kube?: KubeAccess | undefined;
  now?: () => Date;
}

export interface BuildVmsOptions {
  dryRun?: boolean;
  /** Clones made at once; default spec.vmware.concurrency. */
  concurrency?: number;
  /** Ctrl-C: no new step starts, state is saved, the result is 'interrupted'. */
  signal?: AbortSignal;
  timing?: FollowTiming;
  mergeKubeconfigInto?: string | undefined;
  /** Remove the nodes the built lab has and cluster.yaml no longer lists (workers only). Without it such nodes stop the run before any change. */
  prune?: boolean;
  /** --prune: how long evicted pods may take to go (default 120 s) and the API poll interval (default 1 s). */
  drainTimeoutMs?: number;
  apiPollMs?: number;
}

export type BuildVmsResult =
  | { status: 'dry-run'; plan: BuildPlan; planText: string }
  | { status: 'interrupted'; plan: BuildPlan }
  | { status: 'ready'; plan: BuildPlan; finish: FinishResult; verifySummary: string | undefined };

/**
 * Each node's VM as found now (findNodeVm), with its marker and power state, and its record.
 * A node that finished its first boot is left untouched whatever its power state, so vmrest is
 * not asked about it.
 */
export async function observe(
  spec: ClusterSpec,
  store: BuildStateStore,
  vms: VmSummary[],
  vmrest: BuildVmrest,
): Promise<ObservedNode[]> {
  return Promise.all(
    spec.nodes.map(async (node): Promise<ObservedNode> => {
      const state = store.node(node.name);
      const vm = findNodeVm(vms, node, state?.vmxPath);
      if (!vm) return { name: node.name, state };
      const [ownership, power] = await Promise.all([
        inspectOwnership(vm.path, spec.name),
        state?.completedAt ? undefined : vmrest.getPowerState(vm.id),
      ]);
      return { name: node.name, state, vm: { id: vm.id, vmxPath: vm.path, power, ownership } };
    }),
  );
}

/** The VMs in vmrest's list that carry this cluster's marker for a node cluster.yaml does not list. */
async function markedVmsOfOtherNodes(spec: ClusterSpec, vms: VmSummary[]): Promise<MarkedVm[]> {
  const names = new Set(spec.nodes.map((n) => n.name.toLowerCase()));
  const found = await Promise.all(
    vms.map(async (vm): Promise<MarkedVm | undefined> => {
      const ownership = await inspectOwnership(vm.path, spec.name);
      return ownership.kind === 'ours' && ownership.node !== '' && !names.has(ownership.node.toLowerCase())
        ? { node: ownership.node, id: vm.id, vmxPath: vm.path }
        : undefined;
    }),
  );
  return found.filter((v): v is MarkedVm => v !== undefined);
}

/** Which clone road the plan takes and why, as the plan event shows it. */
type PlanClone = { mode: CloneRoad['mode']; reason: string; snapshot?: string };

/** Emits a plan event for the view and the JSON output. */
function emitPlan(emit: BuildEventSink, plan: BuildPlan, clone?: PlanClone): void {
  emit({
    type: 'plan',
    ...(clone ? { clone } : {}),
    nodes: plan.nodes.map((n) => ({ node: n.node, status: n.status, actions: n.actions })),
    ...(plan.remove.length > 0
      ? {
          remove: plan.remove.map((r) => ({ node: r.node, controlPlane: r.controlPlane })),
          prune: plan.prune,
        }
      : {}),
  });
}

/**
 * `build-vms --dry-run` when vmrest does not answer (`cause`): the plan from cluster.yaml and state.json
 * alone, with a warning naming what could not be checked. Reads only; creates nothing.
 */
export async function planWithoutVmrest(
  spec: ClusterSpec,
  emit: BuildEventSink,
  cause: VmrestError,
  options: Pick<BuildVmsOptions, 'prune'> = {},
): Promise<Extract<BuildVmsResult, { status: 'dry-run' }>> {
  const state = await readBuildState(spec.stateDir, spec.name);
  const change = compareWithBuilt(spec, state);
  const plan = planFromState(spec, state, {
    joinsRunningCluster: clusterBootstrapped(spec, state),
    remove: change.remove,
    prune: options.prune ?? false,
  });
  emit({
    type: 'warning',
    message:
      `${cause.message}, so this plan comes from cluster.yaml and ${buildStatePath(spec.stateDir)} alone. ` +
      'Not checked: the host networks (vmnets), the VM library (which node VMs exist, their power state, ' +
      `VMs or folders in the way), the template and free disk space. For the full check: ${cause.fix ?? 'start vmrest'}`,
  });
  emitPlan(emit, plan);
  const controlPlaneRemoved = plan.remove.find((r) => r.controlPlane);
  if (controlPlaneRemoved) throw controlPlaneRemovedError(spec, controlPlaneRemoved);
  return { status: 'dry-run', plan, planText: formatPlan(plan) };
}

export async function buildVms(
  spec: ClusterSpec,
  deps: BuildVmsDeps,
  options: BuildVmsOptions = {},
): Promise<BuildVmsResult> {
  const now = deps.now ?? (() => new Date());
  const store = await BuildStateStore.open(spec.stateDir, spec.name, now);

  const preflight = await checkPreflight(spec, store, deps);
  const template = preflight.template!;

  const observed = await observe(spec, store, preflight.vms!, deps.vmrest);
  const change = compareWithBuilt(spec, store.snapshot(), await markedVmsOfOtherNodes(spec, preflight.vms!));
  const running = clusterBootstrapped(spec, store.snapshot());
  const cloneRoad = cloneRoadFor(preflight, deps.vmrun, (message) => deps.emit({ type: 'note', message }));
  const cloneShown: PlanClone = {
    mode: cloneRoad.mode,
    reason: cloneRoad.reason,
    ...(cloneRoad.mode === 'linked' ? { snapshot: cloneRoad.source.snapshot } : {}),
  };
  const plan = planBuild(spec, observed, {
    joinsRunningCluster: running,
    remove: change.remove,
    prune: options.prune ?? false,
    clone: cloneShown,
  });
  emitPlan(deps.emit, plan, cloneShown);
  // What the nodes' first boots download: nothing from a golden template that matches the spec.
  const firstBoots = plan.nodes.some((n) => n.actions.includes('seed'));
  const goldenLine =
    firstBoots && preflight.readyTemplate ? goldenStatusLine(preflight.readyTemplate.state, spec) : undefined;
  if (goldenLine) deps.emit({ type: 'note', message: goldenLine });
  const controlPlaneRemoved = plan.remove.find((r) => r.controlPlane);
  if (controlPlaneRemoved) throw controlPlaneRemovedError(spec, controlPlaneRemoved);
  if (options.dryRun)
    return {
      status: 'dry-run',
      plan,
      planText: [formatPlan(plan), ...(goldenLine ? [goldenLine] : [])].join('\n'),
    };
  if (plan.remove.length > 0 && !plan.prune) throw nodesToRemoveError(plan.remove);

  const membership = await changeMembership(spec, deps, options, { store, plan, running, now });
  if (membership === 'interrupted') return { status: 'interrupted', plan };

  const writes: RecordWrites = { pending: [], errors: [] };
  const emit = recordingFirstBootEnds(deps.emit, store, now, writes);
  const built = await applyAndFollow(spec, deps, options, {
    store,
    plan,
    observed,
    templateId: template.id,
    cloneRoad,
    emit,
    writes,
    now,
  });
  if (built.status === 'interrupted') return { status: 'interrupted', plan };
  const { applied } = built;

  const addons = await applyAddonsStep(spec, deps, options, emit);
  if (addons.status === 'interrupted') return { status: 'interrupted', plan };
  // A failed add-on ends the build failed, as a failed verify does, after the same finish; verify is not run.
  const verified =
    addons.error === undefined
      ? await verifyBuiltCluster(spec, deps, options, emit)
      : { status: 'ran' as const, summary: undefined, error: addons.error };
  if (verified.status === 'interrupted') return { status: 'interrupted', plan };
  const { summary: verifySummary, error: verifyError } = verified;
  // The kubeconfig and ssh_config are written and the seed ISOs (secrets) removed even when verify
  // fails: the user needs them to look into the cluster. Only a verified cluster is recorded as ready.
  const finish = await finishBuild(
    {
      spec,
      vmrest: deps.vmrest,
      store,
      emit,
      sshIdentityFile: deps.sshIdentityFile,
      mergeKubeconfigInto: options.mergeKubeconfigInto,
      markReady: verifyError === undefined,
    },
    applied,
  );
  emit({ type: 'finish', files: finish.files, notes: finish.notes });
  if (verifyError !== undefined) throw verifyError;
  return { status: 'ready', plan, finish, verifySummary };
}

/** Runs the preflight checks and shows their result; throws PreflightError when any failed. */
async function checkPreflight(
  spec: ClusterSpec,
  store: BuildStateStore,
  deps: BuildVmsDeps,
): Promise<PreflightResult> {
  const preflight = await runPreflight(spec, store.snapshot(), {
    vmrest: deps.vmrest,
    clonesFolder: deps.clonesFolder,
    installFolder: deps.installFolder,
    freeBytes: deps.freeBytes,
    vmrun: deps.vmrun,
    vmnetDhcpConfig: deps.vmnetDhcpConfig,
  });
  deps.emit({
    type: 'preflight',
    ok: preflight.problems.length === 0,
    problems: preflight.problems.map((p) => p.message),
    warnings: preflight.warnings.length,
  });
  for (const warning of preflight.warnings) deps.emit({ type: 'warning', message: warning });
  if (preflight.problems.length > 0) throw new PreflightError(preflight.problems);
  return preflight;
}

/** What the steps after the plan share. */
interface BuildRun {
  store: BuildStateStore;
  plan: BuildPlan;
  now: () => Date;
}

/**
 * Removes the workers cluster.yaml no longer lists (--prune), then makes sure the workers about to join
 * the running cluster have a join token it accepts. 'interrupted' when Ctrl-C stopped the removal.
 */
async function changeMembership(
  spec: ClusterSpec,
  deps: BuildVmsDeps,
  options: BuildVmsOptions,
  { store, plan, running, now }: BuildRun & { running: boolean },
): Promise<'interrupted' | undefined> {
  const note = (message: string): void => deps.emit({ type: 'note', message });
  const warn = (message: string, node?: string): void =>
    deps.emit({ type: 'warning', ...(node ? { node } : {}), message });
  // Removed workers go first: their capacity is free before new nodes boot, and a failure here
  // stops the run before anything is added. Ctrl-C during it (a drain aborted mid-wait) is an interruption.
  try {
    await pruneRemovedNodes(
      {
        spec,
        vmrest: deps.vmrest,
        store,
        clonesFolder: deps.clonesFolder,
        kube: deps.kube,
        clusterRunning: running,
        log: note,
        warn,
        sshIdentityFile: deps.sshIdentityFile,
        signal: options.signal,
        drainTimeoutMs: options.drainTimeoutMs,
        apiPollMs: options.apiPollMs,
      },
      plan.remove,
    );
  } catch (error) {
    if (options.signal?.aborted) return 'interrupted';
    throw error;
  }
  const joining = plan.nodes.filter(
    (n) => n.actions.includes('seed') && spec.nodes.find((s) => s.name === n.node)?.role === 'worker',
  );
  if (running && joining.length > 0)
    await ensureJoinToken(
      { spec, kube: deps.kube, log: note, warn, now },
      joining.map((n) => n.node),
    );
  return undefined;
}

/** The state writes `emit` starts, and their failures. */
interface RecordWrites {
  pending: Promise<unknown>[];
  errors: unknown[];
}

/** `emit`, which also records when a node's first boot ended (its final line); the writes go into `writes`. */
function recordingFirstBootEnds(
  emitEvent: BuildEventSink,
  store: BuildStateStore,
  now: () => Date,
  writes: RecordWrites,
): BuildEventSink {
  return (event) => {
    emitEvent(event);
    // Never fire-and-forget: applyAndFollow awaits every write and fails the build with the first error.
    if (event.type === 'stage' && event.event === 'done') {
      writes.pending.push(
        store.recordCompleted(event.node, now()).catch((error: unknown) => void writes.errors.push(error)),
      );
    }
  };
}

/**
 * Applies every node's steps (clones bounded by the concurrency) and follows each node's serial console
 * from its power-on until every followed node finished its first boot. The first failure stops the others;
 * it is thrown once everything in flight ended and the state is saved.
 */
async function applyAndFollow(
  spec: ClusterSpec,
  deps: BuildVmsDeps,
  options: BuildVmsOptions,
  run: BuildRun & {
    observed: ObservedNode[];
    templateId: string;
    cloneRoad: CloneRoad;
    emit: BuildEventSink;
    writes: RecordWrites;
  },
): Promise<{ status: 'done'; applied: Map<string, AppliedVm> } | { status: 'interrupted' }> {
  const { store, plan, observed, emit, writes, now } = run;
  // One controller for "stop starting things": Ctrl-C, or a failure anywhere.
  const stop = new AbortController();
  const onUserAbort = (): void => stop.abort(new BuildInterruptedError());
  if (options.signal?.aborted) onUserAbort();
  options.signal?.addEventListener('abort', onUserAbort, { once: true });

  // Before any node is followed: a failure report points at it for a look inside.
  const sshConfig = plan.nodes.some((n) => n.follow)
    ? await writeSshConfig(spec, deps.sshIdentityFile)
    : undefined;
  const follower = new ConsoleFollower(emit, options.timing, sshConfig, (read) =>
    writes.pending.push(
      recordConsoleRead(store, read, now(), (message) => emit({ type: 'warning', node: read.node, message })),
    ),
  );
  const applied = new Map<string, AppliedVm>();
  for (const o of observed) if (o.vm) applied.set(o.name, { id: o.vm.id, vmxPath: o.vm.vmxPath });

  const ctx: ApplyContext = {
    spec,
    vmrest: deps.vmrest,
    store,
    templateId: run.templateId,
    writeSeed: deps.writeSeed,
    growDisk: deps.growDisk,
    emit,
    signal: stop.signal,
    clonesFolder: deps.clonesFolder,
    clone: run.cloneRoad,
    now,
  };
  const follow = (node: NodeSpec): void => {
    const poweredOnAt = store.node(node.name)?.poweredOnAt;
    follower.add({
      node,
      serialLog: nodePaths(spec, node).serialLog,
      poweredOnAtMs: poweredOnAt ? Date.parse(poweredOnAt) : Date.now(),
    });
  };

  const limit = limiter(Math.max(1, options.concurrency ?? spec.vmware.concurrency));
  let firstError: unknown;
  const fail = (error: unknown): void => {
    if (firstError === undefined && !(error instanceof BuildInterruptedError)) firstError = error;
    if (!stop.signal.aborted) stop.abort(error);
  };

  const applies = plan.nodes.map(async (nodePlan) => {
    const node = spec.nodes.find((n) => n.name === nodePlan.node)!;
    try {
      // Only the clone (the disk copy) is bounded by the concurrency; the configuration
      // steps after it are a few small calls and file edits, so they never wait for a slot.
      const cloning = nodePlan.actions.filter((s) => s === 'clone');
      const rest = nodePlan.actions.filter((s) => s !== 'clone');
      if (cloning.length > 0) {
        applied.set(
          node.name,
          await limit(() =>
            stop.signal.aborted ? Promise.reject(new BuildInterruptedError()) : applyNode(ctx, node, cloning),
          ),
        );
      }
      if (rest.length > 0) applied.set(node.name, await applyNode(ctx, node, rest));
      if (nodePlan.follow) follow(node);
    } catch (error) {
      fail(error);
    }
  });

  const allDone = firstBootsDone(spec, store, follower, plan);
  const following = follower.run(allDone, stop.signal).catch((error: unknown) => {
    fail(error);
    return false;
  });

  await Promise.all(applies);
  const done = await following;
  await Promise.all(writes.pending);
  await store.flush();
  options.signal?.removeEventListener('abort', onUserAbort);
  if (firstError !== undefined) throw firstError;
  if (writes.errors.length > 0) throw writes.errors[0];
  if (!done || stop.signal.aborted) return { status: 'interrupted' };
  return { status: 'done', applied };
}

/**
 * Whether every followed node finished its first boot. The control plane's final line means every node
 * it waited for is Ready: the nodes powered on before it finished. A node first powered on after that
 * (a worker added later) must print its own final line.
 */
function firstBootsDone(
  spec: ClusterSpec,
  store: BuildStateStore,
  follower: ConsoleFollower,
  plan: BuildPlan,
): () => boolean {
  const followed = plan.nodes.filter((n) => n.follow).map((n) => n.node);
  return (): boolean => {
    if (follower.completed(spec.controlPlane.name)) return true;
    const controlPlaneDoneAt = store.node(spec.controlPlane.name)?.completedAt;
    if (controlPlaneDoneAt === undefined) return false;
    const coveredByControlPlane = (name: string): boolean => {
      const poweredOnAt = store.node(name)?.poweredOnAt;
      return poweredOnAt !== undefined && Date.parse(poweredOnAt) <= Date.parse(controlPlaneDoneAt);
    };
    return followed.every((name) => follower.completed(name) || coveredByControlPlane(name));
  };
}

/** Applies the add-ons (when the build has an applier); a failure is returned, to be thrown after finishing the build. */
async function applyAddonsStep(
  spec: ClusterSpec,
  deps: BuildVmsDeps,
  options: BuildVmsOptions,
  emit: BuildEventSink,
): Promise<{ status: 'interrupted' } | { status: 'ran'; error: unknown }> {
  if (!deps.addons) return { status: 'ran', error: undefined };
  try {
    await deps.addons(spec, { signal: options.signal, emit });
    return { status: 'ran', error: undefined };
  } catch (error) {
    if (options.signal?.aborted) return { status: 'interrupted' };
    return { status: 'ran', error };
  }
}

/** Runs the cluster checks (unless skipped); a failure is returned, to be thrown after finishing the build. */
async function verifyBuiltCluster(
  spec: ClusterSpec,
  deps: BuildVmsDeps,
  options: BuildVmsOptions,
  emit: BuildEventSink,
): Promise<{ status: 'interrupted' } | { status: 'ran'; summary: string | undefined; error: unknown }> {
  let verifySummary: string | undefined;
  let verifyError: unknown;
  if (deps.verify) {
    emit({ type: 'verify', phase: 'start' });
    try {
      const verified = await deps.verify(spec, {
        signal: options.signal,
        log: (message) => emit({ type: 'verify', phase: 'progress', message }),
      });
      verifySummary = verified.summary;
      emit({
        type: 'verify',
        phase: 'done',
        summary: verifySummary,
        ...(verified.report ? { report: verified.report } : {}),
      });
    } catch (error) {
      if (error instanceof BuildInterruptedError) return { status: 'interrupted' };
      verifyError = error;
      emit({
        type: 'verify',
        phase: 'failed',
        message: error instanceof Error ? error.message : String(error),
        ...(error instanceof ClusterVerifyError ? { report: error.report } : {}),
      });
    }
  }
  return { status: 'ran', summary: verifySummary, error: verifyError };
}
