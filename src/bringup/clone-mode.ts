/**
 * How nodes are cloned from the template (vmware.cloneMode):
 *
 *   linked  Workstation's vmrun makes a linked clone of a snapshot of the
 *           template: `vmrun -T ws clone <template.vmx> <node.vmx> linked
 *           -snapshot=<name> -cloneName=<node>` into the clones folder; the
 *           clone's disk is a delta that reads the template's disk for as long
 *           as it lives. vmrest 1.3.1 has no linked-clone endpoint (POST /vms
 *           makes full clones only).
 *   full    vmrest POST /vms: a copy of the template's whole disk.
 *
 * The choice (and why) is made once per run from the spec and whether vmrun
 * was found, before anything changes; the plan shows it for every node.
 */
import { commandHint } from '../command-hint.js';
import { createHash } from 'node:crypto';
import type { ClusterSpec, CloneMode, NodeSpec } from '../config/model.js';
import type { TemplateState } from '../template/state.js';
import type { Vmrun, VmrunCloner, VmrunLookup } from '../template/vmrun.js';
import type { CloneRoad, LinkedCloneSource } from './ports.js';

export interface CloneChoice {
  mode: CloneMode;
  /** Why, for the plan and the state record. */
  reason: string;
}

export interface CloneProblem {
  code: string;
  message: string;
  fix: string;
}

/**
 * The clone mode of this run, or the problem that stops it: linked written
 * out in cluster.yaml with no vmrun (or no known clones folder) stops before
 * any change; the default falls back to full clones and says so.
 */
export function chooseCloneMode(
  spec: Pick<ClusterSpec, 'vmware'>,
  vmrun: VmrunLookup,
  clonesFolder: string | undefined,
): CloneChoice | CloneProblem {
  if (spec.vmware.cloneMode === 'full')
    return { mode: 'full', reason: 'vmware.cloneMode: full in cluster.yaml' };
  const missing = !vmrun.found
    ? `Workstation's vmrun was not found: ${vmrun.reason}`
    : clonesFolder === undefined
      ? "Workstation's default VM folder is unknown (no APPDATA/USERPROFILE in the environment), so there is no folder to put linked clones in"
      : undefined;
  if (missing === undefined)
    return {
      mode: 'linked',
      reason: spec.vmware.cloneModeExplicit
        ? 'vmware.cloneMode: linked in cluster.yaml'
        : 'vmware.cloneMode defaults to linked',
    };
  if (spec.vmware.cloneModeExplicit)
    return {
      code: 'LINKED_CLONES_UNAVAILABLE',
      message: `vmware.cloneMode is linked in cluster.yaml, but ${missing}`,
      fix: !vmrun.found
        ? 'set vmware.installFolder in cluster.yaml to the Workstation folder holding vmrun.exe, or set vmware.cloneMode: full (vmrest copies the whole disk)'
        : 'run the command from your Windows user session, or set vmware.cloneMode: full',
    };
  return { mode: 'full', reason: `${missing}; full clones (vmrest) instead of the default linked clones` };
}

export function isCloneProblem(choice: CloneChoice | CloneProblem): choice is CloneProblem {
  return 'code' in choice;
}

/**
 * The template snapshot linked clones are made from, named after what the
 * template holds: the golden marker (Kubernetes release and a hash of the
 * whole marker, bake time included), else the image and disk build-template
 * recorded. A new bake or a new template disk gives a new name, so a name a
 * clone still uses never stands for different content, and no snapshot is
 * ever deleted or replaced by kubestation.
 */
export function templateSnapshotName(state: TemplateState): string {
  const hash = (value: unknown): string =>
    createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
  if (state.golden) return `kubestation-golden-${state.golden.kubernetes.version}-${hash(state.golden)}`;
  return `kubestation-base-${hash({ image: state.image?.sha256 ?? null, disk: state.disk ?? null, builtAt: state.builtAt ?? null })}`;
}

const GiB = 2 ** 30;

/** Nodes whose diskGiB a linked clone of a template disk of `templateBytes` cannot have. */
export function nodesTooLargeForLinkedClone(nodes: NodeSpec[], templateBytes: number): NodeSpec[] {
  return nodes.filter((n) => n.diskGiB * GiB > templateBytes);
}

/** The problem for a node whose disk is larger than the template's (validate and preflight say the same). */
export function linkedDiskTooLargeProblem(
  node: NodeSpec,
  index: number | undefined,
  templateBytes: number,
  explicit: boolean,
): CloneProblem {
  const templateGiB = Math.floor(templateBytes / GiB);
  return {
    code: 'LINKED_CLONE_DISK_TOO_LARGE',
    message: `${index === undefined ? 'diskGiB' : `nodes[${index}].diskGiB`}: node "${node.name}" asks for ${node.diskGiB} GiB, but the template's disk is ${templateGiB} GiB and a linked clone${explicit ? '' : ' (vmware.cloneMode defaults to linked)'} cannot have a larger disk than its template`,
    fix: `set vmware.cloneMode: full (a full copy, grown to ${node.diskGiB} GiB), or set diskGiB to ${templateGiB} or less, or give the template a larger disk: \`${commandHint('destroy')}\` (the linked clones read the old one), then \`${commandHint('build-template --force')}\` (it makes the template disk as large as the largest node)`,
  };
}

/** The real LinkedCloneSource: vmrun, the template's .vmx and the snapshot name; the snapshot is made once. */
export function vmrunLinkedCloneSource(
  vmrun: Pick<Vmrun, 'listSnapshots' | 'snapshot'> & VmrunCloner,
  templateVmx: string,
  snapshot: string,
  log: (message: string) => void,
): LinkedCloneSource {
  let ready: Promise<void> | undefined;
  return {
    templateVmx,
    snapshot,
    ensureSnapshot() {
      ready ??= (async () => {
        if ((await vmrun.listSnapshots(templateVmx)).includes(snapshot)) return;
        log(`taking the template snapshot ${snapshot} that linked clones are made from`);
        await vmrun.snapshot(templateVmx, snapshot);
      })();
      // A failed attempt may be tried again by the next clone of this run.
      ready.catch(() => (ready = undefined));
      return ready;
    },
    clone: (cloneVmx, name) => vmrun.cloneLinked(templateVmx, cloneVmx, snapshot, name),
  };
}

/** The run's clone road from preflight's choice: linked clones come from the template's named snapshot. */
export function cloneRoadFor(
  preflight: {
    clone?: CloneChoice | undefined;
    readyTemplate?: { vmxPath: string; state: TemplateState } | undefined;
  },
  vmrun: VmrunLookup | undefined,
  log: (message: string) => void,
): CloneRoad {
  const choice = preflight.clone ?? {
    mode: 'full' as const,
    reason: 'vmware.cloneMode: full in cluster.yaml',
  };
  const ready = preflight.readyTemplate;
  if (choice.mode === 'full' || !vmrun?.found || !ready) return { mode: 'full', reason: choice.reason };
  const source = vmrunLinkedCloneSource(vmrun.vmrun, ready.vmxPath, templateSnapshotName(ready.state), log);
  return { mode: 'linked', reason: choice.reason, source };
}
