/**
 * A lab that was never built (src/day2/lab-state.ts): no state.json, and no
 * VM of this cluster in vmrest's list. Every day-2 command that needs a lab
 * says "no lab built yet" with the command that builds one, exits non-zero
 * and writes nothing (no state.json, no state folder, no VM); status and
 * doctor say "not built yet" and never propose rebuild-node. The same holds
 * with vmrest down. A half-built lab (one node cloned) is not "never built".
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { BuildStateStore } from '../../src/bringup/state.js';
import { labNeverBuilt } from '../../src/bringup/lab-state.js';
import { VmrestSimulator } from '../../simulators/vmrest-simulator.js';
import { seedLabText } from '../config/bad-spec-cases.js';
import { captureOutput } from '../template/fixtures.js';

let dir: string;
let spec: ClusterSpec;
let vmrest: VmrestSimulator;
let closedPort: string;

/** A loopback port nothing listens on: vmrest not running. */
async function unusedPort(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/api`;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-never-built-'));
  await writeFile(path.join(dir, 'cluster.yaml'), seedLabText);
  spec = parseClusterSpec(seedLabText, { sourcePath: path.join(dir, 'cluster.yaml') });
  vmrest = await VmrestSimulator.start({
    defaultVmFolder: path.join(dir, 'Virtual Machines'),
    username: 'kube',
    password: 'Not-shown-1',
  });
  closedPort = await unusedPort();
});

afterEach(async () => {
  await vmrest.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(argv: string[], env: Record<string, string> = {}) {
  const out = captureOutput();
  const err = captureOutput();
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: {
      VMREST_URL: vmrest.url,
      VMREST_USERNAME: 'kube',
      VMREST_PASSWORD: 'Not-shown-1',
      KUBESTATION_API_SERVER: closedPort.replace('http:', 'https:').replace('/api', ''),
      APPDATA: path.join(dir, 'AppData'),
      USERPROFILE: dir,
      ...env,
    },
    cwd: dir,
  });
  return { code, stdout: out.text(), stderr: err.text() };
}

const refusals: string[][] = [
  ['stop'],
  ['stop', '--node', 'k8s-worker1'],
  ['start'],
  ['snapshot', 'save', 'before-upgrade'],
  ['snapshot', 'restore', 'before-upgrade'],
  ['verify'],
  ['rebuild-node', 'k8s-worker1'],
  ['rebuild-node', 'k8s-master', '--force'],
];

describe.each([
  ['vmrest running', () => ({})],
  ['vmrest not running', () => ({ VMREST_URL: closedPort })],
])('a lab never built, %s', (_, env) => {
  it.each(refusals)(
    '%s refuses with the command that builds the lab, and writes nothing',
    async (...argv) => {
      const { code, stdout, stderr } = await cli(argv, env());
      expect(code).not.toBe(0);
      expect(stderr).toContain('no lab built yet: cluster k8s-lab has no VM');
      expect(stderr).toContain('nothing was changed');
      expect(stderr).toContain('fix: build the lab first: .\\kubestation up');
      expect(stdout).not.toMatch(/stopped|started|rebuilt|saved|restored/);
      expect(existsSync(spec.stateDir)).toBe(false);
      expect(vmrest.vms()).toEqual([]);
      expect(vmrest.callCount('cloneVm')).toBe(0);
    },
  );

  it('status says "not built yet" with the command that builds it', async () => {
    const { code, stdout } = await cli(['status'], env());
    expect(code).toBe(0);
    expect(stdout).toContain('lab: not built yet: cluster k8s-lab has no VM');
    expect(stdout).toContain('.\\kubestation up');
    expect(stdout).not.toContain('unknown');
    expect(existsSync(spec.stateDir)).toBe(false);
  });

  it('doctor says "not built yet" and never proposes rebuild-node', async () => {
    const { stdout } = await cli(['doctor', '--json'], env());
    const checks = (JSON.parse(stdout) as { checks: Array<{ id: string; detail: string; fix?: string }> })
      .checks;
    expect(checks.find((c) => c.id === 'lab')).toMatchObject({
      detail: expect.stringContaining('not built yet'),
      fix: expect.stringContaining('.\\kubestation up'),
    });
    expect(checks.map((c) => c.fix ?? '').join('\n')).not.toContain('rebuild-node');
    expect(existsSync(spec.stateDir)).toBe(false);
  });
});

it('build-vms --dry-run creates no state folder', async () => {
  await cli(['build-vms', '--dry-run']);
  expect(existsSync(spec.stateDir)).toBe(false);
  // 'Virtual Machines' is the vmrest simulator's own library folder.
  expect((await readdir(dir)).filter((f) => f !== 'Virtual Machines')).toEqual(['cluster.yaml']);
});

describe('half built is not never built', () => {
  it('a node whose clone was recorded makes the lab half built', async () => {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.update((s) => {
      s.nodes['k8s-master'] = {
        vmName: 'k8s-master',
        stepsDoneAt: {},
        cloneStartedAt: new Date().toISOString(),
      };
    });
    expect(await labNeverBuilt(spec, [])).toBeUndefined();
  });

  it('an empty state.json (what stop wrote before) still counts as never built', async () => {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await store.update((s) => void (s.stoppedAt = new Date().toISOString()));
    expect(await labNeverBuilt(spec, [])).toMatchObject({ reason: expect.stringContaining('has no VM') });
  });

  it("a VM carrying this cluster's marker in vmrest's list makes the lab half built even with no record", async () => {
    const vmx = path.join(dir, 'Virtual Machines', 'k8s-master', 'k8s-master.vmx');
    await rm(path.dirname(vmx), { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(vmx), { recursive: true }));
    await writeFile(
      vmx,
      '.encoding = "UTF-8"\nkubestation.cluster = "k8s-lab"\nkubestation.node = "k8s-master"\n',
    );
    expect(await labNeverBuilt(spec, [{ id: 'X', path: vmx }])).toBeUndefined();
    const foreign = path.join(dir, 'other.vmx');
    await writeFile(foreign, '.encoding = "UTF-8"\nkubestation.cluster = "other-lab"\n');
    expect(await labNeverBuilt(spec, [{ id: 'Y', path: foreign }])).toBeDefined();
  });
});
