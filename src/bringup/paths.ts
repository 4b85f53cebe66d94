/**
 * Where build-vms keeps a node's files: `<stateDir>/<node>/`. The serial
 * console log lives here rather than beside the .vmx so it outlives the VM
 * (a failed node's log is still there after the VM is deleted for a
 * rebuild) and so the host reads it without asking vmrest where the VM is.
 * stateDir is an absolute host path (a Windows path on Windows), and
 * Workstation takes absolute serial file names as they are.
 */
import path from 'node:path';
import type { ClusterSpec, NodeSpec } from '../config/model.js';

export interface NodePaths {
  dir: string;
  serialLog: string;
  /** The serial log of the attempt before, kept for a look after a rebuild. */
  previousSerialLog: string;
}

/** `pathApi` is path.win32 when the host is Windows and this runs elsewhere (tests of the rendered .vmx). */
export function nodePaths(
  spec: Pick<ClusterSpec, 'stateDir'>,
  node: Pick<NodeSpec, 'name'>,
  pathApi: path.PlatformPath = path,
): NodePaths {
  const dir = pathApi.join(spec.stateDir, node.name);
  return {
    dir,
    serialLog: pathApi.join(dir, 'serial.log'),
    previousSerialLog: pathApi.join(dir, 'serial.previous.log'),
  };
}
