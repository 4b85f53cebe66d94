/**
 * Turns the probe pods' result lines into per-node rows and explains
 * failures by comparing them: a path that fails between nodes but works
 * within a node points at the overlay (VXLAN); a Service that fails while
 * its pods answer directly points at kube-proxy; and so on.
 */
import type { ClusterSpec } from '../config/model.js';
import type { Findings } from './findings.js';
import { clockOffsetSeconds, describeCurlFailure, type ProbeLine } from './probe-script.js';
import type { Problem } from './report.js';
import { coreDnsProblem } from './cluster-checks.js';

export type ProbeOutcome = { ran: true; lines: ProbeLine[]; complete: boolean } | { ran: false; reason: string };

export interface DataPathInput {
  /** Nodes whose test server pod became ready (the targets). */
  serverNodes: string[];
  /** Why a node's server pod did not become ready. */
  serverFailures: Map<string, string>;
  /** Probe results by the node the probe ran on. */
  probes: Map<string, ProbeOutcome>;
  dnsNames: string[];
  coreDnsHealthy: boolean;
  coreDnsNodes: string[];
  coreDnsLogTail: string | undefined;
  clockToleranceSeconds: number;
}

function overlayProblem(spec: ClusterSpec): Problem {
  const subnet = spec.networks.hostOnly.subnet.cidr;
  const flannel = spec.kubernetes.cni.name === 'flannel';
  const port = flannel ? '8472' : '4789';
  const device = flannel ? 'flannel.1' : 'vxlan.calico';
  return {
    id: 'overlay',
    cause: `pod traffic between nodes is dropped while traffic within a node works: the overlay's VXLAN packets (UDP ${port}) between the nodes do not arrive`,
    fix:
      `allow UDP ${port} between the nodes on the host-only network (e.g. \`sudo ufw allow from ${subnet} to any port ${port} proto udp\` on every node), ` +
      `and turn off TX checksum offload on the VXLAN device, which VMware's virtual NICs can get wrong: \`sudo ethtool -K ${device} tx-checksum-ip-generic off\` on every node (kubestation's node setup does this at boot; check it ran)`,
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
    cause: `the Service's ClusterIP does not forward from ${node} although the pods answer directly: kube-proxy has not programmed the node's packet rules`,
    fix: `check the kube-proxy pod on ${node} under System pods and its log; on the node, br_netfilter must be loaded and net.bridge.bridge-nf-call-iptables=1, net.ipv4.ip_forward=1 (kubestation's node setup sets them)`,
  };
}

function nodePortProblem(target: string): Problem {
  return {
    id: `nodeport:${target}`,
    cause: `NodePorts on ${target} are not reachable although the Service works inside the cluster: a firewall on ${target} blocks 30000-32767/tcp`,
    fix: `allow the NodePort range on ${target}: \`sudo ufw allow 30000:32767/tcp\` (or set firewall.enabled: false in cluster.yaml if you do not want a firewall on the nodes)`,
  };
}

function clockProblem(spec: ClusterSpec, node: string, offset: number): Problem {
  return {
    id: `clock:${node}`,
    cause: `${node}'s clock is ${Math.abs(Math.round(offset))} s ${offset < 0 ? 'ahead of' : 'behind'} the control plane; certificates and etcd need clocks within a few seconds`,
    fix: `on ${node} run \`chronyc tracking\` and \`chronyc sources\`: the NTP servers from cluster.yaml (${spec.os.ntpServers.join(', ')}) must be reachable over the NAT network; \`sudo chronyc makestep\` corrects it at once`,
  };
}

