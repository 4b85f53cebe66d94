import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detachSeedIso } from '../../src/bringup/seed-retirement.js';
import { BuildStateStore, readBuildState } from '../../src/bringup/state.js';
import { runDestroy } from '../../src/commands/destroy.js';
import { run as runStatusCommand } from '../../src/commands/status.js';
import { run as runRebuildCommand } from '../../src/commands/rebuild-node.js';
import { run as runDoctorCommand } from '../../src/commands/doctor.js';
import { executeDestroy, formatDestroyPlan, planDestroy } from '../../src/day2/destroy.js';
import { collectStatus, formatStatus, type ClusterStatus } from '../../src/day2/status.js';
import { clusterSecretPaths } from '../../src/pki/index.js';
import { templateStateDir, templateVmxPath } from '../../src/template/state.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { writeSimulatedTemplate } from '../../simulators/simulated-lab.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { runDay2Command as command, startDay2Lab, type Day2Lab } from './lab.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

/** Registers a VM that is not ours: a copy of the template at `<dir>/<folder>/<name>/<name>.vmx`, optionally with another cluster's marker. */
async function foreignVm(l: Day2Lab, folder: string, name: string, otherCluster?: string): Promise<string> {
  const dir = path.join(l.dir, folder, name);
  await mkdir(dir, { recursive: true });
  const vmxPath = path.join(dir, `${name}.vmx`);
  const vmx = VmxFile.parse(await readFile(templateVmxPath(l.spec), 'utf8'));
  vmx.set('displayName', name);
  if (otherCluster) {
    vmx.set('kubestation.cluster', otherCluster);
    vmx.set('kubestation.node', name);
  }
  await writeFile(vmxPath, vmx.toString());
  const disk = path.join(path.dirname(templateVmxPath(l.spec)), `${l.spec.vmware.template.name}.vmdk`);
  await copyFile(disk, path.join(dir, path.basename(disk)));
  await l.client.registerVm({ name, path: vmxPath });
  return vmxPath;
}

