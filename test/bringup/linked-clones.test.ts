/**
 * vmware.cloneMode against the simulators: linked clones by vmrun (the
 * default), full clones by vmrest, vmrun missing (default vs written out),
 * a node disk larger than the template's, and a clone whose parent disk is gone.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PreflightError } from '../../src/bringup/preflight.js';
import { readBuildState } from '../../src/bringup/state.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { readTemplateState, templateVmFolder, templateVmxPath } from '../../src/template/state.js';
import { vmsdPath } from '../../src/template/vmrun.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { writeSimulatedTemplate } from '../../simulators/simulated-lab.js';
import { main } from '../../src/cli.js';
import { loadClusterSpec } from '../../src/config/load.js';
import { repoRoot, seedSpec, startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

function withCloneMode(spec: ClusterSpec, cloneMode: 'linked' | 'full'): ClusterSpec {
  return { ...spec, vmware: { ...spec.vmware, cloneMode, cloneModeExplicit: true } };
}

const mutating = new Set(['cloneVm', 'updateVm', 'addNic', 'updateNic', 'setPowerState', 'registerVm']);

describe('linked clones (the default)', () => {
  it('snapshots the template once, clones every node with vmrun linked from it, registers and configures them through vmrest', async () => {
    lab = await startTestLab({ kubeApi: false });
    const result = await lab.build({}, { vmrun: lab.vmrunLookup });
    expect(result.status).toBe('ready');
    expect(lab.requests.filter((r) => r.operation === 'cloneVm')).toEqual([]);

    const plan = lab.events.find((e) => e.type === 'plan');
    expect(plan).toMatchObject({ clone: { mode: 'linked', reason: 'vmware.cloneMode defaults to linked' } });
    const snapshot = (plan as { clone: { snapshot: string } }).clone.snapshot;
    // The test lab's template is golden, as `up` leaves it: the snapshot is named from its golden marker.
    const golden = (await readTemplateState(lab.spec)).golden!;
    expect(snapshot).toMatch(new RegExp(`^kubestation-golden-${golden.kubernetes.version}-[0-9a-f]{12}$`));

    const calls = lab.vmrun!.calls.map((c) => c.args.slice(2));
    expect(calls.filter((a) => a[0] === 'snapshot')).toEqual([
      ['snapshot', templateVmxPath(lab.spec), snapshot],
    ]);
    const templateDisk = path.join(templateVmFolder(lab.spec), `${lab.spec.vmware.template.name}.vmdk`);
    const templateVmsd = VmxFile.parse(await readFile(vmsdPath(templateVmxPath(lab.spec)), 'utf8'));
    expect(templateVmsd.get('snapshot0.displayName')).toBe(snapshot);
    expect(templateVmsd.get('snapshot0.numClones')).toBe('3');

    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    for (const node of lab.spec.nodes) {
      const vmx = path.join(lab.clonesFolder, node.name, `${node.name}.vmx`);
      expect(calls).toContainEqual([
        'clone',
        templateVmxPath(lab.spec),
        vmx,
        'linked',
        `-snapshot=${snapshot}`,
        `-cloneName=${node.name}`,
      ]);
      // The delta disk names the template's disk as its parent; the parent's .vmsd records the clone.
      const delta = await readFile(path.join(lab.clonesFolder, node.name, `${node.name}-cl1.vmdk`), 'latin1');
      expect(delta).toContain(`parentFileNameHint="${templateDisk}"`);
      expect(templateVmsd.entries().some(([k, v]) => /^snapshot0\.clone\d+$/.test(k) && v === vmx)).toBe(
        true,
      );
      expect(state.nodes[node.name]!.clone).toMatchObject({
        mode: 'linked',
        via: 'vmrun',
        snapshot,
        templateVmx: templateVmxPath(lab.spec),
      });
    }
    // Registered right after vmrun made each clone (and again, harmlessly, by the register step).
    expect(lab.requests.filter((r) => r.operation === 'registerVm' && r.status === 201)).toHaveLength(6);
    expect(lab.nodeVms().every((vm) => vm.power === 'poweredOn')).toBe(true);

    // A second run clones nothing and takes no second snapshot.
    const before = lab.vmrun!.calls.length;
    expect((await lab.build({}, { vmrun: lab.vmrunLookup })).status).toBe('ready');
    expect(lab.vmrun!.calls.slice(before).filter((c) => c.args[2] !== 'listSnapshots')).toEqual([]);
  });

  it('a clone whose parent disk is gone cannot power on: Workstation names the disk it cannot open', async () => {
    lab = await startTestLab({ kubeApi: false });
    expect((await lab.build({}, { vmrun: lab.vmrunLookup })).status).toBe('ready');
    const worker = lab.nodeVms().find((vm) => vm.vmxPath.includes('k8s-worker1'))!;
    await lab.client.setPowerState(worker.id, 'off');
    await rm(path.join(templateVmFolder(lab.spec), `${lab.spec.vmware.template.name}.vmdk`));
    const error = await lab.client.setPowerState(worker.id, 'on').catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(
      /Cannot open the disk '.*k8s-worker1-cl1\.vmdk' or one of the snapshot disks it depends on/,
    );
  });
});

describe('full clones and the fall-back', () => {
  it('cloneMode: full keeps POST /vms and never runs vmrun', async () => {
    lab = await startTestLab({ kubeApi: false, spec: withCloneMode(await seedSpec(), 'full') });
    expect((await lab.build({}, { vmrun: lab.vmrunLookup })).status).toBe('ready');
    expect(lab.requests.filter((r) => r.operation === 'cloneVm' && r.status === 201)).toHaveLength(3);
    expect(lab.vmrun!.calls).toEqual([]);
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(state.nodes['k8s-master']!.clone).toMatchObject({
      mode: 'full',
      via: 'vmrest',
      reason: 'vmware.cloneMode: full in cluster.yaml',
    });
  });

  it('no vmrun with the default: full clones, and the plan says why, naming the folder searched', async () => {
    lab = await startTestLab({ kubeApi: false, vmrun: false });
    expect((await lab.build({}, { vmrun: lab.vmrunLookup })).status).toBe('ready');
    expect(lab.requests.filter((r) => r.operation === 'cloneVm' && r.status === 201)).toHaveLength(3);
    const plan = lab.events.find((e) => e.type === 'plan') as { clone: { mode: string; reason: string } };
    expect(plan.clone.mode).toBe('full');
    expect(plan.clone.reason).toContain("Workstation's vmrun was not found");
    expect(plan.clone.reason).toContain(path.join(lab.dir, 'Workstation'));
    expect(plan.clone.reason).toContain('full clones (vmrest) instead of the default linked clones');
  });

  it('no vmrun with cloneMode: linked written out: stops before any change, naming the folder searched and the fix', async () => {
    lab = await startTestLab({
      kubeApi: false,
      vmrun: false,
      spec: withCloneMode(await seedSpec(), 'linked'),
    });
    const error = await lab.build({}, { vmrun: lab.vmrunLookup }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    const message = (error as Error).message;
    expect(message).toContain(
      "vmware.cloneMode is linked in cluster.yaml, but Workstation's vmrun was not found",
    );
    expect(message).toContain(path.join(lab.dir, 'Workstation'));
    expect(message).toContain('vmware.cloneMode: full');
    expect(lab.requests.filter((r) => mutating.has(r.operation))).toEqual([]);
    expect(lab.nodeVms()).toEqual([]);
    expect(existsSync(lab.clonesFolder) ? await readdir(lab.clonesFolder) : []).toEqual([]);
  });

  it('a node disk larger than the template disk: a linked clone is refused before any change, with the fix', async () => {
    lab = await startTestLab({ kubeApi: false, templateDiskGiB: 20 });
    const error = await lab.build({}, { vmrun: lab.vmrunLookup }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    const message = (error as Error).message;
    expect(message).toMatch(
      /node "k8s-master" asks for \d+ GiB, but the template's disk is 20 GiB and a linked clone \(vmware.cloneMode defaults to linked\) cannot have a larger disk than its template/,
    );
    expect(message).toContain('set vmware.cloneMode: full');
    expect(lab.requests.filter((r) => mutating.has(r.operation))).toEqual([]);
    expect(lab.vmrun!.calls.filter((c) => c.args[2] === 'clone' || c.args[2] === 'snapshot')).toEqual([]);
  });
});

describe('validate', () => {
  async function validate(cloneModeLine: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-validate-'));
    try {
      const text = (await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8')).replace(
        '  # cloneMode: linked',
        `${cloneModeLine}\n  # cloneMode: linked`,
      );
      await writeFile(path.join(dir, 'cluster.yaml'), text);
      // The template build-template made before a node's diskGiB was raised: 40 GiB.
      await writeSimulatedTemplate(await loadClusterSpec(path.join(dir, 'cluster.yaml')), 40);
      let stdout = '';
      let stderr = '';
      const code = await main(['validate'], {
        stdout: { write: (t: string) => ((stdout += t), true) } as unknown as NodeJS.WritableStream,
        stderr: { write: (t: string) => ((stderr += t), true) } as unknown as NodeJS.WritableStream,
        env: {},
        cwd: dir,
      });
      return { code, stdout, stderr };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('names each node whose disk is larger than the template disk a linked clone would read, and the fixes', async () => {
    const { code, stderr } = await validate('');
    expect(code).toBe(1);
    expect(stderr).toContain(
      'nodes[1].diskGiB: node "k8s-worker1" asks for 100 GiB, but the template\'s disk is 40 GiB and a linked clone (vmware.cloneMode defaults to linked) cannot have a larger disk than its template',
    );
    expect(stderr).toContain(
      'fix: set vmware.cloneMode: full (a full copy, grown to 100 GiB), or set diskGiB to 40 or less',
    );
  });

  it('with cloneMode: full the same spec is valid (a full clone is grown to the node size)', async () => {
    const { code, stderr } = await validate('  cloneMode: full');
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
