/**
 * destroy: delete the lab's VMs and what belongs only to them.
 *
 * A VM is deleted only if its .vmx carries this cluster's ownership marker
 * (src/bringup/ownership.ts), whatever its name. VMs without the marker or with
 * another cluster's are never touched, even when their name is a node's:
 * the plan lists them as left alone. Also removed: the nodes' DHCP
 * reservations and seed ISOs. The CA, join token, SSH key, serial logs and
 * state file stay (a later build-vms reuses the CA, so old kubeconfigs keep
 * working) unless `purge` is set, which removes the state folder except the
 * template: the template VM (registered in Workstation, often from the state
 * folder) and the Ubuntu image it was made from are shared by every later
 * build and slow to remake, so they go only with `purgeTemplate`, the VM
 * through vmrest so Workstation's library keeps no entry for deleted files.
 *
 * Plan first (pure reading), then execute exactly that plan.
 */
import { commandHint } from '../command-hint.js';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspectOwnership, describeOwnership } from '../bringup/ownership.js';
import { BuildStateStore, readBuildState } from '../bringup/state.js';
import { SEED_ISO_NAME, nodeSeedDir } from '../cloudinit/write-seed.js';
import { KubestationError } from '../errors.js';
import type { ClusterSpec } from '../config/model.js';
import type { PowerState } from '../vmrest/client.js';
import { sameHostPath, vmNameFromVmxPath } from '../vmrest/host-paths.js';
import { linkedClonesOf } from '../template/linked-clones.js';
import { readTemplateState, templateStateDir, templateVmFolder, templateVmxPath } from '../template/state.js';
import { VmrestForbiddenError } from '../vmrest/errors.js';
import type { Day2Log, Day2Vmrest } from '../bringup/ports.js';

export interface DestroyPlan {
  cluster: string;
  /** VMs with this cluster's marker: deleted. */
  vms: Array<{ node: string; id: string; vmxPath: string; power: PowerState | undefined }>;
  /** VMs named like a node but not ours: left alone. */
  foreign: Array<{ name: string; vmxPath: string; owner: string }>;
  reservations: Array<{ node: string; vmnet: string; mac: string; ip: string }>;
  seedIsos: string[];
  /** --purge: what is deleted from the state folder (every entry but the template's folder, unless --purge-template). */
  purge: { stateDir: string; paths: string[]; keptTemplate: string | undefined } | undefined;
  /** --purge-template: the template VM (deleted through vmrest when registered) and its files, the Ubuntu image included. */
  template:
    | {
        name: string;
        vm: { id: string; vmxPath: string; power: PowerState | undefined } | undefined;
        paths: string[];
      }
    | undefined;
}

export interface DestroyOptions {
  /** Also delete the state folder (CA, token, keys, kubeconfig, logs, state), the template's folder excepted. */
  purge?: boolean;
  /** Also delete the template VM and the cached Ubuntu image. */
  purgeTemplate?: boolean;
}

