import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildStatePath, readBuildState } from '../../src/bringup/state.js';
import { KubestationError } from '../../src/errors.js';
import { rebuildNode, type RebuildDeps } from '../../src/day2/rebuild.js';
import type { Secret } from '../../src/kube/index.js';
import {
  clusterSecretPaths,
  mintBootstrapToken,
  parseBootstrapToken,
  readRecordedBootstrapToken,
} from '../../src/pki/index.js';
import { startDay2Lab, type Day2Lab } from './lab.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

async function recordedToken(l: Day2Lab): Promise<string> {
  return (await readFile(clusterSecretPaths(l.spec.stateDir).bootstrapToken, 'utf8')).trim();
}

/** Each node's user-data as the seed writer wrote it (the state folder's copy is deleted once the node bootstrapped). */
const writtenUserData = new Map<string, string>();

/** Rebuild deps whose seed writer also records the user-data it wrote. */
function recordingSeeds(l: Day2Lab, overrides: Partial<RebuildDeps> = {}): RebuildDeps {
  const deps = l.rebuildDeps(overrides);
  const write = deps.writeSeed;
  return {
    ...deps,
    writeSeed: async (spec, node) => {
      const iso = await write(spec, node);
      writtenUserData.set(node.name, await readFile(path.join(path.dirname(iso), 'user-data'), 'utf8'));
      return iso;
    },
  };
}

/** The join token written into a node's seed (user-data). */
function seedToken(_l: Day2Lab, node: string): string | undefined {
  return /[a-z0-9]{6}\.[a-z0-9]{16}/.exec(writtenUserData.get(node) ?? '')?.[0];
}

/** A closed loopback port: connections are refused at once. */
const unreachableApi = 'https://127.0.0.1:9';

