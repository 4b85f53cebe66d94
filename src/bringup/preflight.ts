/**
 * Preflight: everything that would stop a build, checked before anything is
 * created, and reported together (one run shows every problem, each with its
 * fix). Warnings do not stop the build.
 */
import { randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KubestationError } from '../errors.js';
import type { ClusterSpec, HostOnlyNetworkSpec, NatNetworkSpec } from '../config/model.js';
import { requireReadyTemplate, type ReadyTemplate } from '../template/ready.js';
import type { VmSummary, Vmnet } from '../vmrest/client.js';
import { sameHostPath, vmNameFromVmxPath } from '../vmrest/host-paths.js';
import { VmrestError } from '../vmrest/errors.js';
import type { VmrunLookup } from '../template/vmrun.js';
import {
  chooseCloneMode,
  isCloneProblem,
  linkedDiskTooLargeProblem,
  nodesTooLargeForLinkedClone,
  type CloneChoice,
} from './clone-mode.js';
import { systemDiskPath, vmdkCapacityBytes } from './disk.js';
import { describeOwnership, inspectOwnership, readVmxFile } from './ownership.js';
import type { BuildVmrest } from './ports.js';
import { cloneUnfinished, type BuildState } from './state.js';
import { COMMAND_PREFIX } from '../command-hint.js';
import { dhcpSubnetBlocks } from '../workstation/vmnet-dhcp.js';

export interface PreflightProblem {
  code: string;
  message: string;
  fix: string;
}

export interface PreflightResult {
  problems: PreflightProblem[];
  warnings: string[];
  /** Facts later phases use (undefined when the check that finds them failed). */
  vms: VmSummary[] | undefined;
  template: VmSummary | undefined;
  /** The template as the template module sees it (its record, its golden bake when it matches the spec). */
  readyTemplate?: ReadyTemplate | undefined;
  /** How this run clones (undefined when the choice itself is the problem). */
  clone?: CloneChoice | undefined;
}

export interface PreflightDeps {
  vmrest: BuildVmrest;
  /** Where clones land (Workstation's default VM folder), when known. */
  clonesFolder: string | undefined;
  /** Workstation install folder for the vnetlib64.exe fix text; defaults to the usual one. */
  installFolder?: string | undefined;
  /** Free bytes of the file system holding `folder` (tests override; default statfs). */
  freeBytes?: (folder: string) => Promise<number>;
  /** Where vmrun is (linked clones); undefined = not looked for, so the default falls back to full clones. */
  vmrun?: VmrunLookup | undefined;
  /**
   * Workstation's DHCP settings file (vmnetdhcp.conf, see src/workstation/vmnet-dhcp.ts), where the host
   * tells its host-only DHCP range; undefined = not known, so that range is not compared (a warning says so).
   */
  vmnetDhcpConfig?: string | undefined;
}

const GiB = 2 ** 30;

export class PreflightError extends KubestationError {
  constructor(readonly problems: PreflightProblem[]) {
    super(
      'PREFLIGHT_FAILED',
      `preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was created or changed:\n${problems.map((p, i) => `  ${i + 1}. ${p.message}\n     fix: ${p.fix}`).join('\n')}`,
      { fix: 'fix the problems listed above, then run the command again' },
    );
  }
}

/**
 * The Virtual Network Editor steps, and the same change as vnetlib64 command
 * lines. One command per line, in a form cmd and PowerShell 5.1 both run:
 * no "&&" (PowerShell 5.1 has none), and pushd into the Workstation folder
 * so no line starts with a quoted path (PowerShell would read that as a
 * string, not a command) and the drive changes in cmd too.
 */
export function vnetlibFix(
  net: NatNetworkSpec | HostOnlyNetworkSpec,
  installFolder: string | undefined,
): string {
  const folder = installFolder ?? 'C:\\Program Files (x86)\\VMware\\VMware Workstation';
  const vnetlib = (args: string): string => `.\\vnetlib64.exe -- ${args}`;
  const type = net.kind === 'nat' ? 'NAT' : 'Host-only';
  const lines = [
    `pushd "${folder}"`,
    vnetlib('stop dhcp'),
    ...(net.kind === 'nat' ? [vnetlib('stop nat')] : []),
    vnetlib(`set vnet ${net.vmnet} addr ${net.subnet.network}`),
    vnetlib(`set vnet ${net.vmnet} mask ${net.subnet.mask}`),
    vnetlib(`update adapter ${net.vmnet}`),
    ...(net.kind === 'nat' ? [vnetlib(`update nat ${net.vmnet}`)] : []),
    vnetlib(`update dhcp ${net.vmnet}`),
    ...(net.kind === 'nat' ? [vnetlib('start nat')] : []),
    vnetlib('start dhcp'),
    'popd',
  ];
  return (
    `in Workstation open Edit > Virtual Network Editor > Change Settings, select ${net.vmnet.replace(/^vmnet/i, 'VMnet')}, choose "${type}", ` +
    `set Subnet IP ${net.subnet.network} and Subnet mask ${net.subnet.mask}, then Apply; or run these lines one by one in a Command Prompt or PowerShell opened as Administrator:\n` +
    lines.map((line) => `        ${line}`).join('\n')
  );
}