describe('destroy', () => {
  it("deletes only VMs with this cluster's marker, their reservations and seed ISOs; foreign VMs with node names are listed and left alone", async () => {
    const l = (lab = await startDay2Lab());
    const unmarked = await foreignVm(l, 'elsewhere', 'k8s-worker2');
    const otherLab = await foreignVm(l, 'other-lab', 'k8s-master', 'other-lab');
    const iso = path.join(l.spec.stateDir, 'k8s-worker1', 'seed.iso');
    await writeFile(iso, 'seed');
    expect(Object.keys(l.vmrest.macToIp('vmnet8'))).toHaveLength(3);

    const plan = await planDestroy(l.spec, l.client);
    expect(plan.vms.map((v) => v.node).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    expect(plan.vms.every((v) => v.vmxPath.startsWith(l.clonesFolder))).toBe(true);
    const text = formatDestroyPlan(plan);
    expect(text).toContain(
      `leave alone      ${unmarked}: named "k8s-worker2" but it belongs to no kubestation marker`,
    );
    expect(text).toContain(
      `leave alone      ${otherLab}: named "k8s-master" but it belongs to kubestation cluster "other-lab"`,
    );
    expect(text).toContain(`delete seed ISO  ${iso}`);
    expect(text).toContain('(poweredOn: powered off first)');

    const foreignIds = (await l.client.listVms())
      .filter((vm) => [unmarked, otherLab].includes(vm.path))
      .map((vm) => vm.id);
    const before = l.vmrest.requestLog.length;
    const logs: string[] = [];
    const result = await executeDestroy(l.spec, l.client, plan, (line) => logs.push(line));

    expect(result.deletedVms).toHaveLength(3);
    for (const n of l.spec.nodes)
      expect(l.nodeVm(n.name)?.vmxPath.startsWith(l.clonesFolder) ?? false).toBe(false);
    expect(l.vmrest.requestLog.slice(before).filter((c) => foreignIds.includes(c.params.id ?? ''))).toEqual(
      [],
    );
    expect(existsSync(unmarked) && existsSync(otherLab)).toBe(true);
    expect((await l.client.listVms()).map((vm) => vm.path)).toEqual(
      expect.arrayContaining([unmarked, otherLab, templateVmxPath(l.spec)]),
    );
    expect(l.vmrest.macToIp('vmnet8')).toEqual({});
    expect(existsSync(iso)).toBe(false);
    // CA and token kept; the node records of the deleted VMs dropped.
    expect(existsSync(clusterSecretPaths(l.spec.stateDir).caCert)).toBe(true);
    expect(existsSync(clusterSecretPaths(l.spec.stateDir).bootstrapToken)).toBe(true);
    expect((await readBuildState(l.spec.stateDir, l.spec.name)).nodes).toEqual({});
  });

  /** The template built where build-template puts it by default: in the state folder, with its cached image. */
  async function templateInStateFolder(
    l: Day2Lab,
  ): Promise<{ spec: ClusterSpec; vmxPath: string; image: string }> {
    const spec: ClusterSpec = l.spec;
    const vmxPath = await writeSimulatedTemplate(spec, 100);
    await l.client.registerVm({ name: spec.vmware.template.name, path: vmxPath });
    const image = path.join(templateStateDir(spec), 'cache', 'noble-server-cloudimg-amd64.ova');
    await mkdir(path.dirname(image), { recursive: true });
    await writeFile(image, 'the Ubuntu cloud image');
    expect(vmxPath.startsWith(spec.stateDir)).toBe(true);
    return { spec, vmxPath, image };
  }

  it('--purge deletes the state folder but keeps the template VM and the cached image in it, and lists exactly what goes', async () => {
    const l = (lab = await startDay2Lab());
    const { spec, vmxPath, image } = await templateInStateFolder(l);
    const plan = await planDestroy(spec, l.client, { purge: true });
    const text = formatDestroyPlan(plan);
    const entries = (await readdir(spec.stateDir))
      .filter((e) => e !== 'template')
      .map((e) => path.join(spec.stateDir, e));
    expect(entries.length).toBeGreaterThan(2);
    const deleteLines = text.split('\n').filter((line) => line.startsWith('  delete           '));
    expect(deleteLines).toEqual(entries.sort().map((e) => `  delete           ${e}`));
    expect(text).toContain(
      `keep             the template VM and the cached Ubuntu image (${templateStateDir(spec)}) (--purge-template deletes them)`,
    );

    await executeDestroy(spec, l.client, plan, () => undefined);
    for (const e of entries) expect(existsSync(e)).toBe(false);
    expect(existsSync(vmxPath) && existsSync(image)).toBe(true);
    expect((await l.client.listVms()).map((vm) => vm.path)).toContain(vmxPath);
    expect(await readdir(spec.stateDir)).toEqual(['template']);
  });

  it('--purge --purge-template also deletes the template VM through vmrest and the cached image', async () => {
    const l = (lab = await startDay2Lab());
    const { spec, vmxPath } = await templateInStateFolder(l);
    const templateId = (await l.client.listVms()).find((vm) => vm.path === vmxPath)!.id;
    const plan = await planDestroy(spec, l.client, { purge: true, purgeTemplate: true });
    const text = formatDestroyPlan(plan);
    expect(text).toContain(`delete VM        template ${spec.vmware.template.name}  ${vmxPath}`);
    expect(text).toContain(
      `delete           ${templateStateDir(spec)} (template files and the cached Ubuntu image)`,
    );
    expect(text).not.toContain('keep             the template');

    const before = l.vmrest.requestLog.length;
    await executeDestroy(spec, l.client, plan, () => undefined);
    expect(
      l.vmrest.requestLog.slice(before).some((c) => c.method === 'DELETE' && c.params.id === templateId),
    ).toBe(true);
    expect((await l.client.listVms()).map((vm) => vm.path)).not.toContain(vmxPath);
    expect(existsSync(spec.stateDir)).toBe(false);
  });

  it('--purge-template alone deletes the template and keeps the CA and state', async () => {
    const l = (lab = await startDay2Lab());
    const { spec, vmxPath } = await templateInStateFolder(l);
    const plan = await planDestroy(spec, l.client, { purgeTemplate: true });
    expect(formatDestroyPlan(plan)).toContain(
      'keep             the CA, join token, SSH key, admin kubeconfig and logs in the state folder (--purge deletes them)',
    );
    await executeDestroy(spec, l.client, plan, () => undefined);
    expect(existsSync(templateStateDir(spec))).toBe(false);
    expect((await l.client.listVms()).map((vm) => vm.path)).not.toContain(vmxPath);
    expect(existsSync(clusterSecretPaths(spec.stateDir).caCert)).toBe(true);
  });

  it('without --yes and without a terminal refuses with the fix, deleting nothing', async () => {
    const l = (lab = await startDay2Lab());
    const before = l.vmrest.requestLog.length;
    await expect(command(l, runDestroy, [])).rejects.toMatchObject({
      code: 'DESTROY_NOT_CONFIRMED',
      fix: expect.stringContaining('--yes'),
    });
    expect(l.vmrest.requestLog.slice(before).filter((c) => c.method !== 'GET')).toEqual([]);
    expect(l.spec.nodes.every((n) => l.nodeVm(n.name)?.power === 'poweredOn')).toBe(true);
  });

  it('asks, and deletes only on yes (--yes skips the question)', async () => {
    const l = (lab = await startDay2Lab());
    const questions: string[] = [];
    const no = await command(
      l,
      (ctx) => runDestroy(ctx, { confirm: async (q) => (questions.push(q), false) }),
      [],
    );
    expect(no.code).toBe(1);
    expect(no.stdout).toContain('nothing was deleted');
    expect(questions).toEqual([`delete the above for cluster ${l.spec.name}? [y/N] `]);
    expect(l.nodeVm('k8s-master')).toBeDefined();

    const yes = await command(l, runDestroy, ['--yes']);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain('destroyed: 3 VM(s), 3 DHCP reservation(s)');
    expect(l.spec.nodes.map((n) => l.nodeVm(n.name))).toEqual([undefined, undefined, undefined]);
  });
});

describe('status', () => {
  it('shows VM, power, addresses, Kubernetes state and the last progress line for a healthy lab', async () => {
    const l = (lab = await startDay2Lab());
    const status = await collectStatus(l.spec, { vmrest: l.client, kube: l.kubeAccess });
    expect(status.vmrest).toEqual({ ok: true });
    expect(status.api).toEqual({ reachable: true });
    for (const n of l.spec.nodes) {
      const s = status.nodes.find((x) => x.node === n.name)!;
      expect(s.vm).toMatchObject({ present: true, ours: true, power: 'poweredOn' });
      expect(s.addresses?.flatMap((a) => a.ip)).toEqual([
        `${n.nics.nat.address}/24`,
        `${n.nics.hostOnly.address}/24`,
      ]);
      expect(s.kubernetes).toMatchObject({
        registered: true,
        ready: 'True',
        version: `v${l.spec.kubernetes.minor}.2`,
        internalIP: n.nics.hostOnly.address,
      });
      expect(s.progress).toMatchObject({ stage: 'complete', event: 'done' });
    }
    expect(status.nodes[0]!.kubernetes).toMatchObject({ roles: ['control-plane'] });
    const text = formatStatus(status);
    expect(text).toMatch(
      /k8s-worker1\s+worker\s+poweredOn\s+full \d+(\.\d)? [KMG]iB\s+192\.168\.5\.\d+, 172\.100\.100\.\d+\s+Ready v1\.\d+\.2\s+deleted; \.vmx refers to it until power-off\s+complete done: joined/,
    );
    // The seed's secrets are gone from the state folder; the running VMs' .vmx still name the ISO.
    for (const s of status.nodes)
      expect(s.seed).toEqual({ kind: 'referenced', vmxPath: l.nodeVm(s.node)!.vmxPath });
    expect(text).toContain(
      `note: k8s-master: seed deleted on this PC, still referenced by ${l.nodeVm('k8s-master')!.vmxPath} until the VM is next off`,
    );
  });

  it('says exactly where each seed is: deleted and detached once the VM was off, secrets left on the host', async () => {
    const l = (lab = await startDay2Lab());
    for (const n of l.spec.nodes) {
      const dir = path.join(l.spec.stateDir, n.name);
      // Deleted after bootstrap: the copies holding the CA key / join token. Kept: what holds no secret.
      expect([existsSync(path.join(dir, 'user-data')), existsSync(path.join(dir, 'seed.iso'))]).toEqual([
        false,
        false,
      ]);
      expect([existsSync(path.join(dir, 'meta-data')), existsSync(path.join(dir, 'network-config'))]).toEqual(
        [true, true],
      );
    }
    const w1 = l.nodeVm('k8s-worker1')!;
    await l.client.setPowerState(w1.id, 'off');
    const store = await BuildStateStore.open(l.spec.stateDir, l.spec.name);
    // What stop/start call for a VM they find (or leave) powered off.
    expect(
      await detachSeedIso(
        { spec: l.spec, vmrest: l.client, store, emit: () => undefined },
        l.spec.nodes[1]!,
        { id: w1.id, vmxPath: w1.vmxPath },
      ),
    ).toEqual({ fileRemoved: true, detached: true });
    await writeFile(path.join(l.spec.stateDir, 'k8s-worker2', 'user-data'), '#cloud-config\n');
    const status = await collectStatus(l.spec, { vmrest: l.client, kube: l.kubeAccess });
    const byName = (name: string) => status.nodes.find((s) => s.node === name)!;
    expect(byName('k8s-worker1').seed).toEqual({ kind: 'detached' });
    expect(byName('k8s-worker2').seed).toEqual({
      kind: 'secrets-on-host',
      files: [path.join(l.spec.stateDir, 'k8s-worker2', 'user-data')],
    });
    const text = formatStatus(status);
    expect(text).toMatch(/k8s-worker1\s+worker\s+poweredOff.*deleted, detached/);
    expect(text).toMatch(/k8s-worker2\s+worker\s+poweredOn.*SECRETS ON HOST/);
    expect(text).toContain('note: k8s-worker2: its seed copies');
  });

  it('reports what it cannot see: a missing VM, a powered-off VM, an unreachable API server', async () => {
    const l = (lab = await startDay2Lab());
    const w1 = l.nodeVm('k8s-worker1')!;
    await l.client.setPowerState(w1.id, 'off');
    const w2 = l.nodeVm('k8s-worker2')!;
    await l.client.setPowerState(w2.id, 'off');
    await l.client.deleteVm(w2.id);
    const status: ClusterStatus = await collectStatus(l.spec, {
      vmrest: l.client,
      kube: { ...l.kubeAccess, server: 'https://127.0.0.1:9' },
    });
    expect(status.api.reachable).toBe(false);
    const byName = (name: string) => status.nodes.find((s) => s.node === name)!;
    expect(byName('k8s-worker1')).toMatchObject({
      vm: { present: true, power: 'poweredOff' },
      addresses: undefined,
      kubernetes: undefined,
    });
    expect(byName('k8s-worker2').vm).toEqual({ present: false });
    expect(formatStatus(status)).toMatch(/k8s-worker2\s+worker\s+no VM\s+-\s+-\s+\?/);
    expect(formatStatus(status)).toContain('note: Kubernetes API not reachable');
  });

  it('the status command prints JSON with --json', async () => {
    const l = (lab = await startDay2Lab());
    const result = await command(l, runStatusCommand, ['--json']);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as ClusterStatus;
    expect(parsed.nodes.map((n) => n.node)).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    expect(parsed.nodes.every((n) => n.kubernetes && n.kubernetes.registered)).toBe(true);
  });
});

describe('commands', () => {
  it('rebuild-node refuses the control plane without --force (exit through the error, nothing touched)', async () => {
    const l = (lab = await startDay2Lab());
    const before = l.vmrest.requestLog.length;
    await expect(command(l, runRebuildCommand, ['k8s-master'])).rejects.toMatchObject({
      code: 'REBUILD_CONTROL_PLANE_NEEDS_FORCE',
    });
    expect(l.vmrest.requestLog.slice(before).filter((c) => c.method !== 'GET')).toEqual([]);
  });

  it('doctor exits 0 on a healthy lab and 1 when a check fails, with --json', async () => {
    const l = (lab = await startDay2Lab());
    const healthy = await command(l, runDoctorCommand, []);
    expect(healthy.code).toBe(0);
    expect(healthy.stdout).toContain('0 failed');
    await l.client.setPowerState(
      (await l.client.listVms()).find((vm) => vm.path === templateVmxPath(l.spec))!.id,
      'on',
    );
    const broken = await command(l, runDoctorCommand, ['--json']);
    expect(broken.code).toBe(1);
    expect(
      (JSON.parse(broken.stdout) as { checks: Array<{ id: string; status: string }> }).checks.find(
        (c) => c.id === 'template',
      )?.status,
    ).toBe('fail');
  });
});
