/**
 * stop and start: the lab turned off for the night and on again.
 *
 * stop [--node NAME]: each node's guest is asked to shut down through vmrest
 * (`PUT /vms/{id}/power` shutdown, delivered by VMware Tools — open-vm-tools —
 * in the guest), workers first and the control plane last, each bounded. A
 * node whose Tools do not report, whose shutdown is refused or that is still
 * on at its deadline is powered off hard only with --force or when the user
 * says yes on a terminal; otherwise the stop ends there, saying which nodes
 * are off and how to finish. The stop is recorded in state.json.
 *
 * start: the control plane is powered on first and the API server must answer
 * (on the host-only address, or KUBESTATION_API_SERVER); then the workers;
 * then every node must be Ready; then verify runs in full, because a reboot
 * is where kubeadm labs break (pod traffic across nodes after a restart).
 *
 * Both first plan (every VM found, each checked to carry this cluster's
 * marker for its node, before anything changes), are resumable (nodes
 * already in the wanted state are skipped), and detach a node's seed ISO
 * from its .vmx whenever they find the VM powered off.
 */
import { detachSeedIso } from '../bringup/seed-retirement.js';
import { describeOwnership } from '../bringup/ownership.js';
import { BuildInterruptedError } from '../bringup/apply.js';
import type { ClusterVerifier, Day2Vmrest } from '../bringup/ports.js';
import { BuildStateStore, type BuildState } from '../bringup/state.js';
import type { ClusterSpec, NodeRole, NodeSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { KubeApiError, KubeClient, KubeTimeoutError, waitUntil } from '../kube/index.js';
import type { VerifyReport } from '../verify/report.js';
import type { PowerState } from '../vmrest/client.js';
import { VmrestDeadlineError, VmrestError, VmrestNotYetAvailableError } from '../vmrest/errors.js';
import { findSpecNode } from './rebuild.js';
import { commandHint } from '../command-hint.js';
import {
  isOwnedBy,
  observeNodeVms,
  waitNodesReady,
  type KubeAccess,
  type NodeVm,
  type ObservedVm,
} from '../bringup/observe.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export type LabStep =
  | 'resume'
  | 'tools'
  | 'shutdown'
  | 'hard-off'
  | 'detach-seed'
  | 'power-on'
  | 'snapshot'
  | 'revert'
  | 'delete-snapshot';

export interface LabPlanEntry {
  node: string;
  role: NodeRole;
  /** unknown: vmrest lists the VM but did not say its power state; it is read again when its turn comes. */
  power: PowerState | 'no VM' | 'unknown';
  action: string;
}

export type LabEvent =
  | { type: 'plan'; command: 'stop' | 'start'; nodes: LabPlanEntry[] }
  | {
      type: 'node';
      node: string;
      step: LabStep;
      phase: 'start' | 'done' | 'skipped' | 'failed';
      detail?: string;
      elapsedMs?: number;
    }
  | {
      type: 'wait';
      what: 'api-server' | 'nodes-ready';
      phase: 'start' | 'progress' | 'done';
      detail?: string;
      elapsedMs?: number;
    }
  | { type: 'warning'; node?: string; message: string }
  | {
      type: 'verify';
      phase: 'start' | 'progress' | 'done' | 'failed';
      message?: string;
      report?: VerifyReport;
    };

export type LabEventSink = (event: LabEvent) => void;

export interface LabPowerDeps {
  vmrest: Day2Vmrest;
  kube: KubeAccess;
  emit: LabEventSink;
  /** Asked before a node is powered off hard; undefined when there is no terminal to ask. */
  confirmHardOff?: ((node: string, reason: string) => Promise<boolean>) | undefined;
  now?: () => Date;
}

export interface LabTiming {
  /** How long one guest may take to shut down; default 180 s. */
  shutdownTimeoutMs?: number;
  /** How long VMware Tools may take to report (GET /vms/{id}/ip) before a shutdown is asked for; default 15 s. */
  toolsTimeoutMs?: number;
  /** How long the API server may take to answer once the control plane is on; default 5 min. */
  apiTimeoutMs?: number;
  /** How long every node may take to be Ready once the workers are on; default 10 min. */
  readyTimeoutMs?: number;
  /** Poll interval for power states and the API server; default 2 s. */
  pollMs?: number;
}

export const DEFAULT_LAB_TIMING: Required<LabTiming> = {
  shutdownTimeoutMs: 180_000,
  toolsTimeoutMs: 15_000,
  apiTimeoutMs: 5 * 60_000,
  readyTimeoutMs: 10 * 60_000,
  pollMs: 2_000,
};

export interface StopOptions extends LabTiming {
  /** Stop only this node. */
  node?: string | undefined;
  /** Power off hard a node that does not shut down (no Tools, refused, or past its deadline). */
  force?: boolean;
  /** Print the plan only. */
  dryRun?: boolean;
  signal?: AbortSignal;
}

export type StopOutcome = 'shut down' | 'powered off hard' | 'already off' | 'no VM';

export interface StopResult {
  plan: LabPlanEntry[];
  nodes: Array<{ node: string; outcome: StopOutcome }>;
  /** Every node of the lab is off now (recorded as stoppedAt). */
  labStopped: boolean;
}

export interface StartOptions extends LabTiming {
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface StartResult {
  plan: LabPlanEntry[];
  /** verify's one-line summary; undefined for a dry run. */
  verifySummary: string | undefined;
}

export type LabPowerSummary =
  | { state: 'running' }
  | { state: 'stopped'; stoppedAt: string | undefined }
  | { state: 'partly running'; notRunning: Array<{ node: string; power: PowerState | 'unknown' }> }
  | { state: 'unknown' }
  | { state: 'not built'; reason: string; fix: string };

/**
 * The lab as a whole from its nodes' VMs (ours only; a node without a VM of
 * ours makes it 'unknown'): every VM off is a stopped lab (stoppedAt when
 * `kubestation stop` did it), every VM on a running one.
 */
export function summarizeLabPower(
  nodes: Array<{ node: string; power: PowerState | undefined } | undefined>,
  state: BuildState | undefined,
): LabPowerSummary {
  if (nodes.length === 0 || nodes.some((n) => n === undefined)) return { state: 'unknown' };
  const vms = nodes as Array<{ node: string; power: PowerState | undefined }>;
  if (vms.every((v) => v.power === 'poweredOn')) return { state: 'running' };
  if (vms.every((v) => v.power === 'poweredOff')) return { state: 'stopped', stoppedAt: state?.stoppedAt };
  return {
    state: 'partly running',
    notRunning: vms
      .filter((v) => v.power !== 'poweredOn')
      .map((v) => ({ node: v.node, power: v.power ?? 'unknown' })),
  };
}

/** One line for status and doctor. */
export function describeLabPower(summary: LabPowerSummary): string {
  switch (summary.state) {
    case 'running':
      return 'running (every VM powered on)';
    case 'stopped':
      return `stopped: every VM is powered off${summary.stoppedAt ? ` (by \`${COMMAND_PREFIX} stop\` at ${summary.stoppedAt})` : ''}; start it with \`${COMMAND_PREFIX} start\``;
    case 'partly running':
      return `partly running: ${summary.notRunning.map((n) => `${n.node} is ${n.power}`).join(', ')}; \`${COMMAND_PREFIX} start\` starts the rest in order and verifies`;
    case 'unknown':
      return `half built or damaged: a node has no VM of this cluster (status shows which); \`${commandHint('build-vms')}\` builds the missing ones`;
    case 'not built':
      return `not built yet: ${summary.reason}; ${summary.fix}`;
  }
}

/** Nodes in the order stop handles them: workers (together) first, the control plane last. */
export function stopOrder(spec: ClusterSpec, only?: NodeSpec): NodeSpec[][] {
  if (only) return [[only]];
  return [spec.workers, spec.nodes.filter((n) => n.role === 'control-plane')].filter(
    (group) => group.length > 0,
  );
}

function stopAction(power: LabPlanEntry['power']): string {
  switch (power) {
    case 'unknown':
      return 'read its power state again, then shut down if it runs';
    case 'poweredOn':
      return 'shut down';
    case 'suspended':
      return 'resume, then shut down (a suspended guest cannot shut down)';
    case 'paused':
      return 'unpause, then shut down';
    case 'poweredOff':
      return 'nothing: already powered off';
    case 'no VM':
      return 'nothing: no VM';
  }
}

function startAction(power: LabPlanEntry['power']): string {
  switch (power) {
    case 'unknown':
      return 'read its power state again, then power on unless it runs';
    case 'poweredOn':
      return 'nothing: already running';
    case 'suspended':
      return 'resume';
    case 'paused':
      return 'unpause';
    case 'poweredOff':
      return 'detach the seed ISO if still attached, power on';
    case 'no VM':
      return 'cannot start: no VM';
  }
}

/** Throws before any change unless every VM found for `targets` carries this cluster's marker for its node. */
export function assertOwned(spec: ClusterSpec, found: NodeVm[], command: string): void {
  for (const { node, vm } of found) {
    if (vm && !isOwnedBy(vm, node)) {
      throw new KubestationError(
        'VM_NOT_OWNED',
        `refusing to ${command}: the VM ${vm.vmxPath} has node "${node.name}"'s name but belongs to ${describeOwnership(vm.ownership)}, not to cluster "${spec.name}"; nothing was changed`,
        {
          fix: `kubestation only powers VMs it created. Rename or move that VM in Workstation, or rename node "${node.name}" in cluster.yaml`,
        },
      );
    }
  }
}

export class LabStopIncompleteError extends KubestationError {
  constructor(
    readonly results: Array<{
      node: string;
      outcome: StopOutcome | 'still running' | 'not stopped';
      detail?: string | undefined;
    }>,
    force: boolean,
    only: string | undefined,
  ) {
    const lines = results.map((r) => `${r.node}: ${r.outcome}${r.detail ? ` — ${r.detail}` : ''}`);
    const rerun = `${COMMAND_PREFIX} stop${only ? ` --node ${only}` : ''}`;
    super('STOP_INCOMPLETE', `the lab is only partly stopped:\n    ${lines.join('\n    ')}`, {
      fix: force
        ? `power the node off in Workstation (VM > Power > Power Off), then run \`${rerun}\` again: nodes already off are skipped`
        : `shut the node down from its console (\`sudo poweroff\`), or run \`${rerun} --force\` to power it off hard (like pulling the plug: the guest's unwritten data is lost; etcd on the control plane recovers from its log); nodes already off are skipped`,
    });
  }
}

class LabRun {
  readonly store: BuildStateStore;
  readonly timing: Required<LabTiming>;
  readonly signal: AbortSignal;

  constructor(
    readonly spec: ClusterSpec,
    readonly deps: LabPowerDeps,
    options: LabTiming & { signal?: AbortSignal | undefined },
    store: BuildStateStore,
  ) {
    this.store = store;
    this.timing = { ...DEFAULT_LAB_TIMING, ...definedOnly(options) };
    this.signal = options.signal ?? new AbortController().signal;
  }

  now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  checkInterrupted(): void {
    if (this.signal.aborted) throw new BuildInterruptedError();
  }

  /** Runs one step of a node, with start/done/failed events and its duration. */
  async step<T>(
    node: string,
    step: LabStep,
    work: () => Promise<T>,
    describe: (value: T) => string | undefined = () => undefined,
  ): Promise<T> {
    this.checkInterrupted();
    const started = Date.now();
    this.deps.emit({ type: 'node', node, step, phase: 'start' });
    try {
      const value = await work();
      const detail = describe(value);
      this.deps.emit({
        type: 'node',
        node,
        step,
        phase: 'done',
        ...(detail ? { detail } : {}),
        elapsedMs: Date.now() - started,
      });
      return value;
    } catch (error) {
      this.deps.emit({
        type: 'node',
        node,
        step,
        phase: 'failed',
        detail: error instanceof Error ? error.message.split('\n')[0]! : String(error),
        elapsedMs: Date.now() - started,
      });
      throw error;
    }
  }

  /** Polls the power state until `want` or the deadline; the last state seen. */
  async waitPower(vm: ObservedVm, want: PowerState, timeoutMs: number): Promise<PowerState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const power = await this.deps.vmrest.getPowerState(vm.id);
      if (power === want || Date.now() >= deadline) return power;
      await sleepUnlessAborted(Math.min(this.timing.pollMs, Math.max(0, deadline - Date.now())), this.signal);
      this.checkInterrupted();
    }
  }

  /**
   * Detaches the node's seed CD-ROM in its .vmx (build-vms' detachSeedIso:
   * only while the VM is off, only ours) and deletes a seed ISO left behind.
   */
  async detachSeed(node: NodeSpec, vm: ObservedVm): Promise<void> {
    const seed = this.store.node(node.name)?.seed;
    if (!seed || (seed.detached && seed.fileRemoved)) return;
    await this.step(
      node.name,
      'detach-seed',
      () =>
        detachSeedIso(
          {
            spec: this.spec,
            vmrest: this.deps.vmrest,
            store: this.store,
            emit: (event) => {
              if (event.type === 'warning')
                this.deps.emit({
                  type: 'warning',
                  ...(event.node ? { node: event.node } : {}),
                  message: event.message,
                });
            },
          },
          node,
          { id: vm.id, vmxPath: vm.vmxPath },
        ),
      (r) =>
        `${r.detached ? 'CD-ROM detached' : 'CD-ROM still attached'}; ${r.fileRemoved ? 'ISO removed' : 'ISO not removed yet'}`,
    );
  }
}

