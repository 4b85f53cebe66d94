/**
 * status' add-on lines (issue 23 §4) against the fake API server: each
 * add-on's state from its pods (off when cluster.yaml turns it off) and the
 * LoadBalancer addresses in use, Service → address (pending ones too).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { collectAddonsStatus, formatAddonsStatus } from '../../src/day2/addons-status.js';
import { brokenSeedLab, healthySeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';

const specPath = path.resolve('cluster.yaml');
const seedSpec = parseClusterSpec(readFileSync(specPath, 'utf8'), { sourcePath: specPath });

let open: { sim: KubeApiSimulator; client: KubeClient } | undefined;
afterEach(async () => {
  await open?.client.close();
  await open?.sim.close();
  open = undefined;
});

async function statusOf(scenario: KubeApiScenario, spec: ClusterSpec = seedSpec) {
  const sim = await KubeApiSimulator.start({ scenario });
  const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
  open = { sim, client };
  await new Promise((resolve) => setTimeout(resolve, 100)); // the controllers' first ticks
  const status = await collectAddonsStatus(spec, client);
  return { status, text: formatAddonsStatus(status).join('\n') };
}

describe('status: the add-ons', () => {
  it('a healthy lab: every add-on running, and the Gateway holding its address', async () => {
    const { text } = await statusOf(healthySeedLab());
    expect(text).toBe(
      [
        'add-ons:',
        '  loadBalancer  running  pool 172.100.100.64-172.100.100.95',
        '  storage       running  StorageClass local-path (default)',
        '  metrics       running  `kubectl top nodes`',
        '  gateway       running  Gateway kubestation at 172.100.100.64, programmed',
        'LoadBalancer addresses (open http://<address>/ from this PC):',
        '  kubestation-gateway/kubestation-kubestation  → 172.100.100.64',
      ].join('\n'),
    );
  });

  it('a Service the user made holds the Gateway address: both listed, the Gateway not running', async () => {
    const { status, text } = await statusOf(brokenSeedLab.gatewayNotProgrammed());
    expect(status.addons.find((a) => a.addon === 'gateway')).toEqual({
      addon: 'gateway',
      state: 'not running',
      detail: 'Gateway kubestation not programmed (AddressNotAssigned)',
    });
    expect(text).toMatch(/\n {2}default\/web +→ 172\.100\.100\.64\n/);
    expect(text).toMatch(/\n {2}kubestation-gateway\/kubestation-kubestation +→ <pending>$/);
  });

  it('the provisioner crash-looping is "not running" with its pod; an add-on turned off is "off"', async () => {
    const spec: ClusterSpec = { ...seedSpec, addons: { ...seedSpec.addons, metrics: { enabled: false } } };
    const { status } = await statusOf(brokenSeedLab.provisionerNotRunning(), spec);
    expect(status.addons.map((a) => `${a.addon} ${a.state}`)).toEqual([
      'loadBalancer running',
      'storage not running',
      'metrics off',
      'gateway running',
    ]);
    expect(status.addons[1]!.detail).toMatch(/^local-path-provisioner-\S+: CrashLoopBackOff/);
  });

  it('a cluster without the add-ons: each "not installed", no addresses in use', async () => {
    const { text } = await statusOf({ ...healthySeedLab(), addons: undefined });
    expect(text).toContain('  loadBalancer  not installed  no pods in metallb-system');
    expect(text).toContain('LoadBalancer addresses: none in use');
  });
});