describe('rebuild-node: a worker', () => {
  for (const target of ['k8s-worker1', 'k8s-worker2']) {
    it(`rebuilds ${target} while the other VMs keep running and are never touched`, async () => {
      lab = await startDay2Lab();
      const l = lab;
      const others = l.spec.nodes
        .filter((n) => n.name !== target)
        .map((n) => ({ name: n.name, vm: l.nodeVm(n.name)! }));
      const otherVmx = new Map(
        await Promise.all(
          others.map(async (o) => [o.name, sha(await readFile(o.vm.vmxPath, 'utf8'))] as const),
        ),
      );
      const oldVm = l.nodeVm(target)!;
      const oldToken = await recordedToken(l);
      const vmrestBefore = l.vmrest.requestLog.length;
      const kubeBefore = l.kubeApi.requests.length;
      // The keys ssh recorded on earlier logins (ssh_config files them under the node names).
      const knownHosts = l.spec.nodes.map(
        (n) => `${n.name} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${n.name.replace(/-/g, '')}\n`,
      );
      await writeFile(path.join(l.spec.stateDir, 'known_hosts'), knownHosts.join(''));

      const result = await rebuildNode(l.spec, target, recordingSeeds(l), l.fast);

      expect(result).toMatchObject({ rebuilt: [target], readyConfirmed: true });
      // vmrest: nothing addressed to another node's VM; the old VM deleted, a new one cloned and powered on.
      const calls = l.vmrest.requestLog.slice(vmrestBefore);
      for (const o of others) expect(calls.filter((c) => c.params.id === o.vm.id)).toEqual([]);
      expect(
        calls.some((c) => c.operation === 'deleteVm' && c.params.id === oldVm.id && c.status === 204),
      ).toBe(true);
      expect(calls.filter((c) => c.operation === 'cloneVm' && c.status === 201)).toHaveLength(1);
      const newVm = l.nodeVm(target)!;
      expect(newVm.id).not.toBe(oldVm.id);
      expect(newVm.power).toBe('poweredOn');
      for (const o of others) {
        expect(l.nodeVm(o.name)).toMatchObject({ id: o.vm.id, power: 'poweredOn' });
        expect(sha(await readFile(o.vm.vmxPath, 'utf8'))).toBe(otherVmx.get(o.name));
      }

      // Kubernetes: fresh token registered, the node cordoned, drained and deleted; others untouched.
      const kubeCalls = l.kubeApi.requests.slice(kubeBefore);
      const newToken = parseBootstrapToken(await recordedToken(l))!;
      expect(newToken.token).not.toBe(oldToken);
      const secret = l.kubeApi.get<Secret>('secrets', 'kube-system', `bootstrap-token-${newToken.id}`)!;
      expect(secret.type).toBe('bootstrap.kubernetes.io/token');
      expect(Buffer.from(secret.data!['token-secret']!, 'base64').toString()).toBe(newToken.secret);
      const expiration = Date.parse(Buffer.from(secret.data!.expiration!, 'base64').toString());
      expect(expiration).toBeGreaterThan(Date.now() + 29 * 24 * 3600_000);
      // Recorded with the time it was registered: TTL after it is the Secret's expiration (to the second).
      const recorded = await readRecordedBootstrapToken(l.spec.stateDir);
      expect(recorded).toMatchObject({ token: newToken, issuedAtSource: 'record' });
      expect(Math.abs(recorded!.issuedAt.getTime() + 720 * 3600_000 - expiration)).toBeLessThan(1000);
      expect(
        kubeCalls.find((r) => r.method === 'PATCH' && r.path === `/api/v1/nodes/${target}`)?.body,
      ).toEqual({ spec: { unschedulable: true } });
      expect(kubeCalls.some((r) => r.method === 'DELETE' && r.path === `/api/v1/nodes/${target}`)).toBe(true);
      for (const o of others)
        expect(kubeCalls.filter((r) => r.path === `/api/v1/nodes/${o.name}` && r.method !== 'GET')).toEqual(
          [],
        );
      // The new seed carries the new token; the node registered again and is Ready.
      expect(seedToken(l, target)).toBe(newToken.token);
      // Once it bootstrapped, the secret-bearing copies are gone from the state folder again.
      expect(existsSync(path.join(l.spec.stateDir, target, 'user-data'))).toBe(false);
      expect(l.kubeApi.get('nodes', undefined, target)).toBeDefined();
      // State: the node's record describes the new VM; its seed ISO is gone.
      const state = await readBuildState(l.spec.stateDir, l.spec.name);
      expect(state.nodes[target]).toMatchObject({ vmxPath: newVm.vmxPath, vmId: newVm.id, step: 'power-on' });
      expect(state.nodes[target]!.completedAt).toBeDefined();
      expect(existsSync(path.join(l.spec.stateDir, target, 'seed.iso'))).toBe(false);
      expect(l.logs.join('\n')).not.toContain(newToken.secret);
      // The new VM has new host keys: its old one is forgotten, so the next ssh records the new one.
      expect(await readFile(path.join(l.spec.stateDir, 'known_hosts'), 'utf8')).toBe(
        knownHosts.filter((line) => !line.startsWith(`${target} `)).join(''),
      );
    });
  }

  it('stops with the state file named when it cannot record that the node finished', async () => {
    lab = await startDay2Lab();
    const stateFile = buildStatePath(lab.spec.stateDir);
    let broken = false;
    const failed = await rebuildNode(
      lab.spec,
      'k8s-worker2',
      lab.rebuildDeps({
        emit: (e) => {
          // The state file turns into a folder as the node's final line is read: that write fails.
          if (!broken && e.type === 'stage' && e.event === 'done') {
            broken = true;
            rmSync(stateFile);
            mkdirSync(stateFile);
          }
        },
      }),
      lab.fast,
    ).catch((error: unknown) => error);
    expect(broken).toBe(true);
    expect(failed).toBeInstanceOf(KubestationError);
    expect((failed as KubestationError).code).toBe('STATE_WRITE_FAILED');
    expect((failed as KubestationError).message).toContain(
      `could not record in ${stateFile} that k8s-worker2 finished its first boot`,
    );
  });

  it('rebuilds a worker whose VM is already gone', async () => {
    lab = await startDay2Lab();
    const old = lab.nodeVm('k8s-worker2')!;
    await lab.client.setPowerState(old.id, 'off');
    await lab.client.deleteVm(old.id);

    const result = await rebuildNode(lab.spec, 'k8s-worker2', lab.rebuildDeps(), lab.fast);
    expect(result.readyConfirmed).toBe(true);
    expect(lab.nodeVm('k8s-worker2')?.power).toBe('poweredOn');
    expect(lab.logs).toContain('k8s-worker2: no VM to delete (vmrest lists none for this node)');
  });

  it("approves the rebuilt kubelet's serving certificate request (metrics add-on), not only the old one", async () => {
    lab = await startDay2Lab();
    const l = lab;
    const csrsOf = (node: string) =>
      l.kubeApi
        .allObjects()
        .filter(
          (o) =>
            o.kind === 'CertificateSigningRequest' &&
            (o.spec as { username?: string }).username === `system:node:${node}`,
        );
    // The old kubelet's requests, filed when the lab started.
    await expect.poll(() => csrsOf('k8s-worker1').length).toBeGreaterThan(0);
    const before = new Set(csrsOf('k8s-worker1').map((c) => c.metadata.name));
    // creationTimestamp has whole seconds: on a real node the old request is far older than the rebuild.
    await new Promise((resolve) => setTimeout(resolve, 1100));

    await rebuildNode(l.spec, 'k8s-worker1', l.rebuildDeps(), l.fast);
    const fresh = csrsOf('k8s-worker1').filter((c) => !before.has(c.metadata.name));
    expect(fresh).toHaveLength(1);
    expect(l.logs).toContain(
      `k8s-worker1: approved its kubelet's serving certificate request ${fresh[0]!.metadata.name}`,
    );
    const approval = l.kubeApi.requests.filter(
      (r) => r.method === 'PUT' && r.path.endsWith(`/${fresh[0]!.metadata.name}/approval`),
    );
    expect(approval).toHaveLength(1);
  });

  it('rebuilds a powered-off worker without a power-off call', async () => {
    lab = await startDay2Lab();
    const old = lab.nodeVm('k8s-worker1')!;
    await lab.client.setPowerState(old.id, 'off');
    const before = lab.vmrest.requestLog.length;
    await rebuildNode(lab.spec, 'k8s-worker1', lab.rebuildDeps(), lab.fast);
    const offCalls = lab.vmrest.requestLog
      .slice(before)
      .filter((c) => c.operation === 'setPowerState' && c.params.id === old.id);
    expect(offCalls).toEqual([]);
    expect(lab.nodeVm('k8s-worker1')?.power).toBe('poweredOn');
  });

  it('with the API server unreachable, rebuilds with the recorded token while it is valid, and warns', async () => {
    lab = await startDay2Lab();
    const token = await recordedToken(lab);
    const kubeBefore = lab.kubeApi.requests.length;
    const result = await rebuildNode(
      lab.spec,
      'k8s-worker1',
      recordingSeeds(lab, { kube: { ...lab.kubeAccess, server: unreachableApi } }),
      lab.fast,
    );

    expect(result.readyConfirmed).toBe(false);
    expect(result.warnings.join('\n')).toMatch(/API server does not answer.*not drained.*recorded token/);
    expect(seedToken(lab, 'k8s-worker1')).toBe(token);
    // Only the simulated kubelet's own registration check reached the fake API server.
    expect(
      lab.kubeApi.requests
        .slice(kubeBefore)
        .filter((r) => !(r.method === 'GET' && r.path === '/api/v1/nodes/k8s-worker1')),
    ).toEqual([]);
    expect(lab.nodeVm('k8s-worker1')?.power).toBe('poweredOn');
  });

  it('with the API server unreachable and the recorded token expired, fails before changing anything', async () => {
    lab = await startDay2Lab();
    const longAgo = new Date(Date.now() - 31 * 24 * 3600_000); // ttl is 720h
    // Recorded as issued long ago; the token file itself is fresh (its time is not what counts).
    const recorded = await readRecordedBootstrapToken(lab.spec.stateDir);
    await mintBootstrapToken(lab.spec.stateDir, recorded!.token, longAgo);
    const vm = lab.nodeVm('k8s-worker1')!;
    const before = lab.vmrest.requestLog.length;

    const error = await rebuildNode(
      lab.spec,
      'k8s-worker1',
      lab.rebuildDeps({ kube: { ...lab.kubeAccess, server: unreachableApi } }),
      lab.fast,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'REBUILD_NO_VALID_TOKEN' });
    expect((error as Error).message).toMatch(
      /does not answer.*recorded join token expired.*nothing was changed/s,
    );
    expect((error as { fix: string }).fix).toMatch(/make the API server reachable/);
    expect(lab.vmrest.requestLog.slice(before).filter((c) => c.method !== 'GET')).toEqual([]);
    expect(lab.nodeVm('k8s-worker1')).toMatchObject({ id: vm.id, power: 'poweredOn' });
  });
});