export function checkVmnets(spec: ClusterSpec, vmnets: Vmnet[], installFolder?: string): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  for (const net of [spec.networks.nat, spec.networks.hostOnly] as const) {
    const wantedType = net.kind === 'nat' ? 'nat' : 'hostonly';
    const found = vmnets.find((v) => v.name.toLowerCase() === net.vmnet.toLowerCase());
    const field = net.kind === 'nat' ? 'networks.nat' : 'networks.hostOnly';
    if (!found) {
      problems.push({
        code: 'VMNET_MISSING',
        message: `${net.vmnet} (${field} in cluster.yaml) does not exist on this host`,
        fix: vnetlibFix(net, installFolder).replace(
          'select',
          `add ${net.vmnet} with "Add Network...", select`,
        ),
      });
      continue;
    }
    const typeOk = found.type.toLowerCase().replace(/[^a-z]/g, '') === wantedType;
    const subnetOk = found.subnet === net.subnet.network && found.mask === net.subnet.mask;
    if (!typeOk || !subnetOk) {
      problems.push({
        code: 'VMNET_MISMATCH',
        message: `${net.vmnet} is ${found.type} on ${found.subnet || '(no subnet)'}/${found.mask || '(no mask)'}, but ${field} in cluster.yaml needs ${net.kind === 'nat' ? 'NAT' : 'host-only'} on ${net.subnet.network}/${net.subnet.mask}`,
        fix: vnetlibFix(net, installFolder),
      });
    }
  }
  return problems;
}

/**
 * vmrest answers and accepts the credentials (its VM list), and the host networks are as the spec says.
 * The checks `up` makes before it downloads or converts anything, and preflight's first two.
 */
export async function checkVmrestHost(
  spec: ClusterSpec,
  vmrest: Pick<BuildVmrest, 'listVms' | 'listVmnets'>,
  installFolder: string | undefined,
): Promise<{ problems: PreflightProblem[]; vms: VmSummary[] | undefined; vmnets?: Vmnet[] | undefined }> {
  const problems: PreflightProblem[] = [];
  let vms: VmSummary[] | undefined;
  let vmnets: Vmnet[] | undefined;
  try {
    vms = await vmrest.listVms();
  } catch (error) {
    if (!(error instanceof VmrestError)) throw error;
    problems.push({
      code: error.code,
      message: error.message,
      fix: error.fix ?? 'start vmrest and run again',
    });
    return { problems, vms };
  }
  try {
    vmnets = await vmrest.listVmnets();
    problems.push(...checkVmnets(spec, vmnets, installFolder));
  } catch (error) {
    if (!(error instanceof VmrestError)) throw error;
    problems.push({ code: error.code, message: error.message, fix: error.fix ?? '' });
  }
  return { problems, vms, vmnets };
}

/**
 * networks.hostOnly.dhcpRange against the range the host's DHCP service hands out, read from Workstation's
 * DHCP settings file: validate checked the LoadBalancer pool and the node addresses against the declared
 * range, which protects them only if it is the real one. vmrest does not report the range; when the file
 * cannot be read, a warning says the comparison did not run.
 */
