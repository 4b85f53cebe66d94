/**
 * Adding and removing workers by editing cluster.yaml, against the vmrest
 * simulator, simulated guests and the fake Kubernetes API server: validate and
 * the plan name the change first; build-vms builds only the added worker (with
 * a fresh join token when the recorded one expired) and removes a worker only
 * with --prune; a removal that fails half-way is finished by the rerun; the
 * control plane cannot be removed this way.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { buildVms } from '../../src/bringup/build-vms.js';
import { cloudInitSeedWriter } from '../../src/bringup/real-deps.js';
import { readBuildState } from '../../src/bringup/state.js';
import { loadClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import type { Node, Secret } from '../../src/kube/index.js';
import { mintBootstrapToken, readRecordedBootstrapToken } from '../../src/pki/index.js';
import type { SimulatorExchange } from '../../simulators/vmrest-simulator.js';
import { captureOutput } from '../template/fixtures.js';
import { repoRoot } from '../bringup/lab.js';
import { startDay2Lab, type Day2Lab } from './lab.js';

let lab: Day2Lab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

// Each test builds a lab first (three simulated nodes); the machine may be shared.
const timeout = 240_000;
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

type NodeEntry = { name: string; role: string; natAddress: string; hostOnlyAddress: string };

/** The shipped cluster.yaml pointed at the lab's state folder, with its nodes edited as a lab owner would. */
async function writeClusterFile(
  l: Day2Lab,
  editNodes: (nodes: NodeEntry[]) => NodeEntry[],
): Promise<{ file: string; spec: ClusterSpec }> {
  const cluster = yaml.load(await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8')) as Record<
    string,
    any
  >;
  cluster.stateDir = l.spec.stateDir;
  cluster.nodes = editNodes(cluster.nodes as NodeEntry[]);
  const file = path.join(l.dir, 'cluster.yaml');
  await writeFile(file, yaml.dump(cluster));
  return { file, spec: await loadClusterSpec(file) };
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = captureOutput();
  const stderr = captureOutput();
  const code = await main(argv, { stdout: stdout.stream, stderr: stderr.stream, env: {}, cwd: repoRoot });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** Requests that change something (anything but GET). */
const changes = (calls: SimulatorExchange[]) => calls.filter((c) => c.method !== 'GET');

async function vmxHashes(l: Day2Lab, names: string[]): Promise<Map<string, string>> {
  return new Map(
    await Promise.all(
      names.map(async (name) => [name, sha(await readFile(l.nodeVm(name)!.vmxPath, 'utf8'))] as const),
    ),
  );
}

const worker3: NodeEntry = {
  name: 'k8s-worker3',
  role: 'worker',
  natAddress: '192.168.5.14',
  hostOnlyAddress: '172.100.100.5',
};

describe('a worker added to cluster.yaml', () => {
  it(
    'is named by validate and the plan, then built alone and joined with a fresh token when the recorded one expired',
    { timeout },
    async () => {
      lab = await startDay2Lab();
      const l = lab;
      const { file, spec } = await writeClusterFile(l, (nodes) => [...nodes, worker3]);
      l.guests.useSpec(spec);
      const existing = l.spec.nodes.map((n) => ({ name: n.name, vm: l.nodeVm(n.name)! }));
      const hashes = await vmxHashes(
        l,
        existing.map((o) => o.name),
      );

      // validate reads state.json and names the addition.
      const validate = await cli(['validate', '--cluster', file]);
      expect(validate.code, validate.stderr).toBe(0);
      expect(validate.stdout).toMatch(
        /built lab .*state\.json.*: cluster\.yaml changes it\n\s+add\s+k8s-worker3\n/,
      );
      expect(validate.stdout).toContain('`.\\kubestation build-vms` builds what is added');

      // The plan: only the new node, the others untouched.
      const before = l.vmrest.requestLog.length;
      const dry = await buildVms(spec, l.buildDeps(), { dryRun: true, timing: l.timing });
      if (dry.status !== 'dry-run') throw new Error(`dry run ended ${dry.status}`);
      expect(dry.planText).toMatch(
        /k8s-worker3\s+add to the running cluster: full clone of the template through vmrest/,
      );
      for (const o of existing)
        expect(dry.planText).toMatch(new RegExp(`${o.name}\\s+complete since .*; left untouched`));
      expect(changes(l.vmrest.requestLog.slice(before))).toEqual([]);

      // The recorded join token expired (issued 31 days ago, TTL 720h).
      const old = (await readRecordedBootstrapToken(spec.stateDir))!;
      await mintBootstrapToken(spec.stateDir, old.token, new Date(Date.now() - 31 * 24 * 3600_000));
      const vmrestBefore = l.vmrest.requestLog.length;
      const kubeBefore = l.kubeApi.requests.length;

      // The seed's user-data is deleted once the node bootstrapped: keep what was written.
      const userData = new Map<string, string>();
      const writeSeed = cloudInitSeedWriter();
      const recordingWriter: typeof writeSeed = async (s, n) => {
        const iso = await writeSeed(s, n);
        userData.set(n.name, await readFile(path.join(path.dirname(iso), 'user-data'), 'utf8'));
        return iso;
      };
      const result = await buildVms(spec, l.buildDeps({ writeSeed: recordingWriter }), { timing: l.timing });
      expect(result.status).toBe('ready');
      expect([...userData.keys()]).toEqual(['k8s-worker3']);

      // vmrest: one clone; for the other VMs nothing but the retirement of their seed CD-ROM still pending from
      // the first build (read the power state; ask once to disconnect it while the VM runs).
      const calls = l.vmrest.requestLog.slice(vmrestBefore);
      const seedDetach = (c: SimulatorExchange) =>
        c.operation === 'getPowerState' ||
        (c.operation === 'setVmParam' && c.requestBody.includes('startConnected'));
      for (const o of existing) {
        expect(
          calls.filter((c) => c.params.id === o.vm.id && !seedDetach(c)),
          `requests to ${o.name}`,
        ).toEqual([]);
        expect(l.nodeVm(o.name)).toMatchObject({ id: o.vm.id, power: 'poweredOn' });
        expect(sha(await readFile(o.vm.vmxPath, 'utf8'))).toBe(hashes.get(o.name));
      }
      const clones = calls.filter((c) => c.operation === 'cloneVm' && c.status === 201);
      expect(clones.map((c) => (JSON.parse(c.requestBody) as { name: string }).name)).toEqual([
        'k8s-worker3',
      ]);
      const added = l.nodeVm('k8s-worker3')!;
      expect(added.power).toBe('poweredOn');
      expect(
        changes(calls).every((c) => c.params.id === undefined || c.params.id === added.id || seedDetach(c)),
      ).toBe(true);

      // A fresh token registered through the API and carried by the new seed; the node registered and Ready.
      const recorded = (await readRecordedBootstrapToken(spec.stateDir))!;
      expect(recorded.token.token).not.toBe(old.token.token);
      expect(
        l.kubeApi.get<Secret>('secrets', 'kube-system', `bootstrap-token-${recorded.token.id}`),
      ).toBeDefined();
      expect(userData.get('k8s-worker3')).toContain(recorded.token.token);
      expect(
        l.events.some(
          (e) => e.type === 'note' && /registered a fresh join token .*had expired/.test(e.message),
        ),
      ).toBe(true);
      const node = l.kubeApi.get<Node>('nodes', undefined, 'k8s-worker3');
      expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      // Only the new node's Node object was written; the others were not touched through the API.
      const kubeCalls = l.kubeApi.requests.slice(kubeBefore).filter((r) => r.method !== 'GET');
      for (const o of existing)
        expect(kubeCalls.filter((r) => r.path.includes(`/nodes/${o.name}`))).toEqual([]);

      // ssh_config, summary and state name the new node.
      expect(await readFile(path.join(spec.stateDir, 'ssh_config'), 'utf8')).toMatch(
        /^Host k8s-worker3\n\s+HostName 172\.100\.100\.5$/m,
      );
      const summary = JSON.parse(await readFile(path.join(spec.stateDir, 'summary.json'), 'utf8')) as {
        nodes: { name: string }[];
      };
      expect(summary.nodes.map((n) => n.name)).toEqual([
        'k8s-master',
        'k8s-worker1',
        'k8s-worker2',
        'k8s-worker3',
      ]);
      const state = await readBuildState(spec.stateDir, spec.name);
      expect(state.nodes['k8s-worker3']).toMatchObject({ role: 'worker', step: 'power-on' });
      expect(state.nodes['k8s-worker3']?.completedAt).toBeDefined();

      // Run again: nothing to do, nothing changed (the seed detach is asked once).
      const againBefore = l.vmrest.requestLog.length;
      expect((await buildVms(spec, l.buildDeps(), { timing: l.timing })).status).toBe('ready');
      expect(changes(l.vmrest.requestLog.slice(againBefore)).filter((c) => !seedDetach(c))).toEqual([]);
      expect((await cli(['validate', '--cluster', file])).stdout).toContain(
        'cluster.yaml adds and removes no node',
      );
    },
  );
});

describe('a worker removed from cluster.yaml', () => {
  it(
    'stops build-vms unless --prune; with it a failed drain and a dropped VM delete are finished by the rerun',
    { timeout },
    async () => {
      lab = await startDay2Lab();
      const l = lab;
      const { file, spec } = await writeClusterFile(l, (nodes) =>
        nodes.filter((n) => n.name !== 'k8s-worker2'),
      );
      const kept = spec.nodes.map((n) => ({ name: n.name, vm: l.nodeVm(n.name)! }));
      const hashes = await vmxHashes(
        l,
        kept.map((o) => o.name),
      );
      const removed = l.spec.nodes.find((n) => n.name === 'k8s-worker2')!;
      const vm = l.nodeVm('k8s-worker2')!;
      expect(l.vmrest.macToIp('vmnet8')[removed.nics.nat.mac]).toBe(removed.nics.nat.address);
      const start = l.vmrest.requestLog.length;

      // validate and the plan name it, and say what removing it needs.
      const validate = await cli(['validate', '--cluster', file]);
      expect(validate.code, validate.stderr).toBe(0);
      expect(validate.stdout).toMatch(/remove\s+k8s-worker2: needs --prune \(cordon, drain/);
      expect(validate.stdout).toContain('`.\\kubestation build-vms --prune` removes what is removed');
      const dry = await buildVms(spec, l.buildDeps(), { dryRun: true, timing: l.timing });
      if (dry.status !== 'dry-run') throw new Error(`dry run ended ${dry.status}`);
      expect(dry.planText).toMatch(
        /not in cluster\.yaml any more:\n\s+remove\s+k8s-worker2 \(.*k8s-worker2\.vmx\): needs --prune/,
      );

      // Without --prune: stops before any change.
      const kubeStart = l.kubeApi.requests.length;
      const refused = await buildVms(spec, l.buildDeps(), { timing: l.timing }).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'NODES_TO_REMOVE' });
      expect((refused as { fix: string }).fix).toContain('.\\kubestation build-vms --prune');
      expect(changes(l.vmrest.requestLog.slice(start))).toEqual([]);
      expect(l.kubeApi.requests.slice(kubeStart).filter((r) => r.method !== 'GET')).toEqual([]);
      expect(l.nodeVm('k8s-worker2')).toMatchObject({ id: vm.id, power: 'poweredOn' });

      // --prune, Ctrl-C as the drain starts: an interruption (the command exits 130), the VM stays.
      await l.kube.request('POST', '/api/v1/namespaces/default/pods', {
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'web-0', namespace: 'default' },
          spec: { nodeName: 'k8s-worker2', containers: [{ name: 'web', image: 'nginx' }] },
        },
      });
      const ctrlC = new AbortController();
      const onDrain = (e: { type: string; message?: string }) => {
        if (e.type === 'note' && /cordon and drain/.test(e.message ?? '')) ctrlC.abort();
      };
      const interrupted = await buildVms(spec, l.buildDeps({ emit: onDrain }), {
        prune: true,
        timing: l.timing,
        drainTimeoutMs: 2_000,
        apiPollMs: 10,
        signal: ctrlC.signal,
      });
      expect(interrupted.status).toBe('interrupted');
      expect(l.nodeVm('k8s-worker2')).toMatchObject({ id: vm.id, power: 'poweredOn' });

      // --prune, 1: a PodDisruptionBudget blocks the eviction of a pod on it: the drain fails, the VM stays.
      await l.kube.request('POST', '/api/v1/namespaces/default/pods', {
        body: {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'web-1', namespace: 'default' },
          spec: { nodeName: 'k8s-worker2', containers: [{ name: 'web', image: 'nginx' }] },
        },
      });
      l.kubeApi.injectFault({
        method: 'POST',
        path: /\/pods\/web-1\/eviction$/,
        code: 429,
        reason: 'TooManyRequests',
        message: "Cannot evict pod as it would violate the pod's disruption budget.",
      });
      const prune = { prune: true, timing: l.timing, drainTimeoutMs: 2_000, apiPollMs: 10 };
      const drainFailed = await buildVms(spec, l.buildDeps(), prune).catch((e: unknown) => e);
      expect((drainFailed as Error).message).toMatch(/disruption budget/);
      expect(l.nodeVm('k8s-worker2')).toMatchObject({ id: vm.id, power: 'poweredOn' });
      expect(l.kubeApi.get<Node>('nodes', undefined, 'k8s-worker2')?.spec?.unschedulable).toBe(true);
      expect((await readBuildState(spec.stateDir, spec.name)).nodes['k8s-worker2']).toBeDefined();

      // --prune, 2: the budget allows it now, but vmrest drops every VM delete: the Node object is gone, the VM and record stay.
      l.kubeApi.clearFaults();
      l.vmrest.injectFault({ operation: 'deleteVm', kind: 'drop', times: Infinity });
      const deleteDropped = await buildVms(spec, l.buildDeps(), prune).catch((e: unknown) => e);
      expect(deleteDropped).toBeInstanceOf(Error);
      expect(l.kubeApi.get('nodes', undefined, 'k8s-worker2')).toBeUndefined();
      expect(l.kubeApi.get('pods', 'default', 'web-1')).toBeUndefined();
      expect(l.nodeVm('k8s-worker2')?.id).toBe(vm.id);
      expect((await readBuildState(spec.stateDir, spec.name)).nodes['k8s-worker2']).toBeDefined();
      expect((await cli(['validate', '--cluster', file])).stdout).toMatch(/remove\s+k8s-worker2/);

      // --prune, 3: the same command finishes the removal.
      l.vmrest.clearFaults();
      const kubeRerun = l.kubeApi.requests.length;
      const result = await buildVms(spec, l.buildDeps(), prune);
      expect(result.status).toBe('ready');
      expect(l.nodeVm('k8s-worker2')).toBeUndefined();
      expect(existsSync(vm.vmxPath)).toBe(false);
      expect(l.vmrest.macToIp('vmnet8')[removed.nics.nat.mac]).toBeUndefined();
      expect(existsSync(path.join(spec.stateDir, 'k8s-worker2'))).toBe(false);
      const state = await readBuildState(spec.stateDir, spec.name);
      expect(Object.keys(state.nodes).sort()).toEqual(['k8s-master', 'k8s-worker1']);
      expect(await readFile(path.join(spec.stateDir, 'ssh_config'), 'utf8')).not.toContain('k8s-worker2');
      const summary = JSON.parse(await readFile(path.join(spec.stateDir, 'summary.json'), 'utf8')) as {
        nodes: { name: string }[];
      };
      expect(summary.nodes.map((n) => n.name)).toEqual(['k8s-master', 'k8s-worker1']);
      // The Node object was deleted once (run 2); the rerun found it gone.
      expect(l.kubeApi.requests.slice(kubeRerun).filter((r) => r.method === 'DELETE')).toEqual([]);

      // Across all runs: the kept nodes' VMs got no change, their .vmx files are as they were.
      for (const o of kept) {
        expect(
          changes(l.vmrest.requestLog.slice(start)).filter((c) => c.params.id === o.vm.id),
          `changes to ${o.name}`,
        ).toEqual([]);
        expect(l.nodeVm(o.name)).toMatchObject({ id: o.vm.id, power: 'poweredOn' });
        expect(sha(await readFile(o.vm.vmxPath, 'utf8'))).toBe(hashes.get(o.name));
        expect(l.kubeApi.get('nodes', undefined, o.name)).toBeDefined();
      }
      expect((await cli(['validate', '--cluster', file])).stdout).toContain(
        'cluster.yaml adds and removes no node',
      );
    },
  );

  it(
    'cannot be the control plane: validate, the plan and build-vms --prune refuse, with the fix, and change nothing',
    { timeout },
    async () => {
      lab = await startDay2Lab();
      const l = lab;
      const { file, spec } = await writeClusterFile(l, (nodes) =>
        nodes.map((n) => (n.name === 'k8s-master' ? { ...n, name: 'k8s-cp' } : n)),
      );
      const start = l.vmrest.requestLog.length;

      const validate = await cli(['validate', '--cluster', file]);
      expect(validate.code).toBe(1);
      expect(validate.stdout).toMatch(/remove\s+k8s-master: REFUSED: it is the control plane/);
      // Never "valid" for a spec that is then refused.
      expect(validate.stdout).not.toMatch(/: valid$/m);
      expect(validate.stdout).toContain('well-formed, but refused against the lab already built');
      expect(validate.stderr).toMatch(
        /no longer lists "k8s-master", the control plane of the built lab \(it names "k8s-cp" instead\)[\s\S]*fix: put "k8s-master" back/,
      );
      for (const options of [{ dryRun: true }, { prune: true }]) {
        const error = await buildVms(spec, l.buildDeps(), { ...options, timing: l.timing }).catch(
          (e: unknown) => e,
        );
        expect(error).toMatchObject({ code: 'CONTROL_PLANE_REMOVED' });
        expect((error as { fix: string }).fix).toContain('.\\kubestation destroy');
      }
      expect(changes(l.vmrest.requestLog.slice(start))).toEqual([]);
      expect(l.vmrest.requestLog.slice(start).filter((c) => c.operation === 'cloneVm')).toEqual([]);
      expect(l.nodeVm('k8s-master')?.power).toBe('poweredOn');
      expect(Object.keys((await readBuildState(spec.stateDir, spec.name)).nodes).sort()).toEqual([
        'k8s-master',
        'k8s-worker1',
        'k8s-worker2',
      ]);
    },
  );
});
