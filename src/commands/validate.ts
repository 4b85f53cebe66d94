import { ADDONS } from '../addons/catalog.js';
import { existsSync } from 'node:fs';
import type { CommandContext } from './context.js';
import { parseCommandArgs } from './args.js';
import {
  compareWithBuilt,
  controlPlaneRemovedError,
  formatMembershipChange,
  type MembershipChange,
} from '../bringup/membership.js';
import { buildStatePath, readBuildState } from '../bringup/state.js';
import { describeError, KubestationError } from '../errors.js';
import { vmrestEndpoint } from '../vmrest/endpoint.js';
import { checkClusterSpec, clusterFilePath, readClusterFile } from '../config/load.js';
import type { ClusterSpec } from '../config/model.js';
import { formatProblem } from '../config/problems.js';
import { goldenRuntimeWarning } from '../template/runtime-support.js';
import { compareGoldenWithSpec, goldenStatusLine } from '../template/golden.js';
import { readTemplateState, templateVmxPath, type TemplateState } from '../template/state.js';
import { COMMAND_PREFIX } from '../command-hint.js';
import { SpecError } from '../config/problems.js';
import { readFile } from 'node:fs/promises';
import {
  linkedDiskTooLargeProblem,
  nodesTooLargeForLinkedClone,
  type CloneProblem,
} from '../bringup/clone-mode.js';
import { systemDiskPath, vmdkCapacityBytes } from '../bringup/disk.js';
import { VmxFile } from '../vmx/vmx-file.js';

const help = `usage: ${COMMAND_PREFIX} validate [--json] [--cluster file]

Checks cluster.yaml and prints the lab it describes (nodes, addresses, MACs,
networks), or every problem at once with the field, the bad value and the fix.
Changes nothing. Exit code 1 when the file has a problem.

  --json          print the result as JSON
  --cluster file  default: $KUBESTATION_CLUSTER or ./cluster.yaml
`;

/** The lab at a glance: what `validate` prints and `--json` returns. */
export function summarizeSpec(spec: ClusterSpec) {
  return {
    cluster: spec.name,
    kubernetes: spec.kubernetes.patch ?? spec.kubernetes.minor,
    apiEndpoint: spec.kubernetes.apiEndpoint,
    cni: `${spec.kubernetes.cni.name} ${spec.kubernetes.cni.version}`,
    podSubnet: spec.kubernetes.podSubnet.cidr,
    serviceSubnet: spec.kubernetes.serviceSubnet.cidr,
    networks: {
      nat: `${spec.networks.nat.vmnet} ${spec.networks.nat.subnet.cidr} gateway ${spec.networks.nat.gateway}`,
      hostOnly: `${spec.networks.hostOnly.vmnet} ${spec.networks.hostOnly.subnet.cidr} DHCP ${spec.networks.hostOnly.dhcpRange.start}–${spec.networks.hostOnly.dhcpRange.end}`,
    },
    addons: ADDONS.map((a) => ({
      name: a.name,
      release: `${a.component} ${a.version}`,
      enabled: spec.addons[a.name].enabled,
      ...(a.name === 'loadBalancer'
        ? { pool: `${spec.addons.loadBalancer.pool.start}–${spec.addons.loadBalancer.pool.end}` }
        : {}),
      ...(a.name === 'gateway' ? { address: spec.addons.gateway.address } : {}),
    })),
    stateDir: spec.stateDir,
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      cpus: n.cpus,
      memoryMiB: n.memoryMiB,
      diskGiB: n.diskGiB,
      nat: {
        interface: n.nics.nat.guestName,
        address: `${n.nics.nat.address}/${n.nics.nat.prefix}`,
        mac: n.nics.nat.mac,
      },
      hostOnly: {
        interface: n.nics.hostOnly.guestName,
        address: `${n.nics.hostOnly.address}/${n.nics.hostOnly.prefix}`,
        mac: n.nics.hostOnly.mac,
      },
    })),
  };
}

