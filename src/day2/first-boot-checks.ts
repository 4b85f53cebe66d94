/**
 * doctor's view of a node's first boot, from what the host has on disk: the
 * node's serial console (the stage it failed in, with the cause its fail line
 * names, or the stage it is stuck in past its deadline) and its seed ISO
 * (the `cidata` volume label cloud-init looks for, and the CD-ROM the .vmx
 * connects at power-on).
 */
import { existsSync } from 'node:fs';
import { statIfPresent } from '../missing-file.js';
import path from 'node:path';
import { lastProgressLine } from '../bringup/console-log.js';
import { readVmxFile } from '../bringup/ownership.js';
import { nodePaths } from '../bringup/paths.js';
import type { NodeBuildState } from '../bringup/state.js';
import { nodeSeedDir, SEED_ISO_NAME } from '../cloudinit/write-seed.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { describeError } from '../errors.js';
import { readVolumeLabels } from '../iso/volume-label.js';
import { parseNetworkFailure } from '../progress/network-causes.js';
import { findStage } from '../progress/stages.js';
import { formatDuration, NodeProgress, placeLine } from '../progress/tracker.js';
import { SEED_CDROM } from '../template/vmx.js';
import type { PowerState } from '../vmrest/client.js';
import type { DoctorCheck } from './doctor-check.js';
import { COMMAND_PREFIX } from '../command-hint.js';

/** The events that move a node from stage to stage (other kinds, such as info, only report). */
const STAGE_EVENTS: ReadonlySet<string> = new Set(['start', 'ok', 'fail', 'done']);

/** The label cloud-init's NoCloud datasource finds its seed by. */
export const SEED_LABEL = 'cidata';

function rebuildFix(spec: ClusterSpec, node: NodeSpec): string {
  return `\`${COMMAND_PREFIX} rebuild-node ${node.name}${node.role === 'control-plane' ? ' --force' : ''}\``;
}

/**
 * The node's first boot as its console tells it, for a node kubestation
 * powered on that has not finished: failed (with the network cause and its
 * Windows fix when the fail line names one), stuck past its stage's limit,
 * stopped with its VM, or still going.
 */
export async function firstBootCheck(
  spec: ClusterSpec,
  node: NodeSpec,
  record: NodeBuildState | undefined,
  power: PowerState | undefined,
  nowMs: number,
): Promise<DoctorCheck> {
  const id = `first-boot:${node.name}`;
  const title = `${node.name}: first boot (its serial console)`;
  if (record?.completedAt) return { id, title, status: 'ok', detail: `finished (${record.completedAt})` };
  if (!record?.poweredOnAt)
    return { id, title, status: 'ok', detail: 'not powered on by kubestation yet: nothing to read' };
  const serialLog = nodePaths(spec, node).serialLog;
  const poweredOnAtMs = Date.parse(record.poweredOnAt);
  const [last, newest, info] = await Promise.all([
    lastProgressLine(serialLog, (l) => STAGE_EVENTS.has(l.event)),
    lastProgressLine(serialLog),
    statIfPresent(serialLog),
  ]);
  // A line was written before the file was last changed: a guest stamp after that is a clock that is off.
  const writtenBy = info?.mtimeMs ?? nowMs;
  const progress = new NodeProgress(node.name, node.role, poweredOnAtMs);
  if (last) progress.apply(last, placeLine(last.timeMs, writtenBy, poweredOnAtMs).atMs);
  const ssh = `\`ssh -F ${path.join(spec.stateDir, 'ssh_config')} ${node.name}\``;

  if (progress.status === 'done')
    return { id, title, status: 'ok', detail: `printed its final line (${progress.doneMessage ?? 'done'})` };
  if (progress.failure) {
    const { stage, message } = progress.failure;
    const [headline = ''] = message.split('\n');
    const network = parseNetworkFailure(message);
    if (network) {
      const context = {
        gateway: spec.networks.nat.gateway,
        vmnet: spec.networks.nat.vmnet,
        dnsServers: spec.os.dnsServers,
        packageRepository: spec.kubernetes.packageRepository,
      };
      return {
        id,
        title,
        status: 'fail',
        detail: `stage "${stage}" failed: ${network.cause.title} (${network.detail})`,
        fix: network.cause.fix(context).replace(/<node>/g, node.name),
      };
    }
    return {
      id,
      title,
      status: 'fail',
      detail: `stage "${stage}" (${findStage(stage)?.title ?? stage}) failed: ${headline}`,
      fix: `read the stage's log (${ssh}, then \`sudo cat /var/log/kubestation/${stage}.log\`; its tail is also in ${serialLog}), fix the cause, then ${rebuildFix(spec, node)}`,
    };
  }

  const late = progress.overdue(nowMs);
  const stage = progress.current.stage;
  // A line of another kind after the last stage line (info: what the stage is doing) says where it is inside the stage.
  const activity =
    newest && !STAGE_EVENTS.has(newest.event) && newest.stage === stage
      ? `; it last said: ${newest.message}`
      : '';
  if (!last) {
    if (power !== undefined && power !== 'poweredOn') {
      return {
        id,
        title,
        status: 'warn',
        detail: `no progress line in ${serialLog}, and the VM is ${power}`,
        fix: `power the VM on, or ${rebuildFix(spec, node)}`,
      };
    }
    if (!late)
      return {
        id,
        title,
        status: 'ok',
        detail: `booting: no progress line yet, ${formatDuration(nowMs - poweredOnAtMs)} after power-on`,
      };
    return {
      id,
      title,
      status: 'fail',
      detail: `no progress line in ${serialLog} ${formatDuration(nowMs - poweredOnAtMs)} after power-on (the first is due within ${formatDuration(progress.limitMs('boot'))})`,
      fix: `cloud-init did not find the seed, or the serial port is not wired: see the seed checks of ${node.name} above and the VM's screen in Workstation; then ${rebuildFix(spec, node)}`,
    };
  }
  const where = progress.current.started ? `in stage "${stage}"` : `between stages ("${stage}" due to start)`;
  const since = formatDuration(nowMs - progress.current.sinceMs);
  if (power !== undefined && power !== 'poweredOn') {
    return {
      id,
      title,
      status: 'warn',
      detail: `first boot stopped ${where}: the VM is ${power}`,
      fix: `the first boot does not resume after a power-off: ${rebuildFix(spec, node)}`,
    };
  }
  if (late) {
    return {
      id,
      title,
      status: 'fail',
      detail: `stuck ${where} for ${since}, past its limit of ${formatDuration(late.limitMs)}${activity}`,
      fix: `look inside: ${ssh}, then \`sudo tail /var/log/kubestation/${stage}.log\` (or open its console in Workstation); then ${rebuildFix(spec, node)}`,
    };
  }
  return {
    id,
    title,
    status: 'ok',
    detail: `${where} for ${since} (limit ${formatDuration(progress.limitMs(stage))})${activity}`,
  };
}

