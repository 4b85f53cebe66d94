/**
 * Apply: one node from "not there" to "powered on with its seed", as a
 * sequence of steps that each read what is there and change only what
 * differs, so any step can run again after an interruption:
 *
 *   clone        POST /vms from the template (never blind: look first), then the ownership marker
 *   hardware     PUT /vms/{id} processors + memory
 *   nics         NAT + host-only adapters on their vmnets (vmrest), static MAC, vmxnet3, PCI slot (.vmx)
 *   disk         grow the system disk to the node's size (vmware-vdiskmanager)
 *   seed         write the cloud-init seed ISO, attach it as a SATA CD-ROM (.vmx)
 *   console      serial port to <stateDir>/<node>/serial.log, msg.autoAnswer (.vmx)
 *   reservation  DHCP reservation of the NAT MAC (vmrest as Administrator; skipped with a warning otherwise)
 *   register     POST /vms/registration so the VM shows in Workstation's library
 *   power-on     PUT /vms/{id}/power on
 *
 * Every .vmx edit happens with the VM powered off and not locked by
 * Workstation, and only after the marker check (ownership.ts).
 */
import { commandHint } from '../command-hint.js';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { statIfPresent } from '../missing-file.js';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { KubestationError } from '../errors.js';
import type { ClusterSpec, NicSpec, NodeSpec } from '../config/model.js';
import { SEED_CDROM, vnetName } from '../template/vmx.js';
import type { Nic, VmSummary } from '../vmrest/client.js';
import { sameHostPath, vmNameFromVmxPath } from '../vmrest/host-paths.js';
import { VmrestForbiddenError } from '../vmrest/errors.js';
import { VmxFile } from '../vmx/vmx-file.js';
import { systemDiskPath, vmdkCapacityBytes, vmdkParentPath } from './disk.js';
import { forgetHostKey } from './known-hosts.js';
import {
  assertOwnedNode,
  describeOwnership,
  inspectOwnership,
  markOwnership,
  readVmxFile,
} from './ownership.js';
import {
  mergeObservation,
  observed,
  recordObservation,
  type AssumptionId,
  type Observation,
} from './observations.js';
import { nodePaths } from './paths.js';
import type {
  BuildEventSink,
  BuildVmrest,
  CloneRoad,
  DiskGrower,
  LinkedCloneSource,
  SeedIsoWriter,
} from './ports.js';
import { APPLY_STEPS, type ApplyStep, type BuildStateStore, cloneUnfinished, hasFinished } from './state.js';

export interface ApplyContext {
  spec: ClusterSpec;
  vmrest: BuildVmrest;
  store: BuildStateStore;
  /** vmrest id of the template VM (preflight found it). */
  templateId: string;
  writeSeed: SeedIsoWriter;
  growDisk: DiskGrower;
  emit: BuildEventSink;
  /** Aborted on Ctrl-C or when another node failed: no new step starts. */
  signal: AbortSignal;
  /** Where clones land (Workstation's default VM folder), when known. */
  clonesFolder: string | undefined;
  /** How new clones are made (undefined: full, through vmrest). */
  clone?: CloneRoad | undefined;
  now?: () => Date;
}

export class BuildInterruptedError extends KubestationError {
  constructor() {
    super('BUILD_INTERRUPTED', 'build interrupted; progress is saved', {
      fix: 'run the same command again to continue where it stopped',
    });
  }
}

export interface AppliedVm {
  id: string;
  vmxPath: string;
}

const GiB = 2 ** 30;

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new BuildInterruptedError();
}

async function writeVmxAtomic(vmxPath: string, vmx: VmxFile): Promise<void> {
  await writeFileAtomic(vmxPath, vmx.toString());
}

/**
 * Edits a VM's .vmx: only when it is powered off, not locked by an open
 * Workstation window, and marked as this node of this cluster. `edit`
 * returns whether it changed anything; unchanged files are not rewritten.
 */
