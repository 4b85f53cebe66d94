/**
 * Taking one node out of the lab, the parts rebuild-node and `build-vms
 * --prune` share: retire its Node object (cordon, drain, delete) and delete
 * its VM — only a VM whose marker says it is this node of this cluster (or
 * the unmarked leftover of our own interrupted clone).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { locateVm } from './apply.js';
import { describeOwnership, inspectOwnership } from './ownership.js';
import { cloneUnfinished, type BuildStateStore } from './state.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { drainNode, KubeNotFoundError, KubeTimeoutError, type KubeClient } from '../kube/index.js';
import { expectedCloneVmx, fileExists, isOwnedBy, observeVm, type ObservedVm } from './observe.js';
import type { BuildVmrest, Day2Log } from './ports.js';

export interface NodeVmContext {
  spec: ClusterSpec;
  vmrest: BuildVmrest;
  store: BuildStateStore;
  /** Where clones land (vmware.vmFolder or Workstation's default VM folder), when known. */
  clonesFolder: string | undefined;
  log: Day2Log;
}

/** Why `node`'s VM is refused: `what` says what was to be done ("rebuild", "remove"). */
function notOwnedError(
  ctx: NodeVmContext,
  node: Pick<NodeSpec, 'name'>,
  vm: ObservedVm,
  what: string,
): KubestationError {
  return new KubestationError(
    'VM_NOT_OWNED',
    `refusing to ${what} "${node.name}": its VM ${vm.vmxPath} belongs to ${describeOwnership(vm.ownership)}, not to node "${node.name}" of cluster "${ctx.spec.name}"; nothing was changed`,
    {
      fix: `kubestation only deletes VMs it created. Rename or move that VM in Workstation, or rename node "${node.name}" in cluster.yaml`,
    },
  );
}

/** The node's VM if vmrest lists one; throws when that VM is not ours (check before any change, and again before deleting). */
export async function ownNodeVm(
  ctx: NodeVmContext,
  node: Pick<NodeSpec, 'name'>,
  what: string,
): Promise<ObservedVm | undefined> {
  const found = await locateVm({ vmrest: ctx.vmrest, store: ctx.store }, node);
  if (!found) return undefined;
  const vm = await observeVm(ctx.vmrest, found, ctx.spec.name);
  // An unmarked VM is ours only as the leftover of a clone whose marker was never written.
  const interruptedClone = vm.ownership.kind === 'unmarked' && cloneUnfinished(ctx.store.node(node.name));
  if (!isOwnedBy(vm, node) && !interruptedClone) throw notOwnedError(ctx, node, vm, what);
  return vm;
}

/** Powers off and deletes the node's VM, if there is one and it is ours; also clears an unregistered clone folder of ours. */
export async function removeNodeVm(
  ctx: NodeVmContext,
  node: Pick<NodeSpec, 'name'>,
  what: string,
): Promise<void> {
  const { vmrest, log } = ctx;
  const vm = await ownNodeVm(ctx, node, what);
  if (vm) {
    if (vm.power !== 'poweredOff') {
      log(`${node.name}: powering off ${vm.vmxPath} (${vm.power ?? 'state unknown'})`);
      await vmrest.setPowerState(vm.id, 'off');
    }
    await vmrest.deleteVm(vm.id);
    log(`${node.name}: deleted the VM ${vm.vmxPath}`);
    return;
  }
  const vmx = expectedCloneVmx(ctx.clonesFolder, node);
  const ownership = fileExists(vmx) ? await inspectOwnership(vmx, ctx.spec.name) : undefined;
  if (vmx && ownership?.kind === 'ours' && ownership.node === node.name) {
    // Ours but not in the library (removed from it, or a half-built clone): its files are ours to clear.
    await rm(path.dirname(vmx), { recursive: true, force: true });
    log(
      `${node.name}: removed ${path.dirname(vmx)}, a VM folder of this node that is not in Workstation's library`,
    );
  } else {
    log(`${node.name}: no VM to delete (vmrest lists none for this node)`);
  }
}

export interface RetireOptions {
  /** How long evicted pods may take to go; past it the caller goes on with a warning. */
  drainTimeoutMs: number;
  pollMs: number;
  signal?: AbortSignal | undefined;
  log: Day2Log;
  warn: (message: string, node: string) => void;
}

/** Cordon, drain (bounded) and delete the Node object; a drain that runs out of time only warns. */
export async function retireNodeObject(
  client: KubeClient,
  name: string,
  options: RetireOptions,
): Promise<void> {
  const { log } = options;
  log(`${name}: cordon and drain`);
  try {
    const drained = await drainNode(client, name, {
      timeoutMs: options.drainTimeoutMs,
      intervalMs: options.pollMs,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    log(
      `${name}: drained (${drained.evicted.length} pod(s) evicted, ${drained.skipped.length} DaemonSet/static pod(s) left)`,
    );
  } catch (error) {
    if (!(error instanceof KubeTimeoutError)) throw error;
    options.warn(
      `drain did not finish in time (${error.message}); going on: the pods left are removed with the Node object`,
      name,
    );
  }
  try {
    await client.deleteNode(name);
    log(`${name}: deleted the Node object`);
  } catch (error) {
    if (!(error instanceof KubeNotFoundError)) throw error;
  }
}
