import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeFailedError } from '../../src/bringup/follow.js';
import type { BuildVmrest } from '../../src/bringup/ports.js';
import { stagesFor, type StageName } from '../../src/progress/stages.js';
import { readBuildState } from '../../src/bringup/state.js';
import { startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

async function failure(l: TestLab): Promise<NodeFailedError> {
  const error = await l.build().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NodeFailedError);
  return error as NodeFailedError;
}

const cases: Array<{ node: string; stage: StageName }> = [
  ...stagesFor('control-plane').map((s) => ({ node: 'k8s-master', stage: s.name })),
  ...stagesFor('worker').map((s) => ({ node: 'k8s-worker2', stage: s.name })),
];

describe('a guest that reports a failure', () => {
  it.each(cases)(
    '$node failing at $stage stops the build with the node, the stage and its log',
    async ({ node, stage }) => {
      lab = await startTestLab({
        guest: {
          firstReportMs: 2,
          stageMs: 2,
          failAt: { stage, nodes: [node], message: `simulated ${stage} error` },
        },
      });
      const error = await failure(lab);
      expect(error.code).toBe('NODE_STAGE_FAILED');
      expect(error.node).toBe(node);
      expect(error.stage).toBe(stage);
      expect(error.message).toContain(`node "${node}" failed at stage "${stage}"`);
      expect(error.message).toContain(`simulated ${stage} error`);
      // The guest's log tail, once and decoded (not again as the raw console line with %0A escapes).
      expect(error.message.split(`E: simulated failure in ${stage}`)).toHaveLength(2);
      expect(error.message).not.toContain('%0A');
      expect(error.message).not.toContain('KUBESTATION 1');
      // The VMs stay up for a look inside, and the fix is a rebuild command, not a manual VM deletion.
      expect(error.message).toContain(`ssh -F ${path.join(lab.spec.stateDir, 'ssh_config')} ${node}`);
      expect(existsSync(path.join(lab.spec.stateDir, 'ssh_config'))).toBe(true);
      expect(error.fix).toContain(
        `.\\kubestation rebuild-node ${node}${node === 'k8s-master' ? ' --force' : ''}`,
      );
      expect(error.fix).not.toContain('delete its VM');
      expect(error.failures.map((f) => f.node)).toEqual([node]);
      // Nothing is marked ready, and the state keeps every VM (no orphans, nothing deleted).
      const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
      expect(state.readyAt).toBeUndefined();
      expect(lab.nodeVms()).toHaveLength(3);
    },
  );
});

describe('a guest that goes silent', () => {
  it('mid-stage: the build stops once the stage deadline passes', async () => {
    lab = await startTestLab({
      guest: { firstReportMs: 2, stageMs: 2, silentAt: { stage: 'packages', nodes: ['k8s-worker1'] } },
    });
    const error = await failure(lab);
    expect(error.code).toBe('NODE_STAGE_TIMEOUT');
    expect(error.node).toBe('k8s-worker1');
    expect(error.stage).toBe('packages');
    // packages: 1800 s + 120 s grace, scaled by the test's 0.001.
    expect(error.message).toContain('node "k8s-worker1" went silent at stage "packages"');
    // packages: 1800 s + 120 s grace, scaled by the test's 0.001.
    expect(error.message).toMatch(/stage "packages" started [\d.]+ s ago and did not finish within 1\.9 s/);
    // Its console tail, progress lines decoded.
    expect(error.message).toContain('[kubestation] packages start: containerd, kubelet');
    expect(error.message).not.toContain('KUBESTATION 1');
  });

  it('before its first line: the first-report deadline applies', async () => {
    lab = await startTestLab({ guest: { silentAt: { stage: 'boot', nodes: ['k8s-master'] } } });
    const error = await failure(lab);
    expect(error.code).toBe('NODE_STAGE_TIMEOUT');
    expect(error.node).toBe('k8s-master');
    expect(error.stage).toBe('boot');
    expect(error.message).toContain('printed no progress line since power-on within 1 s');
    expect(error.message).toContain('Linux version'); // console tail
  });

  it('a guest whose NICs do not carry the spec MACs fails at packages (network-config matched no adapter)', async () => {
    lab = await startTestLab();
    // Sabotage: after the NIC step and before power-on, worker1's NAT MAC is changed in its .vmx.
    const { editOwnedVmx } = await import('../../src/bringup/apply.js');
    const client = lab.client;
    const names = [
      'listVms',
      'findVm',
      'cloneVm',
      'registerVm',
      'updateVm',
      'getPowerState',
      'setPowerState',
      'addNic',
      'updateNic',
      'setMacToIp',
      'listVmnets',
      'setParam',
    ] as const;
    const vmrest = Object.fromEntries(
      names.map((n) => [n, (client[n] as (...a: unknown[]) => unknown).bind(client)]),
    ) as unknown as BuildVmrest;
    vmrest.registerVm = async (params) => {
      if (params.name === 'k8s-worker1') {
        const vm = lab!.nodeVms().find((v) => v.vmxPath.endsWith('k8s-worker1.vmx'))!;
        await editOwnedVmx(
          { spec: lab!.spec, vmrest: client },
          lab!.spec.nodes[1]!,
          vm,
          (vmx) => void vmx.set('ethernet0.address', '00:50:56:00:00:01'),
        );
      }
      return client.registerVm(params);
    };
    const result = lab.build({}, { vmrest });
    const error = (await result.catch((e: unknown) => e)) as NodeFailedError;
    expect(error).toBeInstanceOf(NodeFailedError);
    expect(error.node).toBe('k8s-worker1');
    expect(error.message).toContain('network-config matched no adapter');
  });
});
