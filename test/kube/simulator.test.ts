import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import type { KubeApiError } from '../../src/kube/errors.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import type { Pod } from '../../src/kube/types.js';
import { healthySeedLab } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';

let sim: KubeApiSimulator;
let client: KubeClient;
beforeAll(async () => {
  sim = await KubeApiSimulator.start({ scenario: healthySeedLab() });
  client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
});
afterAll(async () => {
  await client.close();
  await sim.close();
});

const raw = (method: string, path: string, body?: unknown, contentType?: string) =>
  client.request<unknown>(method, path, { body, contentType }).then(
    () => undefined,
    (error: KubeApiError) => error,
  );

describe('fake API server fidelity', () => {
  it('answers lists with their List kind and errors with Status objects', async () => {
    const list = await client.request<{ kind: string; apiVersion: string; items: unknown[] }>(
      'GET',
      '/apis/apps/v1/namespaces/kube-system/daemonsets',
    );
    expect(list.kind).toBe('DaemonSetList');
    expect(list.apiVersion).toBe('apps/v1');
    const error = await raw('GET', '/api/v1/namespaces/default/widgets');
    expect(error?.status).toBe(404);
    const unsupported = await raw(
      'PATCH',
      '/api/v1/nodes/k8s-master',
      [{ op: 'add', path: '/spec/unschedulable', value: true }],
      'application/json-patch+json',
    );
    expect(unsupported?.status).toBe(415);
  });

  it('refuses new objects in a missing or terminating namespace, as the API does', async () => {
    const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x' }] } };
    await expect(client.createPod('nowhere', pod)).rejects.toThrow('namespaces "nowhere" not found');
    await client.createNamespace('going', {});
    await client.createPod('going', { ...pod, spec: { ...pod.spec!, nodeName: 'k8s-worker1' } });
    await client.deleteNamespace('going');
    await expect(client.createPod('going', { ...pod, metadata: { name: 'q' } })).rejects.toThrow(
      'unable to create new content in namespace going because it is being terminated',
    );
    for (let i = 0; i < 100 && (await client.getNamespace('going')); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await client.getNamespace('going')).toBeUndefined();
  });

  it('schedules by nodeSelector and taints: an untolerated control-plane taint leaves the pod Pending', async () => {
    await client.createNamespace('sched', {});
    const base: Pod = {
      metadata: { name: 'on-master' },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': 'k8s-master' },
        containers: [{ name: 'c', image: 'x' }],
      },
    };
    await client.createPod('sched', base);
    await client.createPod('sched', {
      metadata: { name: 'tolerant' },
      spec: {
        ...base.spec!,
        tolerations: [
          { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
        ],
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    const pending = await client.getPod('sched', 'on-master');
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.conditions?.[0]?.message).toBe(
      "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match Pod's node affinity/selector.",
    );
    const running = await client.getPod('sched', 'tolerant');
    expect(running.status?.phase).toBe('Running');
    expect(running.spec?.nodeName).toBe('k8s-master');
    expect(running.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
  });

  it('runs a DaemonSet on every node whose taints it tolerates, allocates Service addresses, and cleans up after deletes', async () => {
    await client.createNamespace('ds', {});
    const ds = await client.createDaemonSet('ds', {
      metadata: { name: 'agent' },
      spec: {
        selector: { matchLabels: { app: 'agent' } },
        template: {
          metadata: { labels: { app: 'agent' } },
          spec: { containers: [{ name: 'a', image: 'x' }] },
        },
      },
    });
    expect(ds.metadata.uid).toBeDefined();
    expect(
      (await client.listPods('ds', { labelSelector: 'app=agent' })).map((p) => p.spec?.nodeName).sort(),
    ).toEqual(['k8s-worker1', 'k8s-worker2']);
    const service = await client.createService('ds', {
      metadata: { name: 'agent' },
      spec: { type: 'NodePort', selector: { app: 'agent' }, ports: [{ port: 80 }] },
    });
    expect(service.spec?.clusterIP).toMatch(/^10\.96\./);
    expect(service.spec?.ports?.[0]).toMatchObject({
      port: 80,
      targetPort: 80,
      protocol: 'TCP',
      nodePort: expect.any(Number),
    });
    await client.deleteService('ds', 'agent');
    await client.deleteDaemonSet('ds', 'agent');
    for (let i = 0; i < 100 && sim.objects('pods', 'ds').length; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(sim.objects('pods', 'ds')).toEqual([]);
    expect(sim.objects('services', 'ds')).toEqual([]);
  });
});
