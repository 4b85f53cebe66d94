/**
 * Which nodes cluster.yaml adds to the built lab and which it no longer
 * lists. The built lab is what build-vms recorded (state.json) and, when
 * vmrest is asked, the VMs carrying this cluster's marker (the record may be
 * lost). Pure: `validate` shows it from the record alone, the build plan from
 * both.
 *
 * A worker removed from cluster.yaml is removed only with `build-vms --prune`
 * (see scale.ts). The control plane cannot be removed this way: the
 * cluster (etcd, every workload) lives on it.
 *
 * The lab's membership lives in src/bringup, beneath the day-2 commands that
 * also add, remove and observe nodes: this file (what changes), scale.ts
 * (join token, pruning), node-removal.ts, observe.ts and join-token.ts.
 * Bring-up imports nothing from src/day2 (test/architecture.test.ts).
 */
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import type { BuildState } from './state.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export interface RemovedNode {
  /** Node name as recorded or as the VM's marker says. */
  node: string;
  /** Whether it was the control plane of the built lab. */
  controlPlane: boolean;
  /** Its VM as vmrest lists it (known only when vmrest was asked). */
  vm?: { id: string; vmxPath: string } | undefined;
}

export interface MembershipChange {
  /** Nodes of cluster.yaml the built lab does not have yet (build order). */
  add: string[];
  remove: RemovedNode[];
}

/** A VM of this cluster (its marker) for a node cluster.yaml no longer lists. */
export interface MarkedVm {
  node: string;
  id: string;
  vmxPath: string;
}

const key = (name: string): string => name.toLowerCase();

/**
 * The change from the built lab to cluster.yaml. `markedVms` are the VMs
 * whose marker names this cluster, from vmrest's list (omit when vmrest is
 * not asked).
 */
export function compareWithBuilt(
  spec: ClusterSpec,
  state: BuildState,
  markedVms: MarkedVm[] = [],
): MembershipChange {
  const inSpec = new Set(spec.nodes.map((n) => key(n.name)));
  const built = new Set([...Object.keys(state.nodes), ...markedVms.map((v) => v.node)].map(key));
  const add = spec.nodes.filter((n) => !built.has(key(n.name))).map((n) => n.name);

  const removed = new Map<string, RemovedNode>();
  for (const name of Object.keys(state.nodes)) {
    if (!inSpec.has(key(name))) removed.set(key(name), { node: name, controlPlane: false });
  }
  for (const vm of markedVms) {
    if (inSpec.has(key(vm.node)) || vm.node === '') continue;
    const entry = removed.get(key(vm.node)) ?? { node: vm.node, controlPlane: false };
    entry.vm = { id: vm.id, vmxPath: vm.vmxPath };
    removed.set(key(vm.node), entry);
  }
  // The role is recorded since this feature; an older record without one was the control plane
  // exactly when cluster.yaml's control plane was never built (a cluster has one).
  const controlPlaneBuilt =
    state.nodes[spec.controlPlane.name] !== undefined ||
    markedVms.some((v) => key(v.node) === key(spec.controlPlane.name));
  for (const entry of removed.values()) {
    const role = state.nodes[entry.node]?.role;
    entry.controlPlane = role === 'control-plane' || (role === undefined && !controlPlaneBuilt);
  }
  return { add, remove: [...removed.values()].sort((a, b) => a.node.localeCompare(b.node)) };
}

/** Whether the built lab has a cluster running: its control plane finished its first boot. */
export function clusterBootstrapped(spec: ClusterSpec, state: BuildState): boolean {
  return state.readyAt !== undefined || state.nodes[spec.controlPlane.name]?.completedAt !== undefined;
}

export function controlPlaneRemovedError(spec: ClusterSpec, removed: RemovedNode): KubestationError {
  return new KubestationError(
    'CONTROL_PLANE_REMOVED',
    `cluster.yaml no longer lists "${removed.node}", the control plane of the built lab${spec.controlPlane.name !== removed.node ? ` (it names "${spec.controlPlane.name}" instead)` : ''}. ` +
      'The cluster (etcd, every workload and Secret) lives on the control plane, so it cannot be removed or replaced by editing cluster.yaml; nothing was changed',
    {
      fix: `put "${removed.node}" back in cluster.yaml as the control-plane node. To start a new cluster instead: \`${COMMAND_PREFIX} destroy\` (with the old cluster.yaml), then \`${COMMAND_PREFIX} build-vms\``,
    },
  );
}

export function nodesToRemoveError(removed: RemovedNode[]): KubestationError {
  const names = removed.map((r) => r.node);
  return new KubestationError(
    'NODES_TO_REMOVE',
    `cluster.yaml no longer lists ${names.map((n) => `"${n}"`).join(', ')}, which the built lab has; build-vms changes nothing while removing them is not asked for`,
    {
      fix: `to remove ${names.length === 1 ? 'it' : 'them'} (cordon, drain, delete the Node, the VM, its DHCP reservation and state): \`${COMMAND_PREFIX} build-vms --prune\`; to keep ${names.length === 1 ? 'it' : 'them'}, put ${names.length === 1 ? 'it' : 'them'} back in cluster.yaml`,
    },
  );
}

/** Lines for humans: what is added and removed ("" when nothing changes). */
export function formatMembershipChange(change: MembershipChange, options: { prune: boolean }): string[] {
  const lines: string[] = [];
  for (const name of change.add) lines.push(`  add     ${name}`);
  for (const r of change.remove) {
    const what = r.controlPlane
      ? 'REFUSED: it is the control plane of the built lab; put it back in cluster.yaml'
      : options.prune
        ? 'cordon, drain, delete the Node object, the VM, its DHCP reservation and state'
        : 'needs --prune (cordon, drain, delete the Node object, the VM, its DHCP reservation and state)';
    lines.push(`  remove  ${r.node}${r.vm ? ` (${r.vm.vmxPath})` : ''}: ${what}`);
  }
  return lines;
}
