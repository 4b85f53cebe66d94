/**
 * rebuild-node: replace one node's VM with a fresh one, leaving every other
 * VM alone.
 *
 * Worker:
 *   1. preflight for that node (vmrest, vmnets, template, no foreign VM with its name)
 *   2. API server reachable → register a fresh join token (Secret), cordon, drain
 *      (bounded), delete the Node object. Not reachable → go on only if the
 *      recorded token is still valid (the control plane must accept it)
 *   3. power off and delete its VM (only if it carries our marker for this node)
 *   4. clone, configure, seed (with the current token: new instance-id), power on
 *      — build-vms' applyNode — and follow its console until it joined
 *   5. wait until its Node is Ready through the API, detach/remove the seed ISO
 *
 * Control plane (only with --force, it re-creates the cluster): a fresh token
 * is recorded for kubeadm init, the control plane and every worker VM are
 * deleted, the control plane is rebuilt with the same CA (kubeconfigs stay
 * valid), then each worker in cluster.yaml order once kubeadm init is done.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { applyNode, BuildInterruptedError, type AppliedVm, type ApplyContext } from '../bringup/apply.js';
import { detachSeedIso } from '../bringup/finish.js';
import { recordConsoleRead } from '../bringup/observations.js';
import { ConsoleFollower, type FollowTiming } from '../bringup/follow.js';
import { nodePaths } from '../bringup/paths.js';
import type {
  BuildEvent,
  BuildEventSink,
  CloneRoad,
  Day2Log,
  Day2Vmrest,
  DiskGrower,
  SeedIsoWriter,
} from '../bringup/ports.js';
import { cloneRoadFor } from '../bringup/clone-mode.js';
import type { VmrunLookup } from '../template/vmrun.js';
import { PreflightError, runPreflight, type PreflightDeps } from '../bringup/preflight.js';
import { APPLY_STEPS, BuildStateStore } from '../bringup/state.js';
import { KubestationError } from '../errors.js';
import { KubeletServingApprover } from '../addons/csr-approver.js';
import type { KubeClient } from '../kube/index.js';
import { mintBootstrapToken } from '../pki/index.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import {
  probeApi,
  waitNodesReady,
  type ApiProbe,
  type KubeAccess,
  type ObservedVm,
} from '../bringup/observe.js';
import { ownNodeVm, removeNodeVm, retireNodeObject, type NodeVmContext } from '../bringup/node-removal.js';
import { mintTokenThroughApi, readStoredToken, tokenUnusableError } from '../bringup/join-token.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export interface RebuildDeps {
  vmrest: Day2Vmrest;
  writeSeed: SeedIsoWriter;
  growDisk: DiskGrower;
  /** Where clones land (Workstation's default VM folder), when known. */
  clonesFolder: string | undefined;
  kube: KubeAccess;
  /** Node progress (apply steps, console stages, warnings), as build-vms shows it. */
  emit: BuildEventSink;
  /** What the command does besides building: Kubernetes steps, deletions, skipped steps. */
  log: Day2Log;
  installFolder?: string | undefined;
  freeBytes?: PreflightDeps['freeBytes'];
  /** Where vmrun is (linked clones, as build-vms makes them); undefined = not looked for. */
  vmrun?: VmrunLookup | undefined;
  /** Workstation's DHCP settings file (preflight compares networks.hostOnly.dhcpRange with it). */
  vmnetDhcpConfig?: string | undefined;
  now?: () => Date;
}

export interface RebuildOptions {
  /** Needed to rebuild the control plane (it re-creates the cluster). */
  force?: boolean;
  /** Ctrl-C: no new step starts; state is saved. */
  signal?: AbortSignal;
  timing?: FollowTiming;
  /** How long evicted pods may take to go; default 120 s. Past it the rebuild goes on with a warning. */
  drainTimeoutMs?: number;
  /** How long the rebuilt node may take to be Ready through the API after it joined; default 10 min. */
  readyTimeoutMs?: number;
  /** API poll interval (drain, Ready); default 2 s. */
  apiPollMs?: number;
}

export interface RebuildResult {
  /** Nodes rebuilt, in order. */
  rebuilt: string[];
  /** Whether Ready was confirmed through the API server. */
  readyConfirmed: boolean;
  warnings: string[];
}

export function findSpecNode(spec: ClusterSpec, name: string): NodeSpec {
  const node =
    spec.nodes.find((n) => n.name === name) ??
    spec.nodes.find((n) => n.name.toLowerCase() === name.toLowerCase());
  if (!node) {
    throw new KubestationError(
      'UNKNOWN_NODE',
      `"${name}" is not a node of cluster ${spec.name} (nodes: ${spec.nodes.map((n) => n.name).join(', ')})`,
      {
        fix: `use one of the node names from ${spec.sourcePath ?? 'cluster.yaml'}`,
      },
    );
  }
  return node;
}

