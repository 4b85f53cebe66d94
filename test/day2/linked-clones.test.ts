/**
 * Day 2 with linked clones (the default road): rebuild-node clones from the
 * template's snapshot again, destroy --purge-template refuses while a clone
 * reads the template's disk, doctor names a clone whose parent disk is gone.
 */
import { existsSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildState } from '../../src/bringup/state.js';
import { executeDestroy, planDestroy } from '../../src/day2/destroy.js';
import { runDoctor } from '../../src/day2/doctor.js';
import { rebuildNode } from '../../src/day2/rebuild.js';
import { templateVmFolder, templateVmxPath } from '../../src/template/state.js';
import { startDay2Lab, type Day2Lab } from './lab.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

const templateDisk = (l: Day2Lab): string =>
  path.join(templateVmFolder(l.spec), `${l.spec.vmware.template.name}.vmdk`);

describe('linked clones on day 2', () => {
  it('rebuild-node makes the worker a linked clone of the same template snapshot again', async () => {
    const l = (lab = await startDay2Lab({ linked: true }));
    const before = (await readBuildState(l.spec.stateDir, l.spec.name)).nodes['k8s-worker1']!.clone!;
    expect(before).toMatchObject({ mode: 'linked', via: 'vmrun' });
    const calls = l.vmrun!.calls.length;

    const result = await rebuildNode(l.spec, 'k8s-worker1', l.rebuildDeps(), l.fast);
    expect(result.readyConfirmed).toBe(true);
    const clones = l.vmrun!.calls.slice(calls).filter((c) => c.args[2] === 'clone');
    expect(clones.map((c) => c.args.slice(5))).toEqual([
      ['linked', `-snapshot=${before.snapshot}`, '-cloneName=k8s-worker1'],
    ]);
    // No second snapshot of an unchanged template.
    expect(l.vmrun!.calls.slice(calls).filter((c) => c.args[2] === 'snapshot')).toEqual([]);
    expect(
      l.logs.some((line) =>
        line.startsWith(`clones: linked, from the template's snapshot ${before.snapshot}`),
      ),
    ).toBe(true);
    const vmx = path.join(l.clonesFolder, 'k8s-worker1', 'k8s-worker1.vmx');
    expect(l.nodeVm('k8s-worker1')).toMatchObject({ vmxPath: vmx, power: 'poweredOn' });
    expect(
      await readFile(path.join(l.clonesFolder, 'k8s-worker1', 'k8s-worker1-cl1.vmdk'), 'latin1'),
    ).toContain(`parentFileNameHint="${templateDisk(l)}"`);
  });

  it('destroy --purge-template refuses while clones read the template disk, naming them; destroy, then --purge-template works', async () => {
    const l = (lab = await startDay2Lab({ linked: true }));
    const before = l.vmrest.requestLog.length;
    const error = await planDestroy(l.spec, l.client, { purgeTemplate: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TEMPLATE_HAS_LINKED_CLONES' });
    const message = (error as Error).message;
    for (const node of l.spec.nodes)
      expect(message).toContain(path.join(l.clonesFolder, node.name, `${node.name}.vmx`));
    expect((error as { fix: string }).fix).toContain('`.\\kubestation destroy` first');
    expect(l.vmrest.requestLog.slice(before).filter((c) => c.method !== 'GET')).toEqual([]);
    expect(existsSync(templateDisk(l))).toBe(true);

    await executeDestroy(l.spec, l.client, await planDestroy(l.spec, l.client), () => undefined);
    expect(existsSync(templateDisk(l))).toBe(true);
    const plan = await planDestroy(l.spec, l.client, { purgeTemplate: true });
    await executeDestroy(l.spec, l.client, plan, () => undefined);
    expect(existsSync(templateVmxPath(l.spec))).toBe(false);
  });

  it("doctor checks each linked clone's parent disk and names the fix when it is gone", async () => {
    const l = (lab = await startDay2Lab({ linked: true }));
    const healthy = await runDoctor(l.spec, { vmrest: l.client, kube: l.kubeAccess });
    expect(healthy.checks.find((c) => c.id === 'parent-disk:k8s-worker2')).toMatchObject({
      status: 'ok',
      detail: templateDisk(l),
    });

    await rename(templateDisk(l), `${templateDisk(l)}.moved`);
    const report = await runDoctor(l.spec, { vmrest: l.client, kube: l.kubeAccess });
    for (const node of l.spec.nodes) {
      const check = report.checks.find((c) => c.id === `parent-disk:${node.name}`)!;
      expect(check.status).toBe('fail');
      expect(check.detail).toContain(`${templateDisk(l)} is gone`);
      expect(check.fix).toContain(`put the template's disk back at ${templateDisk(l)}`);
    }
    expect(report.checks.find((c) => c.id === 'parent-disk:k8s-worker1')!.fix).toContain(
      '.\\kubestation rebuild-node k8s-worker1',
    );
    expect(report.ok).toBe(false);
  });
});