/** `refused`: the file is well-formed but the lab already built refuses it (never printed as "valid"). */
function renderSummary(spec: ClusterSpec, file: string, refused = false): string {
  const s = summarizeSpec(spec);
  const rows = s.nodes.map((n) => [
    n.name,
    n.role,
    `${n.cpus} vCPU / ${n.memoryMiB / 1024} GiB / ${n.diskGiB} GiB`,
    `${n.nat.interface} ${n.nat.address} ${n.nat.mac}`,
    `${n.hostOnly.interface} ${n.hostOnly.address} ${n.hostOnly.mac}`,
  ]);
  const header = ['node', 'role', 'hardware', 'NAT NIC', 'host-only NIC'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    refused
      ? `${file}: well-formed, but refused against the lab already built (see below)`
      : `${file}: valid`,
    `cluster ${s.cluster}: Kubernetes ${s.kubernetes}, API ${s.apiEndpoint}, CNI ${s.cni}`,
    `pods ${s.podSubnet}, services ${s.serviceSubnet}; NAT ${s.networks.nat}; host-only ${s.networks.hostOnly}`,
    `add-ons: ${s.addons.map((a) => `${a.name} ${a.enabled ? `${a.release}${a.pool ? ` pool ${a.pool}` : ''}${a.address ? ` at ${a.address}` : ''}` : 'off'}`).join('; ')}`,
    `state folder ${s.stateDir}`,
    '',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

/**
 * What cluster.yaml adds to and removes from the lab build-vms recorded
 * (state.json); undefined when nothing was built yet. The record only: the
 * build plan (`build-vms --dry-run`) also finds VMs by their marker.
 */
async function changeAgainstBuiltLab(spec: ClusterSpec): Promise<MembershipChange | undefined> {
  if (!existsSync(buildStatePath(spec.stateDir))) return undefined;
  const state = await readBuildState(spec.stateDir, spec.name);
  if (Object.keys(state.nodes).length === 0) return undefined;
  return compareWithBuilt(spec, state);
}

function renderChange(spec: ClusterSpec, change: MembershipChange): string {
  const file = buildStatePath(spec.stateDir);
  const lines = formatMembershipChange(change, { prune: false });
  if (lines.length === 0) return `built lab (${file}): cluster.yaml adds and removes no node\n`;
  const how: string[] = [];
  if (change.add.length > 0) how.push(`\`${COMMAND_PREFIX} build-vms\` builds what is added`);
  if (change.remove.some((r) => !r.controlPlane))
    how.push(`\`${COMMAND_PREFIX} build-vms --prune\` removes what is removed`);
  return [
    `built lab (${file}): cluster.yaml changes it`,
    ...lines,
    ...(how.length ? [`(${how.join('; ')})`] : []),
    '',
  ].join('\n');
}

/** What the vmrest client would refuse in VMREST_URL / VMREST_CERT_SHA256 (the file's own URL is checked with the file). */
function vmrestEnvironmentProblem(env: NodeJS.ProcessEnv, spec: ClusterSpec): KubestationError | undefined {
  if (!env.VMREST_URL && !env.VMREST_CERT_SHA256) return undefined;
  try {
    vmrestEndpoint(env, spec.vmware.vmrestUrl);
    return undefined;
  } catch (error) {
    if (error instanceof KubestationError) return error;
    throw error;
  }
}

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'validate',
    help,
    options: { cluster: { type: 'string' }, json: { type: 'boolean', default: false } },
  });
  if (!args) return 0;
  const { values } = args;
  const file = clusterFilePath(ctx.cwd, values.cluster, ctx.env);
  const { text, problem } = await readClusterFile(file);
  const { spec, problems } =
    problem || text === undefined
      ? { spec: undefined, problems: [problem!] }
      : checkClusterSpec(text, { sourcePath: file, locate: true });
  const change = spec ? await changeAgainstBuiltLab(spec) : undefined;
  const controlPlaneRemoved = change?.remove.find((r) => r.controlPlane);
  const refusal =
    spec && controlPlaneRemoved ? controlPlaneRemovedError(spec, controlPlaneRemoved) : undefined;
  const templateState = spec ? await readTemplateState(spec) : undefined;
  // A linked clone's disk is the template's size at most: a larger node disk cannot be built that way.
  const cloneProblems = spec && templateState ? await linkedCloneDiskProblems(spec, templateState) : [];
  const environmentProblem = spec ? vmrestEnvironmentProblem(ctx.env, spec) : undefined;
  // Warnings do not make the file invalid: they name a combination the nodes will have to work around.
  const runtimeWarning = spec && templateState ? goldenRuntimeWarning(templateState, spec) : undefined;
  // What the template holds against what cluster.yaml asks for: a first boot downloads nothing, or what.
  const golden =
    spec && templateState
      ? {
          line: goldenStatusLine(templateState, spec),
          differences: templateState.builtAt ? compareGoldenWithSpec(templateState, spec) : undefined,
        }
      : undefined;
  const warnings = runtimeWarning ? [runtimeWarning] : [];
  if (values.json) {
    const changes = change
      ? {
          add: change.add,
          remove: change.remove.map((r) => ({ node: r.node, controlPlane: r.controlPlane })),
        }
      : undefined;
    const report = spec
      ? {
          valid: refusal === undefined && environmentProblem === undefined && cloneProblems.length === 0,
          file,
          summary: summarizeSpec(spec),
          ...(changes ? { changes } : {}),
          ...(golden
            ? {
                golden: {
                  templateBuilt: golden.differences !== undefined,
                  matches: golden.differences?.length === 0,
                  differences: golden.differences ?? [],
                },
              }
            : {}),
          ...(warnings.length ? { warnings } : {}),
          ...(refusal || environmentProblem || cloneProblems.length
            ? {
                problems: [
                  ...[refusal, environmentProblem]
                    .filter((e) => e !== undefined)
                    .map((e) => ({ code: e.code, message: describeError(e) })),
                  ...cloneProblems.map((p) => ({ code: p.code, message: p.message, fix: p.fix })),
                ],
              }
            : {}),
        }
      : { valid: false, file, problems };
    ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return spec && !refusal && !environmentProblem && cloneProblems.length === 0 ? 0 : 1;
  }
  if (!spec) {
    ctx.stderr.write(
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  - ${formatProblem(p)}\n`).join('')}  fix: ${new SpecError(problems, file).fix}\n`,
    );
    return 1;
  }
  ctx.stdout.write(renderSummary(spec, file, refusal !== undefined || cloneProblems.length > 0));
  if (change) ctx.stdout.write(renderChange(spec, change));
  if (golden) ctx.stdout.write(`${golden.line}\n`);
  for (const warning of warnings) ctx.stdout.write(`warning: ${warning}\n`);
  for (const p of cloneProblems) ctx.stderr.write(`${file}: ${p.message}\n    fix: ${p.fix}\n`);
  if (refusal) ctx.stderr.write(`${file}: ${describeError(refusal)}\n`);
  if (environmentProblem) ctx.stderr.write(`environment: ${describeError(environmentProblem)}\n`);
  return refusal || environmentProblem || cloneProblems.length > 0 ? 1 : 0;
}

/** Nodes whose diskGiB is larger than the built template's disk, when they are to be linked clones. */
async function linkedCloneDiskProblems(spec: ClusterSpec, state: TemplateState): Promise<CloneProblem[]> {
  if (spec.vmware.cloneMode !== 'linked' || !state.builtAt) return [];
  const vmxPath = state.vm?.vmxPath ?? templateVmxPath(spec);
  let capacity: number | undefined;
  try {
    const disk = systemDiskPath(VmxFile.parse(await readFile(vmxPath, 'utf8')), vmxPath);
    capacity = disk ? await vmdkCapacityBytes(disk) : undefined;
  } catch {
    capacity = undefined;
  }
  capacity ??= state.disk ? state.disk.sizeGiB * 2 ** 30 : undefined;
  if (capacity === undefined) return [];
  const templateBytes = capacity;
  return nodesTooLargeForLinkedClone(spec.nodes, templateBytes).map((node) =>
    linkedDiskTooLargeProblem(node, spec.nodes.indexOf(node), templateBytes, spec.vmware.cloneModeExplicit),
  );
}
