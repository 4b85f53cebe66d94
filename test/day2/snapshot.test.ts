import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { apiVerifier } from '../../src/bringup/verify-step.js';
import { readBuildState } from '../../src/bringup/state.js';
import { runSnapshot } from '../../src/commands/snapshot.js';
import { stopLab, type LabEvent, type LabTiming } from '../../src/day2/lab-power.js';
import {
  deleteSnapshot,
  listLabSnapshots,
  restoreSnapshot,
  saveSnapshot,
  type SnapshotDeps,
} from '../../src/day2/snapshot.js';
import { KubestationError } from '../../src/errors.js';
import { readSnapshotTimes, vmrunAt, vmsdPath } from '../../src/template/vmrun.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { VmrunSimulator } from '../../simulators/vmrun-simulator.js';
import { fastVerify, runDay2Command, startDay2Lab, type Day2Lab } from './lab.js';

let lab: Day2Lab | undefined;
let vmrunSim: VmrunSimulator | undefined;
afterEach(async () => {
  await vmrunSim?.close();
  await lab?.dispose();
  lab = undefined;
  vmrunSim = undefined;
});

const fastTiming: LabTiming = {
  shutdownTimeoutMs: 300,
  toolsTimeoutMs: 200,
  apiTimeoutMs: 3_000,
  readyTimeoutMs: 3_000,
  pollMs: 10,
};

/** A built lab whose Workstation folder (a path with spaces) holds the vmrun stand-in. */
async function snapshotLab(): Promise<{ l: Day2Lab; sim: VmrunSimulator; installFolder: string }> {
  lab = await startDay2Lab({ linkPower: true });
  const installFolder = path.join(lab.dir, 'Program Files (x86)', 'VMware', 'VMware Workstation');
  vmrunSim = await VmrunSimulator.start(lab.vmrest, installFolder);
  return { l: lab, sim: vmrunSim, installFolder };
}

function deps(l: Day2Lab, installFolder: string, events: LabEvent[] = []): SnapshotDeps {
  return {
    vmrest: l.client,
    kube: l.kubeAccess,
    emit: (e) => events.push(e),
    vmrun: vmrunAt(path.join(installFolder, 'vmrun')),
    verify: apiVerifier({
      server: l.kubeApi.url,
      verify: { ...fastVerify, hostOnlyProxy: l.kubeApi.hostOnlyProxy },
    }),
  };
}

async function memsize(l: Day2Lab, node: string): Promise<string | undefined> {
  return VmxFile.parse(await readFile(l.nodeVm(node)!.vmxPath, 'utf8')).get('memsize');
}