describe('rebuild-node: the control plane', () => {
  it('is refused without --force, with an explanation, before anything is touched', async () => {
    lab = await startDay2Lab();
    const before = lab.vmrest.requestLog.length;
    const error = await rebuildNode(lab.spec, 'k8s-master', lab.rebuildDeps(), lab.fast).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'REBUILD_CONTROL_PLANE_NEEDS_FORCE' });
    expect((error as Error).message).toMatch(
      /re-creates the cluster.*every workload.*lost.*k8s-worker1, k8s-worker2.*CA is kept/s,
    );
    expect((error as { fix: string }).fix).toContain('.\\kubestation rebuild-node k8s-master --force');
    expect(lab.vmrest.requestLog.length).toBe(before);
  });

  it('with --force re-creates the control plane with the same CA, then each worker in order', async () => {
    lab = await startDay2Lab();
    const caBefore = await readFile(clusterSecretPaths(lab.spec.stateDir).caCert, 'utf8');
    const oldIds = lab.spec.nodes.map((n) => lab!.nodeVm(n.name)!.id);
    const before = lab.vmrest.requestLog.length;

    const result = await rebuildNode(lab.spec, 'k8s-master', recordingSeeds(lab), {
      ...lab.fast,
      force: true,
    });

    expect(result).toMatchObject({
      rebuilt: ['k8s-master', 'k8s-worker1', 'k8s-worker2'],
      readyConfirmed: true,
    });
    expect(await readFile(clusterSecretPaths(lab.spec.stateDir).caCert, 'utf8')).toBe(caBefore);
    for (const [i, n] of lab.spec.nodes.entries()) expect(lab.nodeVm(n.name)!.id).not.toBe(oldIds[i]);
    const clones = lab.vmrest.requestLog
      .slice(before)
      .filter((c) => c.operation === 'cloneVm' && c.status === 201);
    expect(clones.map((c) => (JSON.parse(c.requestBody) as { name: string }).name)).toEqual([
      'k8s-master',
      'k8s-worker1',
      'k8s-worker2',
    ]);
    const token = await recordedToken(lab);
    for (const n of lab.spec.nodes) expect(seedToken(lab, n.name)).toBe(token);
  });
});