export async function editOwnedVmx(
  ctx: Pick<ApplyContext, 'spec' | 'vmrest'>,
  node: NodeSpec,
  vm: AppliedVm,
  edit: (vmx: VmxFile) => boolean | void,
): Promise<boolean> {
  const power = await ctx.vmrest.getPowerState(vm.id);
  if (power !== 'poweredOff') {
    throw new KubestationError(
      'VM_NOT_POWERED_OFF',
      `VM "${node.name}" (${vm.vmxPath}) is ${power}, so its settings cannot be changed safely`,
      {
        fix: `shut down "${node.name}" in Workstation and run the command again (kubestation continues where it stopped)`,
      },
    );
  }
  if (existsSync(`${vm.vmxPath}.lck`)) {
    throw new KubestationError(
      'VM_LOCKED',
      `VM "${node.name}" is open in Workstation (${vm.vmxPath}.lck exists), so its .vmx cannot be changed safely`,
      {
        fix: `close the "${node.name}" tab in Workstation and run the command again`,
      },
    );
  }
  const vmx = await readVmxFile(vm.vmxPath);
  assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
  const before = vmx.toString();
  edit(vmx);
  if (vmx.toString() === before) return false;
  await writeVmxAtomic(vm.vmxPath, vmx);
  return true;
}

/** The .vmx keys of one NIC as the spec wants them (network through vmrest; these the API cannot set). */
export function nicVmxSettings(nic: NicSpec): Record<string, string> {
  const p = `ethernet${nic.vmxIndex}.`;
  return {
    [`${p}present`]: 'TRUE',
    [`${p}virtualDev`]: 'vmxnet3',
    [`${p}addressType`]: 'static',
    [`${p}address`]: nic.mac,
    [`${p}pciSlotNumber`]: String(nic.pciSlot),
    [`${p}startConnected`]: 'TRUE',
  };
}

/** The seed CD-ROM and serial console settings. */
export function seedCdromSettings(isoPath: string): Record<string, string> {
  return {
    'sata0.present': 'TRUE',
    [`${SEED_CDROM}.present`]: 'TRUE',
    [`${SEED_CDROM}.deviceType`]: 'cdrom-image',
    [`${SEED_CDROM}.fileName`]: isoPath,
    [`${SEED_CDROM}.startConnected`]: 'TRUE',
  };
}

export function serialConsoleSettings(serialLog: string): Record<string, string> {
  return {
    'serial0.present': 'TRUE',
    'serial0.fileType': 'file',
    'serial0.fileName': serialLog,
    'serial0.yieldOnMsrRead': 'TRUE',
    // An existing serial file would otherwise stop power-on at a "replace or append?" dialog.
    'msg.autoAnswer': 'TRUE',
  };
}

function setAll(vmx: VmxFile, settings: Record<string, string>): void {
  for (const [key, value] of Object.entries(settings)) if (vmx.get(key) !== value) vmx.set(key, value);
}

/**
 * The node's VM in a VM list, ours or not: at its recorded .vmx path (vmrest
 * ids change across restarts, paths do not), else the one whose .vmx is named
 * after the node.
 */
export function findNodeVm(
  vms: VmSummary[],
  node: Pick<NodeSpec, 'name'>,
  recordedVmxPath: string | undefined,
): VmSummary | undefined {
  const byPath = recordedVmxPath ? vms.find((vm) => sameHostPath(vm.path, recordedVmxPath)) : undefined;
  return byPath ?? vms.find((vm) => vmNameFromVmxPath(vm.path).toLowerCase() === node.name.toLowerCase());
}

/** The node's VM as vmrest lists it now (see findNodeVm). */
export async function locateVm(
  ctx: Pick<ApplyContext, 'vmrest' | 'store'>,
  node: Pick<NodeSpec, 'name'>,
): Promise<VmSummary | undefined> {
  return findNodeVm(await ctx.vmrest.listVms(), node, ctx.store.node(node.name)?.vmxPath);
}

