/**
 * Faults at each operation: the client retries only what is safe to repeat,
 * a bounded number of times, and otherwise fails with a clear error; a clone
 * is never repeated without checking whether it happened.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { VmrestOperationId } from '../../src/vmrest/client.js';
import {
  VmrestCloneUncertainError,
  VmrestConnectionError,
  VmrestMediaTypeError,
  VmrestNotRunningError,
  VmrestRequestError,
  VmrestTimeoutError,
} from '../../src/vmrest/errors.js';
import type { FaultAction } from '../../simulators/vmrest-simulator.js';
import { type Harness, harnessPerTest } from './harness.js';

const startHarness = harnessPerTest();
// The current test's harness.
let h = undefined as unknown as Harness;

// Hang cases need a short timeout; every other call must still finish within it on a busy 2-core runner.
const shortTimeouts = { defaultMs: 400, cloneMs: 400, powerMs: 400, deleteMs: 400 };
const timeoutsFor = (fault: FaultAction) => (fault.kind === 'hang' ? shortTimeouts : undefined);

/** A VM in the state an operation needs, and the call to make. */
interface Case {
  operation: VmrestOperationId;
  prepare?: (vmId: string) => Promise<void>;
  run: (vmId: string) => Promise<unknown>;
}

async function withClone(): Promise<string> {
  return (await h.client.cloneVm({ name: 'k8s-worker1', parentId: h.templateId })).id;
}

const boot = async (id: string): Promise<void> => {
  await h.client.setPowerState(id, 'on');
  await h.client.getIp(id, { timeoutMs: 2_000, intervalMs: 10 });
};

const idempotentCases: Case[] = [
  { operation: 'listVms', run: () => h.client.listVms() },
  { operation: 'getVm', run: (id) => h.client.getVm(id) },
  { operation: 'updateVm', run: (id) => h.client.updateVm(id, { processors: 4, memory: 4096 }) },
  { operation: 'getVmParam', run: (id) => h.client.getParam(id, 'displayName') },
  { operation: 'setVmParam', run: (id) => h.client.setParam(id, 'guestinfo.k', 'v') },
  { operation: 'getPowerState', run: (id) => h.client.getPowerState(id) },
  { operation: 'setPowerState', run: (id) => h.client.setPowerState(id, 'on') },
  { operation: 'listNics', run: (id) => h.client.listNics(id) },
  { operation: 'updateNic', run: (id) => h.client.updateNic(id, 1, { type: 'custom', vmnet: 'vmnet8' }) },
  { operation: 'getIp', prepare: boot, run: (id) => h.client.getIp(id, { timeoutMs: 2_000 }) },
  { operation: 'getNicIps', prepare: boot, run: (id) => h.client.getNicIps(id, { timeoutMs: 2_000 }) },
  { operation: 'listVmnets', run: () => h.client.listVmnets() },
  { operation: 'setMacToIp', run: () => h.client.setMacToIp('vmnet8', '00:50:56:00:00:21', '192.168.5.21') },
  { operation: 'deleteVm', run: (id) => h.client.deleteVm(id) },
];

const nonIdempotentCases: Case[] = [
  { operation: 'addNic', run: (id) => h.client.addNic(id, { type: 'custom', vmnet: 'vmnet1' }) },
  { operation: 'deleteNic', run: (id) => h.client.deleteNic(id, 1) },
  { operation: 'registerVm', run: () => h.client.registerVm({ name: 'template', path: h.templatePath }) },
];

const transientFaults: Array<[string, FaultAction]> = [
  ['503 reply', { kind: 'status', status: 503, code: 1, message: 'Service temporarily unavailable' }],
  ['dropped connection', { kind: 'drop' }],
  ['hang', { kind: 'hang' }],
];

