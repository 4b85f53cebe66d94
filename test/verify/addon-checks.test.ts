/**
 * verify's add-on checks (issue 23 §3) against the fake API server's add-on
 * controllers: the healthy lab passes all four from "the PC" (the fake's
 * loopback stand-in for VMnet1) and from a pod on every node; each broken
 * variant fails naming the add-on and the cause its evidence isolates; an
 * add-on turned off is reported off, never as passed; nothing verify made is left.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import { brokenSeedLab, healthySeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { renderReport, type VerifyReport } from '../../src/verify/report.js';
import { verifyCluster, type VerifyOptions } from '../../src/verify/verify-cluster.js';

const specPath = path.resolve('cluster.yaml');
const seedSpec = parseClusterSpec(readFileSync(specPath, 'utf8'), { sourcePath: specPath });
const fast: VerifyOptions = {
  intervalMs: 20,
  handleSigint: false,
  timeouts: {
    serversReadyMs: 3000,
    probesMs: 15_000,
    cleanupMs: 3000,
    forceDeleteAfterMs: 300,
    addonsMs: 3000,
    fromPcMs: 800,
  },
};

let open: { sim: KubeApiSimulator; client: KubeClient } | undefined;
afterEach(async () => {
  if (!open) return;
  await open.client.close();
  await open.sim.close();
  open = undefined;
});

async function run(scenario: KubeApiScenario, spec: ClusterSpec = seedSpec) {
  const sim = await KubeApiSimulator.start({ scenario });
  const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
  open = { sim, client };
  const report = await verifyCluster(spec, client, { ...fast, hostOnlyProxy: sim.hostOnlyProxy });
  await sim.settle();
  return { report, sim, text: renderReport(report) };
}

const addonRows = (report: VerifyReport) =>
  report.results
    .filter((r) => r.group === 'addons')
    .map((r) => `${r.check}${r.node ? ` ${r.node}` : ''}: ${r.verdict}${r.notRun ? ' (not run)' : ''}`);
const failingAddons = (report: VerifyReport) =>
  report.results.filter((r) => r.verdict === 'fail').map((r) => `${r.check}${r.node ? ` ${r.node}` : ''}`);
const causes = (report: VerifyReport) => report.problems.map((p) => p.id);

function expectNothingLeft(sim: KubeApiSimulator): void {
  expect(sim.get('namespaces', undefined, 'kubestation-verify')).toBeUndefined();
  for (const resource of ['pods', 'services', 'persistentvolumeclaims', 'httproutes', 'events'])
    expect(sim.objects(resource, 'kubestation-verify')).toEqual([]);
  expect(sim.objects('persistentvolumes')).toEqual([]);
}

describe('verify: the add-ons', () => {
  it('the healthy lab passes all four, from the PC and from a pod on every node, and leaves nothing behind', async () => {
    const { report, sim, text } = await run(healthySeedLab());
    expect(failingAddons(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(addonRows(report)).toEqual([
      'loadBalancer address: pass',
      'loadBalancer from PC: pass',
      'loadBalancer from pod k8s-master: pass',
      'loadBalancer from pod k8s-worker1: pass',
      'loadBalancer from pod k8s-worker2: pass',
      'storage claim: pass',
      'storage write-read k8s-master: pass',
      'metrics node k8s-master: pass',
      'metrics node k8s-worker1: pass',
      'metrics node k8s-worker2: pass',
      'gateway programmed: pass',
      'gateway route from PC: pass',
    ]);
    // The address came from the pool (the Gateway holds its first address), and a test pod answered the PC.
    expect(text).toMatch(
      /loadBalancer from PC +- +172\.100\.100\.65 +ok +http:\/\/172\.100\.100\.65\/ answered verify-server-k8s-/,
    );
    expect(text).toMatch(/gateway route from PC .* at 172\.100\.100\.64 answered verify-server-k8s-/);
    // The volume was written by one pod and read back by another on its node.
    const pods = sim
      .requestsTo('POST', '/api/v1/namespaces/kubestation-verify/pods')
      .map((r) => (r.body as { metadata: { name: string } }).metadata.name);
    expect(pods).toEqual(expect.arrayContaining(['verify-storage-write', 'verify-storage-read']));
    expectNothingLeft(sim);
  });

  it('pool exhausted: the test Service stays pending, blamed on the pool with the Services holding it', async () => {
    const { report, sim } = await run(brokenSeedLab.poolExhausted());
    expect(failingAddons(report)).toEqual(['loadBalancer address', 'loadBalancer from PC']);
    expect(causes(report)).toEqual(['addon:loadBalancer:pool-exhausted']);
    const [problem] = report.problems;
    expect(problem!.cause).toMatch(
      /^loadBalancer \(MetalLB\): the pool 172\.100\.100\.64-172\.100\.100\.95 is exhausted: all 32 addresses are held by Services \(default\/demo-1 -> 172\.100\.100\.65/,
    );
    expect(problem!.fix).toMatch(/kubectl get services -A.*widen addons\.loadBalancer\.pool/);
    expect(report.results.find((r) => r.check === 'loadBalancer from PC')?.notRun).toBe(true);
    expectNothingLeft(sim);
  });

  it("no ARP answer: the address answers inside the cluster but not from the PC: names ens37 and the PC's VMnet1 adapter", async () => {
    const { report } = await run(brokenSeedLab.noArpAnswer());
    expect(failingAddons(report)).toEqual(['loadBalancer from PC', 'gateway route from PC']);
    expect(causes(report)).toEqual(['addon:loadBalancer:no-arp']);
    const [problem] = report.problems;
    expect(problem!.cause).toMatch(
      /this PC gets no answer from 172\.100\.100\.65 .*although the address answers inside the cluster: no ARP answer seen from the PC/,
    );
    expect(problem!.fix).toContain("Get-NetIPAddress -InterfaceAlias 'VMware Network Adapter VMnet1'");
    expect(problem!.fix).toContain('interfaces: [ens37]');
  });

  it('CSRs not approved: metrics fail for every node, blamed on the pending kubelet-serving CSRs', async () => {
    const { report } = await run(brokenSeedLab.csrNotApproved());
    expect(failingAddons(report)).toEqual([
      'metrics node k8s-master',
      'metrics node k8s-worker1',
      'metrics node k8s-worker2',
    ]);
    expect(causes(report)).toEqual(['addon:metrics:csr']);
    expect(report.problems[0]!.cause).toMatch(
      /^metrics \(metrics-server\): the kubelet serving certificates are not approved \(pending: /,
    );
    for (const node of ['k8s-master', 'k8s-worker1', 'k8s-worker2'])
      expect(report.problems[0]!.cause).toMatch(new RegExp(`csr-\\S+ for ${node}\\b`));
    expect(report.problems[0]!.fix).toContain('kubectl certificate approve');
  });

  it('provisioner not running: the claim stays Pending, blamed on local-path-provisioner', async () => {
    const { report, sim } = await run(brokenSeedLab.provisionerNotRunning());
    expect(failingAddons(report)).toEqual(['storage claim', 'storage write-read']);
    expect(causes(report)).toEqual(['addon:storage:provisioner']);
    expect(report.problems[0]!.cause).toMatch(
      /^storage \(local-path-provisioner\): the provisioner is not running \(local-path-provisioner-\S+: CrashLoopBackOff/,
    );
    expectNothingLeft(sim);
  });

  it("Gateway not programmed: blamed on the Service the user made that holds the Gateway's address", async () => {
    const { report } = await run(brokenSeedLab.gatewayNotProgrammed());
    expect(failingAddons(report)).toEqual(['gateway programmed', 'gateway route from PC']);
    expect(causes(report)).toEqual(['addon:gateway:not-programmed']);
    expect(report.problems[0]!.cause).toMatch(
      /Gateway kubestation is not programmed \(AddressNotAssigned: .*\): its address 172\.100\.100\.64 \(addons\.gateway\.address\) is taken by Service default\/web/,
    );
  });

  it('add-ons turned off are reported off, not passed, and not counted as checks', async () => {
    const spec: ClusterSpec = {
      ...seedSpec,
      addons: {
        ...seedSpec.addons,
        storage: { enabled: false },
        metrics: { enabled: false },
      },
    };
    const scenario = healthySeedLab();
    scenario.addons = {
      ...scenario.addons!,
      installed: { ...scenario.addons!.installed, storage: false, metrics: false },
    };
    const { report, text } = await run(scenario, spec);
    expect(report.ok).toBe(true);
    expect(report.results.filter((r) => r.verdict === 'off').map((r) => r.check)).toEqual([
      'storage',
      'metrics',
    ]);
    expect(report.checks.expected).toBe(report.results.length - 2);
    expect(text).toMatch(
      /storage +- +off +turned off in cluster\.yaml \(addons\.storage\.enabled: false\): not checked/,
    );
    expect(text).toMatch(/PASSED: \d+ checks \(\d+ of \d+ expected checks ran; 2 add-ons off\)/);
  });

  it('add-ons not installed on the cluster: each fails saying so (a check that could not run is not a pass)', async () => {
    const { report } = await run({ ...healthySeedLab(), addons: undefined });
    expect(report.ok).toBe(false);
    expect(causes(report)).toEqual([
      'addon:loadBalancer:not-installed',
      'addon:storage:no-default-class',
      'addon:metrics:not-running',
      'addon:gateway:not-installed',
    ]);
    expect(report.results.find((r) => r.check === 'gateway route from PC')?.notRun).toBe(true);
  });
});
