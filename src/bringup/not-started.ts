/**
 * Whether this cluster can have an API server yet. Until build-vms has
 * powered on the control plane, nothing at its address can be this cluster:
 * connecting would at best time out and at worst reach another machine (an
 * older lab on the same address answers with its own CA). Status, doctor and
 * verify say so from the build state instead of connecting.
 */
import { buildStatePath, hasFinished, readBuildState } from './state.js';
import type { ClusterSpec } from '../config/model.js';
import { BUILD_LAB_FIX } from './lab-state.js';

export interface NotStarted {
  reason: string;
  fix: string;
}

/** Why no API server of this cluster can answer yet, or undefined when one may (the control plane was started). */
export async function clusterNotStarted(
  spec: Pick<ClusterSpec, 'stateDir' | 'name' | 'controlPlane' | 'kubernetes'>,
): Promise<NotStarted | undefined> {
  let state;
  try {
    state = await readBuildState(spec.stateDir, spec.name);
  } catch {
    return undefined; // an unreadable record proves nothing: let the caller ask the API server
  }
  const controlPlane = state.nodes[spec.controlPlane.name];
  if (
    state.readyAt ||
    controlPlane?.poweredOnAt ||
    controlPlane?.completedAt ||
    hasFinished(controlPlane, 'power-on')
  )
    return undefined;
  return {
    reason: `cluster ${spec.name} has no API server yet: build-vms has not started its control plane ${spec.controlPlane.name} (nothing recorded in ${buildStatePath(spec.stateDir)}), so nothing was asked at ${spec.kubernetes.apiEndpoint}`,
    fix: BUILD_LAB_FIX,
  };
}