export function checkDataPath(spec: ClusterSpec, input: DataPathInput, findings: Findings): void {
  const group = 'data-path' as const;
  for (const [node, reason] of input.serverFailures) {
    findings.add({ group, check: 'test-server', node, verdict: 'fail', detail: reason }, {
      id: `workload:${node}`,
      cause: `the test pods could not run on ${node}`,
      fix: reason.includes('ImagePull') || reason.includes('ErrImage')
        ? `${node} cannot pull registry.k8s.io images: check its NAT network (gateway ${spec.networks.nat.gateway}) and DNS (${spec.os.dnsServers.join(', ')})`
        : `see why in the detail column; a NotReady or cordoned node cannot run pods`,
    });
  }

  const line = (from: string, check: string, target: string) => {
    const outcome = input.probes.get(from);
    return outcome?.ran ? outcome.lines.find((l) => l.check === check && l.target === target) : undefined;
  };
  const sameNodeWorks = (node: string) => line(node, 'pod', node)?.ok === true;
  const reachesAllPods = (from: string) => input.serverNodes.every((t) => line(from, 'pod', t)?.ok === true);
  const crossNodeBroken = [...input.probes.keys()].some((from) => input.serverNodes.some((t) => t !== from && line(from, 'pod', t)?.ok === false));

  for (const node of spec.nodes.map((n) => n.name)) {
    const outcome = input.probes.get(node);
    if (!outcome) continue;
    if (!outcome.ran) {
      findings.add({ group, check: 'probe', node, verdict: 'fail', detail: outcome.reason }, {
        id: `workload:${node}`,
        cause: `the test pods could not run on ${node}`,
        fix: 'see why in the detail column; a NotReady or cordoned node cannot run pods',
      });
      continue;
    }
    if (!outcome.complete) {
      findings.add({ group, check: 'probe', node, verdict: 'warn', detail: 'the probe stopped early; some results are missing' });
    }

    for (const name of input.dnsNames) {
      const result = line(node, 'dns', name);
      if (!result) continue;
      let problem: Problem | undefined;
      if (!result.ok) {
        if (!input.coreDnsHealthy) problem = coreDnsProblem(input.coreDnsLogTail);
        else if (crossNodeBroken && !input.coreDnsNodes.includes(node)) problem = overlayProblem(spec);
        else if (line(node, 'service', 'verify-web')?.ok === false) problem = serviceProblem(node);
        else problem = { id: `dns:${node}`, cause: `CoreDNS does not answer queries from ${node}`, fix: 'check the kube-dns Service in kube-system and the CoreDNS log' };
      }
      findings.add({ group, check: `dns ${name}`, node, verdict: result.ok ? 'pass' : 'fail', detail: result.ok ? `-> ${result.detail[0]}` : result.detail[0] === 'no-such-name' ? 'no such name' : `no answer (${result.detail[0]})` }, problem);
    }

    for (const target of input.serverNodes) {
      const result = line(node, 'pod', target);
      if (!result) continue;
      const problem = result.ok ? undefined : target !== node && sameNodeWorks(node) && sameNodeWorks(target) ? overlayProblem(spec) : podNetworkProblem(target);
      findings.add({ group, check: 'pod-to-pod', node, target, verdict: result.ok ? 'pass' : 'fail', detail: result.ok ? 'TCP ok' : describeCurlFailure(result.detail[0]) }, problem);
    }

    const service = outcome.lines.find((l) => l.check === 'service');
    if (service) {
      const problem = service.ok ? undefined : reachesAllPods(node) ? serviceProblem(node) : crossNodeBroken ? overlayProblem(spec) : podNetworkProblem(node);
      findings.add({ group, check: 'service', node, target: service.target, verdict: service.ok ? 'pass' : 'fail', detail: service.ok ? 'ClusterIP ok' : describeCurlFailure(service.detail[0]) }, problem);
    }

    for (const result of outcome.lines.filter((l) => l.check === 'nodeport')) {
      let problem: Problem | undefined;
      if (!result.ok) {
        if (service?.ok && line(result.target, 'service', service.target)?.ok !== false) problem = nodePortProblem(result.target);
        else if (crossNodeBroken) problem = overlayProblem(spec);
        else problem = serviceProblem(service?.ok === false ? node : result.target);
      }
      findings.add({ group, check: 'nodeport', node, target: result.target, verdict: result.ok ? 'pass' : 'fail', detail: result.ok ? 'NodePort ok' : describeCurlFailure(result.detail[0]) }, problem);
    }

    const clock = outcome.lines.find((l) => l.check === 'clock');
    if (clock) {
      const offset = clock.ok ? clockOffsetSeconds(clock) : undefined;
      if (offset === undefined) {
        findings.add({ group: 'clock', check: 'clock', node, target: clock.target, verdict: 'warn', detail: 'not measured: the control-plane test pod did not answer (see pod-to-pod)' });
      } else {
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
    }
  }
}
