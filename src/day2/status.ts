/**
 * status: one look at every node — its VM (present, ours, power state,
 * addresses VMware Tools report), its Kubernetes Node (Ready, version,
 * roles) when the API server answers, and the last progress line on its
 * serial console. Read-only; every source that fails is reported, not fatal.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { findNodeVm } from '../bringup/apply.js';
import { parentDiskOfVm } from '../template/linked-clones.js';
import { lastProgressLine } from '../bringup/console-log.js';
import { nodePaths } from '../bringup/paths.js';
import { describeSeedState, observeSeed, type SeedState } from '../bringup/seed-retirement.js';
import { readBuildState, type BuildState } from '../bringup/state.js';
import { describeError } from '../errors.js';
import { findCondition, type Node } from '../kube/index.js';
import type { ProgressLine } from '../progress/index.js';
import type { ClusterSpec, NodeRole } from '../config/model.js';
import type { PowerState } from '../vmrest/client.js';
import { isOwnedBy, nodeRoles, observeVm, probeApi, type KubeAccess } from '../bringup/observe.js';
import { describeLabPower, summarizeLabPower, type LabPowerSummary } from './lab-power.js';
import type { Day2Vmrest } from '../bringup/ports.js';
import { labNeverBuilt } from '../bringup/lab-state.js';

export interface NodeStatus {
  node: string;
  role: NodeRole;
  vm:
    | { present: false }
    | { present: true; vmxPath: string; ours: boolean; owner: string; power: PowerState | undefined };
  /** Per NIC as VMware Tools report it; undefined when not powered on or Tools have not reported. */
  addresses: Array<{ mac: string; ip: string[] }> | undefined;
  /** Undefined when the API server was not asked (unreachable). */
  kubernetes:
    | { registered: false }
    | { registered: true; ready: string; version: string; roles: string[]; internalIP: string | undefined }
    | undefined;
  progress: (Pick<ProgressLine, 'stage' | 'event' | 'message'> & { at: string }) | undefined;
  serialLog: string;
  /** Where the node's seed (CA key, join token) is: state folder and .vmx. */
  seed: SeedState;
  /**
   * How the node's VM was cloned (the state's record, else read from its disk: a parent disk means
   * linked) and the bytes its own folder's files use (a linked clone's template disk not counted).
   */
  clone: { mode: 'linked' | 'full'; diskBytes: number | undefined } | undefined;
}

export interface ClusterStatus {
  cluster: string;
  /** The lab as a whole: running, stopped (every VM off), partly running (some off, suspended or paused). */
  lab: LabPowerSummary;
  vmrest: { ok: true } | { ok: false; error: string };
  api: { reachable: true } | { reachable: false; reason: string };
  nodes: NodeStatus[];
}

export interface StatusDeps {
  vmrest: Day2Vmrest;
  kube: KubeAccess;
  /** How long to wait for VMware Tools' addresses per VM; default 2 s. */
  addressTimeoutMs?: number;
}

function kubeView(found: Node | undefined): NodeStatus['kubernetes'] {
  if (!found) return { registered: false };
  return {
    registered: true,
    ready: findCondition(found.status?.conditions, 'Ready')?.status ?? 'Unknown',
    version: found.status?.nodeInfo?.kubeletVersion ?? '',
    roles: nodeRoles(found),
    internalIP: found.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
  };
}

/** Bytes used by the files in a VM's folder (its disks, .vmx, logs, snapshots); undefined when unreadable. */
export async function vmFolderBytes(vmxPath: string): Promise<number | undefined> {
  try {
    const folder = path.dirname(vmxPath);
    const entries = await readdir(folder, { withFileTypes: true });
    const sizes = await Promise.all(
      entries.filter((e) => e.isFile()).map((e) => stat(path.join(folder, e.name)).then((s) => s.size)),
    );
    return sizes.reduce((sum, n) => sum + n, 0);
  } catch {
    return undefined;
  }
}

async function cloneView(
  vmxPath: string,
  recorded: 'linked' | 'full' | undefined,
): Promise<NonNullable<NodeStatus['clone']>> {
  const [mode, diskBytes] = await Promise.all([
    recorded ?? parentDiskOfVm(vmxPath).then((parent) => (parent ? 'linked' : 'full')),
    vmFolderBytes(vmxPath),
  ]);
  return { mode, diskBytes };
}

