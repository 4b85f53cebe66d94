/**
 * The first-boot stages every node runs, in order, with the deadline each
 * must finish within. The guest runs each stage under `timeout` with exactly
 * these deadlines (the generator writes them into the seed), and the host
 * enforces the same numbers plus a grace period as a backstop for a guest
 * that dies without reporting.
 */
import type { NodeRole } from '../config/model.js';

export type StageName =
  | 'os'
  | 'packages'
  | 'containerd'
  | 'firewall'
  | 'images'
  | 'kubeadm-init'
  | 'cni'
  | 'nodes-ready'
  | 'wait-api'
  | 'kubeadm-join';

export interface StageDefinition {
  name: StageName;
  /** What the stage does, as a user would read it in a progress display. */
  title: string;
  /** Longest the stage may run before it is failed as timed out. */
  deadlineSeconds: number;
  roles: readonly NodeRole[];
}

const both = ['control-plane', 'worker'] as const;

/**
 * Ordered. Deadlines are generous enough for a software-emulated guest (the
 * e2e rig) and a slow mirror; a healthy VMware node finishes each in a
 * fraction. `wait-api` and `nodes-ready` cover the other nodes' work too, so
 * they are the longest.
 */
export const STAGES: readonly StageDefinition[] = [
  { name: 'os', title: 'swap off, kernel modules, sysctl, hosts', deadlineSeconds: 300, roles: both },
  {
    name: 'packages',
    title: 'containerd, kubelet, kubeadm, kubectl and tools',
    deadlineSeconds: 1800,
    roles: both,
  },
  {
    name: 'containerd',
    title: 'containerd configuration (systemd cgroups, sandbox image)',
    deadlineSeconds: 300,
    roles: both,
  },
  { name: 'firewall', title: 'ufw rules for the node role and the CNI', deadlineSeconds: 300, roles: both },
  { name: 'images', title: 'pull the control plane images', deadlineSeconds: 1800, roles: ['control-plane'] },
  { name: 'kubeadm-init', title: 'kubeadm init', deadlineSeconds: 900, roles: ['control-plane'] },
  { name: 'cni', title: 'install the pod network', deadlineSeconds: 900, roles: ['control-plane'] },
  {
    name: 'nodes-ready',
    title: 'wait until every node is Ready',
    deadlineSeconds: 2700,
    roles: ['control-plane'],
  },
  { name: 'wait-api', title: 'wait for the API server', deadlineSeconds: 2700, roles: ['worker'] },
  { name: 'kubeadm-join', title: 'kubeadm join', deadlineSeconds: 900, roles: ['worker'] },
];

/**
 * The pseudo-stage of the last line a node prints, with event `done`. On the
 * control plane it means every node in the spec is Ready (the cluster is
 * built); on a worker it means the join succeeded.
 */
export const FINAL_STAGE = 'complete';

/** From power-on to the first progress line: boot, cloud-init's init and config stages (NTP, locale). */
export const FIRST_REPORT_DEADLINE_SECONDS = 900;

/** What the host adds to a stage deadline before it gives up on a guest that went silent. */
export const HOST_GRACE_SECONDS = 120;

export function stagesFor(role: NodeRole): StageDefinition[] {
  return STAGES.filter((s) => s.roles.includes(role));
}

export function findStage(name: string): StageDefinition | undefined {
  return STAGES.find((s) => s.name === name);
}

/** Worst case from power-on to the final line, for a host that wants one overall bound. */
export function totalDeadlineSeconds(role: NodeRole): number {
  return FIRST_REPORT_DEADLINE_SECONDS + stagesFor(role).reduce((sum, s) => sum + s.deadlineSeconds, 0);
}