describe('snapshot save / restore / list / delete through vmrun', { timeout: 240_000 }, () => {
  it('save on a stopped lab snapshots every node (disks only) and keeps it stopped; a duplicate name is refused; restore after a failed revert is finished by running it again', async () => {
    const { l, sim, installFolder } = await snapshotLab();
    await stopLab(l.spec, deps(l, installFolder), fastTiming);
    const events: LabEvent[] = [];

    const saved = await saveSnapshot(l.spec, deps(l, installFolder, events), 'before-change', fastTiming);

    expect(saved.restarted).toBe(false);
    for (const n of l.spec.nodes) {
      const vm = l.nodeVm(n.name)!;
      expect(vm.power).toBe('poweredOff');
      // Workstation's record: the .vmsd names it, with its time; no memory image for a powered-off VM.
      const times = await readSnapshotTimes(vm.vmxPath);
      expect(Math.abs(times.get('before-change')!.getTime() - Date.now())).toBeLessThan(120_000);
      expect(existsSync(path.join(path.dirname(vm.vmxPath), `${n.name}-Snapshot1.vmsn`))).toBe(true);
      expect(existsSync(path.join(path.dirname(vm.vmxPath), `${n.name}-Snapshot1.vmem`))).toBe(false);
    }
    // vmrun was run as Workstation's: -T ws, the .vmx path (with spaces) as one argument.
    expect(
      sim.calls
        .filter((c) => c.args[2] === 'snapshot')
        .map((c) => c.args.slice(0, 3).concat(path.basename(c.args[3]!), c.args[4]!))
        .sort(),
    ).toEqual([
      ['-T', 'ws', 'snapshot', 'k8s-master.vmx', 'before-change'],
      ['-T', 'ws', 'snapshot', 'k8s-worker1.vmx', 'before-change'],
      ['-T', 'ws', 'snapshot', 'k8s-worker2.vmx', 'before-change'],
    ]);
    const listing = await listLabSnapshots(l.spec, deps(l, installFolder));
    expect(listing).toEqual([
      expect.objectContaining({ name: 'before-change', complete: true, missingOn: [] }),
    ]);
    expect(listing[0]!.nodes.map((n) => n.node).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);

    await expect(
      saveSnapshot(l.spec, deps(l, installFolder), 'before-change', fastTiming),
    ).rejects.toMatchObject({ code: 'SNAPSHOT_EXISTS', fix: expect.stringContaining('--replace') });
    await expect(saveSnapshot(l.spec, deps(l, installFolder), 'bad/name', fastTiming)).rejects.toMatchObject({
      code: 'BAD_SNAPSHOT_NAME',
    });

    // The lab changes after the snapshot: worker1 gets less memory.
    await l.client.updateVm(l.nodeVm('k8s-worker1')!.id, { memory: 2048 });
    expect(await memsize(l, 'k8s-worker1')).toBe('2048');

    // restore: the revert fails on one node; the report names what was done.
    sim.failNext({ command: 'revertToSnapshot', vm: 'k8s-worker2', message: 'The file is locked' });
    const error = await restoreSnapshot(l.spec, deps(l, installFolder), 'before-change', fastTiming).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(KubestationError);
    expect((error as KubestationError).code).toBe('SNAPSHOT_RESTORE_INCOMPLETE');
    expect((error as KubestationError).message).toMatch(/failed: k8s-worker2/);
    expect((error as KubestationError).message).toContain('The file is locked');
    expect((error as KubestationError).fix).toContain('.\\kubestation snapshot restore before-change');
    expect((await readBuildState(l.spec.stateDir, l.spec.name)).pendingSnapshot).toMatchObject({
      operation: 'restore',
      name: 'before-change',
    });

    // The same command again: every node reverted, the lab started and verified.
    const restored = await restoreSnapshot(l.spec, deps(l, installFolder), 'before-change', fastTiming);
    expect(restored.verifySummary).toMatch(/^verify passed/);
    expect(await memsize(l, 'k8s-worker1')).toBe('4096');
    for (const n of l.spec.nodes) expect(l.nodeVm(n.name)!.power).toBe('poweredOn');
    const state = await readBuildState(l.spec.stateDir, l.spec.name);
    expect(state.pendingSnapshot).toBeUndefined();
    // A snapshot without memory says nothing of what a memory snapshot's revert leaves.
    expect(state.assumptions?.['memory-revert-power']).toBeUndefined();
  });

  it('a save that fails on one node reports which nodes have it, list marks it incomplete, and the rerun takes it on every node again', async () => {
    const { l, sim, installFolder } = await snapshotLab();
    await stopLab(l.spec, deps(l, installFolder), fastTiming);
    sim.failNext({ command: 'snapshot', vm: 'k8s-worker2', message: 'Insufficient disk space on the host' });

    const error = await saveSnapshot(l.spec, deps(l, installFolder), 'lab1', fastTiming).catch(
      (e: unknown) => e,
    );
    expect((error as KubestationError).code).toBe('SNAPSHOT_SAVE_INCOMPLETE');
    expect((error as KubestationError).message).toMatch(
      /done: (k8s-master, k8s-worker1|k8s-worker1, k8s-master)/,
    );
    expect((error as KubestationError).message).toMatch(/failed: k8s-worker2/);
    const listing = await listLabSnapshots(l.spec, deps(l, installFolder));
    expect(listing).toEqual([
      expect.objectContaining({ name: 'lab1', complete: false, missingOn: ['k8s-worker2'] }),
    ]);
    // An incomplete snapshot is never restored.
    await expect(restoreSnapshot(l.spec, deps(l, installFolder), 'lab1', fastTiming)).rejects.toMatchObject({
      code: 'SNAPSHOT_INCOMPLETE',
    });

    await saveSnapshot(l.spec, deps(l, installFolder), 'lab1', fastTiming);
    const again = await listLabSnapshots(l.spec, deps(l, installFolder));
    expect(again).toEqual([expect.objectContaining({ name: 'lab1', complete: true })]);
    // One snapshot of that name per node (the partial ones were taken again, so all match).
    for (const n of l.spec.nodes) {
      const vmsd = VmxFile.parse(await readFile(vmsdPath(l.nodeVm(n.name)!.vmxPath), 'utf8'));
      expect(vmsd.entries().filter(([k, v]) => k.endsWith('.displayName') && v === 'lab1')).toHaveLength(1);
    }

    // delete fails half-way, then the rerun finishes it.
    sim.failNext({ command: 'deleteSnapshot', vm: 'k8s-master' });
    await expect(deleteSnapshot(l.spec, deps(l, installFolder), 'lab1')).rejects.toMatchObject({
      code: 'SNAPSHOT_DELETE_INCOMPLETE',
    });
    expect(await listLabSnapshots(l.spec, deps(l, installFolder))).toEqual([
      expect.objectContaining({ name: 'lab1', complete: false, missingOn: ['k8s-worker1', 'k8s-worker2'] }),
    ]);
    expect((await deleteSnapshot(l.spec, deps(l, installFolder), 'lab1')).deletedOn).toEqual(['k8s-master']);
    expect(await listLabSnapshots(l.spec, deps(l, installFolder))).toEqual([]);
    await expect(deleteSnapshot(l.spec, deps(l, installFolder), 'lab1')).rejects.toMatchObject({
      code: 'SNAPSHOT_NOT_FOUND',
    });
  });

  it('--live takes memory snapshots of the running VMs without stopping them and says the clocks will jump; restore resumes them and verifies', async () => {
    const { l, sim, installFolder } = await snapshotLab();
    // Seeds detached (stop does it), then running again.
    await stopLab(l.spec, deps(l, installFolder), fastTiming);
    for (const n of l.spec.nodes) await l.client.setPowerState(l.nodeVm(n.name)!.id, 'on');
    const events: LabEvent[] = [];
    const saved = await saveSnapshot(l.spec, deps(l, installFolder, events), 'live1', {
      ...fastTiming,
      live: true,
    });
    expect(saved.restarted).toBe(false);
    for (const n of l.spec.nodes) {
      expect(l.nodeVm(n.name)!.power).toBe('poweredOn');
      expect(existsSync(path.join(path.dirname(l.nodeVm(n.name)!.vmxPath), `${n.name}-Snapshot1.vmem`))).toBe(
        true,
      );
    }
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'warning',
        message: expect.stringMatching(/clocks jump back.*makestep 1 3.*about 12 s for every second/),
      }),
    );

    const restoreEvents: LabEvent[] = [];
    const restored = await restoreSnapshot(
      l.spec,
      deps(l, installFolder, restoreEvents),
      'live1',
      fastTiming,
    );
    expect(restored.verifySummary).toMatch(/^verify passed/);
    expect(restoreEvents).toContainEqual(
      expect.objectContaining({
        type: 'warning',
        message: expect.stringMatching(/the snapshot is \d+ s old, so about .*sudo chronyc makestep/),
      }),
    );
    expect(restoreEvents).toContainEqual(
      expect.objectContaining({
        type: 'node',
        step: 'power-on',
        phase: 'done',
        detail: 'suspended → poweredOn',
      }),
    );

    // What the revert left is recorded in state.json for a support bundle.
    const observed = async () =>
      (await readBuildState(l.spec.stateDir, l.spec.name)).assumptions?.['memory-revert-power'];
    expect((await observed())!.latest).toMatchObject({
      value: 'suspended',
      detail: l.spec.nodes.map((n) => `${n.name} suspended`).join(', '),
      command: 'vmrun -T ws revertToSnapshot <node.vmx> live1',
      at: expect.stringMatching(/^\d{4}-.*Z$/),
    });

    // Should vmrun leave a memory snapshot's VMs running after the revert, the clocks still jump and it says so.
    sim.memoryRevertLeaves = 'poweredOn';
    const runningEvents: LabEvent[] = [];
    expect(
      (await restoreSnapshot(l.spec, deps(l, installFolder, runningEvents), 'live1', fastTiming))
        .verifySummary,
    ).toMatch(/^verify passed/);
    expect(runningEvents).toContainEqual(
      expect.objectContaining({
        type: 'warning',
        message: expect.stringMatching(/the snapshot is \d+ s old, so about .*sudo chronyc makestep/),
      }),
    );
    expect(await observed()).toMatchObject({
      latest: { value: 'poweredOn' },
      first: { value: 'suspended' },
      changed: true,
    });
  });

  it('the command: snapshot list --json through the stand-in in vmware.installFolder; bad arguments are refused', async () => {
    const { l, installFolder } = await snapshotLab();
    const run = (argv: string[]) =>
      runDay2Command(
        l,
        async (ctx) => {
          // Point vmware.installFolder at the stand-in, as a user would in cluster.yaml.
          const file = ctx.argv[ctx.argv.indexOf('--cluster') + 1]!;
          await writeFile(
            file,
            (await readFile(file, 'utf8')).replace(
              /^  # installFolder: .*$/m,
              `  installFolder: ${JSON.stringify(installFolder)}`,
            ),
          );
          return runSnapshot(ctx, { timing: fastTiming, verify: fastVerify });
        },
        argv,
      );
    const listed = await run(['list', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([]);
    await expect(run(['save'])).rejects.toMatchObject({ code: 'BAD_ARGUMENTS' });
    await expect(run(['restore', 'a b'])).rejects.toMatchObject({ code: 'BAD_SNAPSHOT_NAME' });
    await expect(run(['list', '--live'])).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
