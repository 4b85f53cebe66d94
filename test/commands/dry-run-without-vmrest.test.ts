/**
 * `build-vms --dry-run` with vmrest not running (issue 21 §4): the plan from cluster.yaml and the state
 * folder, what could not be checked, no password asked for and nothing created. A real run with vmrest down
 * stops before asking for credentials. vmrest's address is a loopback port nothing listens on.
 */
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { runBuildVms } from '../../src/commands/build-vms.js';
import { loadClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { APPLY_STEPS, BuildStateStore } from '../../src/bringup/state.js';
import { captureOutput } from '../template/fixtures.js';
import { shippedClusterYaml, tempDir } from '../cloudinit/fixtures.js';

/** A loopback port that refuses connections (taken, then released). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir: string;
let spec: ClusterSpec;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = tempDir('dry-run-offline');
  writeFileSync(path.join(dir, 'cluster.yaml'), shippedClusterYaml);
  spec = await loadClusterSpec(path.join(dir, 'cluster.yaml'));
  // No VMREST_USERNAME/PASSWORD and no terminal: asking for them would fail with VMREST_CREDENTIALS_MISSING.
  env = { HOME: dir, VMREST_URL: `http://127.0.0.1:${await closedPort()}/api` };
});

async function buildVmsCommand(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = captureOutput();
  const err = captureOutput();
  const code = await runBuildVms({ argv, stdout: out.stream, stderr: err.stream, env, cwd: dir });
  return { code, out: out.text(), err: err.text() };
}

describe('build-vms --dry-run without vmrest', () => {
  it('plans a lab never built from cluster.yaml, says what it could not check, and creates nothing', async () => {
    const { code, out, err } = await buildVmsCommand(['--dry-run']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain(`vmrest is not answering at ${env.VMREST_URL}`);
    expect(out).toContain(
      'Not checked: the host networks (vmnets), the VM library (which node VMs exist, their power state',
    );
    for (const node of spec.nodes)
      expect(out).toMatch(new RegExp(`^  ${node.name} +create: clone the template`, 'm'));
    expect(out).toContain('(dry run: nothing was changed)');
    expect(existsSync(spec.stateDir)).toBe(false);
  });

  it('plans from state.json: a complete node left alone, a half-built one resumed, a node no longer listed', async () => {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.update((s) => {
      s.nodes['k8s-master'] = {
        vmName: 'k8s-master',
        role: 'control-plane',
        vmxPath: 'D:\\VMs\\k8s-master\\k8s-master.vmx',
        step: 'power-on',
        stepsDoneAt: {},
        completedAt: '2026-12-01T10:00:00.000Z',
      };
      s.nodes['k8s-worker1'] = {
        vmName: 'k8s-worker1',
        role: 'worker',
        vmxPath: 'D:\\VMs\\k8s-worker1\\k8s-worker1.vmx',
        step: 'nics',
        stepsDoneAt: {},
      };
      s.nodes['k8s-worker9'] = { vmName: 'k8s-worker9', role: 'worker', stepsDoneAt: {}, step: 'power-on' };
    });
    const { code, out } = await buildVmsCommand(['--dry-run', '--json']);
    expect(code).toBe(0);
    const events = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; message?: string; nodes?: unknown; remove?: unknown });
    expect(events.map((e) => e.type)).toEqual(['warning', 'plan', 'result']);
    expect(events[0]!.message).toContain('so this plan comes from cluster.yaml and');
    expect(events[1]!.nodes).toEqual([
      { node: 'k8s-master', status: 'complete', actions: [] },
      {
        node: 'k8s-worker1',
        status: 'resume',
        actions: ['disk', 'seed', 'console', 'reservation', 'register', 'power-on'],
      },
      {
        node: 'k8s-worker2',
        status: 'create',
        actions: [...APPLY_STEPS],
      },
    ]);
    expect(events[1]!.remove).toEqual([{ node: 'k8s-worker9', controlPlane: false }]);

    const text = await buildVmsCommand(['--dry-run']);
    expect(text.out).toMatch(
      /k8s-worker1 +resume: grow the disk .* \(as recorded; whether its VM exists and is off was not checked\)/,
    );
    expect(text.out).toMatch(/k8s-master +complete since 2026-12-01T10:00:00.000Z; left untouched/);
    expect(text.out).toContain('k8s-worker9');
  });

  it('a real run stops at once, naming vmrest, without asking for its credentials or creating anything', async () => {
    const { code, out, err } = await buildVmsCommand([]);
    expect(code).toBe(1);
    expect(out).toBe('preflight: 1 problem(s)\n');
    expect(err).toContain(`vmrest is not answering at ${env.VMREST_URL}`);
    expect(err).toContain('.\\vmrest.exe');
    expect(err).not.toContain('VMREST_CREDENTIALS_MISSING');
    expect(err).not.toContain('credentials are not set');
    expect(existsSync(spec.stateDir)).toBe(false);
  });
});
