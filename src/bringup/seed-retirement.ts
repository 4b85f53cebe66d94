/**
 * A node's seed after its first boot. The seed ISO and the node's
 * `user-data` in the state folder carry the cluster CA key (control plane)
 * and the join token (every node); the CA and token also live in `pki/`,
 * which is all a rebuild needs (rebuild-node and seed-isos render the seed
 * again). So once a node has bootstrapped:
 *
 * - the ISO and `user-data` are deleted from the state folder at once
 *   (meta-data and network-config, which hold no secret, stay);
 * - the VM's CD-ROM is detached in its .vmx (startConnected FALSE, no file)
 *   only while the VM is powered off: Workstation rewrites a running VM's
 *   .vmx from memory. The guest ejects the CD at the end of its first boot,
 *   so nothing reads the deleted file meanwhile; while the VM runs, vmrest is
 *   asked to set startConnected FALSE (whether a running VM takes that is
 *   unverified: asked once, vmrest's answer recorded as it was, and a refusal
 *   said) and the .vmx edit happens at the next power-off that
 *   kubestation sees: `detachSeedIso` is the one function for that, called by
 *   build-vms' finish, rebuild-node, and the stop/start commands.
 *
 * `observeSeed` reads where a node's seed really is (files and .vmx, not the
 * record), for status and doctor.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { nodeSeedDir, SEED_ISO_NAME } from '../cloudinit/write-seed.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { SEED_CDROM } from '../template/vmx.js';
import { VmrestError } from '../vmrest/errors.js';
import { editOwnedVmx, type AppliedVm } from './apply.js';
import { mergeObservation, observed, type AssumptionId, type Observation } from './observations.js';
import { readVmxFile } from './ownership.js';
import type { BuildEventSink, BuildVmrest } from './ports.js';
import type { BuildState, BuildStateStore, NodeBuildState } from './state.js';

/** The seed's copy of the node's cloud-init user-data: it holds the CA key (control plane) and the join token. */
export const SEED_SECRET_FILES = ['user-data', SEED_ISO_NAME] as const;

/**
 * True when the node finished its first boot: its own final line was read,
 * or the control plane's was after this VM was powered on (that line means
 * every node of the spec is Ready). A rebuilt node's fresh VM does not count
 * as bootstrapped by an older control-plane line.
 */
export function firstBootFinished(
  state: Pick<BuildState, 'nodes'>,
  spec: ClusterSpec,
  node: string,
): boolean {
  const record = state.nodes[node];
  if (record?.completedAt) return true;
  const controlPlaneDone = state.nodes[spec.controlPlane.name]?.completedAt;
  return (
    controlPlaneDone !== undefined &&
    record?.poweredOnAt !== undefined &&
    Date.parse(controlPlaneDone) >= Date.parse(record.poweredOnAt)
  );
}

/** Deletes the node's secret-bearing seed copies from the state folder; returns the files it deleted. */
export async function removeSeedSecrets(
  spec: ClusterSpec,
  node: NodeSpec,
  isoPath?: string,
): Promise<string[]> {
  const dir = nodeSeedDir(spec, node);
  const files = [
    ...new Set([...SEED_SECRET_FILES.map((f) => path.join(dir, f)), ...(isoPath ? [isoPath] : [])]),
  ];
  const removed: string[] = [];
  for (const file of files) {
    if (!existsSync(file)) continue;
    await rm(file, { force: true });
    removed.push(file);
  }
  return removed;
}

export interface SeedRetirementContext {
  spec: ClusterSpec;
  vmrest: BuildVmrest;
  store: BuildStateStore;
  emit: BuildEventSink;
  now?: (() => Date) | undefined;
}

/**
 * For a node that finished its first boot: deletes its seed ISO and
 * user-data from the state folder, and detaches the seed CD-ROM in the .vmx
 * when the VM is powered off (else asks vmrest and leaves the .vmx edit for
 * the next call that finds it off). A node still in its first boot keeps its
 * seed. Safe to call at any time, for any node: the stop and start commands
 * call it for every VM they find (or leave) powered off.
 */