async function stepClone(ctx: ApplyContext, node: NodeSpec): Promise<AppliedVm> {
  const recorded = ctx.store.node(node.name);
  const existing = await locateVm(ctx, node);
  if (existing) {
    const ownership = await inspectOwnership(existing.path, ctx.spec.name);
    if (ownership.kind === 'ours' && ownership.node === node.name)
      return { id: existing.id, vmxPath: existing.path };
    // Our own clone whose marker was never written (crash right after POST /vms): adopt it.
    if (ownership.kind === 'unmarked' && cloneUnfinished(recorded)) {
      const vmx = await readVmxFile(existing.path);
      markOwnership(vmx, ctx.spec.name, node.name);
      await writeVmxAtomic(existing.path, vmx);
      ctx.emit({
        type: 'warning',
        node: node.name,
        message: `adopted the clone ${existing.path} left by an interrupted run`,
      });
      return { id: existing.id, vmxPath: existing.path };
    }
    throw new KubestationError(
      'VM_NAME_TAKEN',
      `a VM named "${node.name}" already exists (${existing.path}) and belongs to ${describeOwnership(ownership)}`,
      {
        fix: `rename or remove that VM in Workstation, or give node "${node.name}" another name in cluster.yaml`,
      },
    );
  }
  const folder = ctx.clonesFolder ? path.join(ctx.clonesFolder, node.name) : undefined;
  // If vmrest says the folder exists, it is our earlier clone: its start was recorded before its POST.
  const resume = cloneUnfinished(recorded);
  if (folder && existsSync(folder) && ctx.clone?.mode !== 'linked') {
    if (!resume) {
      throw new KubestationError(
        'VM_FOLDER_TAKEN',
        `the folder ${folder} exists but no VM in Workstation's library uses it, so the clone of "${node.name}" cannot be created there`,
        {
          fix: `move or delete ${folder} (after checking it holds nothing you need), then run the command again`,
        },
      );
    }
    // A clone we started that vmrest does not list: Workstation may still be copying it (vmrest lists a
    // clone only when the copy is done). Deleting or cloning over it would leave two VMs on one .vmx;
    // cloneVm with `resume` waits for it and adopts it, or says which folder to check.
    ctx.emit({
      type: 'warning',
      node: node.name,
      message: `${folder} exists from a clone an earlier run started; waiting for vmrest to list it`,
    });
  }
  // A new VM: whatever was recorded about an earlier one of this node no longer applies.
  await ctx.store.updateNode(node.name, (n) => {
    n.cloneStartedAt = (ctx.now ?? (() => new Date()))().toISOString();
    n.step = undefined;
    n.stepsDoneAt = {};
    n.vmId = undefined;
    n.vmxPath = undefined;
    n.poweredOnAt = undefined;
    n.completedAt = undefined;
    n.seed = undefined;
    n.clone = undefined;
  });
  // The new VM's SSH host keys are new too.
  await forgetHostKey(ctx.spec.stateDir, node.name);
  const road = ctx.clone ?? { mode: 'full', reason: 'vmware.cloneMode: full in cluster.yaml' };
  const cloned =
    road.mode === 'linked'
      ? await cloneLinked(ctx, node, road.source, folder, resume)
      : await cloneFull(ctx, node, folder, resume);
  const vmx = await readVmxFile(cloned.path);
  markOwnership(vmx, ctx.spec.name, node.name);
  await writeVmxAtomic(cloned.path, vmx);
  const at = (ctx.now ?? (() => new Date()))().toISOString();
  const landedIn = path.win32.dirname(path.win32.dirname(cloned.path));
  const observed = await observeClone(ctx, road, cloned, landedIn, at);
  // One write: the observation follows the clone record's failure rule.
  await ctx.store.update((state) => {
    const n = state.nodes[node.name]!;
    n.clone = {
      mode: road.mode,
      via: road.mode === 'linked' ? 'vmrun' : 'vmrest',
      reason: road.reason,
      ...(road.mode === 'linked'
        ? { templateVmx: road.source.templateVmx, snapshot: road.source.snapshot }
        : {}),
      at,
    };
    if (observed) state.assumptions = mergeObservation(state.assumptions, observed[0], observed[1]);
  });
  if (ctx.clonesFolder && !sameHostPath(landedIn, ctx.clonesFolder)) {
    ctx.emit({
      type: 'warning',
      node: node.name,
      message: `the clone landed in ${landedIn}, not in ${ctx.clonesFolder}, the default VM folder Workstation's preferences name: free-space checks looked at the wrong drive; restart Workstation and vmrest after changing Edit > Preferences > Workspace`,
    });
  }
  return { id: cloned.id, vmxPath: cloned.path };
}

