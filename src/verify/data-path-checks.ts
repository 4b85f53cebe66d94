/**
 * Turns the probe pods' result lines into per-node rows and names the cause
 * of each failure by comparing results: only what the evidence isolates.
 *
 * Diagnosis rules: for a failing check, the first rule whose evidence holds
 * names the cause (test/verify/diagnosis.test.ts plays one broken cluster per
 * cause and asserts the full set of causes named).
 *
 *   failing check         evidence                                         cause named
 *   --------------------  -----------------------------------------------  -------------------------------------
 *   any check on F        F is not Ready                                   why F is not Ready (nodes table)
 *   any check on F        it did not run before the probe deadline         the probe on F is incomplete
 *   pod-to-pod F -> B     B's test pod fails from B itself                 pod network (CNI bridge) on B
 *                         F's own test pod fails from F                    pod network on F
 *                         both answer within their own node                overlay: every pair broken -> "overlay";
 *                                                                          one node broken with all others ->
 *                                                                          that node; else that node pair
 *   service F -> B        pod-to-pod F -> B fails too                      the pod-to-pod F -> B cause
 *                         pod-to-pod F -> B works                          kube-proxy on F
 *   nodeport F -> T       service T -> T fails                             the service T -> T cause
 *   (backend on T)        service T -> T works                             a firewall on T (30000-32767/tcp)
 *   dns <cluster name>    CoreDNS is not running and ready                 CoreDNS (its log names why)
 *                         pod-to-pod F -> a CoreDNS node fails             the pod-to-pod cause of that path
 *                         a Service fails from F while its pod answers     kube-proxy on F
 *                         otherwise                                        CoreDNS does not answer F
 *   dns <external name>   a cluster name resolved from F                   CoreDNS cannot reach its upstream DNS
 *                         otherwise                                        as for a cluster name
 *   clock F               offset beyond the tolerance                      NTP on F
 *
 * The NodePort rule relies on verify's one-Service-per-backend design
 * (workload.ts): the NodePort tried on T forwards to the test pod on T, so
 * cross-node breakage cannot make it fail and is never blamed on a firewall.
 */
import type { ClusterSpec } from '../config/model.js';
import type { Findings } from './findings.js';
import { clockOffsetSeconds, describeCurlFailure, type ProbeCheck, type ProbeLine } from './probe-script.js';
import type { CheckGroup, Problem } from './report.js';
import { coreDnsProblem } from './cluster-checks.js';

export interface ProbeOutcome {
  /** false: no probe pod ever ran on the node (`reason` says why). */
  ran: boolean;
  /** Why the probe did not run, or why some of its checks are missing. */
  reason: string;
  /** One result per expected check that ran. */
  lines: ProbeLine[];
  /** Expected checks without a result after every attempt. */
  missing: ProbeCheck[];
}

export interface DataPathInput {
  /** Nodes whose test server pod became ready (the targets). */
  serverNodes: string[];
  /** Why a node's server pod did not become ready. */
  serverFailures: Map<string, string>;
  /** Probe outcomes by the node the probe ran on (every node of the spec that was meant to run one). */
  probes: Map<string, ProbeOutcome>;
  /** Names looked up: cluster Service names, and names outside the cluster (resolved by CoreDNS's upstream). */
  dnsNames: { cluster: string[]; external: string[] };
  coreDnsHealthy: boolean;
  coreDnsNodes: string[];
  coreDnsLogTail: string | undefined;
  clockToleranceSeconds: number;
  /** Nodes that are not Ready, with the problem that explains it (from the nodes checks). */
  nodeCauses: Map<string, Problem>;
  /** How long the probes were given, in seconds (for the message when they did not finish). */
  probeSeconds: number;
}

function overlayFix(spec: ClusterSpec, nodes: string): string {
  const subnet = spec.networks.hostOnly.subnet.cidr;
  const flannel = spec.kubernetes.cni.name === 'flannel';
  const port = flannel ? '8472' : '4789';
  const device = flannel ? 'flannel.1' : 'vxlan.calico';
  return (
    `allow UDP ${port} between the nodes on the host-only network (e.g. \`sudo ufw allow from ${subnet} to any port ${port} proto udp\` on ${nodes}), ` +
    `and turn off TX checksum offload on the VXLAN device, which VMware's virtual NICs can get wrong: \`sudo ethtool -K ${device} tx-checksum-ip-generic off\` on ${nodes} (kubestation's node setup does this at boot; check it ran)`
  );
}