export function planIsEmpty(plan: DestroyPlan): boolean {
  return (
    plan.vms.length === 0 &&
    plan.reservations.length === 0 &&
    plan.seedIsos.length === 0 &&
    (plan.purge?.paths.length ?? 0) === 0 &&
    plan.template?.vm === undefined &&
    (plan.template?.paths.length ?? 0) === 0
  );
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

async function planPurge(spec: ClusterSpec, purgeTemplate: boolean): Promise<DestroyPlan['purge']> {
  assertPurgeable(spec.stateDir);
  const stateDir = path.resolve(spec.stateDir);
  const template = path.resolve(templateStateDir(spec));
  const entries = existsSync(stateDir) ? (await readdir(stateDir)).sort() : [];
  const paths = entries.map((e) => path.join(stateDir, e)).filter((p) => purgeTemplate || p !== template);
  return { stateDir, paths, keptTemplate: !purgeTemplate && existsSync(template) ? template : undefined };
}

async function planTemplatePurge(spec: ClusterSpec, vmrest: Day2Vmrest): Promise<DestroyPlan['template']> {
  const state = await readTemplateState(spec);
  const vmxPath = state.vm?.vmxPath ?? templateVmxPath(spec);
  const registered = (await vmrest.listVms()).find((vm) => sameHostPath(vm.path, vmxPath));
  const vm = registered && {
    id: registered.id,
    vmxPath: registered.path,
    // Unknown power only drops "(powered off first)" from the plan; the deletion powers it off if needed.
    power: await vmrest.getPowerState(registered.id).catch(() => undefined),
  };
  // Deleting a registered VM through vmrest removes its folder; what is left is the template's records and image.
  const candidates = [
    path.resolve(templateStateDir(spec)),
    ...(vm ? [] : [path.resolve(path.dirname(vmxPath)), path.resolve(templateVmFolder(spec))]),
  ];
  const paths = [...new Set(candidates)].filter(
    (p, _i, all) => existsSync(p) && !all.some((other) => other !== p && isInside(p, other)),
  );
  return { name: spec.vmware.template.name, vm, paths };
}

function assertPurgeable(stateDir: string): void {
  const resolved = path.resolve(stateDir);
  if (resolved === path.parse(resolved).root || resolved === path.resolve(os.homedir())) {
    throw new KubestationError(
      'PURGE_REFUSED',
      `refusing to --purge ${resolved}: stateDir is a drive root or your home folder, which holds more than kubestation's files`,
      {
        fix: 'set stateDir in cluster.yaml to a folder of its own (default .kubestation beside cluster.yaml); delete the kubestation files by hand',
      },
    );
  }
}

/**
 * The template's disk is the parent of every linked clone: deleting it would leave them unable to power
 * on. Checked before any change, this cluster's own clones included (destroy them first).
 */
async function refuseWhileLinkedClonesExist(spec: ClusterSpec, vmrest: Day2Vmrest): Promise<void> {
  const state = await readTemplateState(spec);
  const templateVmx = state.vm?.vmxPath ?? templateVmxPath(spec);
  const clones = await linkedClonesOf(
    templateVmx,
    (await vmrest.listVms()).map((vm) => vm.path),
  );
  if (clones.length === 0) return;
  const ours = await Promise.all(clones.map((c) => inspectOwnership(c.vmxPath, spec.name)));
  const onlyOurs = ours.every((o) => o.kind === 'ours');
  throw new KubestationError(
    'TEMPLATE_HAS_LINKED_CLONES',
    `refusing to delete the template ${spec.vmware.template.name}: ${clones.length} linked clone${clones.length === 1 ? '' : 's'} read${clones.length === 1 ? 's' : ''} its disk and could not power on without it; nothing was changed:\n${clones.map((c, i) => `    ${c.vmxPath} (${describeOwnership(ours[i]!)})`).join('\n')}`,
    {
      fix: onlyOurs
        ? `run \`${commandHint('destroy')}\` first (it deletes this cluster's VMs and keeps the template), then \`${commandHint('destroy --purge-template')}\``
        : `delete the clones listed above (\`${commandHint('destroy')}\` for this cluster's; the others in Workstation or with their own cluster.yaml), then run \`${commandHint('destroy --purge-template')}\` again`,
    },
  );
}

export async function planDestroy(
  spec: ClusterSpec,
  vmrest: Day2Vmrest,
  options: DestroyOptions = {},
): Promise<DestroyPlan> {
  const purge = options.purge ? await planPurge(spec, options.purgeTemplate ?? false) : undefined;
  const state = await readBuildState(spec.stateDir, spec.name);
  const nodeNames = new Set(spec.nodes.map((n) => n.name.toLowerCase()));
  const template = options.purgeTemplate ? await planTemplatePurge(spec, vmrest) : undefined;
  if (template) await refuseWhileLinkedClonesExist(spec, vmrest);
  const plan: DestroyPlan = {
    cluster: spec.name,
    vms: [],
    foreign: [],
    reservations: [],
    seedIsos: [],
    purge,
    template,
  };

  for (const vm of await vmrest.listVms()) {
    const ownership = await inspectOwnership(vm.path, spec.name);
    const name = vmNameFromVmxPath(vm.path);
    if (ownership.kind === 'ours') {
      plan.vms.push({
        node: ownership.node || name,
        id: vm.id,
        vmxPath: vm.path,
        // As for the template: unknown power only changes the plan's wording.
        power: await vmrest.getPowerState(vm.id).catch(() => undefined),
      });
    } else if (nodeNames.has(name.toLowerCase())) {
      plan.foreign.push({ name, vmxPath: vm.path, owner: describeOwnership(ownership) });
    }
  }

  for (const node of spec.nodes) {
    const hasVm = plan.vms.some((vm) => vm.node === node.name);
    if (hasVm || state.nodes[node.name]?.stepsDoneAt.reservation) {
      plan.reservations.push({
        node: node.name,
        vmnet: node.nics.nat.vmnet,
        mac: node.nics.nat.mac,
        ip: node.nics.nat.address,
      });
    }
    const isos = new Set(
      [path.join(nodeSeedDir(spec, node), SEED_ISO_NAME), state.nodes[node.name]?.seed?.isoPath].filter(
        (f): f is string => !!f,
      ),
    );
    for (const iso of isos) if (existsSync(iso)) plan.seedIsos.push(iso);
  }
  return plan;
}

export function formatDestroyPlan(plan: DestroyPlan): string {
  const lines = [`destroy cluster ${plan.cluster}:`];
  if (plan.vms.length === 0) lines.push("  no VM carries this cluster's marker");
  for (const vm of plan.vms)
    lines.push(
      `  delete VM        ${vm.node}  ${vm.vmxPath}${vm.power && vm.power !== 'poweredOff' ? ` (${vm.power}: powered off first)` : ''}`,
    );
  for (const r of plan.reservations)
    lines.push(`  remove DHCP      ${r.vmnet} ${r.mac} → ${r.ip} (${r.node})`);
  for (const iso of plan.seedIsos) lines.push(`  delete seed ISO  ${iso}`);
  if (plan.purge) {
    for (const p of plan.purge.paths)
      lines.push(
        `  delete           ${p}${plan.template?.paths.includes(p) ? ' (template files and the cached Ubuntu image)' : ''}`,
      );
    lines.push(
      `  (from the state folder ${plan.purge.stateDir}: CA, join token, SSH key, kubeconfig, logs, state)`,
    );
  } else {
    lines.push(
      '  keep             the CA, join token, SSH key, admin kubeconfig and logs in the state folder (--purge deletes them)',
    );
  }
  if (plan.template) {
    const t = plan.template;
    if (t.vm)
      lines.push(
        `  delete VM        template ${t.name}  ${t.vm.vmxPath}${t.vm.power && t.vm.power !== 'poweredOff' ? ` (${t.vm.power}: powered off first)` : ''}`,
      );
    for (const p of t.paths)
      if (!plan.purge?.paths.includes(p))
        lines.push(`  delete           ${p} (template files and the cached Ubuntu image)`);
  } else {
    lines.push(
      `  keep             the template VM and the cached Ubuntu image${plan.purge?.keptTemplate ? ` (${plan.purge.keptTemplate})` : ''} (--purge-template deletes them)`,
    );
  }
  for (const f of plan.foreign)
    lines.push(
      `  leave alone      ${f.vmxPath}: named "${f.name}" but it belongs to ${f.owner}; kubestation never touches it`,
    );
  return `${lines.join('\n')}\n`;
}

export interface DestroyResult {
  deletedVms: string[];
  removedReservations: string[];
  removedFiles: string[];
  warnings: string[];
}

/** vmrest deletes only a powered-off VM: power it off first when it is not (`what` names it in the log). */
async function powerOffAndDelete(vmrest: Day2Vmrest, id: string, what: string, log: Day2Log): Promise<void> {
  const power = await vmrest.getPowerState(id);
  if (power !== 'poweredOff') {
    log(`powering off ${what} (${power})`);
    await vmrest.setPowerState(id, 'off');
  }
  await vmrest.deleteVm(id);
}

export async function executeDestroy(
  spec: ClusterSpec,
  vmrest: Day2Vmrest,
  plan: DestroyPlan,
  log: Day2Log,
): Promise<DestroyResult> {
  const result: DestroyResult = { deletedVms: [], removedReservations: [], removedFiles: [], warnings: [] };
  for (const vm of plan.vms) {
    // Checked again right before the change: the plan may be minutes old (a confirmation prompt).
    const ownership = await inspectOwnership(vm.vmxPath, spec.name);
    if (ownership.kind !== 'ours') {
      result.warnings.push(`${vm.vmxPath} no longer carries this cluster's marker; left alone`);
      continue;
    }
    await powerOffAndDelete(vmrest, vm.id, vm.node, log);
    log(`deleted VM ${vm.node} (${vm.vmxPath})`);
    result.deletedVms.push(vm.vmxPath);
  }
  for (const r of plan.reservations) {
    try {
      await vmrest.setMacToIp(r.vmnet, r.mac, '');
      log(`removed the DHCP reservation ${r.mac} → ${r.ip} on ${r.vmnet}`);
      result.removedReservations.push(`${r.vmnet} ${r.mac}`);
    } catch (error) {
      if (!(error instanceof VmrestForbiddenError)) throw error;
      result.warnings.push(
        `the DHCP reservation ${r.mac} → ${r.ip} on ${r.vmnet} stays: removing it needs vmrest started as Administrator (harmless: only this node's MAC matches it)`,
      );
    }
  }
  for (const iso of plan.seedIsos) {
    await rm(iso, { force: true });
    result.removedFiles.push(iso);
  }
  if (plan.template?.vm) {
    const { vm } = plan.template;
    await powerOffAndDelete(vmrest, vm.id, `the template ${plan.template.name}`, log);
    log(`deleted the template VM ${plan.template.name} (${vm.vmxPath})`);
    result.deletedVms.push(vm.vmxPath);
  }
  const purged = [...(plan.template?.paths ?? []), ...(plan.purge?.paths ?? [])];
  for (const p of new Set(purged)) {
    await rm(p, { recursive: true, force: true });
    log(`deleted ${p}`);
    result.removedFiles.push(p);
  }
  if (plan.purge && !plan.purge.keptTemplate) await rm(plan.purge.stateDir, { recursive: true, force: true });
  if (!plan.purge && existsSync(spec.stateDir)) {
    // The records described VMs that are gone; the next build-vms starts from "clone".
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    const deleted = new Set(
      plan.vms.filter((vm) => result.deletedVms.includes(vm.vmxPath)).map((vm) => vm.node),
    );
    await store.update((s) => {
      for (const node of Object.keys(s.nodes))
        if (deleted.has(node) || !(s.nodes[node]?.vmxPath && existsSync(s.nodes[node]!.vmxPath!)))
          delete s.nodes[node];
      s.readyAt = undefined;
    });
  }
  for (const w of result.warnings) log(`warning: ${w}`);
  return result;
}
