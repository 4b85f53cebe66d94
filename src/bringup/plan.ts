/**
 * Plan: what a run will do per node, from the desired spec and what is
 * observed (vmrest's VM list, the VMs' markers and power states, the state
 * file). Pure: the same inputs always give the same plan, and `--dry-run`
 * prints exactly what apply would run.
 */
import type { PowerState } from '../vmrest/client.js';
import type { ClusterSpec } from '../config/model.js';
import { formatMembershipChange, type RemovedNode } from './membership.js';
import type { Ownership } from './ownership.js';
import { APPLY_STEPS, type ApplyStep, type BuildState, type NodeBuildState, stepIndex } from './state.js';

export interface ObservedNode {
  name: string;
  /** The node's VM as found in vmrest's list (by recorded path or name); power is not asked for a complete node. */
  vm?: { id: string; vmxPath: string; power: PowerState | undefined; ownership: Ownership } | undefined;
  state?: NodeBuildState | undefined;
}

export type NodeStatus =
  /** No VM yet: every step. */
  | 'create'
  /** VM exists, powered off, not all steps done: the remaining ones. */
  | 'resume'
  /** Powered on, first boot running: follow its console. */
  | 'follow'
  /** Printed its final line before: left untouched. */
  | 'complete';

export interface NodePlan {
  node: string;
  status: NodeStatus;
  /** Apply steps to run, in order. */
  actions: ApplyStep[];
  /** Whether its console is followed this run. */
  follow: boolean;
  /** One line for humans. */
  summary: string;
}

export interface BuildPlan {
  cluster: string;
  nodes: NodePlan[];
  /** Nodes the built lab has and cluster.yaml no longer lists (removed only with --prune). */
  remove: RemovedNode[];
  /** Whether this run removes them (--prune). */
  prune: boolean;
}

export interface PlanContext {
  /** The cluster runs already: a new node joins it (with a valid join token). */
  joinsRunningCluster?: boolean;
  remove?: RemovedNode[];
  prune?: boolean;
  /** How new clones are made this run, and why (shown for each node that is cloned). */
  clone?: { mode: 'linked' | 'full'; reason: string; snapshot?: string | undefined } | undefined;
}

const stepText: Record<ApplyStep, string> = {
  clone: 'clone the template',
  hardware: 'set CPUs and memory',
  nics: 'set NICs (vmnet, static MAC, vmxnet3, PCI slot)',
  disk: 'grow the disk if needed',
  seed: 'write and attach the seed ISO',
  console: 'serial console to a file',
  reservation: 'DHCP reservation for the NAT MAC',
  register: 'register in the library',
  'power-on': 'power on',
};

function describeStep(step: ApplyStep, context: PlanContext): string {
  const clone = context.clone;
  if (step !== 'clone' || !clone) return stepText[step];
  return clone.mode === 'linked'
    ? `linked clone of the template's snapshot ${clone.snapshot ?? ''} with vmrun (${clone.reason})`.replace(
        '  ',
        ' ',
      )
    : `full clone of the template through vmrest (${clone.reason})`;
}

export function planNode(spec: ClusterSpec, observed: ObservedNode, context: PlanContext = {}): NodePlan {
  const node = spec.nodes.find((n) => n.name === observed.name);
  if (!node) throw new Error(`planNode: ${observed.name} is not a node of ${spec.name}`);
  const { vm, state } = observed;
  if (!vm) {
    const what = context.joinsRunningCluster ? 'add to the running cluster' : 'create';
    return {
      node: node.name,
      status: 'create',
      actions: [...APPLY_STEPS],
      follow: true,
      summary: `${what}: ${APPLY_STEPS.map((s) => describeStep(s, context)).join(', ')}`,
    };
  }
  if (state?.completedAt) {
    return {
      node: node.name,
      status: 'complete',
      actions: [],
      follow: false,
      summary: `complete since ${state.completedAt}; left untouched`,
    };
  }
  if (vm.power === 'poweredOn') {
    return {
      node: node.name,
      status: 'follow',
      actions: [],
      follow: true,
      summary: 'powered on: follow its first boot',
    };
  }
  // Powered off (or suspended): the steps after the last one recorded. With no step
  // recorded (clone interrupted before its marker was written, or the state file lost)
  // it starts at `clone`, which adopts or re-checks the VM found instead of cloning
  // again; every later step only changes what differs.
  const from = state?.step && stepIndex(state.step) >= 0 ? stepIndex(state.step) + 1 : 0;
  let actions = APPLY_STEPS.slice(from) as ApplyStep[];
  // It was powered on before and is off now (host reboot, user shut it down): power it on again.
  if (actions.length === 0) actions = ['power-on'];
  if (vm.power === 'suspended') actions = ['power-on'];
  return {
    node: node.name,
    status: 'resume',
    actions,
    follow: true,
    summary: `resume: ${actions.map((s) => describeStep(s, context)).join(', ')}`,
  };
}

export function planBuild(spec: ClusterSpec, observed: ObservedNode[], context: PlanContext = {}): BuildPlan {
  return {
    cluster: spec.name,
    nodes: spec.nodes.map((n) =>
      planNode(spec, observed.find((o) => o.name === n.name) ?? { name: n.name }, context),
    ),
    remove: context.remove ?? [],
    prune: context.prune ?? false,
  };
}

/**
 * The plan as far as cluster.yaml and state.json tell it, for `build-vms --dry-run` when vmrest cannot be
 * asked: a node recorded complete is left untouched, one with steps recorded resumes after the last, any
 * other is created. Whether each VM still exists, and its power state, are not known: such a node's summary
 * says so.
 */
export function planFromState(spec: ClusterSpec, state: BuildState, context: PlanContext = {}): BuildPlan {
  const observed = spec.nodes.map((n): ObservedNode => {
    const recorded = state.nodes[n.name];
    if (!recorded || (!recorded.completedAt && !recorded.step)) return { name: n.name, state: recorded };
    const vm = {
      id: recorded.vmId ?? '',
      vmxPath: recorded.vmxPath ?? '',
      power: undefined,
      ownership: { kind: 'ours' as const, node: n.name },
    };
    return { name: n.name, state: recorded, vm };
  });
  const plan = planBuild(spec, observed, context);
  return {
    ...plan,
    nodes: plan.nodes.map((n) =>
      n.status === 'resume'
        ? { ...n, summary: `${n.summary} (as recorded; whether its VM exists and is off was not checked)` }
        : n,
    ),
  };
}

export function formatPlan(plan: BuildPlan): string {
  const width = Math.max(...plan.nodes.map((n) => n.node.length), ...plan.remove.map((r) => r.node.length));
  const removals =
    plan.remove.length > 0
      ? [
          '',
          'not in cluster.yaml any more:',
          ...formatMembershipChange({ add: [], remove: plan.remove }, { prune: plan.prune }),
        ]
      : [];
  return [
    `plan for cluster ${plan.cluster}:`,
    ...plan.nodes.map((n) => `  ${n.node.padEnd(width)}  ${n.summary}`),
    ...removals,
  ].join('\n');
}
