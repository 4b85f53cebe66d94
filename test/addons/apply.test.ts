/**
 * applyAddons against the fake API server: the order a real API server needs (CRDs Established before
 * their objects, namespaces before their contents, controllers available before the objects their
 * webhooks validate), convergence (a second run changes no resourceVersion; drift is put back; an add-on
 * turned off is removed), bounded waits that name the add-on, what it waited for and why, and the
 * kubelet-serving CSR approval inside the metrics add-on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AddonApplyError, applyAddons, type AddonEvent } from '../../src/addons/apply.js';
import { KubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import type { KubeObject } from '../../src/kube/types.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { brokenSeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { healthyScenarioFor } from '../../simulators/simulated-verify.js';
import { specWithAddons, TEST_RELEASES, testManifests } from './fixtures.js';

const open: { sim: KubeApiSimulator; client: KubeClient }[] = [];
afterEach(async () => {
  for (const { sim, client } of open.splice(0)) {
    await client.close();
    await sim.close();
  }
});

async function cluster(scenario: (healthy: KubeApiScenario) => KubeApiScenario = (h) => h) {
  const spec = specWithAddons();
  // A cluster without the add-ons installed yet: the applier under test installs them.
  const { addons: _installed, ...withoutAddons } = healthyScenarioFor(spec);
  const sim = await KubeApiSimulator.start({ scenario: scenario(withoutAddons) });
  const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
  open.push({ sim, client });
  return { spec, sim, client };
}

async function run(
  spec: ClusterSpec,
  client: KubeClient,
  timeouts = { establishedMs: 2000, availableMs: 2000 },
) {
  const events: AddonEvent[] = [];
  const result = await applyAddons(spec, client, {
    emit: (e) => events.push(e),
    releases: TEST_RELEASES,
    manifests: testManifests,
    timeouts,
    intervalMs: 20,
  });
  return { events, result };
}

const versions = (sim: KubeApiSimulator) =>
  new Map(
    sim
      .allObjects()
      .filter((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'kubestation')
      .map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.metadata.resourceVersion]),
  );
const applies = (sim: KubeApiSimulator) =>
  sim.requests.filter((r) => r.method === 'PATCH' && r.contentType === 'application/apply-patch+yaml');
const find = (sim: KubeApiSimulator, kind: string, name: string): KubeObject | undefined =>
  sim.allObjects().find((o) => o.kind === kind && o.metadata.name === name);

describe('applyAddons', () => {
  it('applies each add-on in the order the API needs, labelled, with kubestation as field manager', async () => {
    const { spec, sim, client } = await cluster();
    const { events, result } = await run(spec, client);
    expect(result.applied).toEqual(['loadBalancer', 'storage', 'metrics', 'gateway']);

    const patches = applies(sim);
    expect(patches.every((p) => p.query.fieldManager === 'kubestation' && p.query.force === 'true')).toBe(
      true,
    );
    // Where the first apply (PATCH) of a path is; lastIndexOf: its last request of any kind (the waits' GETs).
    const indexOf = (fragment: string) =>
      sim.requests.findIndex((r) => r.method === 'PATCH' && r.path.endsWith(fragment));
    const lastIndexOf = (fragment: string) => sim.requests.findLastIndex((r) => r.path.endsWith(fragment));
    // CRDs, then their Established wait, before any object of theirs.
    expect(indexOf('/customresourcedefinitions/ipaddresspools.metallb.io')).toBeLessThan(
      indexOf('/namespaces/metallb-system'),
    );
    expect(lastIndexOf('/customresourcedefinitions/l2advertisements.metallb.io')).toBeLessThan(
      indexOf('/ipaddresspools/kubestation'),
    );
    // The namespace before its contents; the controller available before the pool its webhook checks.
    expect(indexOf('/namespaces/metallb-system')).toBeLessThan(indexOf('/deployments/controller'));
    expect(lastIndexOf('/namespaces/metallb-system/deployments/controller')).toBeLessThan(
      indexOf('/ipaddresspools/kubestation'),
    );
    expect(indexOf('/namespaces/kubestation-gateway')).toBeLessThan(indexOf('/gateways/kubestation'));

    const l2 = find(sim, 'L2Advertisement', 'kubestation') as KubeObject & { spec: unknown };
    expect(l2.spec).toEqual({ ipAddressPools: ['kubestation'], interfaces: ['ens37'] });
    expect((find(sim, 'IPAddressPool', 'kubestation') as KubeObject & { spec: unknown }).spec).toEqual({
      addresses: ['172.100.100.64-172.100.100.95'],
    });
    expect(find(sim, 'StorageClass', 'local-path')?.metadata.annotations).toEqual({
      'storageclass.kubernetes.io/is-default-class': 'true',
    });
    const gateway = find(sim, 'Gateway', 'kubestation') as KubeObject & { spec: { infrastructure: unknown } };
    expect(gateway.metadata.namespace).toBe('kubestation-gateway');
    expect(gateway.spec.infrastructure).toEqual({
      annotations: { 'metallb.io/loadBalancerIPs': '172.100.100.64' },
    });
    for (const patch of patches) {
      const labels = (patch.body as KubeObject).metadata.labels ?? {};
      expect(labels['app.kubernetes.io/managed-by']).toBe('kubestation');
      expect(['loadBalancer', 'storage', 'metrics', 'gateway']).toContain(labels['kubestation.io/addon']);
    }
    // One line per add-on moves through applying → waiting → ready.
    for (const addon of result.applied) {
      const phases = events.filter((e) => e.addon === addon).map((e) => e.phase);
      expect(phases[0]).toBe('applying');
      expect(phases).toContain('waiting');
      expect(phases.at(-1)).toBe('ready');
    }
  });

  it('converges: a second run changes nothing, drift is put back, an add-on turned off is removed', async () => {
    const { spec, sim, client } = await cluster();
    await run(spec, client);
    const before = versions(sim);
    const patchesBefore = applies(sim).length;

    const second = await run(spec, client);
    expect(applies(sim).length).toBeGreaterThan(patchesBefore); // it did apply everything again...
    // ...but the one-shot Job, which runs at install only.
    expect(applies(sim).filter((p) => p.path.endsWith('/jobs/nginx-gateway-cert-generator'))).toHaveLength(1);
    expect(versions(sim)).toEqual(before); // ...and no object changed
    expect(second.result.removed).toEqual([]);

    // Someone moves the announcement to the NAT NIC: the next run puts it back, and changes only that.
    await client.request(
      'PATCH',
      '/apis/metallb.io/v1beta1/namespaces/metallb-system/l2advertisements/kubestation',
      {
        body: { spec: { interfaces: ['ens33'] } },
        contentType: 'application/merge-patch+json',
      },
    );
    const drifted = versions(sim);
    await run(spec, client);
    expect(
      (find(sim, 'L2Advertisement', 'kubestation')?.spec as { interfaces: string[] }).interfaces,
    ).toEqual(['ens37']);
    const after = versions(sim);
    const changed = [...after].filter(([key, rv]) => drifted.get(key) !== rv).map(([key]) => key);
    expect(changed).toEqual(['L2Advertisement/metallb-system/kubestation']);

    // The gateway turned off: everything it applied goes, the other add-ons stay as they are.
    const off = { ...spec, addons: { ...spec.addons, gateway: { ...spec.addons.gateway, enabled: false } } };
    const { events, result } = await run(off, client);
    expect(result.applied).toEqual(['loadBalancer', 'storage', 'metrics']);
    expect(result.removed).toEqual([{ addon: 'gateway', objects: 8 }]);
    expect(find(sim, 'Gateway', 'kubestation')).toBeUndefined();
    expect(find(sim, 'GatewayClass', 'nginx')).toBeUndefined();
    expect(find(sim, 'Job', 'nginx-gateway-cert-generator')).toBeUndefined();
    expect(find(sim, 'CustomResourceDefinition', 'gateways.gateway.networking.k8s.io')).toBeUndefined();
    expect(find(sim, 'Deployment', 'nginx-gateway')).toBeUndefined();
    expect(events.filter((e) => e.addon === 'gateway').map((e) => e.phase)).toEqual(['removing', 'removed']);
    const remaining = versions(sim);
    for (const [key, rv] of remaining) if (!key.startsWith('Namespace/')) expect(after.get(key)).toBe(rv);
    // Removal converges too: the next run finds nothing of the gateway left to delete.
    await new Promise((resolve) => setTimeout(resolve, 100)); // the namespace controller empties the namespaces
    expect((await run(off, client)).result.removed).toEqual([]);
  });

  it('deletes an object a newer release of an enabled add-on no longer ships', async () => {
    const { spec, sim, client } = await cluster();
    const extra = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'old-settings', namespace: 'local-path-storage' },
      data: { a: 'b' },
    };
    const events: AddonEvent[] = [];
    const options = { emit: (e: AddonEvent) => events.push(e), releases: TEST_RELEASES, intervalMs: 20 };
    await applyAddons(spec, client, {
      ...options,
      manifests: async (r) => [...(await testManifests(r)), ...(r.name === 'storage' ? [extra] : [])],
    });
    expect(find(sim, 'ConfigMap', 'old-settings')).toBeDefined();
    const { result } = await run(spec, client);
    expect(result.removed).toEqual([{ addon: 'storage', objects: 1 }]);
    expect(find(sim, 'ConfigMap', 'old-settings')).toBeUndefined();
    expect(result.applied).toEqual(['loadBalancer', 'storage', 'metrics', 'gateway']);
  });

  it('never touches objects it did not apply: a user Service of type LoadBalancer keeps its address', async () => {
    const { spec, sim, client } = await cluster();
    await client.createService('default', {
      metadata: { name: 'web', annotations: { 'metallb.io/loadBalancerIPs': '172.100.100.70' } },
      spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80 }] },
    });
    const service = () => sim.allObjects().find((o) => o.kind === 'Service' && o.metadata.name === 'web')!;
    const before = service().metadata.resourceVersion;
    await run(spec, client);
    await run(
      { ...spec, addons: { ...spec.addons, gateway: { ...spec.addons.gateway, enabled: false } } },
      client,
    );
    expect(service().metadata.resourceVersion).toBe(before);
    expect(sim.requests.filter((r) => r.path.includes('/services/web') && r.method !== 'GET')).toEqual([]);
  });

  it('bounds the wait for a controller and names the add-on, the workload and why it is not available', async () => {
    const { spec, client } = await cluster(() => brokenSeedLab.workloadStalled('metallb-system/speaker'));
    const events: AddonEvent[] = [];
    const started = Date.now();
    const error = await applyAddons(spec, client, {
      emit: (e) => events.push(e),
      releases: TEST_RELEASES,
      manifests: testManifests,
      timeouts: { establishedMs: 2000, availableMs: 600 },
      intervalMs: 20,
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error).toBeInstanceOf(AddonApplyError);
    const message = (error as Error).message;
    expect(message).toContain(
      'add-on loadBalancer (MetalLB) failed waiting for DaemonSet metallb-system/speaker',
    );
    expect(message).toContain('0 of 3 available');
    expect(message).toContain('ImagePullBackOff');
    expect((error as AddonApplyError).fix).toContain('--deadline-scale');
    expect(events.at(-1)).toMatchObject({ addon: 'loadBalancer', phase: 'failed' });
    // Nothing after the failing add-on was applied.
    expect(events.some((e) => e.addon === 'storage')).toBe(false);
  });

  it("names the object and the API's own message when the API refuses an apply", async () => {
    const { spec, sim, client } = await cluster();
    sim.injectFault({
      method: 'PATCH',
      path: /\/storageclasses\/local-path$/,
      code: 422,
      reason: 'Invalid',
      message:
        'StorageClass.storage.k8s.io "local-path" is invalid: provisioner: Forbidden: updates to provisioner are forbidden.',
    });
    const error = (await run(spec, client).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(AddonApplyError);
    expect(error.message).toContain(
      'add-on storage (local-path-provisioner) failed applying StorageClass local-path',
    );
    expect(error.message).toContain('updates to provisioner are forbidden');
  });

  it("approves the kubelets' serving certificates and leaves one asking for a foreign address pending", async () => {
    const { spec, sim, client } = await cluster((h) => ({
      ...h,
      nodes: h.nodes.map((n) =>
        n.name === 'k8s-worker2'
          ? { ...n, servingCertNames: { dnsNames: ['k8s-worker2'], ipAddresses: ['10.0.0.9'] } }
          : n,
      ),
    }));
    const { events } = await run(spec, client);
    const csrs = sim.allObjects().filter((o) => o.kind === 'CertificateSigningRequest') as (KubeObject & {
      spec: { username: string };
      status?: { conditions?: { type: string }[] };
    })[];
    const approvedFor = csrs
      .filter((c) => c.status?.conditions?.some((x) => x.type === 'Approved'))
      .map((c) => c.spec.username)
      .sort();
    expect(approvedFor).toEqual(['system:node:k8s-master', 'system:node:k8s-worker1']);
    const refused = csrs.find((c) => c.spec.username === 'system:node:k8s-worker2')!;
    expect(refused.status?.conditions ?? []).toEqual([]); // pending: never denied
    const warnings = events.filter((e) => e.phase === 'warning');
    expect(warnings).toHaveLength(1); // reported once, though reviewed at every poll
    expect(warnings[0]!.message).toContain('k8s-worker2');
    expect(warnings[0]!.message).toContain('IP address 10.0.0.9');
    expect(warnings[0]!.message).toContain('172.100.100.4');
    // Nothing secret or bulky in what the user sees: no request, no key.
    const shown = JSON.stringify(events);
    expect(shown).not.toMatch(/BEGIN|PRIVATE|request":/);
    for (const csr of csrs)
      expect(shown).not.toContain((csr.spec as unknown as { request: string }).request.slice(0, 40));
  });

  it('does nothing to the CSRs when the metrics add-on is off', async () => {
    const { spec, sim, client } = await cluster();
    const off = { ...spec, addons: { ...spec.addons, metrics: { enabled: false } } };
    await run(off, client);
    expect(sim.requests.filter((r) => r.path.includes('certificatesigningrequests'))).toEqual([]);
  });
});
