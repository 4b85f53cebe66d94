/**
 * Whole-lab snapshots: one Workstation snapshot per node, all with the same
 * name, through vmrun (vmrest 1.3.1 has no snapshot endpoint).
 *
 * save NAME: stops the lab first (disks consistent, no memory image), takes
 *   the snapshot of every node, and starts the lab again (as `start`, verify
 *   included) if it was running. --live snapshots running VMs with their
 *   memory instead, without stopping them.
 * restore NAME: every node must have NAME; stops the lab, reverts every
 *   node, starts it and waits as `start` does.
 * list: each name with the nodes that have it and when (from the .vmsd); a
 *   name only some nodes have is incomplete.
 * delete NAME: removes it from every node that has it.
 *
 * An unfinished save or restore is recorded in state.json (pendingSnapshot):
 * the same command run again takes the snapshot again on every node (so the
 * nodes match) or reverts every node again; a failure names which nodes did what.
 */
import { BuildStateStore } from '../bringup/state.js';
import type { ClusterVerifier } from '../bringup/ports.js';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { readSnapshotTimes, snapshotHasMemory, type Vmrun } from '../template/vmrun.js';
import { recordObservation } from '../bringup/observations.js';
import type { PowerState } from '../vmrest/client.js';
import {
  assertOwned,
  startLab,
  stopLab,
  type LabPowerDeps,
  type LabStep,
  type LabTiming,
} from './lab-power.js';
import { observeNodeVms, type NodeVm } from '../bringup/observe.js';
import { COMMAND_PREFIX } from '../command-hint.js';

/**
 * Letters, digits, ".", "_" and "-", starting with a letter or digit, at most
 * 64: vmrun takes "/" as a path in the snapshot tree, and these survive the
 * .vmsd, the command line and PowerShell unquoted.
 */
export const SNAPSHOT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateSnapshotName(name: string | undefined): string {
  if (name === undefined || name === '') {
    throw new KubestationError('BAD_ARGUMENTS', 'a snapshot name is needed', {
      fix: `e.g. \`${COMMAND_PREFIX} snapshot save before-upgrade\``,
    });
  }
  if (!SNAPSHOT_NAME_PATTERN.test(name)) {
    throw new KubestationError(
      'BAD_SNAPSHOT_NAME',
      `"${name}" is not a usable snapshot name: use letters, digits, ".", "_" and "-" only, starting with a letter or digit, at most 64 characters (vmrun reads "/" as a path in the snapshot tree)`,
      {
        fix: 'e.g. before-upgrade, lab.2026-12-01 or clean_install',
      },
    );
  }
  return name;
}

/**
 * What the lab's chrony does after a memory snapshot is restored, from the
 * guest configuration: cloud-init's Ubuntu chrony.conf has `makestep 1 3`
 * (step only in chronyd's first three updates) and the template VM turns
 * VMware Tools' time sync off (time.synchronize.restore = FALSE). chronyd
 * comes back from the snapshot mid-run, so it slews: at most 83.3 ms per
 * second (chrony's default maxslewrate, 83333 ppm), about 12 s per second
 * of offset.
 */