describe('rebuild-node: refusals', () => {
  it('names the nodes when the name is unknown', async () => {
    lab = await startDay2Lab({ build: false });
    await expect(rebuildNode(lab.spec, 'k8s-worker9', lab.rebuildDeps(), lab.fast)).rejects.toMatchObject({
      code: 'UNKNOWN_NODE',
      message: expect.stringContaining('k8s-master, k8s-worker1, k8s-worker2'),
    });
  });
});

describe('rebuild-node: foreign VMs', () => {
  it("refuses to delete an unmarked VM that took the node's name after a build, and changes nothing", async () => {
    lab = await startDay2Lab();
    // The user replaced our worker with a VM of their own of the same name (no kubestation marker).
    const ours = lab.nodeVm('k8s-worker2')!;
    const vmxText = await readFile(ours.vmxPath, 'utf8');
    await lab.client.setPowerState(ours.id, 'off');
    await writeFile(ours.vmxPath, vmxText.replace(/^kubestation\..*$/gm, ''));
    const before = lab.vmrest.requestLog.length;
    const kubeBefore = lab.kubeApi.requests.length;

    const error = await rebuildNode(lab.spec, 'k8s-worker2', lab.rebuildDeps(), lab.fast).catch(
      (e: unknown) => e,
    );
    // Preflight reports it (the clone was finished, so an unmarked VM of this name is the user's).
    expect(error).toMatchObject({
      code: 'PREFLIGHT_FAILED',
      problems: [{ code: 'VM_NAME_TAKEN', message: expect.stringContaining('no kubestation marker') }],
    });
    expect(
      lab.vmrest.requestLog
        .slice(before)
        .filter((c) => c.operation === 'deleteVm' || c.operation === 'cloneVm'),
    ).toEqual([]);
    expect(existsSync(ours.vmxPath)).toBe(true);
    expect(lab.kubeApi.requests.slice(kubeBefore).filter((r) => r.method !== 'GET')).toEqual([]);
  });
});
