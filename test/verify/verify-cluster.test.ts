import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.js';
import { parseKubeconfig } from '../../src/kube/kubeconfig.js';
import type { Pod } from '../../src/kube/types.js';
import { brokenSeedLab, healthySeedLab, type KubeApiScenario } from '../../simulators/kube-api-scenarios.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { parseClusterSpec } from '../../src/config/load.js';
import { renderReport, type VerifyReport } from '../../src/verify/report.js';
import { verifyCluster, type VerifyOptions } from '../../src/verify/verify-cluster.js';

const specPath = path.resolve('cluster.yaml');
const spec = parseClusterSpec(readFileSync(specPath, 'utf8'), { sourcePath: specPath });
const fast: VerifyOptions = {
  intervalMs: 20,
  handleSigint: false,
  timeouts: {
    serversReadyMs: 3000,
    probesMs: 15_000,
    cleanupMs: 3000,
    forceDeleteAfterMs: 300,
    addonsMs: 5_000,
    fromPcMs: 1_000,
  },
};

let open: { sim: KubeApiSimulator; client: KubeClient } | undefined;
afterEach(async () => {
  if (!open) return;
  await open.client.close();
  await open.sim.close();
  open = undefined;
});

async function run(
  scenario: KubeApiScenario,
  options: VerifyOptions = {},
): Promise<{ report: VerifyReport; sim: KubeApiSimulator; text: string }> {
  const sim = await KubeApiSimulator.start({ scenario });
  const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
  open = { sim, client };
  const report = await verifyCluster(spec, client, {
    ...fast,
    hostOnlyProxy: sim.hostOnlyProxy,
    ...options,
  });
  await sim.settle();
  return { report, sim, text: renderReport(report) };
}

const rows = (report: VerifyReport, check: string) => report.results.filter((r) => r.check === check);
const failing = (report: VerifyReport) =>
  report.results
    .filter((r) => r.verdict === 'fail')
    .map((r) => `${r.check} ${r.node}${r.target ? `->${r.target}` : ''}`);
const problem = (report: VerifyReport, id: string) => report.problems.find((p) => p.id === id);

function expectNothingLeft(sim: KubeApiSimulator): void {
  expect(sim.get('namespaces', undefined, 'kubestation-verify')).toBeUndefined();
  const leftovers = ['pods', 'services'].flatMap((r) => sim.objects(r, 'kubestation-verify'));
  expect(leftovers).toEqual([]);
}