export async function checkHostOnlyDhcpRange(
  spec: ClusterSpec,
  file: string | undefined,
  vmnets: Vmnet[] | undefined,
  read: (file: string) => Promise<string> = (f) => readFile(f, 'utf8'),
): Promise<{ problem?: PreflightProblem; warning?: string }> {
  const net = spec.networks.hostOnly;
  const declared = `${net.dhcpRange.start}–${net.dhcpRange.end}`;
  const vmnet = vmnets?.find((v) => v.name.toLowerCase() === net.vmnet.toLowerCase());
  // DHCP off on the network (vmrest says so): it hands out no address, so no range can clash.
  if (vmnet?.dhcp === 'false') return {};
  const notCompared = (why: string) => ({
    warning: `${net.vmnet}'s DHCP range was not compared with the host's: ${why}. cluster.yaml's networks.hostOnly.dhcpRange ${declared} is taken as it is (validate kept the LoadBalancer pool and the node addresses out of it); check it in Workstation's Virtual Network Editor (${net.vmnet.replace(/^vmnet/i, 'VMnet')} > DHCP Settings)`,
  });
  if (!file)
    return notCompared('the environment names no ProgramData folder, where Workstation keeps vmnetdhcp.conf');
  let text: string;
  try {
    text = await read(file);
  } catch (error) {
    return notCompared(
      `${file} could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  const block = dhcpSubnetBlocks(text).find(
    (b) => b.network === net.subnet.network && b.netmask === net.subnet.mask,
  );
  if (!block) return notCompared(`${file} has no DHCP settings for ${net.subnet.cidr}`);
  if (!block.range) return {}; // a subnet block without a range hands out no address
  if (block.range.start === net.dhcpRange.start && block.range.end === net.dhcpRange.end) return {};
  const onHost = `${block.range.start}–${block.range.end}`;
  return {
    problem: {
      code: 'HOST_DHCP_RANGE_MISMATCH',
      message: `${net.vmnet}'s DHCP service hands out ${onHost} (${file}), but networks.hostOnly.dhcpRange in cluster.yaml says ${declared}: the LoadBalancer pool and the node addresses were checked against a range the host does not use`,
      fix: `set networks.hostOnly.dhcpRange to start: ${block.range.start}, end: ${block.range.end} in cluster.yaml and run \`${COMMAND_PREFIX} validate\` (it checks the pool and the nodes against it), or make the host's range ${declared}: Workstation's Edit > Virtual Network Editor > Change Settings, select ${net.vmnet.replace(/^vmnet/i, 'VMnet')}, DHCP Settings`,
    },
  };
}

