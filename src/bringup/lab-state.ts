/**
 * Whether this cluster's lab was ever built, in one place for every command.
 *
 * A lab is "never built" when nothing of it exists anywhere kubestation
 * looks: state.json is missing or records no node whose clone was ever
 * started, and vmrest's list (when vmrest answers) holds no VM carrying this
 * cluster's ownership marker. A lab with some nodes cloned (recorded, or
 * found in vmrest's list by their marker) is half built, not never built:
 * commands that repair (build-vms, rebuild-node) and report (status, doctor)
 * go on for it.
 *
 * With vmrest down (or no credentials) and nothing recorded, the lab is
 * still taken as never built: a lab build-vms started always has a record,
 * and the message says that vmrest's list could not be checked.
 */
import { readBuildState, buildStatePath, type BuildState } from './state.js';
import { inspectOwnership } from './ownership.js';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { commandHint } from '../command-hint.js';
import type { VmSummary } from '../vmrest/client.js';

/** True when the record shows no node whose clone was ever started (a missing state.json records nothing). */
export function recordsNoClone(state: BuildState): boolean {
  if (state.readyAt !== undefined) return false;
  return !Object.values(state.nodes).some(
    (n) =>
      n.cloneStartedAt !== undefined ||
      n.step !== undefined ||
      n.vmxPath !== undefined ||
      n.vmId !== undefined ||
      n.poweredOnAt !== undefined ||
      n.completedAt !== undefined,
  );
}

/** Whether state.json records no clone; false when it cannot be read (an unreadable record proves nothing). */
export async function nothingRecorded(spec: Pick<ClusterSpec, 'stateDir' | 'name'>): Promise<boolean> {
  try {
    return recordsNoClone(await readBuildState(spec.stateDir, spec.name));
  } catch {
    return false;
  }
}

/** The VMs in vmrest's list whose .vmx carries this cluster's marker. */
export async function markedVmsOfCluster(cluster: string, vms: VmSummary[]): Promise<VmSummary[]> {
  const owned = await Promise.all(
    vms.map(async (vm) => ((await inspectOwnership(vm.path, cluster)).kind === 'ours' ? vm : undefined)),
  );
  return owned.filter((vm): vm is VmSummary => vm !== undefined);
}

export interface NeverBuilt {
  /** What shows it, e.g. "cluster k8s-lab has no VM (nothing is recorded in …)". */
  reason: string;
  fix: string;
}

/** The fix of every "no lab built yet" message. */
export const BUILD_LAB_FIX = `build the lab first: ${commandHint('up')} (or ${commandHint('up --simulate')} to try it without VMware)`;

/**
 * Why the lab counts as never built, or undefined when some of it exists.
 * `vms`: vmrest's list, or the reason it could not be read (vmrest down, no
 * credentials), or undefined when the caller did not ask vmrest.
 */
export async function labNeverBuilt(
  spec: Pick<ClusterSpec, 'stateDir' | 'name'>,
  vms: VmSummary[] | { unavailable: string } | undefined,
): Promise<NeverBuilt | undefined> {
  if (!(await nothingRecorded(spec))) return undefined;
  const recorded = `nothing is recorded in ${buildStatePath(spec.stateDir)}`;
  if (Array.isArray(vms)) {
    if ((await markedVmsOfCluster(spec.name, vms)).length > 0) return undefined;
    return {
      reason: `cluster ${spec.name} has no VM (${recorded}, and vmrest lists no VM of this cluster)`,
      fix: BUILD_LAB_FIX,
    };
  }
  return {
    reason: `cluster ${spec.name} has no VM (${recorded}${vms ? `; vmrest's list of VMs was not checked: ${vms.unavailable}` : ''})`,
    fix: BUILD_LAB_FIX,
  };
}

/** Throws LAB_NOT_BUILT, saying nothing was changed, when the lab was never built. */
export async function refuseIfNeverBuilt(
  spec: Pick<ClusterSpec, 'stateDir' | 'name'>,
  vms: VmSummary[] | { unavailable: string } | undefined,
): Promise<void> {
  const never = await labNeverBuilt(spec, vms);
  if (never)
    throw new KubestationError('LAB_NOT_BUILT', `no lab built yet: ${never.reason}; nothing was changed`, {
      fix: never.fix,
    });
}
