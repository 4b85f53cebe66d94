import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildState } from '../../src/bringup/state.js';
import { apiVerifier, ClusterVerifyError } from '../../src/bringup/verify-step.js';
import {
  startLab,
  stopLab,
  type LabEvent,
  type LabPowerDeps,
  type LabTiming,
} from '../../src/day2/lab-power.js';
import { KubestationError } from '../../src/errors.js';
import { runDoctor } from '../../src/day2/doctor.js';
import { collectStatus, formatStatus } from '../../src/day2/status.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { SEED_CDROM } from '../../src/template/vmx.js';
import { fastVerify, runDay2Command, startDay2Lab, type Day2Lab } from './lab.js';
import { runStop } from '../../src/commands/stop.js';
import { runStart } from '../../src/commands/start.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

const fastTiming: LabTiming = {
  shutdownTimeoutMs: 300,
  toolsTimeoutMs: 200,
  apiTimeoutMs: 3_000,
  readyTimeoutMs: 3_000,
  pollMs: 10,
};
const slow = 240_000;

function deps(l: Day2Lab, events: LabEvent[], extra: Partial<LabPowerDeps> = {}): LabPowerDeps {
  return { vmrest: l.client, kube: l.kubeAccess, emit: (e) => events.push(e), ...extra };
}

function verifier(l: Day2Lab) {
  return apiVerifier({
    server: l.kubeApi.url,
    verify: { ...fastVerify, hostOnlyProxy: l.kubeApi.hostOnlyProxy },
  });
}

/** Index in the simulator's log of the first successful power operation `op` on node `name`'s VM. */
function powerCallIndex(l: Day2Lab, name: string, op: string, from = 0): number {
  const id = l.nodeVm(name)!.id;
  return l.vmrest.requestLog.findIndex(
    (e, i) =>
      i >= from &&
      e.operation === 'setPowerState' &&
      e.params.id === id &&
      e.requestBody === op &&
      e.status === 200,
  );
}

async function seedCdrom(
  l: Day2Lab,
  name: string,
): Promise<{ startConnected: string | undefined; fileName: string | undefined }> {
  const vmx = VmxFile.parse(await readFile(l.nodeVm(name)!.vmxPath, 'utf8'));
  return {
    startConnected: vmx.get(`${SEED_CDROM}.startConnected`),
    fileName: vmx.get(`${SEED_CDROM}.fileName`),
  };
}