export function controlPlaneNeedsForce(spec: ClusterSpec, node: NodeSpec): KubestationError {
  return new KubestationError(
    'REBUILD_CONTROL_PLANE_NEEDS_FORCE',
    `"${node.name}" is the control plane: rebuilding it re-creates the cluster. etcd is on that VM, so every workload, Service, Secret and ConfigMap is lost, ` +
      `and each worker (${spec.workers.map((w) => w.name).join(', ') || 'none'}) is rebuilt too so it joins the new cluster. The CA is kept, so existing kubeconfigs stay valid`,
    {
      fix: `if that is what you want, run \`${COMMAND_PREFIX} rebuild-node ${node.name} --force\`; to repair a worker instead, name the worker`,
    },
  );
}

const defaultDrainTimeoutMs = 120_000;
const defaultReadyTimeoutMs = 10 * 60_000;

class Rebuild {
  readonly warnings: string[] = [];
  readonly store: BuildStateStore;
  readonly follower: ConsoleFollower;
  readonly signal: AbortSignal;
  /** When this rebuild began: a serving certificate request made before it is the old kubelet's. */
  readonly startedAtMs = Date.now();
  readonly #passedInitOn = new Set<string>();
  readonly #completedWrites: Promise<void>[] = [];
  #writeError: unknown;
  #applyCtx: ApplyContext | undefined;