/**
 * The seed a node that has not finished its first boot needs: the ISO in the
 * state folder, labelled `cidata` (primary and Joliet), connected at power-on
 * by the node's .vmx.
 */
export async function seedLabelCheck(
  spec: ClusterSpec,
  node: NodeSpec,
  record: NodeBuildState | undefined,
  vmxPath: string | undefined,
): Promise<DoctorCheck | undefined> {
  if (record?.completedAt) return undefined; // after bootstrap the seed-iso check wants it gone
  const id = `seed-label:${node.name}`;
  const title = `${node.name}: seed ISO labelled ${SEED_LABEL} and connected`;
  const isoPath = record?.seed?.isoPath ?? path.join(nodeSeedDir(spec, node), SEED_ISO_NAME);
  const regenerate = `run \`${COMMAND_PREFIX} build-vms\` again (it rewrites the seed and reattaches it to a powered-off VM), or \`${COMMAND_PREFIX} seed-isos\` to only write it`;
  if (!existsSync(isoPath)) {
    if (!record?.seed)
      return { id, title, status: 'ok', detail: 'no seed written yet (build-vms writes it before power-on)' };
    return {
      id,
      title,
      status: 'fail',
      detail: `${isoPath} is missing: the node cannot configure itself on its first boot`,
      fix: regenerate,
    };
  }
  let labels;
  try {
    labels = await readVolumeLabels(isoPath);
  } catch (error) {
    return { id, title, status: 'fail', detail: describeError(error), fix: regenerate };
  }
  const wrong = [labels.primary, ...(labels.joliet === undefined ? [] : [labels.joliet])].filter(
    (l) => l.toLowerCase() !== SEED_LABEL,
  );
  if (wrong.length) {
    return {
      id,
      title,
      status: 'fail',
      detail: `${isoPath} is labelled "${wrong[0]}", not "${SEED_LABEL}": cloud-init will not find it`,
      fix: regenerate,
    };
  }
  if (vmxPath) {
    try {
      const vmx = await readVmxFile(vmxPath);
      const file = vmx.get(`${SEED_CDROM}.fileName`) ?? '';
      const connected =
        (vmx.get(`${SEED_CDROM}.startConnected`) ?? 'TRUE').toUpperCase() !== 'FALSE' &&
        (vmx.get(`${SEED_CDROM}.present`) ?? 'FALSE').toUpperCase() === 'TRUE';
      if (
        !connected ||
        path.win32.normalize(file).toLowerCase() !== path.win32.normalize(isoPath).toLowerCase()
      ) {
        return {
          id,
          title,
          status: 'fail',
          detail: `the VM's CD-ROM (${SEED_CDROM} in ${vmxPath}) ${connected ? `holds ${file || 'nothing'}` : 'is not connected at power-on'}, not ${isoPath}`,
          fix: regenerate,
        };
      }
    } catch (error) {
      return {
        id,
        title,
        status: 'warn',
        detail: `labelled ${SEED_LABEL}; could not read ${vmxPath}: ${describeError(error)}`,
      };
    }
  }
  return {
    id,
    title,
    status: 'ok',
    detail: `${isoPath} labelled ${labels.primary}${labels.joliet === undefined ? '' : ` (Joliet ${labels.joliet})`}${vmxPath ? ', connected at power-on' : ''}`,
  };
}