/** "180 s", "0.3 s". */
function secondsText(ms: number): string {
  return `${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)} s`;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted || ms <= 0) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Whether VMware Tools report in the guest: GET /vms/{id}/ip answers with an
 * address once they run, and code 106 ("not available yet") while they do not.
 */
async function toolsReport(
  run: LabRun,
  vm: ObservedVm,
): Promise<{ running: true } | { running: false; reason: string }> {
  try {
    await run.deps.vmrest.getIp(vm.id, {
      timeoutMs: run.timing.toolsTimeoutMs,
      intervalMs: Math.min(run.timing.pollMs, 1000),
    });
    return { running: true };
  } catch (error) {
    if (error instanceof VmrestDeadlineError || error instanceof VmrestNotYetAvailableError) {
      return {
        running: false,
        reason: `VMware Tools (open-vm-tools) do not report in the guest (GET /vms/{id}/ip answered code 106 for ${secondsText(run.timing.toolsTimeoutMs)}), so vmrest cannot ask it to shut down`,
      };
    }
    throw error;
  }
}

type NodeStop =
  { node: string; outcome: StopOutcome } | { node: string; outcome: 'still running'; detail: string };

async function stopNode(run: LabRun, target: NodeVm, force: boolean): Promise<NodeStop> {
  const { node } = target;
  const vm = target.vm;
  if (!vm) {
    run.deps.emit({ type: 'node', node: node.name, step: 'shutdown', phase: 'skipped', detail: 'no VM' });
    return { node: node.name, outcome: 'no VM' };
  }
  const { vmrest } = run.deps;
  let power = await vmrest.getPowerState(vm.id);
  let outcome: StopOutcome = 'already off';
  if (power === 'poweredOff') {
    run.deps.emit({
      type: 'node',
      node: node.name,
      step: 'shutdown',
      phase: 'skipped',
      detail: 'already powered off',
    });
  } else {
    let reason: string | undefined;
    if (power === 'suspended' || power === 'paused') {
      const operation = power === 'suspended' ? 'on' : 'unpause';
      const was = power;
      try {
        power = await run.step(
          node.name,
          'resume',
          () => vmrest.setPowerState(vm.id, operation),
          () => `${was} → poweredOn, so the guest can shut down`,
        );
      } catch (error) {
        if (!(error instanceof VmrestError)) throw error;
        reason = `it is ${was} and could not be resumed to shut down cleanly (${error.message.split('\n')[0]})`;
      }
    }
    const tools = reason
      ? undefined
      : await run.step(
          node.name,
          'tools',
          () => toolsReport(run, vm),
          (t) => (t.running ? 'VMware Tools report' : 'VMware Tools do not report'),
        );
    if (tools && !tools.running) {
      reason = tools.reason;
    } else if (tools) {
      power = await run.step(
        node.name,
        'shutdown',
        async () => {
          await vmrest.setPowerState(vm.id, 'shutdown').catch((error: unknown) => {
            // vmrest refuses when Tools stopped meanwhile; the deadline below still applies.
            if (!(error instanceof VmrestError)) throw error;
            reason = `vmrest refused the guest shutdown: ${error.message}`;
          });
          return reason
            ? await vmrest.getPowerState(vm.id)
            : await run.waitPower(vm, 'poweredOff', run.timing.shutdownTimeoutMs);
        },
        (p) => (p === 'poweredOff' ? 'guest shut down' : `still ${p}`),
      );
      if (power !== 'poweredOff')
        reason ??= `the guest did not shut down within ${secondsText(run.timing.shutdownTimeoutMs)} (it is ${power})`;
    }
    if (power === 'poweredOff') {
      outcome = 'shut down';
    } else {
      const hard = force || ((await run.deps.confirmHardOff?.(node.name, reason!)) ?? false);
      if (!hard) {
        run.deps.emit({
          type: 'warning',
          node: node.name,
          message: `${reason}; not powered off hard (that needs --force)`,
        });
        return { node: node.name, outcome: 'still running', detail: reason! };
      }
      await run.step(
        node.name,
        'hard-off',
        () => vmrest.setPowerState(vm.id, 'off'),
        () => `powered off hard: ${reason}`,
      );
      run.deps.emit({ type: 'warning', node: node.name, message: `powered off hard (${reason})` });
      outcome = 'powered off hard';
    }
    await run.store.updateNode(
      node.name,
      (n) => void (n.stopped = { at: run.now().toISOString(), hard: outcome === 'powered off hard' }),
    );
  }
  await run.detachSeed(node, vm);
  return { node: node.name, outcome };
}