  constructor(
    readonly spec: ClusterSpec,
    readonly deps: RebuildDeps,
    readonly options: RebuildOptions,
    store: BuildStateStore,
  ) {
    this.store = store;
    this.signal = options.signal ?? new AbortController().signal;
    const sshConfig = path.join(spec.stateDir, 'ssh_config');
    this.follower = new ConsoleFollower(
      (event) => this.#onEvent(event),
      options.timing,
      existsSync(sshConfig) ? sshConfig : undefined,
      // Never rejects (a failed write is a warning); awaited with the other writes.
      (read) =>
        this.#completedWrites.push(
          recordConsoleRead(this.store, read, this.now(), (message) => this.warn(message, read.node)),
        ),
    );
  }

  now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  warn(message: string, node?: string): void {
    this.warnings.push(node ? `${node}: ${message}` : message);
    this.deps.emit({ type: 'warning', ...(node ? { node } : {}), message });
  }

  #onEvent(event: BuildEvent): void {
    this.deps.emit(event);
    if (event.type !== 'stage') return;
    if (event.stage === 'kubeadm-init' && event.event === 'ok') this.#passedInitOn.add(event.node);
    if (event.event === 'done') {
      // Kept, and its failure thrown by followUntil: the follower's callback cannot wait for it.
      this.#completedWrites.push(
        this.store.recordCompleted(event.node, this.now()).catch((error: unknown) => {
          this.#writeError ??= error;
        }),
      );
    }
  }

  setTemplate(templateId: string, clone: CloneRoad): void {
    this.#applyCtx = {
      clone,
      spec: this.spec,
      vmrest: this.deps.vmrest,
      store: this.store,
      templateId,
      writeSeed: this.deps.writeSeed,
      growDisk: this.deps.growDisk,
      emit: (event) => this.#onEvent(event),
      signal: this.signal,
      clonesFolder: this.deps.clonesFolder,
      now: () => this.now(),
    };
  }

  #vmContext(): NodeVmContext {
    return {
      spec: this.spec,
      vmrest: this.deps.vmrest,
      store: this.store,
      clonesFolder: this.deps.clonesFolder,
      log: this.deps.log,
    };
  }

  /** The node's VM if vmrest lists one; throws when that VM is not ours (checked before any change, and again before deleting). */
  ownVm(node: NodeSpec): Promise<ObservedVm | undefined> {
    return ownNodeVm(this.#vmContext(), node, 'rebuild');
  }

  /** Powers off and deletes the node's VM, if there is one and it is ours. The node's record still describes the old VM: applyNode's clone step resets it before cloning. */
  removeVm(node: NodeSpec): Promise<void> {
    return removeNodeVm(this.#vmContext(), node, 'rebuild');
  }

  /** Clone, configure, seed and power on (build-vms' applyNode), then follow its console from power-on. */
  async applyAndFollow(node: NodeSpec): Promise<AppliedVm> {
    if (!this.#applyCtx) throw new Error('rebuild: template not set');
    const vm = await applyNode(this.#applyCtx, node, APPLY_STEPS);
    const poweredOnAt = this.store.node(node.name)?.poweredOnAt;
    this.follower.add({
      node,
      serialLog: nodePaths(this.spec, node).serialLog,
      poweredOnAtMs: poweredOnAt ? Date.parse(poweredOnAt) : Date.now(),
    });
    return vm;
  }

  async followUntil(isDone: () => boolean): Promise<void> {
    const finished = await this.follower.run(isDone, this.signal);
    await Promise.all(this.#completedWrites);
    if (this.#writeError !== undefined) throw this.#writeError;
    if (!finished) throw new BuildInterruptedError();
  }

  passedInit(node: string): boolean {
    return this.#passedInitOn.has(node) || this.follower.completed(node);
  }

  async detachSeed(node: NodeSpec, vm: AppliedVm): Promise<void> {
    const result = await detachSeedIso(
      { spec: this.spec, vmrest: this.deps.vmrest, store: this.store, emit: this.deps.emit },
      node,
      vm,
    );
    if (!result.detached)
      this.deps.log(
        `${node.name}: the seed CD-ROM is detached in its .vmx the next time kubestation finds the VM powered off`,
      );
  }

  /** Waits until every node in `names` is registered and Ready through the API. */
  async waitReady(client: KubeClient, names: string[]): Promise<void> {
    await waitNodesReady(client, names, {
      timeoutMs: this.options.readyTimeoutMs ?? defaultReadyTimeoutMs,
      intervalMs: this.options.apiPollMs ?? 2000,
      signal: this.signal,
      fix: `the node joined but its kubelet does not report Ready: run \`${COMMAND_PREFIX} doctor\`, and see \`kubectl describe node ${names[0] ?? ''}\``,
    });
    await this.approveServingCertificates(client, names);
  }

  /**
   * With the metrics add-on the rebuilt kubelets ask for serving certificates (serverTLSBootstrap); until
   * one is approved, kubectl logs/exec/top do not reach that node. Approved as build-vms does (the node's
   * own name and addresses only), waiting a bounded while for the request; a miss only warns.
   */
  private async approveServingCertificates(client: KubeClient, names: string[]): Promise<void> {
    if (!this.spec.addons.metrics.enabled) return;
    const approver = new KubeletServingApprover(this.spec, client);
    const waiting = new Set(names);
    // creationTimestamp has whole seconds.
    const since = Math.floor(this.startedAtMs / 1000) * 1000;
    const deadline = Date.now() + Math.min(this.options.readyTimeoutMs ?? defaultReadyTimeoutMs, 120_000);
    while (waiting.size > 0) {
      const review = await approver.review();
      for (const approved of review.approved) {
        // A request from before this rebuild came from the old kubelet: approved, but not the one awaited.
        const fresh = approved.createdAt !== undefined && Date.parse(approved.createdAt) >= since;
        if (!fresh || !waiting.delete(approved.node)) continue;
        this.deps.log(`${approved.node}: approved its kubelet's serving certificate request ${approved.csr}`);
      }
      for (const refused of review.refused)
        this.warn(
          `serving certificate request ${refused.csr} left pending: ${refused.problem}; \`kubectl certificate approve ${refused.csr}\` if you trust it`,
          refused.node,
        );
      if (waiting.size === 0 || Date.now() >= deadline) break;
      await sleep(this.options.apiPollMs ?? 2000, undefined, { signal: this.signal });
    }
    for (const name of waiting)
      this.warn(
        `its kubelet has not asked for a serving certificate yet, so kubectl logs/exec/top do not reach it; the next \`${COMMAND_PREFIX} build-vms\` approves it`,
        name,
      );
  }
}

/** Cordon, drain (bounded) and delete the Node object; a drain that runs out of time only warns. */
function retireNode(run: Rebuild, client: KubeClient, node: NodeSpec): Promise<void> {
  return retireNodeObject(client, node.name, {
    drainTimeoutMs: run.options.drainTimeoutMs ?? defaultDrainTimeoutMs,
    pollMs: run.options.apiPollMs ?? 1000,
    signal: run.signal,
    log: run.deps.log,
    warn: (message, name) => run.warn(message, name),
  });
}

async function rebuildWorker(run: Rebuild, node: NodeSpec, api: ApiProbe): Promise<void> {
  const { spec, deps } = run;
  if (api.reachable) {
    // Token first: if it cannot be registered nothing has been changed yet.
    const token = await mintTokenThroughApi(spec, api.client, run.now());
    deps.log(
      `${node.name}: registered a fresh join token (Secret kube-system/bootstrap-token-${token.id}, valid ${spec.kubernetes.bootstrapTokenTtl})`,
    );
    if (api.nodes.some((n) => n.metadata.name === node.name)) await retireNode(run, api.client, node);
    else deps.log(`${node.name}: not registered with the API server; nothing to drain`);
  } else {
    const stored = await readStoredToken(spec, run.now());
    if (!stored || stored.expired) throw tokenUnusableError(spec, node.name, api.reason, stored);
    run.warn(
      `the API server does not answer (${api.reason}): the node is not drained and its Node object is not deleted; ` +
        `it rejoins with the recorded token (valid until ${stored.expiresAt?.toISOString() ?? 'it is deleted'}) once the control plane answers`,
      node.name,
    );
  }
  await run.removeVm(node);
  const vm = await run.applyAndFollow(node);
  await run.followUntil(() => run.follower.completed(node.name));
  if (api.reachable) {
    await run.waitReady(api.client, [node.name]);
    deps.log(`${node.name}: Ready`);
  }
  await run.detachSeed(node, vm);
}

async function rebuildControlPlane(run: Rebuild, controlPlane: NodeSpec, api: ApiProbe): Promise<boolean> {
  const { spec, deps } = run;
  // kubeadm init registers the recorded token with a fresh TTL; a new one also retires the old.
  await mintBootstrapToken(spec.stateDir);
  deps.log(
    `recorded a fresh join token for the new cluster (kubeadm init registers it, valid ${spec.kubernetes.bootstrapTokenTtl})`,
  );
  for (const node of [controlPlane, ...spec.workers]) await run.removeVm(node);

  const vms = new Map<string, AppliedVm>();
  vms.set(controlPlane.name, await run.applyAndFollow(controlPlane));
  await run.followUntil(() => run.passedInit(controlPlane.name));
  deps.log(`${controlPlane.name}: kubeadm init done; rebuilding the workers`);
  for (const worker of spec.workers) {
    vms.set(worker.name, await run.applyAndFollow(worker));
    await run.followUntil(() => run.follower.completed(worker.name));
  }
  await run.followUntil(() => run.follower.completed(controlPlane.name));

  let readyConfirmed = false;
  if (api.client) {
    await run.waitReady(
      api.client,
      spec.nodes.map((n) => n.name),
    );
    readyConfirmed = true;
    deps.log(`all ${spec.nodes.length} nodes Ready`);
  }
  for (const node of spec.nodes) await run.detachSeed(node, vms.get(node.name)!);
  return readyConfirmed;
}

export async function rebuildNode(
  spec: ClusterSpec,
  nodeName: string,
  deps: RebuildDeps,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const node = findSpecNode(spec, nodeName);
  if (node.role === 'control-plane' && !options.force) throw controlPlaneNeedsForce(spec, node);
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  const affected = node.role === 'control-plane' ? [node, ...spec.workers] : [node];

  const preflight = await runPreflight({ ...spec, nodes: affected }, store.snapshot(), {
    vmrest: deps.vmrest,
    clonesFolder: deps.clonesFolder,
    installFolder: deps.installFolder,
    freeBytes: deps.freeBytes,
    vmrun: deps.vmrun,
    vmnetDhcpConfig: deps.vmnetDhcpConfig,
  });
  if (preflight.problems.length > 0) throw new PreflightError(preflight.problems);
  const run = new Rebuild(spec, deps, options, store);
  for (const warning of preflight.warnings) run.warn(warning);
  const clone = cloneRoadFor(preflight, deps.vmrun, deps.log);
  deps.log(
    clone.mode === 'linked'
      ? `clones: linked, from the template's snapshot ${clone.source.snapshot} (${clone.reason})`
      : `clones: full, through vmrest (${clone.reason})`,
  );
  run.setTemplate(preflight.template!.id, clone);
  for (const n of affected) await run.ownVm(n);

  const api = await probeApi(deps.kube);
  try {
    let readyConfirmed: boolean;
    if (node.role === 'control-plane') {
      if (!api.reachable)
        deps.log(
          `the API server does not answer (${api.reason}); going on, the control plane is re-created anyway`,
        );
      readyConfirmed = await rebuildControlPlane(run, node, api);
    } else {
      await rebuildWorker(run, node, api);
      readyConfirmed = api.reachable;
      if (!api.reachable)
        run.warn(
          'joined according to its console; Ready could not be confirmed through the API server',
          node.name,
        );
    }
    return { rebuilt: affected.map((n) => n.name), readyConfirmed, warnings: run.warnings };
  } finally {
    await store.flush();
    await api.client?.close();
  }
}
