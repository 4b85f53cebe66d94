/**
 * Which VMs are kubestation's to change. A VM is ours only if its .vmx
 * carries our marker for THIS cluster:
 *
 *   kubestation.cluster = "<cluster name>"
 *   kubestation.node    = "<node name>"
 *
 * A VM with the same name but no marker, or another cluster's marker, is
 * foreign: kubestation never changes, powers or deletes it. The one
 * exception is an unmarked clone that the state file says we started and
 * did not finish (a crash between POST /vms and writing the marker); see
 * cloneUnfinished in state.ts and stepClone in apply.ts.
 */
import { readFile } from 'node:fs/promises';
import { KubestationError } from '../errors.js';
import { VmxFile } from '../vmx/vmx-file.js';

export const OWNER_CLUSTER_KEY = 'kubestation.cluster';
export const OWNER_NODE_KEY = 'kubestation.node';

export type Ownership =
  | { kind: 'ours'; node: string }
  | { kind: 'other-cluster'; cluster: string; node: string | undefined }
  | { kind: 'unmarked' }
  | { kind: 'unreadable'; reason: string };

export function ownershipOf(vmx: VmxFile, cluster: string): Ownership {
  const owner = vmx.get(OWNER_CLUSTER_KEY);
  const node = vmx.get(OWNER_NODE_KEY);
  if (owner === undefined || owner === '') return { kind: 'unmarked' };
  if (owner !== cluster) return { kind: 'other-cluster', cluster: owner, node };
  return { kind: 'ours', node: node ?? '' };
}

/** Writes the marker into a .vmx being edited. */
export function markOwnership(vmx: VmxFile, cluster: string, node: string): void {
  vmx.set(OWNER_CLUSTER_KEY, cluster);
  vmx.set(OWNER_NODE_KEY, node);
}

export async function readVmxFile(vmxPath: string): Promise<VmxFile> {
  return VmxFile.parse(await readFile(vmxPath, 'utf8'));
}

/** The marker of the VM at `vmxPath` (a missing or unreadable file is 'unreadable'). */
export async function inspectOwnership(vmxPath: string, cluster: string): Promise<Ownership> {
  try {
    return ownershipOf(await readVmxFile(vmxPath), cluster);
  } catch (error) {
    return { kind: 'unreadable', reason: (error as Error).message };
  }
}

export function describeOwnership(o: Ownership): string {
  switch (o.kind) {
    case 'ours':
      return `kubestation node "${o.node}" of this cluster`;
    case 'other-cluster':
      return `kubestation cluster "${o.cluster}"${o.node ? ` (node "${o.node}")` : ''}`;
    case 'unmarked':
      return 'no kubestation marker (not created by kubestation)';
    case 'unreadable':
      return `unreadable .vmx (${o.reason})`;
  }
}

/** Throws unless the .vmx says this VM is `node` of `cluster`. Call before every change to a VM. */
export function assertOwnedNode(vmx: VmxFile, vmxPath: string, cluster: string, node: string): void {
  const o = ownershipOf(vmx, cluster);
  if (o.kind === 'ours' && o.node === node) return;
  throw new KubestationError(
    'VM_NOT_OWNED',
    `refusing to change the VM at ${vmxPath}: it belongs to ${describeOwnership(o)}, not to node "${node}" of cluster "${cluster}"`,
    {
      fix: `kubestation only changes VMs it created. Rename or move that VM in Workstation, or rename node "${node}" in cluster.yaml`,
    },
  );
}
