import { writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bootstrapTokenSecret,
  createBootstrapTokenSecret,
  parseKubeadmDuration,
  tokenExpiry,
} from '../../src/kube/bootstrap-token-secret.js';
import { KubeClient } from '../../src/kube/client.js';
import { drainNode } from '../../src/kube/drain.js';
import {
  KubeConflictError,
  KubeForbiddenError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeTimeoutError,
  KubeTlsError,
  KubeUnauthorizedError,
  KubeUnreachableError,
} from '../../src/kube/errors.js';
import { loadKubeconfig, parseKubeconfig, resolveKubeconfigPath } from '../../src/kube/kubeconfig.js';
import type { Node, Pod, Secret } from '../../src/kube/types.js';
import { waitUntil } from '../../src/kube/wait.js';
import { createClusterCa } from '../../src/pki/certificates.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { healthySeedLab, brokenSeedLab } from '../../simulators/kube-api-scenarios.js';

let sim: KubeApiSimulator;
let client: KubeClient;

beforeAll(async () => {
  // The system pods only: the add-ons' pods and controllers (addon-controllers.ts) are tested in test/verify.
  sim = await KubeApiSimulator.start({
    scenario: { ...brokenSeedLab.coreDnsCrashLoop(), addons: undefined },
  });
  client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
});
afterAll(async () => {
  await client.close();
  await sim.close();
});

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: Error) => e,
  );
}

describe('kubeconfig', () => {
  it('reads embedded data and reports the certificate identity', async () => {
    const connection = await parseKubeconfig(await sim.kubeconfig());
    expect(connection.server).toBe(sim.url);
    expect(connection.identity).toEqual({ user: 'kubernetes-admin', groups: ['kubeadm:cluster-admins'] });
  });

  it('resolves certificate file paths relative to the kubeconfig folder', async () => {
    const dir = tempDir('kubestation-kubeconfig-');
    const embedded = yaml.load(await sim.kubeconfig()) as any;
    const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    writeFileSync(
      path.join(dir, 'ca.crt'),
      decode(embedded.clusters[0].cluster['certificate-authority-data']),
    );
    writeFileSync(path.join(dir, 'admin.crt'), decode(embedded.users[0].user['client-certificate-data']));
    writeFileSync(path.join(dir, 'admin.key'), decode(embedded.users[0].user['client-key-data']));
    embedded.clusters[0].cluster = { server: sim.url, 'certificate-authority': 'ca.crt' };
    embedded.users[0].user = {
      'client-certificate': './admin.crt',
      'client-key': path.join(dir, 'admin.key'),
    };
    writeFileSync(path.join(dir, 'config'), yaml.dump(embedded));
    const fromFiles = await KubeClient.fromKubeconfig(path.join(dir, 'config'));
    try {
      expect((await fromFiles.listNodes()).map((n) => n.metadata.name)).toEqual([
        'k8s-master',
        'k8s-worker1',
        'k8s-worker2',
      ]);
    } finally {
      await fromFiles.close();
    }
  });

  it('resolves Windows certificate paths against the kubeconfig folder', () => {
    expect(resolveKubeconfigPath('C:\\Users\\kim\\lab\\.kubestation\\pki', 'admin.crt', path.win32)).toBe(
      'C:\\Users\\kim\\lab\\.kubestation\\pki\\admin.crt',
    );
    expect(resolveKubeconfigPath('C:\\Users\\kim\\lab', '..\\certs/ca.crt', path.win32)).toBe(
      'C:\\Users\\kim\\certs\\ca.crt',
    );
    expect(resolveKubeconfigPath('C:\\Users\\kim\\lab', 'D:\\pki\\ca.crt', path.win32)).toBe(
      'D:\\pki\\ca.crt',
    );
  });

  it('names the problem in a broken kubeconfig', async () => {
    const config = yaml.load(await sim.kubeconfig()) as any;
    config['current-context'] = 'nope';
    await expect(parseKubeconfig(yaml.dump(config), 'C:\\Users\\kim\\admin.kubeconfig')).rejects.toThrow(
      'kubeconfig C:\\Users\\kim\\admin.kubeconfig: has no context named "nope"',
    );
    const missing = await rejection(loadKubeconfig(path.join(tmpdir(), 'does-not-exist.kubeconfig')));
    expect(missing.message).toMatch(/cannot read kubeconfig .*does-not-exist\.kubeconfig \(ENOENT\)/);
  });
});