/** The operation an observation of vmrun-clone-linked names. */
const VMRUN_LINKED_CLONE = 'vmrun -T ws clone <template.vmx> <node.vmx> linked -snapshot=<name>';

/**
 * What the clone showed of an unverified behaviour (observations.ts): where vmrest put a full clone,
 * or whether vmrun's clone reads the template's disk (a delta naming a parent) or is a whole copy.
 */
async function observeClone(
  ctx: ApplyContext,
  road: CloneRoad,
  cloned: VmSummary,
  landedIn: string,
  at: string,
): Promise<[AssumptionId, Observation] | undefined> {
  if (road.mode === 'full') {
    if (!ctx.clonesFolder) return undefined;
    const inDefault = sameHostPath(landedIn, ctx.clonesFolder);
    return observed('clone-in-default-folder', inDefault ? 'default-folder' : 'elsewhere', {
      detail: inDefault ? landedIn : `${landedIn}, not ${ctx.clonesFolder}`,
      at,
      command: 'vmrest POST /vms',
    });
  }
  const disk = systemDiskPath(await readVmxFile(cloned.path), cloned.path);
  if (!disk || !existsSync(disk)) return undefined;
  const parent = await vmdkParentPath(disk);
  return observed('vmrun-clone-linked', parent ? 'linked' : 'full-copy', {
    detail: parent ? `${disk} reads ${parent}` : `${disk} names no parent disk`,
    at,
    command: VMRUN_LINKED_CLONE,
  });
}

/** Full clone: vmrest POST /vms (it lands in Workstation's default VM folder). */
async function cloneFull(
  ctx: ApplyContext,
  node: NodeSpec,
  folder: string | undefined,
  resume: boolean,
): Promise<VmSummary> {
  const info = await ctx.vmrest.cloneVm({ name: node.name, parentId: ctx.templateId }, { folder, resume });
  const cloned =
    (await ctx.vmrest.listVms()).find((vm) => vm.id === info.id) ??
    (await ctx.vmrest.findVm({ name: node.name }));
  if (!cloned) {
    throw new KubestationError(
      'VM_CLONE_MISSING',
      `vmrest reported the clone "${node.name}" (id ${info.id}) but does not list it`,
      {
        fix: 'run the command again; if it repeats, restart vmrest',
      },
    );
  }
  return cloned;
}

/**
 * Linked clone: vmrun clones the template's snapshot into <clonesFolder>/<node>/<node>.vmx, then
 * POST /vms/registration puts it in vmrest's list. Unverified: whether a VM vmrun made is listed
 * without registering it; registering is done always, and "already registered" is accepted when
 * the VM is listed.
 */