describe('retries where repeating is safe', () => {
  for (const c of idempotentCases) {
    for (const [label, fault] of transientFaults) {
      it(`${c.operation}: one ${label} is retried and the call succeeds`, async () => {
        h = await startHarness({ client: { timeouts: timeoutsFor(fault) } });
        const id = await withClone();
        await c.prepare?.(id);
        const before = h.sim.callCount(c.operation);
        h.sim.injectFault({ operation: c.operation, ...fault });
        await c.run(id);
        expect(h.sim.callCount(c.operation) - before).toBe(2);
        const tries = h.clientLog.filter((e) => e.operation === c.operation).slice(-2);
        expect(tries.map((e) => e.attempt)).toEqual([1, 2]);
        expect(tries[0]!.status).toBe(fault.kind === 'status' ? 503 : undefined);
      });
    }
    it(`${c.operation}: a delay shorter than the timeout is waited out without a retry`, async () => {
      h = await startHarness();
      const id = await withClone();
      await c.prepare?.(id);
      const before = h.sim.callCount(c.operation);
      h.sim.injectFault({ operation: c.operation, kind: 'delay', ms: 60 });
      await c.run(id);
      expect(h.sim.callCount(c.operation) - before).toBe(1);
    });
  }

  it('stops after the bounded number of tries and names the call', async () => {
    h = await startHarness({ client: { timeouts: shortTimeouts } });
    const id = await withClone();
    h.sim.injectFault({
      operation: 'getVm',
      kind: 'status',
      status: 500,
      code: 1,
      message: 'Internal error',
      times: Infinity,
    });
    const error = await h.client.getVm(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestRequestError);
    expect((error as Error).message).toMatch(/GET \/vms\/\{id\}.*k8s-worker1.*500.*Internal error/);
    expect(h.sim.callCount('getVm')).toBe(3);

    h.sim.clearFaults();
    h.sim.injectFault({ operation: 'listNics', kind: 'hang', times: Infinity });
    const timeout = await h.client.listNics(id).catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(VmrestTimeoutError);
    expect((timeout as Error).message).toMatch(/GET \/vms\/.*\/nic did not finish within 400 ms/);
    expect(h.sim.callCount('listNics')).toBe(3);

    h.sim.injectFault({ operation: 'listVmnets', kind: 'drop', times: Infinity });
    await expect(h.client.listVmnets()).rejects.toBeInstanceOf(VmrestConnectionError);
    expect(h.sim.callCount('listVmnets')).toBe(3);
  });

  it('bounds retries by total time as well as by count', async () => {
    h = await startHarness({
      client: { retry: { attempts: 50, baseDelayMs: 40, maxDelayMs: 40, maxTotalMs: 300 } },
    });
    h.sim.injectFault({ operation: 'listVms', kind: 'status', status: 502, times: Infinity });
    const started = Date.now();
    await expect(h.client.listVms()).rejects.toBeInstanceOf(VmrestRequestError);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(h.sim.callCount('listVms')).toBeLessThan(15);
  });

  it('does not retry 4xx replies', async () => {
    h = await startHarness();
    const id = await withClone();
    h.sim.injectFault({
      operation: 'getVm',
      kind: 'status',
      status: 400,
      code: 100,
      message: 'One of the parameters was invalid: id',
    });
    await expect(h.client.getVm(id)).rejects.toThrow(/invalid: id/);
    expect(h.sim.callCount('getVm')).toBe(1);
  });

  it('maps an injected 406 to the media-type error and polls through an injected code 106', async () => {
    h = await startHarness();
    h.sim.injectFault({
      operation: 'listVms',
      kind: 'status',
      status: 406,
      code: 100,
      message: 'Content type was not supported',
    });
    await expect(h.client.listVms()).rejects.toBeInstanceOf(VmrestMediaTypeError);
    const id = await withClone();
    await boot(id);
    h.sim.injectFault({
      operation: 'getIp',
      kind: 'status',
      status: 500,
      code: 106,
      message: 'not yet',
      times: 2,
    });
    expect(await h.client.getIp(id, { timeoutMs: 2_000, intervalMs: 10 })).toMatch(/^192\.168\.5\./);
  });
});

describe('never repeats what is not safe to repeat', () => {
  for (const c of nonIdempotentCases) {
    for (const [label, fault] of transientFaults) {
      it(`${c.operation}: a ${label} fails once, without a retry`, async () => {
        h = await startHarness({ client: { timeouts: timeoutsFor(fault) } });
        const id = await withClone();
        h.sim.injectFault({ operation: c.operation, ...fault });
        const error = await c.run(id).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(
          fault.kind === 'status'
            ? VmrestRequestError
            : fault.kind === 'drop'
              ? VmrestConnectionError
              : VmrestTimeoutError,
        );
        expect(h.sim.callCount(c.operation)).toBe(1);
      });
    }
  }

  it('power: a lost reply to "on" is settled by reading the power state, not by sending it again', async () => {
    h = await startHarness();
    const id = await withClone();
    h.sim.injectFault({ operation: 'setPowerState', kind: 'drop', when: 'after' });
    expect(await h.client.setPowerState(id, 'on')).toBe('poweredOn');
    expect(h.sim.callCount('setPowerState')).toBe(1);
  });

  it('delete: a lost reply is settled by the retry finding the VM gone', async () => {
    h = await startHarness();
    const id = await withClone();
    h.sim.injectFault({ operation: 'deleteVm', kind: 'drop', when: 'after' });
    await h.client.deleteVm(id);
    expect(h.sim.vms().map((v) => v.id)).not.toContain(id);
  });
});

