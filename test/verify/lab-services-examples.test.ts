/**
 * The README's lab-services walk-through (examples/lab-services/*.yaml) against the fake API server's add-on
 * controllers: the route answers for its host name at the Gateway's address from "the PC" (the fake's
 * stand-in for VMnet1), and the claim uses the default StorageClass, as the README says.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import yaml from 'js-yaml';
import { KubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import type { KubeObject } from '../../src/kube/types.js';
import { getFromPc } from '../../src/verify/from-pc.js';
import { healthySeedLab } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';

const load = (file: string) =>
  yaml.loadAll(
    readFileSync(new URL(`../../examples/lab-services/${file}`, import.meta.url), 'utf8'),
  ) as KubeObject[];

let open: { sim: KubeApiSimulator; client: KubeClient } | undefined;
afterEach(async () => {
  await open?.client.close();
  await open?.sim.close();
  open = undefined;
});

describe('README walk-through manifests', () => {
  it('route.yaml: hello.kubestation.test answers through Gateway kubestation at 172.100.100.64', async () => {
    const sim = await KubeApiSimulator.start({ scenario: healthySeedLab() });
    const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
    open = { sim, client };
    // What `kubectl create deployment hello --image=nginx --port=80` and `kubectl expose ... --type=LoadBalancer` make.
    await client.createPod('default', {
      metadata: { name: 'hello-7d9c5b-x2k4p', labels: { app: 'hello' } },
      spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }] },
    });
    await client.createService('default', {
      metadata: { name: 'hello' },
      spec: { type: 'LoadBalancer', selector: { app: 'hello' }, ports: [{ port: 80, targetPort: 80 }] },
    });
    const [route] = load('route.yaml');
    await client.request('POST', '/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes', {
      body: route,
    });
    let answer = await getFromPc({
      address: '172.100.100.64',
      port: 80,
      path: '/',
      hostHeader: 'hello.kubestation.test',
      timeoutMs: 1000,
      proxy: sim.hostOnlyProxy,
    });
    for (let i = 0; i < 50 && !(answer.kind === 'answered' && answer.status === 200); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      answer = await getFromPc({
        address: '172.100.100.64',
        port: 80,
        path: '/',
        hostHeader: 'hello.kubestation.test',
        timeoutMs: 1000,
        proxy: sim.hostOnlyProxy,
      });
    }
    expect(answer).toEqual({ kind: 'answered', status: 200, body: 'hello-7d9c5b-x2k4p' });
    // The Service got the first free pool address, the one the README opens in the browser.
    const service = await client.getService('default', 'hello');
    expect(
      (service.status as { loadBalancer: { ingress: { ip: string }[] } }).loadBalancer.ingress[0]!.ip,
    ).toBe('172.100.100.65');
  });

  it('volume.yaml: a claim without storageClassName (the default class) mounted by the pod whose log the README reads', () => {
    const [claim, pod] = load('volume.yaml');
    expect(claim!.kind).toBe('PersistentVolumeClaim');
    expect((claim!.spec as { storageClassName?: string }).storageClassName).toBeUndefined();
    expect(claim!.metadata.name).toBe('demo-data');
    expect(pod!.metadata.name).toBe('demo-volume');
    expect(JSON.stringify(pod!.spec)).toContain('"claimName":"demo-data"');
  });
});