async function cloneLinked(
  ctx: ApplyContext,
  node: NodeSpec,
  source: LinkedCloneSource,
  folder: string | undefined,
  resume: boolean,
): Promise<VmSummary> {
  if (!folder) throw new Error('cloneLinked: linked clones need the clones folder (chooseCloneMode)');
  const vmxPath = path.join(folder, `${node.name}.vmx`);
  if (existsSync(folder) && !(resume && existsSync(vmxPath))) {
    throw new KubestationError(
      'VM_FOLDER_TAKEN',
      resume
        ? `the folder ${folder} was left by a linked clone of "${node.name}" that did not finish (it has no ${node.name}.vmx)`
        : `the folder ${folder} exists but no VM in Workstation's library uses it, so the clone of "${node.name}" cannot be created there`,
      {
        fix: `move or delete ${folder} (after checking it holds nothing you need), then run the command again`,
      },
    );
  }
  if (!existsSync(vmxPath)) {
    await source.ensureSnapshot();
    try {
      await source.clone(vmxPath, node.name);
    } catch (error) {
      await recordObservation(
        ctx.store,
        'vmrun-clone-linked',
        {
          value: 'failed',
          detail: (error as Error).message.split('\n')[0],
          at: (ctx.now ?? (() => new Date()))(),
          command: VMRUN_LINKED_CLONE,
        },
        (message) => ctx.emit({ type: 'warning', node: node.name, message }),
      );
      throw error;
    }
  } else {
    ctx.emit({
      type: 'warning',
      node: node.name,
      message: `adopting the linked clone ${vmxPath} an earlier run made`,
    });
  }
  try {
    await ctx.vmrest.registerVm({ name: node.name, path: vmxPath });
  } catch (error) {
    if (!(await ctx.vmrest.findVm({ vmxPath }))) throw error;
  }
  const cloned = await ctx.vmrest.findVm({ vmxPath });
  if (!cloned)
    throw new KubestationError(
      'VM_CLONE_MISSING',
      `vmrun made the linked clone ${vmxPath} and vmrest registered it, but vmrest does not list it`,
      { fix: 'run the command again; if it repeats, restart vmrest' },
    );
  return cloned;
}

/**
 * Which .vmx adapter each vmrest NIC index names, matched by MAC (vmrest's listing against the
 * ethernet<K>.address kubestation wrote); only the indexes whose MAC matches one adapter.
 */
export function nicIndexMapping(nics: Nic[], vmx: VmxFile): Array<{ index: number; slot: number }> {
  const slotsByMac = new Map<string, number[]>();
  for (const [key, value] of vmx.entries()) {
    const m = /^ethernet(\d+)\.address$/i.exec(key);
    if (!m || value === '') continue;
    const mac = value.toLowerCase();
    slotsByMac.set(mac, [...(slotsByMac.get(mac) ?? []), Number(m[1])]);
  }
  return nics.flatMap((nic) => {
    const slots = slotsByMac.get(nic.macAddress.toLowerCase()) ?? [];
    return nic.macAddress !== '' && slots.length === 1 ? [{ index: nic.index, slot: slots[0]! }] : [];
  });
}

/**
 * Records whether vmrest's NIC index N is ethernet<N-1> (updateNic above relies on it): its NIC list
 * against the static MACs just written. Nothing is recorded when vmrest does not list them.
 */
async function observeNicIndex(ctx: ApplyContext, node: NodeSpec, vm: AppliedVm): Promise<void> {
  let pairs: Array<{ index: number; slot: number }>;
  try {
    pairs = nicIndexMapping(await ctx.vmrest.listNics(vm.id), await readVmxFile(vm.vmxPath));
  } catch {
    return; // not seen: nothing to record, and the step is done either way
  }
  if (pairs.length === 0) return;
  await recordObservation(
    ctx.store,
    'nic-index',
    {
      value: pairs.every((p) => p.slot === p.index - 1) ? 'ethernet<N-1>' : 'other',
      detail: pairs.map((p) => `index ${p.index} = ethernet${p.slot}`).join(', '),
      at: (ctx.now ?? (() => new Date()))(),
      command: 'vmrest GET /vms/{id}/nic',
    },
    (message) => ctx.emit({ type: 'warning', node: node.name, message }),
  );
}

type StepRunner = (ctx: ApplyContext, node: NodeSpec, vm: AppliedVm) => Promise<string | undefined>;