function formatBytes(bytes: number): string {
  if (bytes < 2 ** 20) return `${Math.ceil(bytes / 2 ** 10)} KiB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function cloneCell(s: NodeStatus): string {
  if (!s.clone) return '-';
  return `${s.clone.mode} ${s.clone.diskBytes === undefined ? '?' : formatBytes(s.clone.diskBytes)}`;
}

export async function collectStatus(spec: ClusterSpec, deps: StatusDeps): Promise<ClusterStatus> {
  let state: BuildState | undefined;
  try {
    state = await readBuildState(spec.stateDir, spec.name);
  } catch {
    state = undefined; // a damaged record only loses the recorded .vmx paths; VMs are still found by name
  }
  let vms: Awaited<ReturnType<Day2Vmrest['listVms']>> | undefined;
  let vmrestError: string | undefined;
  try {
    vms = await deps.vmrest.listVms();
  } catch (error) {
    vmrestError = describeError(error);
  }
  const api = await probeApi(deps.kube);
  try {
    const nodes = await Promise.all(
      spec.nodes.map(async (node): Promise<NodeStatus> => {
        const serialLog = nodePaths(spec, node).serialLog;
        const found = vms ? findNodeVm(vms, node, state?.nodes[node.name]?.vmxPath) : undefined;
        const vm = found ? await observeVm(deps.vmrest, found, spec.name) : undefined;
        let addresses: NodeStatus['addresses'];
        if (vm?.power === 'poweredOn') {
          addresses = await deps.vmrest
            .getNicIps(vm.id, { timeoutMs: deps.addressTimeoutMs ?? 2000 })
            .then((nics) => nics.map((n) => ({ mac: n.mac, ip: n.ip ?? [] })))
            .catch(() => undefined); // shown as "-" (not known): Tools may simply not report yet
        }
        const ours = vm && isOwnedBy(vm, node) ? vm.vmxPath : undefined;
        const [line, seed, clone] = await Promise.all([
          // Shown as no progress; doctor's first-boot check reads the same file and reports its failure.
          lastProgressLine(serialLog).catch(() => undefined),
          observeSeed(spec, node, state, ours),
          ours ? cloneView(ours, state?.nodes[node.name]?.clone?.mode) : undefined,
        ]);
        return {
          node: node.name,
          role: node.role,
          vm: vm
            ? {
                present: true,
                vmxPath: vm.vmxPath,
                ours: isOwnedBy(vm, node),
                owner: vm.ownership.kind,
                power: vm.power,
              }
            : { present: false },
          addresses,
          kubernetes: api.reachable
            ? kubeView(api.nodes.find((n) => n.metadata.name === node.name))
            : undefined,
          progress: line
            ? {
                stage: line.stage,
                event: line.event,
                message: line.message.split('\n')[0] ?? '',
                at: new Date(line.timeMs).toISOString(),
              }
            : undefined,
          serialLog,
          seed,
          clone,
        };
      }),
    );
    const neverBuilt = await labNeverBuilt(
      spec,
      vms ?? (vmrestError === undefined ? undefined : { unavailable: vmrestError }),
    );
    return {
      cluster: spec.name,
      lab: neverBuilt
        ? { state: 'not built', ...neverBuilt }
        : summarizeLabPower(
            nodes.map((n) => (n.vm.present && n.vm.ours ? { node: n.node, power: n.vm.power } : undefined)),
            state,
          ),
      vmrest: vmrestError === undefined ? { ok: true } : { ok: false, error: vmrestError },
      api: api.reachable ? { reachable: true } : { reachable: false, reason: api.reason },
      nodes,
    };
  } finally {
    await api.client?.close();
  }
}

function vmCell(s: NodeStatus): string {
  if (!s.vm.present) return 'no VM';
  if (!s.vm.ours) return `not ours (${s.vm.owner})`;
  return s.vm.power ?? 'unknown';
}

function addressCell(s: NodeStatus): string {
  if (!s.addresses) return '-';
  return s.addresses.flatMap((n) => n.ip.map((ip) => ip.replace(/\/\d+$/, ''))).join(', ') || '-';
}

function kubeCell(s: NodeStatus): string {
  if (!s.kubernetes) return '?';
  if (!s.kubernetes.registered) return 'not registered';
  const ready =
    s.kubernetes.ready === 'True' ? 'Ready' : s.kubernetes.ready === 'False' ? 'NotReady' : 'Unknown';
  return `${ready} ${s.kubernetes.version}${s.kubernetes.roles.length ? ` ${s.kubernetes.roles.join(',')}` : ''}`.trim();
}

function progressCell(s: NodeStatus): string {
  if (!s.progress) return '-';
  const text = `${s.progress.stage} ${s.progress.event}${s.progress.message ? `: ${s.progress.message}` : ''}`;
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** What the seed column cannot say in a few words: which files hold secrets, and what happens next. */
function seedNotes(status: ClusterStatus): string[] {
  return status.nodes.flatMap((s) => {
    if (s.seed.kind === 'secrets-on-host')
      return [
        `${s.node}: its seed copies ${s.seed.files.join(', ')} still hold the cluster's secrets after bootstrap; run build-vms again to delete them`,
      ];
    if (s.seed.kind === 'referenced')
      return [
        `${s.node}: seed deleted on this PC, still referenced by ${s.seed.vmxPath} until the VM is next off (stop, start, rebuild-node or build-vms detach it)`,
      ];
    return [];
  });
}

export function formatStatus(status: ClusterStatus): string {
  const header = [
    'node',
    'role',
    'vm',
    'clone, disk used',
    'addresses',
    'kubernetes',
    'seed',
    'last progress',
  ];
  const rows = status.nodes.map((s) => [
    s.node,
    s.role,
    vmCell(s),
    cloneCell(s),
    addressCell(s),
    kubeCell(s),
    describeSeedState(s.seed),
    progressCell(s),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const notes: string[] = [];
  if (!status.vmrest.ok) notes.push(`vmrest: ${status.vmrest.error}`);
  if (!status.api.reachable)
    notes.push(`Kubernetes API not reachable (${status.api.reason}); the kubernetes column shows ?`);
  notes.push(...seedNotes(status));
  const lab =
    status.vmrest.ok || status.lab.state === 'not built' ? `lab: ${describeLabPower(status.lab)}\n` : '';
  return `cluster ${status.cluster}\n${lab}${[fmt(header), ...rows.map(fmt)].join('\n')}\n${notes.map((n) => `note: ${n}\n`).join('')}`;
}