describe('KubeClient against the fake API server', () => {
  it('lists nodes and pods with label and field selectors', async () => {
    const nodes = await client.listNodes();
    expect(nodes.map((n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address)).toEqual([
      '172.100.100.2',
      '172.100.100.3',
      '172.100.100.4',
    ]);
    const dns = await client.listPods('kube-system', { labelSelector: 'k8s-app=kube-dns' });
    expect(dns).toHaveLength(2);
    const onWorker = await client.listPods(undefined, { fieldSelector: 'spec.nodeName=k8s-worker1' });
    expect(onWorker.map((p) => p.metadata.namespace).sort()).toEqual(['kube-flannel', 'kube-system']);
    const request = sim.requests.at(-1)!;
    expect(request).toMatchObject({
      method: 'GET',
      path: '/api/v1/pods',
      query: { fieldSelector: 'spec.nodeName=k8s-worker1' },
      user: 'kubernetes-admin',
    });
  });

  it('reads pod logs, including the previous (crashed) container', async () => {
    const [coredns] = await client.listPods('kube-system', { labelSelector: 'k8s-app=kube-dns' });
    const logs = await client.getPodLogs('kube-system', coredns!.metadata.name!, {
      container: 'coredns',
      previous: true,
      tailLines: 1,
    });
    expect(logs).toMatch(/^\[FATAL\] plugin\/loop: Loop .* detected/);
    expect(sim.requests.at(-1)!.query).toEqual({ container: 'coredns', previous: 'true', tailLines: '1' });
  });

  it('cordons with a merge patch of spec.unschedulable', async () => {
    const node = await client.cordonNode('k8s-worker2');
    expect(node.spec?.unschedulable).toBe(true);
    const [patch] = sim.requestsTo('PATCH', '/api/v1/nodes/k8s-worker2');
    expect(patch).toMatchObject({
      contentType: 'application/merge-patch+json',
      body: { spec: { unschedulable: true } },
    });
    await client.uncordonNode('k8s-worker2');
    expect(sim.get<Node>('nodes', undefined, 'k8s-worker2')!.spec?.unschedulable).toBeUndefined();
  });

  it('drains a node: evicts ordinary pods with policy/v1 Evictions, leaves DaemonSet and mirror pods, waits until gone', async () => {
    await client.createNamespace('apps');
    const pod = (name: string, extra: Partial<Pod['metadata']> = {}): Pod => ({
      metadata: { name, ...extra },
      spec: {
        nodeName: 'k8s-worker1',
        containers: [
          { name: 'web', image: 'registry.k8s.io/e2e-test-images/agnhost:2.52', args: ['netexec'] },
        ],
      },
    });
    await client.createPod('apps', pod('web-1'));
    await client.createPod('apps', pod('web-2'));
    await client.createPod(
      'apps',
      pod('static-web-k8s-worker1', { annotations: { 'kubernetes.io/config.mirror': 'abc' } }),
    );
    const before = sim.requests.length;

    const result = await drainNode(client, 'k8s-worker1', { timeoutMs: 5000, intervalMs: 20 });

    expect(result.evicted.sort()).toEqual(['apps/web-1', 'apps/web-2']);
    expect(result.skipped.map((s) => `${s.pod}:${s.why}`).sort()).toEqual(
      expect.arrayContaining([
        'apps/static-web-k8s-worker1:mirror',
        expect.stringMatching(/^kube-system\/kube-proxy-.*:daemonset$/),
        expect.stringMatching(/^kube-flannel\/kube-flannel-ds-.*:daemonset$/),
      ]),
    );
    const made = sim.requests.slice(before);
    expect(made[0]).toMatchObject({
      method: 'PATCH',
      path: '/api/v1/nodes/k8s-worker1',
      body: { spec: { unschedulable: true } },
    });
    const evictions = made.filter((r) => r.path.endsWith('/eviction'));
    expect(evictions.map((r) => [r.method, r.path, r.body])).toEqual([
      [
        'POST',
        '/api/v1/namespaces/apps/pods/web-1/eviction',
        { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-1', namespace: 'apps' } },
      ],
      [
        'POST',
        '/api/v1/namespaces/apps/pods/web-2/eviction',
        { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web-2', namespace: 'apps' } },
      ],
    ]);
    expect(sim.objects('pods', 'apps').map((p) => p.metadata.name)).toEqual(['static-web-k8s-worker1']);
    expect(sim.get<Node>('nodes', undefined, 'k8s-worker1')!.spec?.unschedulable).toBe(true);
    await client.uncordonNode('k8s-worker1');
  });

  it('deletes a node', async () => {
    const extra = await KubeApiSimulator.start({ scenario: healthySeedLab() });
    const c = new KubeClient(await parseKubeconfig(await extra.kubeconfig()));
    try {
      await c.deleteNode('k8s-worker2');
      expect(extra.get('nodes', undefined, 'k8s-worker2')).toBeUndefined();
      expect(extra.requestsTo('DELETE', '/api/v1/nodes/k8s-worker2')).toHaveLength(1);
    } finally {
      await c.close();
      await extra.close();
    }
  });
});

describe('bootstrap token Secret', () => {
  const token = { id: 'abcdef', secret: '0123456789abcdef', token: 'abcdef.0123456789abcdef' };

  it('is created in kube-system exactly as kubeadm expects', async () => {
    const expiresAt = new Date(Date.UTC(2026, 11, 27, 2, 0, 0, 123));
    expect(
      await createBootstrapTokenSecret(client, token, { expiresAt, description: 'rejoin k8s-worker2' }),
    ).toBe('created');
    const [post] = sim.requestsTo('POST', '/api/v1/namespaces/kube-system/secrets');
    const body = post!.body as Secret;
    expect(body.metadata.name).toBe('bootstrap-token-abcdef');
    expect(body.type).toBe('bootstrap.kubernetes.io/token');
    const decoded = Object.fromEntries(
      Object.entries(body.data!).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
    );
    expect(decoded).toEqual({
      'token-id': 'abcdef',
      'token-secret': '0123456789abcdef',
      expiration: '2026-12-27T02:00:00Z',
      'usage-bootstrap-authentication': 'true',
      'usage-bootstrap-signing': 'true',
      'auth-extra-groups': 'system:bootstrappers:kubeadm:default-node-token',
      description: 'rejoin k8s-worker2',
    });
    expect(sim.get<Secret>('secrets', 'kube-system', 'bootstrap-token-abcdef')?.type).toBe(
      'bootstrap.kubernetes.io/token',
    );
    expect(await createBootstrapTokenSecret(client, token)).toBe('exists');
  });

  it('has no expiration key for a never-expiring token, and parses kubeadm durations', () => {
    expect(bootstrapTokenSecret(token).data).not.toHaveProperty('expiration');
    expect(parseKubeadmDuration('720h')).toBe(720 * 3600_000);
    expect(parseKubeadmDuration('24h30m10s')).toBe((24 * 3600 + 30 * 60 + 10) * 1000);
    expect(parseKubeadmDuration('0')).toBe(0);
    expect(() => parseKubeadmDuration('3d')).toThrow('not a duration: "3d"');
    expect(tokenExpiry('720h', new Date('2026-01-01T00:00:00Z'))?.toISOString()).toBe(
      '2026-01-31T00:00:00.000Z',
    );
    expect(tokenExpiry('0')).toBeUndefined();
  });
});

describe('errors', () => {
  it('404, 409 and 422 carry the API Status message', async () => {
    const missing = await rejection(client.getPod('kube-system', 'nope'));
    expect(missing).toBeInstanceOf(KubeNotFoundError);
    expect(missing.message).toBe('pods "nope" not found');
    await client.createNamespace('twice');
    const conflict = await rejection(client.createNamespace('twice'));
    expect(conflict).toBeInstanceOf(KubeConflictError);
    expect(conflict.message).toBe('namespaces "twice" already exists');
    const invalid = await rejection(
      client.createPod('twice', {
        metadata: { name: 'Bad_Name' },
        spec: { containers: [{ name: 'c', image: 'x' }] },
      }),
    );
    expect(invalid).toBeInstanceOf(KubeInvalidError);
    expect(invalid.message).toContain('metadata.name: Invalid value: "Bad_Name"');
  });

  it('401 names the identity when the client certificate is from another CA', async () => {
    const otherCa = await createClusterCa();
    const stranger = new KubeClient(
      await parseKubeconfig(
        await sim.kubeconfig({ user: 'kubernetes-admin', groups: ['kubeadm:cluster-admins'] }, otherCa),
      ),
    );
    try {
      const error = await rejection(stranger.listNodes());
      expect(error).toBeInstanceOf(KubeUnauthorizedError);
      expect(error.message).toBe(
        'the Kubernetes API server rejected the client certificate of user "kubernetes-admin" (groups kubeadm:cluster-admins) (GET /api/v1/nodes: 401 Unauthorized)',
      );
    } finally {
      await stranger.close();
    }
  });

  it('403 names the identity and what it may not do', async () => {
    const viewer = new KubeClient(
      await parseKubeconfig(await sim.kubeconfig({ user: 'kim', groups: ['developers'] })),
    );
    try {
      const error = await rejection(viewer.listNodes());
      expect(error).toBeInstanceOf(KubeForbiddenError);
      expect(error.message).toContain(
        'user "kim" (groups developers) may not do this (GET /api/v1/nodes: 403 Forbidden: nodes is forbidden: User "kim" cannot list resource',
      );
    } finally {
      await viewer.close();
    }
  });

  it('an unreachable server and a server with a certificate from another CA are told apart', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const connection = await parseKubeconfig(await sim.kubeconfig());
    const nowhere = new KubeClient(connection, { server: `https://127.0.0.1:${port}` });
    const unreachable = await rejection(nowhere.listNodes());
    expect(unreachable).toBeInstanceOf(KubeUnreachableError);
    expect(unreachable.message).toBe(
      `the Kubernetes API server at https://127.0.0.1:${port} is not reachable (GET /api/v1/nodes: ECONNREFUSED)`,
    );
    await nowhere.close();

    const wrongCa = new KubeClient({ ...connection, caPem: (await createClusterCa()).certPem });
    const tls = await rejection(wrongCa.listNodes());
    expect(tls).toBeInstanceOf(KubeTlsError);
    expect((tls as KubeTlsError).fix).toContain('different CA');
    await wrongCa.close();
  });

  it('waitUntil times out with the last state and the fix', async () => {
    const error = await rejection(
      waitUntil(async () => ({ done: false, state: 'Pending' }), {
        timeoutMs: 50,
        intervalMs: 10,
        what: 'pod x',
        fix: 'look at pod x',
      }),
    );
    expect(error).toBeInstanceOf(KubeTimeoutError);
    expect(error.message).toBe('timed out after 0 s waiting for pod x (last seen: Pending)');
  });
});