const stepRunners: Record<Exclude<ApplyStep, 'clone'>, StepRunner> = {
  async hardware(ctx, node, vm) {
    const memory = Math.ceil(node.memoryMiB / 4) * 4; // Workstation sizes memory in multiples of 4 MB
    const vmx = await readVmxFile(vm.vmxPath);
    assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
    if (vmx.get('numvcpus') === String(node.cpus) && vmx.get('memsize') === String(memory))
      return 'already set';
    await ctx.vmrest.updateVm(vm.id, { processors: node.cpus, memory });
    return `${node.cpus} vCPU, ${memory} MiB`;
  },

  async nics(ctx, node, vm) {
    const vmx = await readVmxFile(vm.vmxPath);
    assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
    for (const nic of [node.nics.nat, node.nics.hostOnly]) {
      const p = `ethernet${nic.vmxIndex}.`;
      const present = (vmx.get(`${p}present`) ?? '').toUpperCase() === 'TRUE';
      const onNetwork =
        (vmx.get(`${p}connectionType`) ?? '').toLowerCase() === 'custom' &&
        (vmx.get(`${p}vnet`) ?? '').toLowerCase() === nic.vmnet.toLowerCase();
      // vmrest wants "custom" + an explicit vmnet (nat/hostonly + vmnet is refused as redundant).
      if (present && !onNetwork)
        await ctx.vmrest.updateNic(vm.id, nic.vmxIndex + 1, { type: 'custom', vmnet: nic.vmnet });
      else if (!present) await ctx.vmrest.addNic(vm.id, { type: 'custom', vmnet: nic.vmnet });
    }
    await editOwnedVmx(ctx, node, vm, (file) => {
      for (const nic of [node.nics.nat, node.nics.hostOnly]) {
        const p = `ethernet${nic.vmxIndex}.`;
        setAll(file, nicVmxSettings(nic));
        // vmrest's addNic puts the adapter in the first free slot; make sure it sits on the spec's network.
        if ((file.get(`${p}connectionType`) ?? '').toLowerCase() !== 'custom')
          file.set(`${p}connectionType`, 'custom');
        if ((file.get(`${p}vnet`) ?? '').toLowerCase() !== nic.vmnet.toLowerCase())
          file.set(`${p}vnet`, vnetName(nic.vmnet));
        file.delete(`${p}generatedAddress`);
        file.delete(`${p}generatedAddressOffset`);
      }
    });
    await observeNicIndex(ctx, node, vm);
    return `${node.nics.nat.vmnet} ${node.nics.nat.mac}, ${node.nics.hostOnly.vmnet} ${node.nics.hostOnly.mac}`;
  },

  async disk(ctx, node, vm) {
    const vmx = await readVmxFile(vm.vmxPath);
    assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
    const disk = systemDiskPath(vmx, vm.vmxPath);
    const capacity = disk && existsSync(disk) ? await vmdkCapacityBytes(disk) : undefined;
    if (!disk || capacity === undefined) {
      ctx.emit({
        type: 'warning',
        node: node.name,
        message: `could not read the system disk's size${disk ? ` (${disk})` : ''}; it keeps the template's size`,
      });
      return 'size unknown, left as cloned';
    }
    if (capacity >= node.diskGiB * GiB)
      return `${Math.round(capacity / GiB)} GiB: the template size is enough`;
    if (ctx.store.node(node.name)?.clone?.mode === 'linked')
      throw new KubestationError(
        'LINKED_CLONE_DISK_TOO_LARGE',
        `node "${node.name}" is a linked clone with a ${Math.round(capacity / GiB)} GiB disk (the template's size) and asks for ${node.diskGiB} GiB; a linked clone's disk cannot be grown past its template's`,
        {
          fix: `set vmware.cloneMode: full or diskGiB to ${Math.floor(capacity / GiB)} or less, then \`${commandHint(`rebuild-node ${node.name}`)}\``,
        },
      );
    const power = await ctx.vmrest.getPowerState(vm.id);
    if (power !== 'poweredOff')
      throw new KubestationError(
        'VM_NOT_POWERED_OFF',
        `VM "${node.name}" is ${power}; its disk can only be grown powered off`,
        { fix: `shut down "${node.name}" and run again` },
      );
    await ctx.growDisk(disk, node.diskGiB);
    return `grown from ${Math.round(capacity / GiB)} to ${node.diskGiB} GiB`;
  },

  async seed(ctx, node, vm) {
    const isoPath = await ctx.writeSeed(ctx.spec, node);
    await editOwnedVmx(ctx, node, vm, (vmx) => setAll(vmx, seedCdromSettings(isoPath)));
    await ctx.store.updateNode(node.name, (n) => {
      n.seed = { isoPath, fileRemoved: false, detached: false };
    });
    return isoPath;
  },

  async console(ctx, node, vm) {
    const paths = nodePaths(ctx.spec, node);
    await mkdir(paths.dir, { recursive: true });
    await editOwnedVmx(ctx, node, vm, (vmx) => setAll(vmx, serialConsoleSettings(paths.serialLog)));
    return paths.serialLog;
  },

  async reservation(ctx, node) {
    const nic = node.nics.nat;
    try {
      await ctx.vmrest.setMacToIp(nic.vmnet, nic.mac, nic.address);
      return `${nic.mac} → ${nic.address} on ${nic.vmnet}`;
    } catch (error) {
      if (!(error instanceof VmrestForbiddenError)) throw error;
      ctx.emit({
        type: 'warning',
        node: node.name,
        message: `no DHCP reservation for ${nic.mac} on ${nic.vmnet} (vmrest does not run as Administrator); the node uses its static address ${nic.address} anyway`,
      });
      return 'skipped: vmrest is not Administrator';
    }
  },

  async register(ctx, node, vm) {
    const vmx = await readVmxFile(vm.vmxPath);
    assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
    try {
      await ctx.vmrest.registerVm({ name: node.name, path: vm.vmxPath });
    } catch (error) {
      // Registering a VM the library already has may be refused; what counts is that it is listed.
      if (!(await ctx.vmrest.findVm({ vmxPath: vm.vmxPath }))) throw error;
    }
    return node.name;
  },

  async 'power-on'(ctx, node, vm) {
    const vmx = await readVmxFile(vm.vmxPath);
    assertOwnedNode(vmx, vm.vmxPath, ctx.spec.name, node.name);
    const power = await ctx.vmrest.getPowerState(vm.id);
    if (power === 'poweredOn') return 'already on';
    const state = ctx.store.node(node.name);
    if (!state?.poweredOnAt) {
      // First boot: a log from an earlier attempt must not be read as this boot's progress.
      const paths = nodePaths(ctx.spec, node);
      const old = await statIfPresent(paths.serialLog);
      if (old) await rename(paths.serialLog, paths.previousSerialLog);
    }
    const now = (ctx.now ?? (() => new Date()))().toISOString();
    await ctx.store.updateNode(node.name, (n) => {
      n.poweredOnAt ??= now;
    });
    await ctx.vmrest.setPowerState(vm.id, 'on');
    return power === 'suspended' ? 'resumed' : 'powered on';
  },
};