const vxlanPort = (spec: ClusterSpec) => (spec.kubernetes.cni.name === 'flannel' ? '8472' : '4789');

function overlayProblem(spec: ClusterSpec): Problem {
  return {
    id: 'overlay',
    cause: `pod traffic between nodes is dropped while traffic within a node works: the overlay's VXLAN packets (UDP ${vxlanPort(spec)}) between the nodes do not arrive`,
    fix: overlayFix(spec, 'every node'),
  };
}

function overlayNodeProblem(spec: ClusterSpec, node: string): Problem {
  return {
    id: `overlay:${node}`,
    cause: `pod traffic between ${node} and every other node is dropped, while the other nodes reach each other and every node reaches its own pods: ${node}'s VXLAN packets (UDP ${vxlanPort(spec)}) do not get through`,
    fix: `${overlayFix(spec, node)}; also check the ${spec.kubernetes.cni.name} pod on ${node} under System pods`,
  };
}

function overlayPairProblem(spec: ClusterSpec, a: string, b: string): Problem {
  return {
    id: `overlay:${a}~${b}`,
    cause: `pod traffic between ${a} and ${b} is dropped, while both reach the other nodes' pods: VXLAN packets (UDP ${vxlanPort(spec)}) between these two nodes do not arrive`,
    fix: `look for a firewall rule that names one of the two addresses on ${a} or ${b} (\`sudo ufw status numbered\`), and ${overlayFix(spec, `${a} and ${b}`)}`,
  };
}

function podNetworkProblem(node: string): Problem {
  return {
    id: `pod-network:${node}`,
    cause: `the test pod on ${node} does not answer even from its own node: the pod network (CNI bridge) on ${node} is broken`,
    fix: `check the CNI pod on ${node} under System pods and its log; on the node, \`ip addr show cni0\` should have an address in the node's pod CIDR`,
  };
}

function serviceProblem(node: string): Problem {
  return {
    id: `service-path:${node}`,
    cause: `Service ClusterIPs do not forward from ${node} although the pods behind them answer directly: kube-proxy has not programmed the node's packet rules`,
    fix: `check the kube-proxy pod on ${node} under System pods and its log; on the node, br_netfilter must be loaded and net.bridge.bridge-nf-call-iptables=1, net.ipv4.ip_forward=1 (kubestation's node setup sets them)`,
  };
}

function nodePortProblem(target: string): Problem {
  return {
    id: `nodeport:${target}`,
    cause: `NodePorts on ${target} do not answer although ${target} forwards the same Service to its own test pod inside the cluster: a firewall on ${target} blocks 30000-32767/tcp`,
    fix: `allow the NodePort range on ${target}: \`sudo ufw allow 30000:32767/tcp\` (or set firewall.enabled: false in cluster.yaml if you do not want a firewall on the nodes)`,
  };
}

/**
 * Names outside the cluster do not resolve while the names inside do: the lab is built and works
 * inside, it only cannot reach the Internet. A warning, not a failed build (a golden lab builds with
 * no way out at all); the cause named is the NAT network, the nodes' only way out.
 */
function dnsUpstreamProblem(spec: ClusterSpec, names: string[]): Problem {
  const nat = spec.networks.nat;
  return {
    id: 'dns-upstream',
    cause:
      `the lab is built and works inside (names in the cluster resolve), but names outside it (${names.join(', ')}) do not: ` +
      `the NAT network (${nat.vmnet}, gateway ${nat.gateway}) gives the nodes no way to the Internet, or CoreDNS cannot reach its upstream DNS servers (the nodes' resolvers, ${spec.os.dnsServers.join(', ')} from os.dnsServers). ` +
      `Pods cannot pull images that are not on the nodes already`,
    fix: `on a node, \`resolvectl query ${names[0] ?? 'registry.k8s.io'}\` must answer: check that the NAT service runs on the PC (Workstation's Virtual Network Editor, ${nat.vmnet}), the gateway ${nat.gateway}, and that os.dnsServers are reachable from it; the kubelet must hand CoreDNS /run/systemd/resolve/resolv.conf (kubestation's kubeadm config sets it)`,
  };
}