/** The plan: every node's VM and power, ownership checked before anything changes. */
async function planNodes(
  spec: ClusterSpec,
  deps: LabPowerDeps,
  state: BuildState,
  nodes: NodeSpec[],
  command: 'stop' | 'start',
): Promise<{ found: NodeVm[]; plan: LabPlanEntry[] }> {
  const found = await observeNodeVms(spec, deps.vmrest, state, nodes);
  assertOwned(spec, found, command === 'stop' ? 'stop the lab' : 'start the lab');
  const plan = found.map(({ node, vm }) => {
    const power: LabPlanEntry['power'] = vm ? (vm.power ?? 'unknown') : 'no VM';
    return {
      node: node.name,
      role: node.role,
      power,
      action: command === 'stop' ? stopAction(power) : startAction(power),
    };
  });
  deps.emit({ type: 'plan', command, nodes: plan });
  return { found, plan };
}

export async function stopLab(
  spec: ClusterSpec,
  deps: LabPowerDeps,
  options: StopOptions = {},
): Promise<StopResult> {
  const only = options.node ? findSpecNode(spec, options.node) : undefined;
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  const run = new LabRun(spec, deps, options, store);
  const { found, plan } = await planNodes(spec, deps, store.snapshot(), only ? [only] : spec.nodes, 'stop');
  if (options.dryRun) return { plan, nodes: [], labStopped: false };
  if (only?.role === 'control-plane' && found.length === 1 && spec.workers.length > 0) {
    deps.emit({
      type: 'warning',
      node: only.name,
      message: `stopping the control plane alone: the workers keep running without an API server until it is started again (\`${COMMAND_PREFIX} start\`)`,
    });
  }

  const results: NodeStop[] = [];
  try {
    for (const group of stopOrder(spec, only)) {
      const targets = group.map((node) => found.find((f) => f.node.name === node.name)!);
      const settled = await Promise.allSettled(targets.map((t) => stopNode(run, t, options.force ?? false)));
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      for (const s of settled) if (s.status === 'fulfilled') results.push(s.value);
      if (failure) throw failure.reason;
      if (results.some((r) => r.outcome === 'still running')) {
        const later = stopOrder(spec, only)
          .flat()
          .filter((n) => !results.some((r) => r.node === n.name));
        throw new LabStopIncompleteError(
          [
            ...results,
            ...later.map((n) => ({
              node: n.name,
              outcome: 'not stopped' as const,
              detail: 'the control plane is stopped last, once every worker is off',
            })),
          ],
          options.force ?? false,
          only?.name,
        );
      }
    }
  } finally {
    await store.flush();
  }

  const everyNode = await observeNodeVms(spec, deps.vmrest, store.snapshot());
  const labStopped = everyNode.every(({ vm }) => !vm || vm.power === 'poweredOff');
  if (labStopped) await store.update((s) => void (s.stoppedAt = run.now().toISOString()));
  return {
    plan,
    nodes: results.map((r) => ({ node: r.node, outcome: r.outcome as StopOutcome })),
    labStopped,
  };
}