async function nearestExistingFolder(folder: string): Promise<string> {
  let current = folder;
  while (!existsSync(current)) {
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}

async function defaultFreeBytes(folder: string): Promise<number> {
  const s = await statfs(await nearestExistingFolder(folder));
  return s.bavail * s.bsize;
}

/** Bytes a full clone copies: the template's disk files as they are on disk (sparse, so far below their capacity). */
async function templateDiskBytes(templateVmx: string): Promise<number | undefined> {
  try {
    const disk = systemDiskPath(await readVmxFile(templateVmx), templateVmx);
    return disk ? (await stat(disk)).size : undefined;
  } catch {
    return undefined;
  }
}

/** The template disk's virtual size (a linked clone's disk can be no larger). */
async function templateDiskCapacity(templateVmx: string): Promise<number | undefined> {
  try {
    const disk = systemDiskPath(await readVmxFile(templateVmx), templateVmx);
    return disk ? await vmdkCapacityBytes(disk) : undefined;
  } catch {
    return undefined;
  }
}

export async function runPreflight(
  spec: ClusterSpec,
  state: BuildState,
  deps: PreflightDeps,
): Promise<PreflightResult> {
  const problems: PreflightProblem[] = [];
  const warnings: string[] = [];
  let vms: VmSummary[] | undefined;
  let template: VmSummary | undefined;
  let readyTemplate: ReadyTemplate | undefined;
  let clone: CloneChoice | undefined;

  // 1. vmrest answers and accepts the credentials; 2. host networks as the spec says.
  const host = await checkVmrestHost(spec, deps.vmrest, deps.installFolder);
  problems.push(...host.problems);
  vms = host.vms;
  // 2b. The host-only DHCP range as the host's DHCP service has it (where the host tells).
  const dhcp = await checkHostOnlyDhcpRange(spec, deps.vmnetDhcpConfig, host.vmnets);
  if (dhcp.problem) problems.push(dhcp.problem);
  if (dhcp.warning) warnings.push(dhcp.warning);

  if (vms) {
    // 3. Template built by build-template, its golden bake not left half-done, registered and
    //    powered off: the template module's rules, each failure reported as one problem here.
    try {
      const ready = await requireReadyTemplate(spec, deps.vmrest);
      readyTemplate = ready;
      template = vms.find((vm) => vm.id === ready.id) ?? { id: ready.id, path: ready.vmxPath };
    } catch (error) {
      if (!(error instanceof KubestationError)) throw error;
      problems.push({
        code: error.code,
        message: error.message,
        fix: error.fix ?? `run \`${COMMAND_PREFIX} build-template\`, then run the command again`,
      });
    }

    // 4. No foreign VM using a node's name or folder.
    for (const node of spec.nodes) {
      const recorded = state.nodes[node.name];
      const clashes = vms.filter(
        (vm) =>
          vmNameFromVmxPath(vm.path).toLowerCase() === node.name.toLowerCase() ||
          (recorded?.vmxPath && sameHostPath(vm.path, recorded.vmxPath)),
      );
      for (const vm of clashes) {
        const ownership = await inspectOwnership(vm.path, spec.name);
        if (ownership.kind === 'ours' && ownership.node === node.name) continue;
        if (ownership.kind === 'unmarked' && cloneUnfinished(recorded)) continue; // our interrupted clone; apply adopts it
        problems.push({
          code: 'VM_NAME_TAKEN',
          message: `node "${node.name}": the VM ${vm.path} already uses that name and belongs to ${describeOwnership(ownership)}`,
          fix: `rename or remove that VM in Workstation, or rename node "${node.name}" in cluster.yaml (kubestation never changes VMs it did not create)`,
        });
      }
      if (deps.clonesFolder && clashes.length === 0) {
        const folder = path.join(deps.clonesFolder, node.name);
        if (existsSync(folder) && !cloneUnfinished(recorded)) {
          problems.push({
            code: 'VM_FOLDER_TAKEN',
            message: `node "${node.name}": the folder ${folder} already exists and is not a VM in Workstation's library, so the clone cannot be created there`,
            fix: `move or delete ${folder} after checking it holds nothing you need, or rename node "${node.name}"`,
          });
        }
      }
    }

    // 5. How the clones are made: linked needs vmrun and a disk no larger than the template's.
    const toClone = spec.nodes.filter(
      (n) => !vms!.some((vm) => vmNameFromVmxPath(vm.path).toLowerCase() === n.name.toLowerCase()),
    );
    const choice = chooseCloneMode(
      spec,
      deps.vmrun ?? { found: false, reason: 'it was not looked for' },
      deps.clonesFolder,
    );
    if (isCloneProblem(choice)) problems.push(choice);
    else clone = choice;
    if (clone?.mode === 'linked' && template) {
      const capacity = await templateDiskCapacity(template.path);
      if (capacity !== undefined)
        for (const node of nodesTooLargeForLinkedClone(toClone, capacity))
          problems.push(linkedDiskTooLargeProblem(node, undefined, capacity, spec.vmware.cloneModeExplicit));
    }

    // 6. Disk space where the clones land (a linked clone starts as a small delta: only growth counts).
    if (deps.clonesFolder && template && toClone.length > 0) {
      const free = await (deps.freeBytes ?? defaultFreeBytes)(deps.clonesFolder);
      const perClone = clone?.mode === 'linked' ? 0 : await templateDiskBytes(template.path);
      const copyBytes = (perClone ?? 0) * toClone.length;
      const growBytes = toClone.reduce((sum, n) => sum + n.diskGiB * GiB, 0);
      if (copyBytes > free) {
        problems.push({
          code: 'DISK_SPACE',
          message: `${toClone.length} clone${toClone.length === 1 ? '' : 's'} of the template need ${(copyBytes / GiB).toFixed(1)} GiB in ${deps.clonesFolder}, but only ${(free / GiB).toFixed(1)} GiB are free`,
          fix: "free space on that drive, or point Workstation's default VM folder (Edit > Preferences > Workspace) at a drive with more room and restart vmrest",
        });
      } else if (growBytes > free) {
        warnings.push(
          `the node disks may grow to ${(growBytes / GiB).toFixed(0)} GiB in total (nodes[].diskGiB) but ${deps.clonesFolder} has ${(free / GiB).toFixed(1)} GiB free; a full disk would pause the VMs`,
        );
      }
    } else if (!deps.clonesFolder) {
      warnings.push(
        "Workstation's default VM folder is unknown (no APPDATA/USERPROFILE in the environment), so free space for the clones was not checked",
      );
    }
  }

  // 7. State folder writable. A missing one is not created here (a dry run writes nothing): its
  // nearest existing parent must be writable, for the first file written to create it.
  try {
    if (!existsSync(spec.stateDir)) {
      await access(await nearestExistingFolder(spec.stateDir), constants.W_OK);
      return { problems, warnings, vms, template, readyTemplate };
    }
    const probe = path.join(spec.stateDir, `.write-test-${randomBytes(4).toString('hex')}`);
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  } catch (error) {
    problems.push({
      code: 'STATE_DIR_NOT_WRITABLE',
      message: `the state folder ${spec.stateDir} (stateDir) is not writable: ${(error as Error).message}`,
      fix: 'set stateDir in cluster.yaml to a folder your user can write, or fix its permissions',
    });
  }

  return { problems, warnings, vms, template, readyTemplate, clone };
}