function clockProblem(spec: ClusterSpec, node: string, offset: number): Problem {
  return {
    id: `clock:${node}`,
    cause: `${node}'s clock is ${Math.abs(Math.round(offset))} s ${offset < 0 ? 'ahead of' : 'behind'} the control plane; certificates and etcd need clocks within a few seconds`,
    fix: `on ${node} run \`chronyc tracking\` and \`chronyc sources\`: the NTP servers from cluster.yaml (${spec.os.ntpServers.join(', ')}) must be reachable over the NAT network; \`sudo chronyc makestep\` corrects it at once`,
  };
}

function probeIncompleteProblem(
  node: string,
  missing: number,
  expected: number,
  reason: string,
  seconds: number,
): Problem {
  return {
    id: `probe:${node}`,
    cause: `the test probe on ${node} did not finish: ${missing} of its ${expected} checks did not run within ${seconds} s (${reason}); a check that did not run is not a pass`,
    fix: `run verify again; on a slow or busy host give it more time with \`--deadline-scale 2\`. If it keeps failing, look at ${node}'s load and its kubelet log (\`journalctl -u kubelet -n 50\`)`,
  };
}

/** How a probe check shows in the report: its group and check name. */
function rowOf(check: ProbeCheck): { group: CheckGroup; check: string; target?: string } {
  switch (check.check) {
    case 'dns':
      return { group: 'data-path', check: `dns ${check.target}` };
    case 'pod':
      return { group: 'data-path', check: 'pod-to-pod', target: check.target };
    case 'service':
      return { group: 'data-path', check: 'service', target: check.target };
    case 'nodeport':
      return { group: 'data-path', check: 'nodeport', target: check.target };
    case 'clock':
      return { group: 'clock', check: 'clock', target: check.target };
    case 'loadbalancer':
      return { group: 'addons', check: 'loadBalancer from pod', target: check.target };
  }
}

/** The report group of every row here but the clock's. */
const group = 'data-path' as const;

/**
 * Every node's rows: its test server, then (when its probe ran) DNS, pod-to-pod, Service, NodePort and clock
 * results, each failure with the cause the diagnosis rules (above) name; checks that did not run fail as such.
 */
export function checkDataPath(spec: ClusterSpec, input: DataPathInput, findings: Findings): void {
  addServerFailures(spec, input, findings);
  const diagnosis = diagnose(spec, input);
  for (const node of spec.nodes.map((n) => n.name)) {
    const outcome = input.probes.get(node);
    if (!outcome) continue;
    if (!outcome.ran) {
      findings.add(
        { group, check: 'probe', node, verdict: 'fail', detail: outcome.reason, notRun: true },
        input.nodeCauses.get(node) ?? {
          id: `workload:${node}`,
          cause: `the test pods could not run on ${node}`,
          fix: 'see why in the detail column; a NotReady or cordoned node cannot run pods',
        },
      );
      continue;
    }
    addDnsRows(spec, input, diagnosis, node, findings);
    addPodToPodRows(input, diagnosis, node, findings);
    addServiceRows(input, diagnosis, node, findings);
    addNodePortRows(input, diagnosis, node, findings);
    addClockRow(spec, input, outcome, node, findings);
    addNotRunRows(input, outcome, node, findings);
  }
}

function addServerFailures(spec: ClusterSpec, input: DataPathInput, findings: Findings): void {
  for (const [node, reason] of input.serverFailures) {
    const nodeCause = input.nodeCauses.get(node);
    findings.add(
      { group, check: 'test-server', node, verdict: 'fail', detail: reason },
      nodeCause ?? {
        id: `workload:${node}`,
        cause: `the test pods could not run on ${node}`,
        fix:
          reason.includes('ImagePull') || reason.includes('ErrImage')
            ? `${node} cannot pull registry.k8s.io images: check its NAT network (gateway ${spec.networks.nat.gateway}) and DNS (${spec.os.dnsServers.join(', ')})`
            : `see why in the detail column; a NotReady or cordoned node cannot run pods`,
      },
    );
  }
}

/** The probes' results, and the cause each kind of failure has by the diagnosis rules. */
interface Diagnosis {
  result: (from: string, check: string, target: string) => ProbeLine | undefined;
  /** true / false when the check ran, undefined when it did not. */
  passed: (from: string, check: string, target: string) => boolean | undefined;
  podCause: (from: string, target: string) => Problem | undefined;
  serviceCause: (from: string, target: string) => Problem | undefined;
  clusterDnsCause: (from: string) => Problem;
}