/** Powers a node on (resume / unpause as its state needs), detaching its seed first while it is off. */
async function startNode(run: LabRun, target: NodeVm): Promise<void> {
  const { node } = target;
  const vm = target.vm!;
  const { vmrest } = run.deps;
  const power = await vmrest.getPowerState(vm.id);
  if (power === 'poweredOn') {
    run.deps.emit({
      type: 'node',
      node: node.name,
      step: 'power-on',
      phase: 'skipped',
      detail: 'already running',
    });
  } else {
    if (power === 'poweredOff') await run.detachSeed(node, vm);
    const operation = power === 'paused' ? 'unpause' : 'on';
    await run.step(
      node.name,
      'power-on',
      () => vmrest.setPowerState(vm.id, operation),
      (p) => `${power} → ${p}`,
    );
  }
  await run.store.updateNode(node.name, (n) => void delete n.stopped);
}

async function waitForApiServer(run: LabRun, client: KubeClient, server: string): Promise<void> {
  const started = Date.now();
  run.deps.emit({ type: 'wait', what: 'api-server', phase: 'start', detail: server });
  await waitUntil(
    async () => {
      try {
        await client.listNodes();
        return { done: true as const, value: undefined };
      } catch (error) {
        if (error instanceof KubeApiError || error instanceof KubeTimeoutError)
          return { done: false as const, state: error.message };
        throw error;
      }
    },
    {
      timeoutMs: run.timing.apiTimeoutMs,
      intervalMs: run.timing.pollMs,
      signal: run.signal,
      what: `the API server at ${server} to answer`,
      fix: `read the control plane's console log (${run.spec.stateDir}) and run \`${COMMAND_PREFIX} doctor\`; check that the PC has its VMnet1 host-only address (ipconfig), or set KUBESTATION_API_SERVER`,
    },
  ).catch(rethrowAbort(run));
  run.deps.emit({
    type: 'wait',
    what: 'api-server',
    phase: 'done',
    detail: server,
    elapsedMs: Date.now() - started,
  });
}