describe('clone: never blindly repeated', () => {
  const clones = async (): Promise<string[]> => readdir(h.vmFolder);

  for (const [label, fault] of [
    ['dropped connection', { kind: 'drop' }],
    ['hang', { kind: 'hang' }],
    ['503 reply', { kind: 'status', status: 503, code: 1 }],
  ] as Array<[string, FaultAction]>) {
    it(`a ${label} after the clone happened: the clone is found in the VM list and adopted`, async () => {
      h = await startHarness({ client: { timeouts: timeoutsFor(fault) } });
      h.sim.injectFault({ operation: 'cloneVm', ...fault, when: 'after' });
      const info = await h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
      expect(info).toMatchObject({ cpu: { processors: 2 }, memory: 2048 });
      expect(h.sim.callCount('cloneVm')).toBe(1);
      expect(await clones()).toEqual(['k8s-master']);
      const order = h.clientLog.map((e) => e.operation);
      expect(order).toEqual(['cloneVm', 'listVms', 'getVm']);
    });
  }

  it('a 503 before the clone happened: the list shows no clone, so it is sent again (once)', async () => {
    h = await startHarness();
    h.sim.injectFault({ operation: 'cloneVm', kind: 'status', status: 503, code: 1 });
    await h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
    expect(h.clientLog.map((e) => `${e.operation}:${e.status}`)).toEqual([
      'cloneVm:503',
      'listVms:200',
      'cloneVm:201',
    ]);
    expect(await clones()).toEqual(['k8s-master']);
  });

  it('stops after the bounded number of tries when every clone fails', async () => {
    h = await startHarness();
    h.sim.injectFault({ operation: 'cloneVm', kind: 'status', status: 500, code: 1, times: Infinity });
    await expect(h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId })).rejects.toBeInstanceOf(
      VmrestRequestError,
    );
    expect(h.sim.callCount('cloneVm')).toBe(3);
    expect(h.sim.callCount('listVms')).toBe(3);
  });

  it('when the VM list cannot be read after an uncertain clone, it stops and says what to check', async () => {
    h = await startHarness();
    h.sim.injectFault({ operation: 'cloneVm', kind: 'drop', when: 'after' });
    h.sim.injectFault({ operation: 'listVms', kind: 'status', status: 500, times: Infinity });
    const error = await h.client
      .cloneVm({ name: 'k8s-master', parentId: h.templateId })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestCloneUncertainError);
    expect((error as VmrestCloneUncertainError).fix).toMatch(/folder named "k8s-master"/);
    expect(h.sim.callCount('cloneVm')).toBe(1);
  });

  it('a refused clone (400) is not retried', async () => {
    h = await startHarness();
    await expect(h.client.cloneVm({ name: 'bad/name', parentId: h.templateId })).rejects.toThrow(
      /invalid: name/,
    );
    expect(h.sim.callCount('cloneVm')).toBe(1);
  });
});