/**
 * Runs the node's remaining apply steps (`steps`, in APPLY_STEPS order).
 * Records each finished step; throws BuildInterruptedError between steps
 * once `ctx.signal` is aborted.
 */
export async function applyNode(
  ctx: ApplyContext,
  node: NodeSpec,
  steps: readonly ApplyStep[],
): Promise<AppliedVm> {
  let vm: AppliedVm | undefined;
  const ordered = APPLY_STEPS.filter((s) => steps.includes(s));
  if (!ordered.includes('clone')) {
    const found = await locateVm(ctx, node);
    if (!found) {
      throw new KubestationError(
        'VM_MISSING',
        `the VM of node "${node.name}" is not in vmrest's VM list any more`,
        {
          fix: 'run the command again: the node is cloned anew',
        },
      );
    }
    vm = { id: found.id, vmxPath: found.path };
  }
  for (const step of ordered) {
    checkAborted(ctx.signal);
    ctx.emit({ type: 'step', node: node.name, step, phase: 'start' });
    let detail: string | undefined;
    if (step === 'clone') {
      vm = await stepClone(ctx, node);
      detail = vm.vmxPath;
    } else {
      detail = await stepRunners[step](ctx, node, vm!);
    }
    await ctx.store.stepDone(node.name, step, { vmId: vm!.id, vmxPath: vm!.vmxPath, role: node.role });
    ctx.emit({ type: 'step', node: node.name, step, phase: 'done', ...(detail ? { detail } : {}) });
  }
  if (!vm) throw new Error('applyNode: no steps and no VM');
  return vm;
}
