import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BuildStateStore, buildStatePath, readBuildState } from '../../src/bringup/state.js';
import { KubestationError } from '../../src/errors.js';
import { parseProgressLine } from '../../src/progress/protocol.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

const mutating = new Set([
  'cloneVm',
  'updateVm',
  'addNic',
  'updateNic',
  'setPowerState',
  'registerVm',
  'setMacToIp',
  'deleteVm',
  'deleteNic',
  'setVmParam',
]);

describe('build-vms against the vmrest simulator', () => {
  it('builds the seed lab: nodes in parallel, calls in order, .vmx as specified, files written, seed removed', async () => {
    lab = await startTestLab({ kubeApi: false, latencies: { cloneMs: 60 } });
    const result = await lab.build();
    expect(result.status).toBe('ready');

    const vms = lab.nodeVms();
    expect(vms.map((v) => path.basename(v.vmxPath)).sort()).toEqual([
      'k8s-master.vmx',
      'k8s-worker1.vmx',
      'k8s-worker2.vmx',
    ]);
    expect(vms.every((v) => v.power === 'poweredOn')).toBe(true);

    // The three clones overlap in time (concurrency 3).
    const clones = lab.requests.filter((r) => r.operation === 'cloneVm' && r.status === 201);
    expect(clones).toHaveLength(3);
    const latestStart = Math.max(...clones.map((c) => c.startMs));
    const earliestEnd = Math.min(...clones.map((c) => c.endMs));
    expect(latestStart).toBeLessThan(earliestEnd);

    // Per node, the mutating calls come in apply order.
    for (const vm of vms) {
      const ops = lab.requests
        .filter((r) => r.path.includes(vm.id) && mutating.has(r.operation))
        .map((c) => c.operation);
      // The template already has both NICs on the right vmnets, so no NIC call is needed; the
      // last call asks vmrest to stop connecting the seed CD-ROM (finish, VM running).
      expect(ops).toEqual(['updateVm', 'setPowerState', 'setVmParam']);
    }
    const perNode = (op: string) =>
      lab!.requests.filter((r) => r.operation === op && r.status !== undefined && r.status < 300).length;
    expect({
      clone: perNode('cloneVm'),
      register: perNode('registerVm'),
      reservation: perNode('setMacToIp'),
    }).toEqual({ clone: 3, register: 3, reservation: 3 });
    // Apply order per node: hardware … reservation, register, power-on.
    for (const n of lab.spec.nodes) {
      const vm = vms.find((v) => v.vmxPath.endsWith(`${n.name}.vmx`))!;
      const requests = lab.requests;
      const at = (pred: (r: (typeof requests)[number]) => boolean) => requests.findIndex(pred);
      const reservation = at((r) => r.operation === 'setMacToIp' && r.path.includes(n.nics.nat.mac));
      const hardware = at((r) => r.operation === 'updateVm' && r.path.includes(vm.id));
      const power = at((r) => r.operation === 'setPowerState' && r.path.includes(vm.id));
      expect(hardware).toBeLessThan(reservation);
      expect(reservation).toBeLessThan(power);
    }
    const node = lab.spec.nodes[0]!;
    const master = vms.find((v) => v.vmxPath.endsWith(`${node.name}.vmx`))!;
    const vmx = VmxFile.parse(await readFile(master.vmxPath, 'utf8'));
    expect(vmx.get('kubestation.cluster')).toBe(lab.spec.name);
    expect(vmx.get('kubestation.node')).toBe(node.name);
    expect(vmx.get('numvcpus')).toBe(String(node.cpus));
    expect(vmx.get('memsize')).toBe(String(node.memoryMiB));
    for (const nic of [node.nics.nat, node.nics.hostOnly]) {
      expect(vmx.get(`ethernet${nic.vmxIndex}.addressType`)).toBe('static');
      expect(vmx.get(`ethernet${nic.vmxIndex}.address`)).toBe(nic.mac);
      expect(vmx.get(`ethernet${nic.vmxIndex}.virtualDev`)).toBe('vmxnet3');
      expect(vmx.get(`ethernet${nic.vmxIndex}.pciSlotNumber`)).toBe(String(nic.pciSlot));
      expect(vmx.get(`ethernet${nic.vmxIndex}.vnet`)?.toLowerCase()).toBe(nic.vmnet);
    }
    expect(vmx.get('serial0.fileName')).toBe(path.join(lab.spec.stateDir, node.name, 'serial.log'));
    expect(vmx.get('msg.autoAnswer')).toBe('TRUE');
    expect(vmx.get('sata0:1.deviceType')).toBe('cdrom-image');
    expect(vmx.get('sata0:1.fileName')).toBe(path.join(lab.spec.stateDir, node.name, 'seed.iso'));

    // DHCP reservations for each NAT MAC.
    expect(lab.vmrest.macToIp('vmnet8')).toEqual(
      Object.fromEntries(lab.spec.nodes.map((n) => [n.nics.nat.mac, n.nics.nat.address])),
    );

    // Finish: kubeconfig, ssh_config; the seed ISOs (secrets) are gone, detach pending while the VMs run.
    const kubeconfig = await readFile(path.join(lab.spec.stateDir, 'admin.kubeconfig'), 'utf8');
    expect(kubeconfig).toContain(`https://${lab.spec.kubernetes.apiEndpoint}`);
    const ssh = await readFile(path.join(lab.spec.stateDir, 'ssh_config'), 'utf8');
    for (const n of lab.spec.nodes)
      expect(ssh).toContain(
        `Host ${n.name}\n  HostName ${n.nics.hostOnly.address}\n  User ${lab.spec.os.user.name}`,
      );
    for (const n of lab.spec.nodes)
      expect(existsSync(path.join(lab.spec.stateDir, n.name, 'seed.iso'))).toBe(false);
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    for (const n of lab.spec.nodes) {
      expect(state.nodes[n.name]).toMatchObject({
        step: 'power-on',
        seed: { fileRemoved: true, detached: false },
      });
      expect(state.nodes[n.name]!.completedAt).toBeDefined();
    }
    expect(state.readyAt).toBeDefined();
  });

  it('a second run changes nothing: finished nodes are left untouched', async () => {
    lab = await startTestLab();
    expect((await lab.build()).status).toBe('ready');
    const before = lab.requests.length;
    const vmxBefore = await Promise.all(lab.nodeVms().map((v) => readFile(v.vmxPath, 'utf8')));
    const again = await lab.build();
    expect(again.status).toBe('ready');
    expect(again.plan.nodes.map((n) => n.status)).toEqual(['complete', 'complete', 'complete']);
    const second = lab.requests.slice(before);
    expect(second.filter((r) => mutating.has(r.operation) && r.operation !== 'setVmParam')).toEqual([]);
    expect(lab.nodeVms()).toHaveLength(3);
    expect(await Promise.all(lab.nodeVms().map((v) => readFile(v.vmxPath, 'utf8')))).toEqual(vmxBefore);
  });

  it('records every node as complete when the cluster is recorded Ready, even a worker whose final line was never read', async () => {
    lab = await startTestLab();
    expect((await lab.build()).status).toBe('ready');
    // As when build-vms stopped following at the control plane's final line before the worker printed its own.
    const serialLog = path.join(lab.spec.stateDir, 'k8s-worker2', 'serial.log');
    const lines = (await readFile(serialLog, 'utf8')).split('\n');
    await writeFile(serialLog, lines.filter((l) => parseProgressLine(l)?.stage !== 'complete').join('\n'));
    const store = await BuildStateStore.open(lab.spec.stateDir, lab.spec.name);
    await store.update((s) => {
      s.readyAt = undefined;
      s.nodes['k8s-worker2']!.completedAt = undefined;
    });
    await store.flush();

    const again = await lab.build();
    expect(again.plan.nodes.find((n) => n.node === 'k8s-worker2')?.status).toBe('follow');
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(state.readyAt).toBeDefined();
    expect(state.nodes['k8s-worker2']!.completedAt).toBe(state.readyAt);
    expect((await lab.build()).plan.nodes.map((n) => n.status)).toEqual(['complete', 'complete', 'complete']);
  });

  it('detaches the seed CD-ROM in the .vmx once the VM is found powered off', async () => {
    lab = await startTestLab();
    expect((await lab.build()).status).toBe('ready');
    const master = lab.nodeVms().find((v) => v.vmxPath.endsWith('k8s-master.vmx'))!;
    await lab.client.setPowerState(master.id, 'off');
    expect((await lab.build()).status).toBe('ready');
    const vmx = VmxFile.parse(await readFile(master.vmxPath, 'utf8'));
    expect(vmx.get('sata0:1.startConnected')).toBe('FALSE');
    expect(vmx.get('sata0:1.fileName')).toBe('');
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(state.nodes['k8s-master']!.seed).toMatchObject({ fileRemoved: true, detached: true });
    // A completed node is not powered on again by build-vms.
    expect(lab.vmrest.vms().find((v) => v.id === master.id)!.power).toBe('poweredOff');
  });

  it('records asking a running VM to detach its seed only when vmrest takes it, and says when it did not', async () => {
    // The simulator's default: a powered-on VM refuses PUT /params (409).
    lab = await startTestLab();
    expect((await lab.build()).status).toBe('ready');
    let state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    for (const n of lab.spec.nodes)
      expect(state.nodes[n.name]!.seed).toMatchObject({ detached: false, detachRequest: 'refused' });
    const refusals = lab.events.filter(
      (e) => e.type === 'note' && /did not take .*409.*detached at the next power-off/.test(e.message),
    );
    expect(refusals.map((e) => (e as { node?: string }).node).sort()).toEqual(
      lab.spec.nodes.map((n) => n.name).sort(),
    );
    // Asked once: the next run does not touch the running VMs again.
    const before = lab.requests.length;
    expect((await lab.build()).status).toBe('ready');
    expect(lab.requests.slice(before).filter((r) => r.operation === 'setVmParam')).toEqual([]);
    // The first power-off kubestation sees detaches it.
    const master = lab.nodeVms().find((v) => v.vmxPath.endsWith('k8s-master.vmx'))!;
    await lab.client.setPowerState(master.id, 'off');
    expect((await lab.build()).status).toBe('ready');
    expect((await readBuildState(lab.spec.stateDir, lab.spec.name)).nodes['k8s-master']!.seed).toMatchObject({
      detached: true,
    });
    await lab.dispose();

    // A simulator choice: a running VM that takes it. Recorded; not asked again; no refusal note.
    lab = await startTestLab({ paramsWhilePoweredOn: 'accept' });
    expect((await lab.build()).status).toBe('ready');
    state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    for (const n of lab.spec.nodes)
      expect(state.nodes[n.name]!.seed).toMatchObject({ detached: false, detachRequest: 'accepted' });
    expect(lab.events.filter((e) => e.type === 'note' && e.message.includes('did not take'))).toEqual([]);
    const vm = lab.nodeVms()[0]!;
    expect(VmxFile.parse(await readFile(vm.vmxPath, 'utf8')).get('sata0:1.startConnected')).toBe('FALSE');
    const again = lab.requests.length;
    expect((await lab.build()).status).toBe('ready');
    expect(lab.requests.slice(again).filter((r) => r.operation === 'setVmParam')).toEqual([]);
  });

  it('stops with the state file named when it cannot record that a node finished', async () => {
    lab = await startTestLab();
    const stateFile = buildStatePath(lab.spec.stateDir);
    let broken = false;
    const failed = await lab
      .build(
        {},
        {
          emit: (e) => {
            lab!.events.push(e);
            // The state file turns into a folder as the first final line is read: that write fails.
            if (!broken && e.type === 'stage' && e.event === 'done') {
              broken = true;
              rmSync(stateFile);
              mkdirSync(stateFile);
            }
          },
        },
      )
      .catch((error: unknown) => error);
    expect(broken).toBe(true);
    expect(failed).toBeInstanceOf(KubestationError);
    expect((failed as KubestationError).message).toMatch(
      new RegExp(`could not record in .*state\\.json that k8s-\\w+ finished its first boot`),
    );
    expect((failed as KubestationError).fix).toContain('run the same command again');
    expect(lab.events.some((e) => e.type === 'finish')).toBe(false);
  });

  it('grows the disk when the template is smaller than the node wants', async () => {
    lab = await startTestLab({ templateDiskGiB: 10 });
    expect((await lab.build()).status).toBe('ready');
    const vm = lab.nodeVms()[0]!;
    const descriptor = await readFile(
      path.join(path.dirname(vm.vmxPath), 'kubestation-noble-template.vmdk'),
      'latin1',
    );
    expect(descriptor).toMatch(new RegExp(`^RW ${(100 * 2 ** 30) / 512} `, 'm'));
  });

  it('skips the DHCP reservation with a warning when vmrest is not Administrator', async () => {
    lab = await startTestLab({ administrator: false });
    expect((await lab.build()).status).toBe('ready');
    const warnings = lab.events
      .filter((e) => e.type === 'warning')
      .map((e) => (e as { message: string }).message);
    expect(warnings.filter((w) => w.includes('not run as Administrator'))).toHaveLength(3);
  });

  it('--dry-run prints the plan and creates nothing', async () => {
    lab = await startTestLab();
    const result = await lab.build({ dryRun: true });
    expect(result.status).toBe('dry-run');
    if (result.status !== 'dry-run') return;
    expect(result.planText).toMatch(/k8s-master +create: full clone of the template through vmrest \(/);
    expect(lab.nodeVms()).toHaveLength(0);
    expect(lab.requests.filter((r) => mutating.has(r.operation))).toEqual([]);
  });
});