function diagnose(spec: ClusterSpec, input: DataPathInput): Diagnosis {
  const result = (from: string, check: string, target: string): ProbeLine | undefined =>
    input.probes.get(from)?.lines.find((l) => l.check === check && l.target === target);
  const passed = (from: string, check: string, target: string) => result(from, check, target)?.ok;
  const overlayCause = overlayCauses(spec, input, passed);

  const podCause = (from: string, target: string): Problem | undefined => {
    if (passed(target, 'pod', target) === false) return podNetworkProblem(target);
    if (passed(from, 'pod', from) === false) return podNetworkProblem(from);
    if (passed(from, 'pod', target) === false) return overlayCause(from, target);
    return undefined;
  };
  const serviceCause = (from: string, target: string): Problem | undefined => {
    const viaPod = passed(from, 'pod', target);
    if (viaPod === false) return podCause(from, target);
    if (viaPod === true) return serviceProblem(from);
    return undefined;
  };
  const kubeProxyBrokenOn = (from: string) =>
    input.serverNodes.some((b) => passed(from, 'pod', b) === true && passed(from, 'service', b) === false);
  const clusterDnsCause = (from: string): Problem => {
    if (!input.coreDnsHealthy) return coreDnsProblem(input.coreDnsLogTail);
    const unreachableCoreDns = input.coreDnsNodes.find((c) => passed(from, 'pod', c) === false);
    if (unreachableCoreDns)
      return podCause(from, unreachableCoreDns) ?? overlayCause(from, unreachableCoreDns);
    if (kubeProxyBrokenOn(from)) return serviceProblem(from);
    return {
      id: `dns:${from}`,
      cause: `CoreDNS does not answer queries from ${from}, although the pod network and Services work from there`,
      fix: 'check the kube-dns Service and its endpoints in kube-system, and the CoreDNS log',
    };
  };
  return { result, passed, podCause, serviceCause, clusterDnsCause };
}

/**
 * Overlay breakage between nodes whose pods answer locally, classified once for the whole cluster: every
 * pair broken, one node cut off from all others, or one pair.
 */
function overlayCauses(
  spec: ClusterSpec,
  input: DataPathInput,
  passed: Diagnosis['passed'],
): (a: string, b: string) => Problem {
  const healthyLocally = input.serverNodes.filter((n) => passed(n, 'pod', n) === true);
  const brokenPairs = new Set<string>();
  const pairKey = (a: string, b: string) => [a, b].sort().join('~');
  for (const a of healthyLocally)
    for (const b of healthyLocally)
      if (a !== b && passed(a, 'pod', b) === false) brokenPairs.add(pairKey(a, b));
  const allPairs = (healthyLocally.length * (healthyLocally.length - 1)) / 2;
  const isolated = (node: string) =>
    healthyLocally.length >= 3 &&
    healthyLocally.every((other) => other === node || brokenPairs.has(pairKey(node, other)));
  return (a, b) => {
    if (brokenPairs.size === allPairs) return overlayProblem(spec);
    if (isolated(a)) return overlayNodeProblem(spec, a);
    if (isolated(b)) return overlayNodeProblem(spec, b);
    const [first, second] = [a, b].sort() as [string, string];
    return overlayPairProblem(spec, first, second);
  };
}

function addDnsRows(
  spec: ClusterSpec,
  input: DataPathInput,
  { result, passed, clusterDnsCause }: Diagnosis,
  node: string,
  findings: Findings,
): void {
  for (const name of [...input.dnsNames.cluster, ...input.dnsNames.external]) {
    const line = result(node, 'dns', name);
    if (!line) continue;
    let problem: Problem | undefined;
    if (!line.ok) {
      const external = input.dnsNames.external.includes(name);
      const clusterNamesResolve = input.dnsNames.cluster.some((n) => passed(node, 'dns', n) === true);
      problem =
        external && clusterNamesResolve && input.coreDnsHealthy
          ? dnsUpstreamProblem(spec, input.dnsNames.external)
          : clusterDnsCause(node);
    }
    const detail = line.ok
      ? `-> ${line.detail[0]}`
      : line.detail[0] === 'no-such-name'
        ? 'no such name'
        : line.detail[0]?.startsWith('status-')
          ? `answer ${line.detail[0].slice('status-'.length)}`
          : `no answer (${line.detail[0]})`;
    // Only the Internet is missing (names inside the cluster resolve): the lab works inside, a warning.
    const outsideOnly = problem?.id === 'dns-upstream';
    findings.add(
      {
        group,
        check: `dns ${name}`,
        node,
        verdict: line.ok ? 'pass' : outsideOnly ? 'warn' : 'fail',
        detail,
      },
      problem,
    );
  }
}