describe('clone: a copy still running is waited for, never cloned twice', () => {
  const vmsAt = (name: string) => h.sim.vms().filter((v) => path.basename(path.dirname(v.vmxPath)) === name);
  const settled = () => new Promise((r) => setTimeout(r, 700)); // the simulated copy (600 ms) is over

  for (const [label, lose] of [
    ['the reply timed out', async () => undefined],
    [
      'vmrest restarted (connection dropped)',
      async () => {
        await new Promise((r) => setTimeout(r, 100));
        await h.sim.restart();
      },
    ],
  ] as Array<[string, () => Promise<void>]>) {
    it(`${label} while vmrest was still copying: the list is re-read until the clone appears, and it is adopted`, async () => {
      const cloneMs = label.includes('timed out') ? 150 : 5_000;
      h = await startHarness({
        sim: { latencies: { cloneMs: 600 } },
        client: {
          timeouts: { defaultMs: 2_000, cloneMs, powerMs: 2_000, deleteMs: 2_000, cloneSettleMs: 3_000 },
        },
      });
      const cloning = h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
      await lose();
      const info = await cloning;
      expect(h.sim.callCount('cloneVm')).toBe(1);
      expect(vmsAt('k8s-master').map((v) => v.id)).toEqual([info.id]);
      const ops = h.clientLog.map((e) => e.operation);
      expect(ops[0]).toBe('cloneVm');
      expect(ops.at(-1)).toBe('getVm');
      expect(ops.slice(1, -1).every((op) => op === 'listVms')).toBe(true);
      expect(ops.filter((op) => op === 'listVms').length).toBeGreaterThan(1); // not listed at the first look
    });
  }

  it('the simulator refuses a second clone into a folder being copied (409), and lists the first only when done', async () => {
    h = await startHarness({ sim: { latencies: { cloneMs: 300 } } });
    const first = h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(path.join(h.vmFolder, 'k8s-master'))).toBe(true); // the folder exists from the start
    expect(await h.client.findVm({ name: 'k8s-master' })).toBeUndefined();
    const second = await h
      .makeClient()
      .cloneVm({ name: 'k8s-master', parentId: h.templateId })
      .catch((e: unknown) => e);
    expect(second).toMatchObject({ code: 'VMREST_CLONE_FOLDER_EXISTS', status: 409 });
    expect((second as Error).message).toContain(
      `A clone into ${path.join(h.vmFolder, 'k8s-master')} is in progress`,
    );
    await first;
    expect(vmsAt('k8s-master')).toHaveLength(1);
  });

  it('a retry refused because the folder exists, with no VM ever listed: VmrestCloneUncertainError naming the folder', async () => {
    h = await startHarness({
      sim: { latencies: { cloneMs: 600 } },
      client: {
        timeouts: { defaultMs: 2_000, cloneMs: 100, powerMs: 2_000, deleteMs: 2_000, cloneSettleMs: 50 },
      },
    });
    const folder = path.join(h.vmFolder, 'k8s-master');
    const error = await h.client
      .cloneVm({ name: 'k8s-master', parentId: h.templateId }, { folder })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestCloneUncertainError);
    expect((error as VmrestCloneUncertainError).message).toMatch(
      /vmrest says its folder exists \(A clone into .* is in progress\) but no VM "k8s-master" was listed within 50 ms/,
    );
    expect((error as VmrestCloneUncertainError).fix).toContain(
      `wait until the copy ends and run the command again`,
    );
    expect((error as VmrestCloneUncertainError).fix).toContain(`delete ${folder}`);
    expect((error as VmrestCloneUncertainError).folder).toBe(folder);
    expect((error as VmrestCloneUncertainError).name).toBe('VmrestCloneUncertainError');
    await settled();
    expect(h.sim.callCount('cloneVm')).toBe(2); // the retry was refused, not copied again
    // The retry's 409 came back first; the first POST's copy finished after its client had given up.
    expect(h.sim.requestLog.filter((e) => e.operation === 'cloneVm').map((e) => e.status)).toEqual([
      409,
      undefined,
    ]);
    expect(vmsAt('k8s-master')).toHaveLength(1);
  });

  it("resume: a folder left by the caller's own earlier clone is waited for and adopted; without resume it is refused", async () => {
    h = await startHarness({ sim: { latencies: { cloneMs: 400 } } });
    const earlier = h.makeClient().cloneVm({ name: 'k8s-master', parentId: h.templateId });
    await new Promise((r) => setTimeout(r, 50));
    const refused = await h.client
      .cloneVm({ name: 'k8s-master', parentId: h.templateId })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'VMREST_CLONE_FOLDER_EXISTS' });
    expect((refused as { fix: string }).fix).toMatch(/delete it and run the command again/);
    const resumed = await h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId }, { resume: true });
    expect(resumed.id).toBe((await earlier).id);
    expect(vmsAt('k8s-master')).toHaveLength(1);
  });
});

describe('vmrest restarts and disappears', () => {
  it('keeps its state across a restart; the client carries on over a fresh connection', async () => {
    h = await startHarness();
    const id = await withClone();
    await h.client.setPowerState(id, 'on');
    const port = h.sim.port;
    await h.sim.restart();
    expect(h.sim.port).toBe(port);
    expect((await h.client.listVms()).map((v) => v.id)).toContain(id);
    expect(await h.client.getPowerState(id)).toBe('poweredOn');
  });

  it('a call hanging when vmrest restarts is retried on the restarted server', async () => {
    h = await startHarness({ client: { timeouts: { defaultMs: 5_000 } } });
    const id = await withClone();
    h.sim.injectFault({ operation: 'getVm', kind: 'hang' });
    const pending = h.client.getVm(id);
    await new Promise((r) => setTimeout(r, 100));
    await h.sim.restart();
    expect((await pending).id).toBe(id);
    expect(h.clientLog.filter((e) => e.operation === 'getVm').map((e) => e.errorCode ?? e.status)).toEqual([
      'VMREST_CONNECTION_LOST',
      200,
    ]);
  });

  it('while vmrest is down, a call fails as "not running" without retrying', async () => {
    h = await startHarness();
    const restarted = h.sim.restart({ downMs: 400 });
    await new Promise((r) => setTimeout(r, 50));
    await expect(h.client.listVms()).rejects.toBeInstanceOf(VmrestNotRunningError);
    await restarted;
    expect(await h.client.listVms()).toHaveLength(1);
  });
});