describe('stop and start the lab', { timeout: slow }, () => {
  it('stop shuts the guests down workers first, records it and detaches the seeds; start brings it back in order and verifies', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    expect(l.spec.nodes.map((n) => l.nodeVm(n.name)!.power)).toEqual(['poweredOn', 'poweredOn', 'poweredOn']);
    const events: LabEvent[] = [];
    const before = l.vmrest.requestLog.length;

    const stopped = await stopLab(l.spec, deps(l, events), fastTiming);

    expect(stopped.labStopped).toBe(true);
    expect(stopped.nodes).toEqual(
      expect.arrayContaining([
        { node: 'k8s-worker1', outcome: 'shut down' },
        { node: 'k8s-worker2', outcome: 'shut down' },
        { node: 'k8s-master', outcome: 'shut down' },
      ]),
    );
    for (const n of l.spec.nodes) expect(l.nodeVm(n.name)!.power).toBe('poweredOff');
    // Graceful: the bare word "shutdown", never a hard "off"; the control plane only after both workers are off.
    expect(
      l.vmrest.requestLog
        .slice(before)
        .filter((e) => e.operation === 'setPowerState')
        .map((e) => e.requestBody),
    ).toEqual(['shutdown', 'shutdown', 'shutdown']);
    const master = powerCallIndex(l, 'k8s-master', 'shutdown', before);
    expect(master).toBeGreaterThan(powerCallIndex(l, 'k8s-worker1', 'shutdown', before));
    expect(master).toBeGreaterThan(powerCallIndex(l, 'k8s-worker2', 'shutdown', before));
    // Tools were checked (GET /ip) before each shutdown.
    expect(
      l.vmrest.requestLog.slice(before).filter((e) => e.operation === 'getIp' && e.status === 200),
    ).toHaveLength(3);
    const state = await readBuildState(l.spec.stateDir, l.spec.name);
    expect(state.stoppedAt).toBeDefined();
    for (const n of l.spec.nodes) {
      expect(state.nodes[n.name]!.stopped).toMatchObject({ hard: false });
      expect(state.nodes[n.name]!.seed).toMatchObject({ detached: true, fileRemoved: true });
      expect(await seedCdrom(l, n.name)).toEqual({ startConnected: 'FALSE', fileName: '' });
    }
    expect(events[0]).toMatchObject({ type: 'plan', command: 'stop' });
    // status and doctor see a stopped lab and say how to start it.
    const status = await collectStatus(l.spec, {
      vmrest: l.client,
      kube: l.kubeAccess,
      addressTimeoutMs: 100,
    });
    expect(status.lab).toEqual({ state: 'stopped', stoppedAt: state.stoppedAt });
    expect(formatStatus(status)).toContain(
      `lab: stopped: every VM is powered off (by \`.\\kubestation stop\` at ${state.stoppedAt}); start it with \`.\\kubestation start\``,
    );
    const doctor = await runDoctor(l.spec, {
      vmrest: l.client,
      kube: { ...l.kubeAccess, requestTimeoutMs: 300 },
    });
    expect(doctor.checks.find((c) => c.id === 'lab')).toMatchObject({
      status: 'warn',
      fix: '`.\\kubestation start`',
    });
    expect(doctor.checks.find((c) => c.id === 'kubernetes-api')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('the lab is stopped'),
      fix: '`.\\kubestation start`',
    });

    // Running stop again changes nothing.
    const again = l.vmrest.requestLog.length;
    const second = await stopLab(l.spec, deps(l, []), fastTiming);
    expect(second.nodes.every((n) => n.outcome === 'already off')).toBe(true);
    expect(l.vmrest.requestLog.slice(again).filter((e) => e.operation === 'setPowerState')).toEqual([]);

    // start: control plane first, the workers only once the API server answers; then Ready, then verify.
    const startEvents: LabEvent[] = [];
    const startFrom = l.vmrest.requestLog.length;
    const started = await startLab(l.spec, deps(l, startEvents), verifier(l), fastTiming);
    expect(started.verifySummary).toMatch(/^verify passed/);
    for (const n of l.spec.nodes) expect(l.nodeVm(n.name)!.power).toBe('poweredOn');
    const cpOn = powerCallIndex(l, 'k8s-master', 'on', startFrom);
    expect(cpOn).toBeGreaterThanOrEqual(0);
    expect(powerCallIndex(l, 'k8s-worker1', 'on', startFrom)).toBeGreaterThan(cpOn);
    const order = startEvents
      .map((e) =>
        e.type === 'node' && e.step === 'power-on' && e.phase === 'done'
          ? `on:${e.node}`
          : e.type === 'wait' && e.phase === 'done'
            ? e.what
            : e.type === 'verify' && e.phase !== 'progress'
              ? `verify:${e.phase}`
              : undefined,
      )
      .filter(Boolean);
    expect(order).toEqual([
      'on:k8s-master',
      'api-server',
      expect.stringMatching(/^on:k8s-worker/),
      expect.stringMatching(/^on:k8s-worker/),
      'nodes-ready',
      'verify:start',
      'verify:done',
    ]);
    // The guests booted as installed nodes: no first-boot stage ran again.
    expect(l.guests.rebooted.sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    const after = await readBuildState(l.spec.stateDir, l.spec.name);
    expect(after.stoppedAt).toBeUndefined();
    expect(after.startedAt).toBeDefined();
    for (const n of l.spec.nodes) expect(after.nodes[n.name]!.stopped).toBeUndefined();
  });

  it('a worker without VMware Tools is not powered off hard without --force: the stop ends there, and the rerun with --force finishes it', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    l.vmrest.setToolsInstalled(l.nodeVm('k8s-worker2')!.id, false);
    const events: LabEvent[] = [];

    const error = await stopLab(l.spec, deps(l, events), fastTiming).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KubestationError);
    expect((error as KubestationError).code).toBe('STOP_INCOMPLETE');
    const message = (error as KubestationError).message;
    expect(message).toContain('k8s-worker1: shut down');
    expect(message).toMatch(/k8s-worker2: still running — VMware Tools \(open-vm-tools\) do not report/);
    expect(message).toMatch(/k8s-master: not stopped/);
    expect((error as KubestationError).fix).toContain('.\\kubestation stop --force');
    expect(l.nodeVm('k8s-worker1')!.power).toBe('poweredOff');
    expect(l.nodeVm('k8s-worker2')!.power).toBe('poweredOn');
    expect(l.nodeVm('k8s-master')!.power).toBe('poweredOn');
    expect((await readBuildState(l.spec.stateDir, l.spec.name)).stoppedAt).toBeUndefined();

    // The same command with --force: worker1 skipped, worker2 powered off hard (reported), then the control plane.
    const rerun: LabEvent[] = [];
    const result = await stopLab(l.spec, deps(l, rerun), { ...fastTiming, force: true });
    expect(result.nodes).toEqual(
      expect.arrayContaining([
        { node: 'k8s-worker1', outcome: 'already off' },
        { node: 'k8s-worker2', outcome: 'powered off hard' },
        { node: 'k8s-master', outcome: 'shut down' },
      ]),
    );
    expect(rerun).toContainEqual(
      expect.objectContaining({
        type: 'warning',
        node: 'k8s-worker2',
        message: expect.stringMatching(/^powered off hard \(VMware Tools/),
      }),
    );
    expect(result.labStopped).toBe(true);
    const state = await readBuildState(l.spec.stateDir, l.spec.name);
    expect(state.nodes['k8s-worker2']!.stopped).toMatchObject({ hard: true });
    expect(state.stoppedAt).toBeDefined();
  });

  it('a guest that does not shut down in time is powered off hard after a yes on the terminal; a no leaves it running', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    l.vmrest.setGuestShutdown(l.nodeVm('k8s-worker1')!.id, { kind: 'ignore' });
    const asked: string[] = [];

    const refused = await stopLab(
      l.spec,
      deps(l, [], { confirmHardOff: async (node, reason) => (asked.push(`${node}: ${reason}`), false) }),
      { ...fastTiming, node: 'k8s-worker1' },
    ).catch((e: unknown) => e);
    expect((refused as KubestationError).code).toBe('STOP_INCOMPLETE');
    expect(asked).toEqual([
      expect.stringMatching(/^k8s-worker1: the guest did not shut down within 0.3 s \(it is poweredOn\)$/),
    ]);
    expect(l.nodeVm('k8s-worker1')!.power).toBe('poweredOn');

    const result = await stopLab(l.spec, deps(l, [], { confirmHardOff: async () => true }), {
      ...fastTiming,
      node: 'k8s-worker1',
    });
    expect(result.nodes).toEqual([{ node: 'k8s-worker1', outcome: 'powered off hard' }]);
    expect(result.labStopped).toBe(false);
    expect(l.nodeVm('k8s-worker1')!.power).toBe('poweredOff');
    expect(l.nodeVm('k8s-worker2')!.power).toBe('poweredOn');
    expect(l.nodeVm('k8s-master')!.power).toBe('poweredOn');
  });

  it('a start that fails half-way (a worker does not power on) is finished by running start again', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    await stopLab(l.spec, deps(l, []), fastTiming);
    // Workstation refuses the next two power-ons after the control plane's (e.g. a host out of memory).
    l.vmrest.injectFault({
      operation: 'setPowerState',
      onCall: 2,
      times: 50,
      kind: 'status',
      status: 500,
      code: 1,
      message: 'Insufficient memory to power on the virtual machine',
    });

    const error = await startLab(l.spec, deps(l, []), verifier(l), fastTiming).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubestationError);
    expect((error as Error).message).toContain('Insufficient memory');
    expect(l.nodeVm('k8s-master')!.power).toBe('poweredOn');
    expect([l.nodeVm('k8s-worker1')!.power, l.nodeVm('k8s-worker2')!.power]).toEqual([
      'poweredOff',
      'poweredOff',
    ]);
    l.vmrest.clearFaults();

    const events: LabEvent[] = [];
    const result = await startLab(l.spec, deps(l, events), verifier(l), fastTiming);
    expect(result.verifySummary).toMatch(/^verify passed/);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node', node: 'k8s-master', step: 'power-on', phase: 'skipped' }),
    );
    for (const n of l.spec.nodes) expect(l.nodeVm(n.name)!.power).toBe('poweredOn');
  });

  it('start fails (and says why) when verify fails after the restart', async () => {
    lab = await startDay2Lab({ linkPower: true, scenario: { crossNodePodTraffic: 'dropped' } });
    const l = lab;
    await stopLab(l.spec, deps(l, []), fastTiming);
    const events: LabEvent[] = [];
    const error = await startLab(l.spec, deps(l, events), verifier(l), fastTiming).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterVerifyError);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'verify',
        phase: 'failed',
        report: expect.objectContaining({ ok: false }),
      }),
    );
    expect((await readBuildState(l.spec.stateDir, l.spec.name)).startedAt).toBeUndefined();
  });

  it('start waits for the API server and names it when it never answers; the workers stay off', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    await stopLab(l.spec, deps(l, []), fastTiming);
    const closedPort = 'https://127.0.0.1:9';
    const error = await startLab(
      l.spec,
      { ...deps(l, []), kube: { ...l.kubeAccess, server: closedPort } },
      verifier(l),
      { ...fastTiming, apiTimeoutMs: 300 },
    ).catch((e: unknown) => e);
    expect((error as KubestationError).message).toContain(`the API server at ${closedPort} to answer`);
    expect((error as KubestationError).fix).toContain('KUBESTATION_API_SERVER');
    expect(l.nodeVm('k8s-master')!.power).toBe('poweredOn');
    expect(l.nodeVm('k8s-worker1')!.power).toBe('poweredOff');
    expect(l.nodeVm('k8s-worker2')!.power).toBe('poweredOff');
  });

  it('status shows suspended and paused VMs and a partly running lab; stop resumes them so their guests shut down, or powers them off hard only with --force', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    await l.client.setPowerState(l.nodeVm('k8s-worker1')!.id, 'suspend');
    await l.client.setPowerState(l.nodeVm('k8s-worker2')!.id, 'pause');
    const status = await collectStatus(l.spec, {
      vmrest: l.client,
      kube: l.kubeAccess,
      addressTimeoutMs: 100,
    });
    expect(status.nodes.map((n) => (n.vm.present ? n.vm.power : undefined))).toEqual([
      'poweredOn',
      'suspended',
      'paused',
    ]);
    expect(formatStatus(status)).toMatch(/k8s-worker1\s+worker\s+suspended/);
    expect(formatStatus(status)).toContain(
      'lab: partly running: k8s-worker1 is suspended, k8s-worker2 is paused; `.\\kubestation start` starts the rest in order and verifies',
    );

    // The paused worker is unpaused and shut down. The suspended one cannot be resumed here (its seed ISO, still
    // attached, was removed after the build): not shut down cleanly, so it is left alone without --force.
    const events: LabEvent[] = [];
    const error = await stopLab(l.spec, deps(l, events), fastTiming).catch((e: unknown) => e);
    expect((error as KubestationError).message).toMatch(
      /k8s-worker1: still running — it is suspended and could not be resumed to shut down cleanly \(.*seed\.iso' could not be found/,
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'node', node: 'k8s-worker2', step: 'resume', phase: 'done' }),
    );
    expect(l.nodeVm('k8s-worker2')!.power).toBe('poweredOff');
    expect(l.nodeVm('k8s-worker1')!.power).toBe('suspended');
    const forced = await stopLab(l.spec, deps(l, []), { ...fastTiming, force: true });
    expect(forced.nodes).toEqual(
      expect.arrayContaining([
        { node: 'k8s-worker1', outcome: 'powered off hard' },
        { node: 'k8s-master', outcome: 'shut down' },
      ]),
    );
    expect(forced.labStopped).toBe(true);
    // Off now, so its seed CD-ROM is detached: the next start does not trip over the missing ISO.
    expect(await seedCdrom(l, 'k8s-worker1')).toEqual({ startConnected: 'FALSE', fileName: '' });
  });

  it("refuses before any change when a VM with a node's name is not ours", async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    const vmxPath = l.nodeVm('k8s-worker1')!.vmxPath;
    const vmx = VmxFile.parse(await readFile(vmxPath, 'utf8'));
    vmx.set('kubestation.cluster', 'someone-else');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(vmxPath, vmx.toString());
    const before = l.vmrest.requestLog.length;
    const error = await stopLab(l.spec, deps(l, []), fastTiming).catch((e: unknown) => e);
    expect((error as KubestationError).code).toBe('VM_NOT_OWNED');
    expect(l.vmrest.requestLog.slice(before).filter((e) => e.operation === 'setPowerState')).toEqual([]);
    const startError = await startLab(l.spec, deps(l, []), verifier(l), fastTiming).catch((e: unknown) => e);
    expect((startError as KubestationError).code).toBe('VM_NOT_OWNED');
  });

  it('start with the control plane VM gone names rebuild-node with --force (it refuses the control plane without it)', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    await stopLab(l.spec, deps(l, []), fastTiming);
    await l.client.deleteVm(l.nodeVm('k8s-master')!.id);
    const error = await startLab(l.spec, deps(l, []), verifier(l), fastTiming).catch((e: unknown) => e);
    expect((error as KubestationError).code).toBe('NODE_VM_MISSING');
    expect((error as KubestationError).fix).toContain('rebuild-node k8s-master --force');
  });

  it('the commands: stop --dry-run prints the plan and changes nothing; stop --json; start prints per-node progress and exits 0 after verify', async () => {
    lab = await startDay2Lab({ linkPower: true });
    const l = lab;
    const before = l.vmrest.requestLog.length;
    const dry = await runDay2Command(l, runStop, ['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/plan \(stop\):\n  k8s-master\s+poweredOn\s+→ shut down/);
    expect(l.vmrest.requestLog.slice(before).filter((e) => e.operation === 'setPowerState')).toEqual([]);
    await expect(runDay2Command(l, runStop, ['--timeout', 'soon'])).rejects.toMatchObject({
      code: 'BAD_OPTION',
    });

    const stop = await runDay2Command(l, (ctx) => runStop(ctx, { timing: fastTiming }), ['--json']);
    expect(stop.code).toBe(0);
    const events = stop.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            type: string;
            node?: string;
            step?: string;
            phase?: string;
            message?: string;
          },
      );
    expect(events[0]).toMatchObject({ type: 'plan', command: 'stop' });
    expect(
      events
        .filter((e) => e.type === 'node' && e.step === 'shutdown' && e.phase === 'done')
        .map((e) => e.node),
    ).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({
      type: 'log',
      message: 'lab k8s-lab stopped; start it with `.\\kubestation start`',
    });

    const start = await runDay2Command(
      l,
      (ctx) => runStart(ctx, { timing: fastTiming, verify: fastVerify }),
      [],
    );
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/k8s-master: power-on done after \d+s \(poweredOff → poweredOn\)/);
    expect(start.stdout).toContain(`waiting for API server (${l.kubeApi.url})...`);
    expect(start.stdout).toMatch(/nodes Ready: ok after \d+s \(3 node\(s\) Ready\)/);
    expect(start.stdout).toMatch(/lab k8s-lab started: verify passed/);
  });
});