function addPodToPodRows(
  input: DataPathInput,
  { result, podCause }: Diagnosis,
  node: string,
  findings: Findings,
): void {
  for (const target of input.serverNodes) {
    const line = result(node, 'pod', target);
    if (!line) continue;
    findings.add(
      {
        group,
        check: 'pod-to-pod',
        node,
        target,
        verdict: line.ok ? 'pass' : 'fail',
        detail: line.ok ? 'TCP ok' : describeCurlFailure(line.detail[0]),
      },
      line.ok ? undefined : podCause(node, target),
    );
  }
}

function addServiceRows(
  input: DataPathInput,
  { result, serviceCause }: Diagnosis,
  node: string,
  findings: Findings,
): void {
  for (const target of input.serverNodes) {
    const line = result(node, 'service', target);
    if (!line) continue;
    findings.add(
      {
        group,
        check: 'service',
        node,
        target,
        verdict: line.ok ? 'pass' : 'fail',
        detail: line.ok ? 'ClusterIP ok' : describeCurlFailure(line.detail[0]),
      },
      line.ok ? undefined : serviceCause(node, target),
    );
  }
}

/** A NodePort on T that fails while T forwards its own Service is a firewall on T; else the Service's cause. */
function addNodePortRows(
  input: DataPathInput,
  { result, passed, serviceCause }: Diagnosis,
  node: string,
  findings: Findings,
): void {
  for (const target of input.serverNodes) {
    const line = result(node, 'nodeport', target);
    if (!line) continue;
    let problem: Problem | undefined;
    if (!line.ok) {
      const local = passed(target, 'service', target);
      problem =
        local === true ? nodePortProblem(target) : local === false ? serviceCause(target, target) : undefined;
    }
    findings.add(
      {
        group,
        check: 'nodeport',
        node,
        target,
        verdict: line.ok ? 'pass' : 'fail',
        detail: line.ok ? 'NodePort ok' : describeCurlFailure(line.detail[0]),
      },
      problem,
    );
  }
}

function addClockRow(
  spec: ClusterSpec,
  input: DataPathInput,
  outcome: ProbeOutcome,
  node: string,
  findings: Findings,
): void {
  const clock = outcome.lines.find((l) => l.check === 'clock');
  if (!clock) return;
  const offset = clock.ok ? clockOffsetSeconds(clock) : undefined;
  if (offset === undefined) {
    findings.add({
      group: 'clock',
      check: 'clock',
      node,
      target: clock.target,
      verdict: 'warn',
      detail: 'not measured: the control-plane test pod did not answer (see pod-to-pod)',
    });
    return;
  }
  const within = Math.abs(offset) <= input.clockToleranceSeconds;
  const direction = offset < 0 ? 'ahead' : 'behind';
  findings.add(
    {
      group: 'clock',
      check: 'clock',
      node,
      target: clock.target,
      verdict: within ? 'pass' : 'fail',
      detail: `${Math.abs(offset) < 1 ? 'within 1 s' : `${Math.abs(offset).toFixed(0)} s ${direction}`} (tolerance ${input.clockToleranceSeconds} s)`,
    },
    clockProblem(spec, node, offset),
  );
}

/** The checks of a probe that did not finish: each fails as not run, not as a pass. */
function addNotRunRows(input: DataPathInput, outcome: ProbeOutcome, node: string, findings: Findings): void {
  if (outcome.missing.length === 0) return;
  const expected = outcome.lines.length + outcome.missing.length;
  const problem = probeIncompleteProblem(
    node,
    outcome.missing.length,
    expected,
    outcome.reason,
    input.probeSeconds,
  );
  for (const check of outcome.missing) {
    findings.add(
      { node, ...rowOf(check), verdict: 'fail', detail: `did not run: ${outcome.reason}`, notRun: true },
      problem,
    );
  }
}
