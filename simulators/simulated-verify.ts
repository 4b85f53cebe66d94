/**
 * verify alone against the fake Kubernetes API server, for a lab of any size:
 * what the benchmark times (3 vs 30 nodes) and what the scaling test runs.
 * The fake plays the healthy cluster matching the spec unless told otherwise.
 */
import { KubeClient } from '../src/kube/client.js';
import { parseKubeconfig } from '../src/kube/kubeconfig.js';
import type { ClusterSpec } from '../src/config/model.js';
import type { VerifyReport } from '../src/verify/report.js';
import { verifyCluster, type VerifyOptions } from '../src/verify/verify-cluster.js';
import { KubeApiSimulator } from './kube-api-simulator.js';
import { healthyAddons, healthySeedLab, type KubeApiScenario } from './kube-api-scenarios.js';

/** The healthy cluster a good build of `spec` leaves: its nodes, CNI, taint and DNS domain. */
export function healthyScenarioFor(spec: ClusterSpec): KubeApiScenario {
  return healthySeedLab({
    minor: spec.kubernetes.minor,
    nodes: spec.nodes.map((n) => ({
      name: n.name,
      role: n.role,
      internalIP: n.nics.hostOnly.address,
      kubeletVersion: `v${spec.kubernetes.patch ?? `${spec.kubernetes.minor}.0`}`,
    })),
    cni: spec.kubernetes.cni.name,
    controlPlaneTaint: spec.kubernetes.controlPlaneTaint,
    dnsDomain: spec.kubernetes.dnsDomain,
    addons: {
      ...healthyAddons(spec.addons.loadBalancer.pool, spec.addons.gateway.address),
      installed: {
        loadBalancer: spec.addons.loadBalancer.enabled,
        storage: spec.addons.storage.enabled,
        metrics: spec.addons.metrics.enabled,
        gateway: spec.addons.gateway.enabled,
      },
    },
  });
}

/**
 * cluster.yaml text with its node list replaced by a control plane and
 * `nodeCount - 1` workers (k8s-worker1, ...) on consecutive addresses, for
 * labs larger than the seed lab (at most 180 nodes: the addresses must stay
 * below the NAT DHCP range).
 */
export function clusterYamlWithNodes(baseYaml: string, nodeCount: number): string {
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 180)
    throw new Error(`nodeCount must be 1..180, got ${nodeCount}`);
  const nodes = [
    `  - name: k8s-master\n    role: control-plane\n    natAddress: 192.168.5.11\n    hostOnlyAddress: 172.100.100.2`,
  ];
  for (let i = 1; i < nodeCount; i++)
    nodes.push(
      `  - name: k8s-worker${i}\n    role: worker\n    natAddress: 192.168.5.${11 + i}\n    hostOnlyAddress: 172.100.100.${2 + i}`,
    );
  const list = /^nodes:\n(?: {2}.*\n)+/m;
  if (!list.test(baseYaml)) throw new Error('no "nodes:" list found in the cluster.yaml text');
  return baseYaml.replace(list, `nodes:\n${nodes.join('\n')}\n`);
}

export interface SimulatedVerifyOptions {
  /** The cluster the fake plays, from the healthy one matching the spec (default: healthy). */
  scenario?: (healthy: KubeApiScenario) => KubeApiScenario;
  verify?: VerifyOptions;
}

/** Starts a fake API server for `spec`, runs verifyCluster against it, stops it; returns the report and verify's wall time. */
export async function runSimulatedVerify(
  spec: ClusterSpec,
  options: SimulatedVerifyOptions = {},
): Promise<{ report: VerifyReport; durationMs: number; sim: KubeApiSimulator }> {
  const healthy = healthyScenarioFor(spec);
  const sim = await KubeApiSimulator.start({ scenario: options.scenario?.(healthy) ?? healthy });
  const client = new KubeClient(await parseKubeconfig(await sim.kubeconfig()));
  try {
    const started = performance.now();
    const report = await verifyCluster(spec, client, {
      handleSigint: false,
      hostOnlyProxy: sim.hostOnlyProxy,
      ...options.verify,
    });
    return { report, durationMs: performance.now() - started, sim };
  } finally {
    await client.close();
    await sim.close();
  }
}
