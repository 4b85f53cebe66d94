/**
 * Every unverified behaviour a build sees is recorded in state.json with its
 * time and the operation that showed it (src/bringup/observations.ts): after
 * a simulated build, and with the simulators' switches flipped, the other
 * answer. A check that did not run records nothing.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsoleFollower } from '../../src/bringup/follow.js';
import { describeObservations, mergeObservation, type Observation } from '../../src/bringup/observations.js';
import type { BuildVmrest } from '../../src/bringup/ports.js';
import { detachSeedIso } from '../../src/bringup/seed-retirement.js';
import { BuildStateStore, buildStatePath, readBuildState } from '../../src/bringup/state.js';
import { formatDoctorReport } from '../../src/day2/doctor.js';
import { VmrestError } from '../../src/vmrest/errors.js';
import { seedSpec, startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const seen = (value: string, at: string): Observation => ({ value, at, command: 'test' });

describe('mergeObservation', () => {
  it('keeps the latest answer and the first one, and marks a change of answer for good', () => {
    let record = mergeObservation(undefined, 'nic-index', seen('ethernet<N-1>', '2026-01-01T00:00:00.000Z'));
    expect(record['nic-index']).toEqual({ latest: seen('ethernet<N-1>', '2026-01-01T00:00:00.000Z') });
    record = mergeObservation(record, 'nic-index', seen('ethernet<N-1>', '2026-01-02T00:00:00.000Z'));
    expect(record['nic-index']).toEqual({
      latest: seen('ethernet<N-1>', '2026-01-02T00:00:00.000Z'),
      first: seen('ethernet<N-1>', '2026-01-01T00:00:00.000Z'),
    });
    expect(describeObservations(record)).toEqual([
      'nic-index: ethernet<N-1>, 2026-01-02T00:00:00.000Z, by test',
    ]);
    record = mergeObservation(record, 'nic-index', seen('other', '2026-01-03T00:00:00.000Z'));
    expect(record['nic-index']).toEqual({
      latest: seen('other', '2026-01-03T00:00:00.000Z'),
      first: seen('ethernet<N-1>', '2026-01-01T00:00:00.000Z'),
      changed: true,
    });
    // Back to the first answer: the change stays visible.
    record = mergeObservation(record, 'nic-index', seen('ethernet<N-1>', '2026-01-04T00:00:00.000Z'));
    expect(record['nic-index']!.changed).toBe(true);
    expect(describeObservations(record)).toEqual([
      'nic-index: ethernet<N-1>, 2026-01-04T00:00:00.000Z, by test',
      '           answers differed; first seen as ethernet<N-1>, 2026-01-01T00:00:00.000Z, by test',
    ]);
  });
});

describe('a simulated build records what it saw', () => {
  it('records each behaviour it could see, with its time and operation, and nothing for the others; doctor shows them', async () => {
    lab = await startTestLab();
    const before = Date.now();
    expect((await lab.build()).status).toBe('ready');
    const { assumptions } = await readBuildState(lab.spec.stateDir, lab.spec.name);
    const values = Object.fromEntries(
      Object.entries(assumptions ?? {}).map(([id, o]) => [id, o.latest.value]),
    );
    expect(values).toEqual({
      'vmrest-params-running-vm': 'refused',
      'nic-index': 'ethernet<N-1>',
      'serial-readable-running': 'readable',
      'seed-eject-releases-iso': 'released',
      'clone-in-default-folder': 'default-folder',
    });
    for (const observed of Object.values(assumptions!)) {
      expect(observed.latest.at).toMatch(ISO_TIME);
      expect(Date.parse(observed.latest.at)).toBeGreaterThanOrEqual(before - 1000);
      expect(observed.latest.command).not.toBe('');
      expect(observed.changed).toBeUndefined();
    }
    expect(assumptions!['clone-in-default-folder']!.latest.detail).toBe(lab.clonesFolder);
    expect(assumptions!['nic-index']!.latest.detail).toBe('index 1 = ethernet0, index 2 = ethernet1');
    expect(assumptions!['vmrest-params-running-vm']!.latest.command).toMatch(
      /^vmrest PUT \/vms\/\{id\}\/params sata0:1\.startConnected FALSE \(VM poweredOn\)$/,
    );

    const text = formatDoctorReport({
      cluster: lab.spec.name,
      ok: true,
      checks: [],
      assumptions: assumptions!,
    });
    expect(text).toContain('assumptions observed on this host');
    expect(text).toMatch(/^ {2}vmrest-params-running-vm: refused \(k8s-\S+: .*\), \d{4}-.*Z, by vmrest PUT/m);
    expect(text).toContain(
      'not observed yet: memory-revert-power, vdiskmanager-converts-ova-disk, vmrun-clone-linked',
    );
  });

  it('records the other answer when the simulators behave the other way, and keeps the first answer beside it', async () => {
    lab = await startTestLab({ paramsWhilePoweredOn: 'accept', nicIndexFrom: 0 });
    // A record from an earlier run on this host that saw vmrest refuse.
    const earlier: Observation = {
      value: 'refused',
      at: '2026-01-01T00:00:00.000Z',
      command: 'vmrest PUT /vms/{id}/params sata0:1.startConnected FALSE (VM poweredOn)',
    };
    await mkdir(lab.spec.stateDir, { recursive: true });
    await writeFile(
      buildStatePath(lab.spec.stateDir),
      JSON.stringify({
        formatVersion: 1,
        cluster: lab.spec.name,
        nodes: {},
        assumptions: { 'vmrest-params-running-vm': { latest: earlier } },
        updatedAt: earlier.at,
      }),
    );
    expect((await lab.build({}, { vmrun: lab.vmrunLookup })).status).toBe('ready');
    const { assumptions } = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(assumptions!['vmrest-params-running-vm']).toMatchObject({
      latest: { value: 'accepted' },
      first: earlier,
      changed: true,
    });
    expect(assumptions!['nic-index']!.latest).toMatchObject({
      value: 'other',
      detail: 'index 0 = ethernet0, index 1 = ethernet1',
    });
    // Linked clones: vmrun made them, so where vmrest puts a clone was not seen.
    expect(assumptions!['vmrun-clone-linked']!.latest.value).toBe('linked');
    expect(assumptions!['vmrun-clone-linked']!.latest.detail).toMatch(/reads .*kubestation-noble-template/);
    expect(assumptions!['clone-in-default-folder']).toBeUndefined();
  });

  it('records a full clone vmrest put outside the folder kubestation took for the default, beside its warning', async () => {
    lab = await startTestLab();
    const assumed = path.join(lab.dir, 'Documents', 'Virtual Machines');
    expect((await lab.build({}, { clonesFolder: assumed })).status).toBe('ready');
    const { assumptions } = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(assumptions!['clone-in-default-folder']!.latest).toMatchObject({
      value: 'elsewhere',
      detail: `${lab.clonesFolder}, not ${assumed}`,
    });
    expect(lab.events).toContainEqual(
      expect.objectContaining({ type: 'warning', message: expect.stringContaining(`not in ${assumed}`) }),
    );
  });

  it('records a failed vmrun linked clone, and the build still fails on it', async () => {
    lab = await startTestLab();
    lab.vmrun!.failNext({ command: 'clone', times: 10, message: 'The snapshot is not found' });
    await expect(lab.build({}, { vmrun: lab.vmrunLookup })).rejects.toThrow(/vmrun clone/);
    const { assumptions } = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(assumptions!['vmrun-clone-linked']!.latest).toMatchObject({ value: 'failed' });
    expect(assumptions!['vmrun-clone-linked']!.latest.detail).toContain('The snapshot is not found');
  });
});

describe('the observations a simulated build cannot flip', () => {
  it('a console the host cannot read while the VM runs is recorded as unreadable, and the read still fails', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-obs-'));
    dirs.push(dir);
    const spec = await seedSpec();
    // A folder where the file should be: open works, read fails (EISDIR), as a file held open without sharing would.
    const serialLog = path.join(dir, 'serial.log');
    await mkdir(serialLog);
    const reads: unknown[] = [];
    const follower = new ConsoleFollower(
      () => undefined,
      {},
      undefined,
      (read) => reads.push(read),
    );
    follower.add({ node: spec.nodes[0]!, serialLog, poweredOnAtMs: Date.now() });
    await expect(follower.pollOnce()).rejects.toThrow();
    expect(reads).toEqual([{ node: spec.nodes[0]!.name, file: serialLog, readable: false, error: 'EISDIR' }]);
  });

  it('a seed ISO the host cannot delete while the VM runs is recorded as held', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-obs-'));
    dirs.push(dir);
    const base = await seedSpec();
    const spec = { ...base, stateDir: path.join(dir, 'state') };
    const node = spec.nodes[1]!;
    // A folder in the ISO's place cannot be removed as a file: the deletion fails as a held file's would.
    const isoPath = path.join(spec.stateDir, node.name, 'seed.iso');
    await mkdir(path.join(isoPath, 'inside'), { recursive: true });
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.updateNode(node.name, (n) => {
      n.seed = { isoPath, fileRemoved: false, detached: false };
      n.completedAt = new Date().toISOString();
    });
    const vmrest = {
      getPowerState: async () => 'poweredOn' as const,
      setParam: async () => {
        throw new VmrestError('VMREST_CONFLICT', 'The virtual machine is powered on', 'power it off', {
          call: 'PUT /vms/{id}/params',
          status: 409,
        });
      },
    } as unknown as BuildVmrest;
    const warnings: string[] = [];
    await detachSeedIso(
      { spec, vmrest, store, emit: (e) => void (e.type === 'warning' && warnings.push(e.message)) },
      node,
      { id: 'vm1', vmxPath: path.join(dir, `${node.name}.vmx`) },
    );
    const { assumptions } = await readBuildState(spec.stateDir, spec.name);
    expect(assumptions!['seed-eject-releases-iso']!.latest).toMatchObject({
      value: 'held',
      detail: expect.stringMatching(new RegExp(`^${node.name}: E[A-Z_]+$`)),
    });
    expect(assumptions!['vmrest-params-running-vm']!.latest.value).toBe('refused');
    expect(warnings).toEqual([expect.stringContaining('could not delete the seed copies')]);
  });
});