describe('verifyCluster against the fake API server', () => {
  it('passes a healthy seed lab: every node, system pod and data path, and removes its workload', async () => {
    const { report, sim, text } = await run(healthySeedLab());
    expect(failing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(rows(report, 'ready').map((r) => r.node)).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    expect(rows(report, 'pod-to-pod')).toHaveLength(9);
    expect(rows(report, 'nodeport')).toHaveLength(9);
    expect(rows(report, 'dns kubernetes.default').map((r) => r.detail)).toEqual([
      '-> 10.96.0.1',
      '-> 10.96.0.1',
      '-> 10.96.0.1',
    ]);
    expect(rows(report, 'clock').every((r) => r.verdict === 'pass')).toBe(true);
    expect(rows(report, 'taint').map((r) => r.detail)).toEqual([
      'node-role.kubernetes.io/control-plane:NoSchedule',
      'no control-plane taint',
      'no control-plane taint',
    ]);
    expect(text).toMatch(/PASSED: \d+ checks/);

    // The test pods were pinned per node, tolerating the control-plane taint; the probe ran a real script.
    const created = sim
      .requestsTo('POST', '/api/v1/namespaces/kubestation-verify/pods')
      .map((r) => r.body as Pod);
    expect(created.map((p) => p.metadata.name).filter((n) => /^verify-(server|probe)/.test(n ?? ''))).toEqual(
      [
        'verify-server-k8s-master',
        'verify-server-k8s-worker1',
        'verify-server-k8s-worker2',
        'verify-probe-k8s-master',
        'verify-probe-k8s-worker1',
        'verify-probe-k8s-worker2',
      ],
    );
    expect(created[0]!.spec!.nodeSelector).toEqual({ 'kubernetes.io/hostname': 'k8s-master' });
    expect(created[0]!.spec!.tolerations).toEqual([
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(created[0]!.spec!.containers[0]!.image).toBe('registry.k8s.io/e2e-test-images/agnhost:2.52');
    expect(sim.requestsTo('DELETE', '/api/v1/namespaces/kubestation-verify')).toHaveLength(1);
    expectNothingLeft(sim);
  });

  it('a NotReady node: names the CNI cause, does not run pods there, the rest still tested', async () => {
    const { report, sim } = await run(brokenSeedLab.nodeNotReady('k8s-worker2'));
    expect(report.ok).toBe(false);
    const ready = rows(report, 'ready').find((r) => r.node === 'k8s-worker2')!;
    expect(ready.verdict).toBe('fail');
    expect(ready.detail).toContain('NotReady: container runtime network not ready');
    expect(problem(report, 'node-cni:k8s-worker2')?.cause).toBe(
      'the kubelet on k8s-worker2 reports no pod network (CNI not initialized), so the node is NotReady',
    );
    expect(rows(report, 'flannel').find((r) => r.node === 'k8s-worker2')!.detail).toMatch(
      /^CrashLoopBackOff, 5 restarts/,
    );
    expect(rows(report, 'probe')).toEqual([
      expect.objectContaining({
        node: 'k8s-worker2',
        verdict: 'fail',
        detail: 'not run: the node is not Ready',
      }),
    ]);
    expect(rows(report, 'pod-to-pod').every((r) => r.verdict === 'pass')).toBe(true);
    expect(rows(report, 'pod-to-pod')).toHaveLength(4);
    expectNothingLeft(sim);
  });

  it('CoreDNS CrashLoopBackOff: CoreDNS rows fail with the loop log line, DNS fails everywhere with the loop cause and fix', async () => {
    const { report, sim, text } = await run(brokenSeedLab.coreDnsCrashLoop());
    const coredns = rows(report, 'coredns');
    expect(coredns).toHaveLength(2);
    expect(
      coredns.every(
        (r) =>
          r.verdict === 'fail' &&
          r.detail.startsWith('CrashLoopBackOff, 7 restarts; log: [FATAL] plugin/loop: Loop'),
      ),
    ).toBe(true);
    expect(rows(report, 'dns kubernetes.default').map((r) => [r.verdict, r.detail])).toEqual(
      Array(3).fill(['fail', 'no answer (dig-exit-9)']),
    );
    // Names outside the cluster fail too, for the same reason: CoreDNS is down, not its upstream.
    expect(rows(report, 'dns registry.k8s.io').map((r) => r.problem)).toEqual([
      'coredns',
      'coredns',
      'coredns',
    ]);
    const dns = problem(report, 'coredns')!;
    expect(dns.cause).toContain('forwarding loop');
    expect(dns.fix).toContain('resolvConf: /run/systemd/resolve/resolv.conf');
    expect(rows(report, 'pod-to-pod').every((r) => r.verdict === 'pass')).toBe(true);
    expect(text).toMatch(/FAILED: 11 of \d+ checks failed/);
    expectNothingLeft(sim);
  });

  it('cross-node pod traffic dropped: same-node passes, cross-node fails, blamed on VXLAN 8472/udp and checksum offload', async () => {
    const { report, sim, text } = await run(brokenSeedLab.crossNodeTrafficDropped());
    const p2p = rows(report, 'pod-to-pod');
    expect(p2p.filter((r) => r.node === r.target).every((r) => r.verdict === 'pass')).toBe(true);
    const cross = p2p.filter((r) => r.node !== r.target);
    expect(cross).toHaveLength(6);
    expect(
      cross.every(
        (r) =>
          r.verdict === 'fail' &&
          r.detail === 'no answer within 4 s (packets dropped)' &&
          r.problem === 'overlay',
      ),
    ).toBe(true);
    const overlay = problem(report, 'overlay')!;
    expect(overlay.fix).toContain('sudo ufw allow from 172.100.100.0/24 to any port 8472 proto udp');
    expect(overlay.fix).toContain('ethtool -K flannel.1 tx-checksum-ip-generic off');
    // CoreDNS runs on the control plane: workers cannot resolve names, and the cause is the same overlay.
    expect(
      rows(report, 'dns kubernetes.default').map((r) => `${r.node}:${r.verdict}:${r.problem ?? ''}`),
    ).toEqual(['k8s-master:pass:', 'k8s-worker1:fail:overlay', 'k8s-worker2:fail:overlay']);
    // The clock of a worker cannot be measured without reaching the control plane's pod: a warning, not a false alarm.
    expect(
      rows(report, 'clock')
        .filter((r) => r.verdict === 'warn')
        .map((r) => r.node),
    ).toEqual(['k8s-worker1', 'k8s-worker2']);
    expect(text).toContain('pod traffic between nodes is dropped while traffic within a node works');
    expectNothingLeft(sim);
  });

  it('Service traffic not forwarded: pods answer directly, ClusterIP and NodePort fail, blamed on kube-proxy', async () => {
    const { report, sim } = await run(brokenSeedLab.serviceTrafficDropped());
    expect(rows(report, 'pod-to-pod').every((r) => r.verdict === 'pass')).toBe(true);
    // Every backend through its own Service, from every node.
    const service = rows(report, 'service');
    expect(service).toHaveLength(9);
    expect(service.every((r) => r.verdict === 'fail' && r.problem === `service-path:${r.node}`)).toBe(true);
    expect(problem(report, 'service-path:k8s-worker1')!.fix).toContain(
      'net.bridge.bridge-nf-call-iptables=1',
    );
    expect(rows(report, 'nodeport').every((r) => r.verdict === 'fail')).toBe(true);
    expectNothingLeft(sim);
  });

  it('a stuck workload (pods never terminate): force-deletes them and still leaves nothing behind', async () => {
    const { report, sim } = await run(brokenSeedLab.stuckWorkload('kubestation-verify'));
    expect(report.ok).toBe(true);
    expect(report.cleanup.ok).toBe(true);
    expect(report.cleanup.detail).toMatch(/force-deleted stuck pods verify-probe-k8s-master, /);
    const forced = sim.requestsTo('DELETE', '/api/v1/namespaces/kubestation-verify/pods/*');
    // The three test servers, the three probes and the two storage pods of the add-on checks.
    expect(forced).toHaveLength(8);
    expect(forced.every((r) => (r.body as { gracePeriodSeconds?: number }).gracePeriodSeconds === 0)).toBe(
      true,
    );
    expectNothingLeft(sim);
  });

  it('clock skew on one node fails the clock check with the offset and an NTP fix', async () => {
    const { report, sim } = await run(brokenSeedLab.clockSkew('k8s-worker1', 42));
    const clock = rows(report, 'clock');
    expect(clock.map((r) => [r.node, r.verdict])).toEqual([
      ['k8s-master', 'pass'],
      ['k8s-worker1', 'fail'],
      ['k8s-worker2', 'pass'],
    ]);
    expect(clock[1]!.detail).toMatch(/^4[1-3] s ahead \(tolerance 3 s\)$/);
    expect(problem(report, 'clock:k8s-worker1')!.fix).toContain('time.ravnus.com');
    expect(failing(report)).toEqual(['clock k8s-worker1->k8s-master']);
    expectNothingLeft(sim);
  });

  it('flannel bound to the NAT NIC is reported with the --iface fix', async () => {
    const { report } = await run(brokenSeedLab.flannelOnNatNic('k8s-worker1', '192.168.5.12'));
    expect(failing(report)).toEqual(['flannel-address k8s-worker1']);
    expect(problem(report, 'flannel-iface:k8s-worker1')!.fix).toContain('--iface=ens37');
  });

  it('a probe killed at its deadline is run again for its missing checks, and the second run completes verify', async () => {
    const stalled = (healthy: KubeApiScenario) => ({
      ...healthy,
      nodes: healthy.nodes.map((n) => (n.name === 'k8s-worker1' ? { ...n, stalledScriptRuns: 1 } : n)),
    });
    const lines: string[] = [];
    const { report, sim } = await run(stalled(healthySeedLab()), { log: (l) => lines.push(l) });
    expect(failing(report)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.ran).toBe(report.checks.expected);
    expect(lines).toContain(
      'running the probe again for the checks that did not run on k8s-worker1 (attempt 2)',
    );
    const probes = sim
      .requestsTo('POST', '/api/v1/namespaces/kubestation-verify/pods')
      .map((r) => r.body as Pod)
      .filter((p) => p.metadata.name!.startsWith('verify-probe'));
    expect(probes.map((p) => p.metadata.name)).toEqual([
      'verify-probe-k8s-master',
      'verify-probe-k8s-worker1',
      'verify-probe-k8s-worker2',
      'verify-probe2-k8s-worker1',
    ]);
    // Each attempt is bounded by the kubelet (activeDeadlineSeconds), within the probe deadline.
    expect(
      probes.every((p) => p.spec!.activeDeadlineSeconds! >= 1 && p.spec!.activeDeadlineSeconds! <= 15),
    ).toBe(true);
    expectNothingLeft(sim);
  });

  it('a probe that never finishes: its checks fail as "did not run", verify fails and says how many ran', async () => {
    const stalled = (healthy: KubeApiScenario) => ({
      ...healthy,
      nodes: healthy.nodes.map((n) => (n.name === 'k8s-worker1' ? { ...n, stalledScriptRuns: 99 } : n)),
    });
    const { report, sim, text } = await run(stalled(healthySeedLab()), {
      timeouts: { ...fast.timeouts, probesMs: 6000 },
    });
    expect(report.ok).toBe(false);
    const notRun = report.results.filter((r) => r.notRun);
    // Everything the probe on worker1 was to check: 3 names, the pod, Service and NodePort of 3 nodes, the clock,
    // and the LoadBalancer address of the add-on checks.
    expect(notRun).toHaveLength(14);
    // Killed by the kubelet at each attempt's deadline (on a very busy host the last kill may land after verify stopped waiting).
    expect(
      notRun.filter(
        (r) =>
          !(
            r.node === 'k8s-worker1' &&
            r.verdict === 'fail' &&
            r.problem === 'probe:k8s-worker1' &&
            /^did not run: (killed at its \d+ s deadline|the probe did not finish in time)/.test(r.detail)
          ),
      ),
    ).toEqual([]);
    expect(report.checks).toEqual({ expected: report.results.length, ran: report.results.length - 14 });
    expect(report.problems.map((p) => p.id)).toEqual(['probe:k8s-worker1']);
    expect(report.problems[0]!.cause).toContain('14 of its 14 checks did not run within 6 s');
    expect(text).toMatch(
      new RegExp(
        `FAILED: 14 of ${report.results.length} checks failed \\(${report.results.length - 14} of ${report.results.length} expected checks ran\\)`,
      ),
    );
    // The other nodes were checked completely, and nothing of the workload is left.
    expect(
      report.results.filter((r) => r.node !== 'k8s-worker1' && r.verdict !== 'pass' && r.group !== 'clock'),
    ).toEqual([]);
    expectNothingLeft(sim);
  });

  it('Ctrl-C during the run stops it and removes the workload', async () => {
    const sim = await KubeApiSimulator.start({ scenario: healthySeedLab() });
    const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
    open = { sim, client };
    const lines: string[] = [];
    const running = verifyCluster(spec, client, {
      ...fast,
      hostOnlyProxy: sim.hostOnlyProxy,
      handleSigint: true,
      log: (line) => {
        lines.push(line);
        if (line === 'running the probes') process.emit('SIGINT', 'SIGINT');
      },
    });
    const report = await running;
    expect(report.interrupted).toBe(true);
    expect(report.ok).toBe(false);
    expect(lines).toContain('interrupted: stopping and removing the test workload');
    expect(process.listenerCount('SIGINT')).toBe(0);
    await sim.settle();
    expectNothingLeft(sim);
  });

  it('removes a leftover workload from an interrupted earlier run before starting', async () => {
    const sim = await KubeApiSimulator.start({ scenario: healthySeedLab() });
    const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
    open = { sim, client };
    await client.createNamespace('kubestation-verify');
    await client.createPod('kubestation-verify', {
      metadata: { name: 'old' },
      spec: { nodeName: 'k8s-worker1', containers: [{ name: 'c', image: 'x' }] },
    });
    const report = await verifyCluster(spec, client, { ...fast, hostOnlyProxy: sim.hostOnlyProxy });
    await sim.settle();
    expect(report.ok).toBe(true);
    expect(sim.requestsTo('DELETE', '/api/v1/namespaces/kubestation-verify')).toHaveLength(2);
    expectNothingLeft(sim);
  });
});
