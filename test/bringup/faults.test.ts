/**
 * vmrest faults at each apply call: a build either rides them out (bounded
 * retries) or stops with a clear message; the next run converges with no
 * duplicate or orphaned VM.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FaultAction } from '../../simulators/vmrest-simulator.js';
import type { VmrestOperationId } from '../../src/vmrest/client.js';
import { VmrestCloneUncertainError } from '../../src/vmrest/errors.js';
import { inspectOwnership } from '../../src/bringup/ownership.js';
import { startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

const operations: VmrestOperationId[] = ['cloneVm', 'updateVm', 'setMacToIp', 'registerVm', 'setPowerState'];
const faults: Array<{ name: string; fault: FaultAction & { times: number } }> = [
  { name: '503 once', fault: { kind: 'status', status: 503, times: 1 } },
  { name: '500 every time', fault: { kind: 'status', status: 500, times: Infinity } },
  { name: 'dropped connection', fault: { kind: 'drop', times: 1 } },
  { name: 'hang past the timeout', fault: { kind: 'hang', times: 1 } },
  { name: '409 conflict', fault: { kind: 'status', status: 409, code: 107, times: 1 } },
];

describe.each(operations)('vmrest fault on %s', (operation) => {
  it.each(faults)('$name: retried or stopped clearly, then the next run converges', async ({ fault }) => {
    lab = await startTestLab({
      client: { timeouts: { defaultMs: 300, cloneMs: 300, powerMs: 300, deleteMs: 300 } },
    });
    lab.vmrest.injectFault({ operation, ...fault });
    const first = await lab.build().then(
      (r) => r.status,
      (e: unknown) => e,
    );
    if (first !== 'ready') {
      const error = first as { code?: string; message: string; fix?: string };
      expect(error.code).toMatch(/^VMREST_|^VM_/);
      expect(error.message).toMatch(/vmrest|VM/);
      expect(error.fix).toBeTruthy();
    }
    lab.vmrest.clearFaults();
    const second = await lab.build({}, { vmrest: lab.newClient() });
    expect(second.status).toBe('ready');
    expect(lab.nodeVms()).toHaveLength(3);
    expect((await readdir(lab.clonesFolder)).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']); // the template stays in the state folder
  });
});

it('vmrest restarting mid-build: the run resumes after it comes back', async () => {
  lab = await startTestLab({ latencies: { cloneMs: 50 } });
  const sim = lab.vmrest;
  let restarted: Promise<void> | undefined;
  // vmrest goes away while the nodes are being configured, and comes back 30 ms later.
  await lab
    .build(
      {},
      {
        emit: (e) =>
          void (
            e.type === 'step' &&
            e.step === 'nics' &&
            (restarted ??= new Promise((r) => setTimeout(r, 20)).then(() => sim.restart({ downMs: 30 })))
          ),
      },
    )
    .catch((e: unknown) => e);
  await restarted;
  const again = await lab.build({}, { vmrest: lab.newClient() });
  expect(again.status).toBe('ready');
  expect(lab.nodeVms()).toHaveLength(3);
  expect(lab.vmrest.callCount('cloneVm')).toBe(3);
});

it('clone replies lost while vmrest is still copying: one copy per node, and a run started during the copies adopts them', async () => {
  const timeouts = { defaultMs: 1_500, cloneMs: 100, powerMs: 1_500, deleteMs: 1_500 };
  lab = await startTestLab({
    latencies: { cloneMs: 700 },
    client: { timeouts: { ...timeouts, cloneSettleMs: 50 } },
  });
  // Each POST times out while the copy runs; the re-list finds nothing yet, the retry is refused (folder exists).
  const first = await lab.build().catch((e: unknown) => e);
  expect(first).toBeInstanceOf(VmrestCloneUncertainError);
  const error = first as VmrestCloneUncertainError;
  const node = lab.spec.nodes.find((n) => error.message.includes(`"${n.name}"`))!;
  expect(error.fix).toContain(`delete ${path.join(lab.clonesFolder, node.name)}`);
  expect(
    lab
      .nodeVms()
      .every((vm) => path.basename(vm.vmxPath, '.vmx') === path.basename(path.dirname(vm.vmxPath))),
  ).toBe(true);

  // Run again at once, the copies still running: each folder is this build's own clone, waited for and adopted.
  const second = await lab.build(
    {},
    { vmrest: lab.newClient({ timeouts: { ...timeouts, cloneSettleMs: 5_000 } }) },
  );
  expect(second.status).toBe('ready');
  expect(
    lab
      .nodeVms()
      .map((v) => path.basename(v.vmxPath))
      .sort(),
  ).toEqual(['k8s-master.vmx', 'k8s-worker1.vmx', 'k8s-worker2.vmx']);
  expect((await readdir(lab.clonesFolder)).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']); // the template stays in the state folder
  const statuses = lab.vmrest.requestLog.filter((e) => e.operation === 'cloneVm').map((e) => e.status);
  expect(statuses.filter((s) => s !== 409)).toHaveLength(3); // every other POST was refused, nothing copied twice
  const waited = lab.events.filter(
    (e) => e.type === 'warning' && e.message.includes('exists from a clone an earlier run started'),
  );
  expect(waited).toHaveLength(3);
  for (const vm of lab.nodeVms())
    expect(await inspectOwnership(vm.vmxPath, lab.spec.name)).toEqual({
      kind: 'ours',
      node: path.basename(vm.vmxPath, '.vmx'),
    });
});