function rethrowAbort(run: LabRun): (error: unknown) => never {
  return (error) => {
    if (run.signal.aborted) throw new BuildInterruptedError();
    throw error;
  };
}

export async function startLab(
  spec: ClusterSpec,
  deps: LabPowerDeps,
  verify: ClusterVerifier,
  options: StartOptions = {},
): Promise<StartResult> {
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  const run = new LabRun(spec, deps, options, store);
  const { found, plan } = await planNodes(spec, deps, store.snapshot(), spec.nodes, 'start');
  const missing = found.filter((f) => !f.vm).map((f) => f.node.name);
  if (missing.length > 0) {
    throw new KubestationError(
      'NODE_VM_MISSING',
      `cannot start the lab: no VM for ${missing.join(', ')} in vmrest's list; nothing was changed`,
      {
        // Rebuilding the control plane re-creates the cluster, so rebuild-node refuses it without --force.
        fix: `build it again with \`${COMMAND_PREFIX} rebuild-node ${missing[0]}${missing[0] === spec.controlPlane.name ? ' --force' : ''}\` (or \`${COMMAND_PREFIX} build-vms\` for every missing node), or register the VM in Workstation if it was removed from the library`,
      },
    );
  }
  if (options.dryRun) return { plan, verifySummary: undefined };

  const kubeconfig = deps.kube.kubeconfig;
  const client = await KubeClient.fromKubeconfig(kubeconfig, {
    ...(deps.kube.server ? { server: deps.kube.server } : {}),
    ...(deps.kube.requestTimeoutMs ? { requestTimeoutMs: deps.kube.requestTimeoutMs } : {}),
  }).catch((error: unknown) => {
    throw new KubestationError(
      'KUBECONFIG_MISSING',
      `cannot read the admin kubeconfig ${kubeconfig}: ${(error as Error).message}`,
      {
        fix: `build the cluster first (\`${COMMAND_PREFIX} build-vms\` writes it), or restore the state folder`,
      },
    );
  });
  const server = deps.kube.server ?? `https://${spec.kubernetes.apiEndpoint}`;
  try {
    const byRole = (role: NodeRole) => found.filter((f) => f.node.role === role);
    for (const target of byRole('control-plane')) await startNode(run, target);
    await waitForApiServer(run, client, server);
    await Promise.all(byRole('worker').map((t) => startNode(run, t)));
    await store.update((s) => void delete s.stoppedAt);

    const started = Date.now();
    let lastPending = '';
    deps.emit({
      type: 'wait',
      what: 'nodes-ready',
      phase: 'start',
      detail: spec.nodes.map((n) => n.name).join(', '),
    });
    await waitNodesReady(
      client,
      spec.nodes.map((n) => n.name),
      {
        timeoutMs: run.timing.readyTimeoutMs,
        intervalMs: run.timing.pollMs,
        signal: run.signal,
        fix: `run \`${COMMAND_PREFIX} doctor\` and \`${COMMAND_PREFIX} status\`; a node that stays NotReady after a restart usually has kubelet or containerd not running (ssh in: \`systemctl status kubelet containerd\`)`,
        onPending: (pending) => {
          const text = pending.join(', ');
          if (pending.length > 0 && text !== lastPending)
            deps.emit({
              type: 'wait',
              what: 'nodes-ready',
              phase: 'progress',
              detail: `not Ready yet: ${text}`,
            });
          lastPending = text;
        },
      },
    ).catch(rethrowAbort(run));
    deps.emit({
      type: 'wait',
      what: 'nodes-ready',
      phase: 'done',
      detail: `${spec.nodes.length} node(s) Ready`,
      elapsedMs: Date.now() - started,
    });

    run.checkInterrupted();
    deps.emit({ type: 'verify', phase: 'start' });
    let summary: string;
    try {
      const result = await verify(spec, {
        signal: run.signal,
        log: (line) => deps.emit({ type: 'verify', phase: 'progress', message: line }),
      });
      summary = result.summary;
      deps.emit({
        type: 'verify',
        phase: 'done',
        message: summary,
        ...(result.report ? { report: result.report } : {}),
      });
    } catch (error) {
      const report = (error as { report?: VerifyReport }).report;
      deps.emit({
        type: 'verify',
        phase: 'failed',
        message: error instanceof Error ? error.message : String(error),
        ...(report ? { report } : {}),
      });
      throw error;
    }
    await store.update((s) => void (s.startedAt = run.now().toISOString()));
    return { plan, verifySummary: summary };
  } finally {
    await store.flush();
    await client.close();
  }
}