export async function detachSeedIso(
  ctx: SeedRetirementContext,
  node: NodeSpec,
  vm: AppliedVm,
): Promise<{ fileRemoved: boolean; detached: boolean }> {
  const recorded = ctx.store.node(node.name)?.seed;
  if (!recorded) return { fileRemoved: true, detached: true };
  if (!firstBootFinished(ctx.store.snapshot(), ctx.spec, node.name))
    return { fileRemoved: recorded.fileRemoved, detached: recorded.detached };
  let { fileRemoved, detached } = recorded;
  let detachRequest = recorded.detachRequest;
  const now = ctx.now ?? (() => new Date());
  const seen: Array<[AssumptionId, Observation]> = [];
  // Whether the guest's eject let go of the ISO can only be seen while the VM runs (observations.ts).
  const runningAtDelete = existsSync(recorded.isoPath)
    ? await ctx.vmrest.getPowerState(vm.id).then(
        (p) => p === 'poweredOn',
        () => undefined,
      )
    : undefined;
  let failure: string | undefined;
  try {
    await removeSeedSecrets(ctx.spec, node, recorded.isoPath);
    fileRemoved = true;
  } catch (error) {
    // On Windows, Workstation may still hold a connected ISO open (EBUSY/EPERM).
    fileRemoved = !existsSync(recorded.isoPath);
    failure = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    ctx.emit({
      type: 'warning',
      node: node.name,
      message: `could not delete the seed copies of ${node.name} yet (${failure}); they are retried on the next run`,
    });
  }
  if (runningAtDelete)
    seen.push(
      observed('seed-eject-releases-iso', fileRemoved ? 'released' : 'held', {
        detail: fileRemoved ? node.name : `${node.name}: ${failure}`,
        at: now().toISOString(),
        command: `delete ${path.basename(recorded.isoPath)} on the host`,
      }),
    );
  if (!detached) {
    const power = await ctx.vmrest.getPowerState(vm.id);
    if (power === 'poweredOff') {
      await editOwnedVmx(ctx, node, vm, (vmx) => {
        vmx.set(`${SEED_CDROM}.startConnected`, 'FALSE');
        vmx.set(`${SEED_CDROM}.fileName`, '');
      });
      detached = true;
    } else if (!detachRequest) {
      // Unverified whether a running VM takes this; the .vmx edit above happens once it is off.
      // Asked once, its answer recorded: asking again would touch a running node for the same answer.
      let refusal: string | undefined;
      try {
        await ctx.vmrest.setParam(vm.id, `${SEED_CDROM}.startConnected`, 'FALSE');
        detachRequest = 'accepted';
      } catch (error) {
        if (!(error instanceof VmrestError)) throw error;
        detachRequest = 'refused';
        refusal = error.message;
        ctx.emit({
          type: 'note',
          node: node.name,
          message: `the running VM did not take "stop connecting the seed CD-ROM": ${error.message}. Its seed CD-ROM is detached at the next power-off that kubestation sees: stop, start, rebuild-node or build-vms`,
        });
      }
      seen.push(
        observed('vmrest-params-running-vm', detachRequest, {
          detail: refusal ? `${node.name}: ${refusal}` : node.name,
          at: now().toISOString(),
          command: `vmrest PUT /vms/{id}/params ${SEED_CDROM}.startConnected FALSE (VM ${power})`,
        }),
      );
    }
  }
  // One write: the observations follow the node record's failure rule.
  await ctx.store.update((state) => {
    const n = state.nodes[node.name];
    if (n?.seed)
      Object.assign(n.seed, { fileRemoved, detached, ...(detachRequest ? { detachRequest } : {}) });
    for (const [id, observation] of seen)
      state.assumptions = mergeObservation(state.assumptions, id, observation);
  });
  return { fileRemoved, detached };
}

/** Where a node's seed is, as the files and the .vmx say. */
export type SeedState =
  /** Never written for this VM. */
  | { kind: 'none' }
  /** First boot not finished: the ISO is on the host and the node needs it. */
  | { kind: 'in-use'; isoPath: string }
  /** First boot finished, but the ISO or user-data (secrets) is still in the state folder. */
  | { kind: 'secrets-on-host'; files: string[] }
  /** Deleted on the host; the .vmx still connects the (missing) file at power-on, until the next power-off kubestation sees. */
  | { kind: 'referenced'; vmxPath: string }
  /** Deleted on the host and detached from the VM. */
  | { kind: 'detached' };

/** The .vmx connects a seed CD-ROM file at power-on. */
async function vmxConnectsSeed(vmxPath: string): Promise<boolean> {
  try {
    const vmx = await readVmxFile(vmxPath);
    return (
      (vmx.get(`${SEED_CDROM}.fileName`) ?? '') !== '' &&
      (vmx.get(`${SEED_CDROM}.startConnected`) ?? 'TRUE').toUpperCase() !== 'FALSE'
    );
  } catch {
    return false;
  }
}

export async function observeSeed(
  spec: ClusterSpec,
  node: NodeSpec,
  state: Pick<BuildState, 'nodes'> | undefined,
  vmxPath: string | undefined,
): Promise<SeedState> {
  const record: NodeBuildState | undefined = state?.nodes[node.name];
  const dir = nodeSeedDir(spec, node);
  const isoPath = record?.seed?.isoPath ?? path.join(dir, SEED_ISO_NAME);
  const onHost = [...new Set([isoPath, path.join(dir, 'user-data')])].filter((f) => existsSync(f));
  if (!state || !firstBootFinished(state, spec, node.name))
    return record?.seed ? { kind: 'in-use', isoPath } : { kind: 'none' };
  if (onHost.length) return { kind: 'secrets-on-host', files: onHost };
  if (vmxPath && (await vmxConnectsSeed(vmxPath))) return { kind: 'referenced', vmxPath };
  return { kind: 'detached' };
}

/** The seed state in a few words, for status' table. */
export function describeSeedState(seed: SeedState): string {
  switch (seed.kind) {
    case 'none':
      return '-';
    case 'in-use':
      return 'attached (first boot)';
    case 'secrets-on-host':
      return 'SECRETS ON HOST';
    case 'referenced':
      return 'deleted; .vmx refers to it until power-off';
    case 'detached':
      return 'deleted, detached';
  }
}