export function clockJumpNote(behindMs?: number): string {
  const base =
    "the nodes' clocks jump back to the moment of the snapshot when it is restored. chrony corrects them by slewing " +
    "(cloud-init's chrony.conf steps only in chronyd's first three updates, `makestep 1 3`, and VMware Tools' time sync is off in the template), " +
    'at most 83 ms per second: about 12 s for every second they are behind';
  if (behindMs === undefined)
    return `${base}; to correct them at once run \`sudo chronyc makestep\` on each node after a restore`;
  const behind = Math.round(behindMs / 1000);
  return `${base}: the snapshot is ${behind} s old, so about ${formatDuration(behind * 12)}; verify's clock check fails until then. Correct them at once with \`sudo chronyc makestep\` on each node (ssh -F <stateDir>/ssh_config <node>)`;
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

export interface SnapshotDeps extends LabPowerDeps {
  vmrun: Vmrun;
  verify: ClusterVerifier;
}

export interface SnapshotOptions extends LabTiming {
  /** save: memory snapshots of the running VMs, without stopping them. */
  live?: boolean;
  /** save: take it again where a snapshot of that name exists. */
  replace?: boolean;
  /** Power off hard a node that does not shut down when the lab is stopped. */
  force?: boolean;
  signal?: AbortSignal;
}

export interface NodeSnapshots {
  node: string;
  vmxPath: string;
  names: string[];
  times: Map<string, Date>;
}

export interface SnapshotListing {
  name: string;
  /** Nodes that have it, with when it was taken there. */
  nodes: Array<{ node: string; takenAt: string | undefined }>;
  missingOn: string[];
  complete: boolean;
}

export class SnapshotIncompleteError extends KubestationError {
  constructor(code: string, what: string, done: string[], failedOn: string, cause: unknown, fix: string) {
    super(
      code,
      `${what} stopped at ${failedOn}: ${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}\n    done: ${done.join(', ') || 'none'}\n    failed: ${failedOn}`,
      { fix, cause },
    );
  }
}

/** Every node's VM, ours and present, before anything is done. */
async function nodeVms(
  spec: ClusterSpec,
  deps: SnapshotDeps,
  command: string,
): Promise<Array<NodeVm & { vm: NonNullable<NodeVm['vm']> }>> {
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  const found = await observeNodeVms(spec, deps.vmrest, store.snapshot());
  assertOwned(spec, found, command);
  const missing = found.filter((f) => !f.vm).map((f) => f.node.name);
  if (missing.length > 0) {
    throw new KubestationError(
      'NODE_VM_MISSING',
      `cannot ${command}: no VM for ${missing.join(', ')} in vmrest's list; nothing was changed`,
      {
        fix: `build it again with \`${COMMAND_PREFIX} rebuild-node ${missing[0]}\`, or register the VM in Workstation if it was removed from the library`,
      },
    );
  }
  return found as Array<NodeVm & { vm: NonNullable<NodeVm['vm']> }>;
}

async function snapshotsOf(
  deps: SnapshotDeps,
  vms: Array<NodeVm & { vm: NonNullable<NodeVm['vm']> }>,
): Promise<NodeSnapshots[]> {
  return Promise.all(
    vms.map(async ({ node, vm }) => ({
      node: node.name,
      vmxPath: vm.vmxPath,
      names: await deps.vmrun.listSnapshots(vm.vmxPath),
      times: await readSnapshotTimes(vm.vmxPath),
    })),
  );
}

export async function listLabSnapshots(spec: ClusterSpec, deps: SnapshotDeps): Promise<SnapshotListing[]> {
  const vms = await nodeVms(spec, deps, 'list snapshots');
  const perNode = await snapshotsOf(deps, vms);
  const names = [...new Set(perNode.flatMap((n) => n.names))];
  return names.map((name) => {
    const have = perNode.filter((n) => n.names.includes(name));
    return {
      name,
      nodes: have.map((n) => ({ node: n.node, takenAt: n.times.get(name)?.toISOString() })),
      missingOn: perNode.filter((n) => !n.names.includes(name)).map((n) => n.node),
      complete: have.length === perNode.length,
    };
  });
}

/** Runs `work` on every node, all at once; the first failure is reported with which nodes did what. */
async function onEveryNode(
  nodes: NodeSnapshots[],
  deps: SnapshotDeps,
  step: LabStep,
  work: (n: NodeSnapshots) => Promise<void>,
  failure: (done: string[], failedOn: string, cause: unknown) => KubestationError,
): Promise<void> {
  const done: string[] = [];
  const results = await Promise.allSettled(
    nodes.map(async (n) => {
      const started = Date.now();
      deps.emit({ type: 'node', node: n.node, step: step, phase: 'start' });
      try {
        await work(n);
      } catch (error) {
        deps.emit({
          type: 'node',
          node: n.node,
          step: step,
          phase: 'failed',
          detail: (error as Error).message.split('\n')[0]!,
          elapsedMs: Date.now() - started,
        });
        throw error;
      }
      done.push(n.node);
      deps.emit({ type: 'node', node: n.node, step: step, phase: 'done', elapsedMs: Date.now() - started });
    }),
  );
  const failed = results
    .map((r, i) => ({ r, node: nodes[i]!.node }))
    .filter((x) => x.r.status === 'rejected');
  if (failed.length === 0) return;
  const first = failed[0]!;
  throw failure(done, failed.map((f) => f.node).join(', '), (first.r as PromiseRejectedResult).reason);
}

export async function saveSnapshot(
  spec: ClusterSpec,
  deps: SnapshotDeps,
  name: string,
  options: SnapshotOptions = {},
): Promise<{ restarted: boolean; verifySummary: string | undefined }> {
  validateSnapshotName(name);
  const vms = await nodeVms(spec, deps, 'save a snapshot');
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  const pending = store.snapshot().pendingSnapshot;
  const rerun = pending?.operation === 'save' && pending.name === name;
  let nodes = await snapshotsOf(deps, vms);
  const having = nodes.filter((n) => n.names.includes(name)).map((n) => n.node);
  if (having.length > 0 && !options.replace && !rerun) {
    const incomplete =
      having.length < nodes.length
        ? ` (incomplete: not on ${nodes
            .filter((n) => !having.includes(n.node))
            .map((n) => n.node)
            .join(', ')})`
        : '';
    throw new KubestationError(
      'SNAPSHOT_EXISTS',
      `a snapshot named "${name}" already exists on ${having.join(', ')}${incomplete}; nothing was changed`,
      {
        fix: `take it again with \`${COMMAND_PREFIX} snapshot save ${name} --replace\`, choose another name, or \`${COMMAND_PREFIX} snapshot delete ${name}\``,
      },
    );
  }
  const wasRunning = vms.some(({ vm }) => vm.power === 'poweredOn');
  await store.update(
    (s) =>
      void (s.pendingSnapshot = {
        operation: 'save',
        name,
        live: options.live ?? false,
        startedAt: new Date().toISOString(),
        restartLab: (rerun && pending?.restartLab) || wasRunning,
      }),
  );
  const restartLab = store.snapshot().pendingSnapshot!.restartLab;

  if (options.live) {
    deps.emit({
      type: 'warning',
      message: `--live: memory snapshots of the running VMs; ${clockJumpNote()}`,
    });
  } else {
    await stopLab(spec, deps, {
      ...options,
      force: options.force ?? false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  }
  // Again or replaced: the old snapshot of that name goes first, so every node ends with one, taken now.
  const stale = nodes.filter((n) => n.names.includes(name));
  await onEveryNode(
    stale,
    deps,
    'delete-snapshot',
    (n) => deps.vmrun.deleteSnapshot(n.vmxPath, name),
    (done, failedOn, cause) =>
      new SnapshotIncompleteError(
        'SNAPSHOT_SAVE_INCOMPLETE',
        `snapshot save ${name}: removing the earlier "${name}"`,
        done,
        failedOn,
        cause,
        `run \`${COMMAND_PREFIX} snapshot save ${name}\` again: it takes the snapshot again on every node`,
      ),
  );
  nodes = nodes.map((n) => ({ ...n, names: n.names.filter((x) => x !== name) }));
  await onEveryNode(
    nodes,
    deps,
    'snapshot',
    (n) => deps.vmrun.snapshot(n.vmxPath, name),
    (done, failedOn, cause) =>
      new SnapshotIncompleteError(
        'SNAPSHOT_SAVE_INCOMPLETE',
        `snapshot save ${name}`,
        done,
        failedOn,
        cause,
        `run \`${COMMAND_PREFIX} snapshot save ${name}\` again: it takes the snapshot again on every node so they match (or \`${COMMAND_PREFIX} snapshot delete ${name}\` to undo it)${restartLab && !options.live ? `; the lab is left stopped until then (\`${COMMAND_PREFIX} start\`)` : ''}`,
      ),
  );
  let verifySummary: string | undefined;
  if (restartLab && !options.live)
    verifySummary = (await startLab(spec, deps, deps.verify, options)).verifySummary;
  await store.update((s) => void delete s.pendingSnapshot);
  return { restarted: restartLab && !options.live, verifySummary };
}

export async function restoreSnapshot(
  spec: ClusterSpec,
  deps: SnapshotDeps,
  name: string,
  options: SnapshotOptions = {},
): Promise<{ verifySummary: string | undefined }> {
  validateSnapshotName(name);
  const vms = await nodeVms(spec, deps, 'restore a snapshot');
  const nodes = await snapshotsOf(deps, vms);
  const lacking = nodes.filter((n) => !n.names.includes(name)).map((n) => n.node);
  if (lacking.length === nodes.length) {
    throw new KubestationError(
      'SNAPSHOT_NOT_FOUND',
      `no node has a snapshot named "${name}"; nothing was changed`,
      { fix: `see the snapshots with \`${COMMAND_PREFIX} snapshot list\`` },
    );
  }
  if (lacking.length > 0) {
    throw new KubestationError(
      'SNAPSHOT_INCOMPLETE',
      `the snapshot "${name}" is incomplete: ${lacking.join(', ')} do not have it, so the nodes would not match; nothing was changed`,
      {
        fix: `restore a complete snapshot (\`${COMMAND_PREFIX} snapshot list\`), or delete this one with \`${COMMAND_PREFIX} snapshot delete ${name}\``,
      },
    );
  }
  const store = await BuildStateStore.open(spec.stateDir, spec.name, deps.now);
  await store.update(
    (s) =>
      void (s.pendingSnapshot = {
        operation: 'restore',
        name,
        live: false,
        startedAt: new Date().toISOString(),
        restartLab: true,
      }),
  );
  await stopLab(spec, deps, {
    ...options,
    force: options.force ?? false,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  await onEveryNode(
    nodes,
    deps,
    'revert',
    (n) => deps.vmrun.revertToSnapshot(n.vmxPath, name),
    (done, failedOn, cause) =>
      new SnapshotIncompleteError(
        'SNAPSHOT_RESTORE_INCOMPLETE',
        `snapshot restore ${name}`,
        done,
        failedOn,
        cause,
        `run \`${COMMAND_PREFIX} snapshot restore ${name}\` again: it reverts every node again, then starts the lab`,
      ),
  );
  // Every node was off before the revert, so one that is not off now came back from a memory snapshot
  // (suspended, or running: vmrun's documentation does not say which): its clock is as old as the snapshot.
  const after = await observeNodeVms(spec, deps.vmrest, store.snapshot());
  await recordMemoryRevert(store, deps, nodes, after, name);
  if (after.some(({ vm }) => vm !== undefined && vm.power !== 'poweredOff')) {
    const takenAt = Math.min(...nodes.map((n) => n.times.get(name)?.getTime() ?? Date.now()));
    deps.emit({ type: 'warning', message: clockJumpNote(Date.now() - takenAt) });
  }
  const { verifySummary } = await startLab(spec, deps, deps.verify, options);
  await store.update((s) => void delete s.pendingSnapshot);
  return { verifySummary };
}

/**
 * Records the power state vmrun left each node in after reverting to a memory snapshot (observations.ts:
 * memory-revert-power). A node counts when its snapshot has a memory file, or when it is not off (every
 * node was off before the revert, so it came back from a memory image); the others record nothing.
 */
async function recordMemoryRevert(
  store: BuildStateStore,
  deps: SnapshotDeps,
  nodes: NodeSnapshots[],
  after: NodeVm[],
  name: string,
): Promise<void> {
  const seen: string[] = [];
  const powers = new Set<PowerState>();
  for (const { node, vm } of after) {
    const snapshot = nodes.find((n) => n.node === node.name);
    // A power state vmrest did not give is not an observation.
    if (!vm?.power || !snapshot) continue;
    const memory = vm.power !== 'poweredOff' || (await snapshotHasMemory(snapshot.vmxPath, name)) === true;
    if (!memory) continue;
    powers.add(vm.power);
    seen.push(`${node.name} ${vm.power}`);
  }
  if (seen.length === 0) return;
  await recordObservation(
    store,
    'memory-revert-power',
    {
      value: powers.size === 1 ? [...powers][0]! : 'mixed',
      detail: seen.join(', '),
      at: (deps.now ?? (() => new Date()))(),
      command: `vmrun -T ws revertToSnapshot <node.vmx> ${name}`,
    },
    (message) => deps.emit({ type: 'warning', message }),
  );
}

export async function deleteSnapshot(
  spec: ClusterSpec,
  deps: SnapshotDeps,
  name: string,
): Promise<{ deletedOn: string[] }> {
  validateSnapshotName(name);
  const vms = await nodeVms(spec, deps, 'delete a snapshot');
  const nodes = (await snapshotsOf(deps, vms)).filter((n) => n.names.includes(name));
  if (nodes.length === 0)
    throw new KubestationError('SNAPSHOT_NOT_FOUND', `no node has a snapshot named "${name}"`, {
      fix: `see the snapshots with \`${COMMAND_PREFIX} snapshot list\``,
    });
  await onEveryNode(
    nodes,
    deps,
    'delete-snapshot',
    (n) => deps.vmrun.deleteSnapshot(n.vmxPath, name),
    (done, failedOn, cause) =>
      new SnapshotIncompleteError(
        'SNAPSHOT_DELETE_INCOMPLETE',
        `snapshot delete ${name}`,
        done,
        failedOn,
        cause,
        `run \`${COMMAND_PREFIX} snapshot delete ${name}\` again: nodes that no longer have it are skipped`,
      ),
  );
  return { deletedOn: nodes.map((n) => n.node) };
}
