/**
 * Checks of what the API server reports, without running anything: nodes
 * (registered, Ready, InternalIP, kubelet version, control-plane taint, the
 * address flannel uses) and the kube-system / CNI pods on the nodes they
 * belong to. Pure: objects in, findings out.
 */
import { findCondition, type Node, type Pod } from '../kube/types.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { Findings } from './findings.js';
import type { Problem } from './report.js';

export const controlPlaneTaintKey = 'node-role.kubernetes.io/control-plane';
const flannelPublicIpAnnotation = 'flannel.alpha.coreos.com/public-ip';
const staticComponents = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'] as const;

export interface CniPods {
  name: string;
  namespace: string;
  daemonSet: string;
}

export function cniPods(spec: ClusterSpec): CniPods {
  return spec.kubernetes.cni.name === 'flannel'
    ? { name: 'flannel', namespace: 'kube-flannel', daemonSet: 'kube-flannel-ds' }
    : { name: 'calico', namespace: 'calico-system', daemonSet: 'calico-node' };
}

const hostOnlyAddress = (node: NodeSpec) => node.nics.hostOnly.address;

/** What the CNI pod on `node` needs (the fix when it is not running, and when the node is NotReady because of it). */
function cniFix(spec: ClusterSpec, node: NodeSpec): string {
  return spec.kubernetes.cni.name === 'flannel'
    ? `flannel must reach the API server at ${spec.kubernetes.apiEndpoint}, find the pod CIDR ${spec.kubernetes.podSubnet.cidr} in its net-conf.json, and use --iface=${node.nics.hostOnly.guestName}; read the log of the flannel pod on ${node.name} (System pods)`
    : `calico-node must reach the API server at ${spec.kubernetes.apiEndpoint} and autodetect the host-only interface ${node.nics.hostOnly.guestName}; read the log of the calico-node pod on ${node.name} (System pods)`;
}

function nodeProblems(spec: ClusterSpec, node: NodeSpec) {
  return {
    missing: {
      id: `node-missing:${node.name}`,
      cause: `${node.name} never registered with the API server: its kubeadm ${node.role === 'control-plane' ? 'init' : 'join'} failed or has not run`,
      fix: `look at ${node.name}'s serial console log in the state folder (${spec.stateDir}) for the kubeadm error, then rebuild the node with build-vms`,
    },
    cniNotReady: {
      id: `node-cni:${node.name}`,
      cause: `the kubelet on ${node.name} reports no pod network (CNI not initialized), so the node is NotReady`,
      fix: cniFix(spec, node),
    },
    kubeletDown: {
      id: `node-kubelet:${node.name}`,
      cause: `the kubelet on ${node.name} is not posting status (VM off, kubelet stopped, or no route to the API server)`,
      fix: `check that the VM is powered on; on its console run \`systemctl status kubelet\` and \`journalctl -u kubelet -n 50\``,
    },
    internalIp: {
      id: `node-ip:${node.name}`,
      cause: `${node.name} registered with the wrong InternalIP: the kubelet chose the default-route NIC (NAT) instead of the host-only address ${hostOnlyAddress(node)}`,
      fix: `the kubelet needs node-ip=${hostOnlyAddress(node)} (kubestation sets it in kubeletExtraArgs); rebuild the node so its join configuration is applied again`,
    },
  } satisfies Record<string, Problem>;
}

/**
 * Checks every node; returns the nodes that are missing or not Ready with the
 * problem that explains it, so rows about their pods name that one cause.
 */
export function checkNodes(spec: ClusterSpec, nodes: Node[], findings: Findings): Map<string, Problem> {
  const nodeCauses = new Map<string, Problem>();
  const byName = new Map(nodes.map((n) => [n.metadata.name, n]));
  const minor = spec.kubernetes.minor;
  const cni = cniPods(spec);
  for (const expected of spec.nodes) {
    const problems = nodeProblems(spec, expected);
    const node = byName.get(expected.name);
    const base = { group: 'nodes' as const, node: expected.name };
    if (!node) {
      findings.add(
        { ...base, check: 'registered', verdict: 'fail', detail: 'not registered with the API server' },
        problems.missing,
      );
      nodeCauses.set(expected.name, problems.missing);
      continue;
    }
    const ready = findCondition(node.status?.conditions, 'Ready');
    if (ready?.status === 'True') {
      findings.add({ ...base, check: 'ready', verdict: 'pass', detail: 'Ready' });
    } else {
      const networkNotReady =
        ready?.status === 'False' && /NetworkReady=false|cni/i.test(ready?.message ?? '');
      const cause = networkNotReady ? problems.cniNotReady : problems.kubeletDown;
      findings.add(
        {
          ...base,
          check: 'ready',
          verdict: 'fail',
          detail: `${ready?.status === 'Unknown' ? 'Unknown' : 'NotReady'}: ${ready?.message ?? ready?.reason ?? 'no Ready condition'}`,
        },
        cause,
      );
      nodeCauses.set(expected.name, cause);
    }

    const internalIp = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    findings.add(
      internalIp === hostOnlyAddress(expected)
        ? { ...base, check: 'internal-ip', verdict: 'pass', detail: internalIp }
        : {
            ...base,
            check: 'internal-ip',
            verdict: 'fail',
            detail: `${internalIp ?? 'none'}, expected ${hostOnlyAddress(expected)}`,
          },
      problems.internalIp,
    );

    const version = node.status?.nodeInfo?.kubeletVersion ?? '';
    const wanted = spec.kubernetes.patch ? `v${spec.kubernetes.patch}` : `v${minor}.x`;
    const versionOk = spec.kubernetes.patch
      ? version === `v${spec.kubernetes.patch}`
      : version.startsWith(`v${minor}.`);
    findings.add(
      {
        ...base,
        check: 'kubelet-version',
        verdict: versionOk ? 'pass' : 'fail',
        detail: versionOk ? version : `${version || 'unknown'}, expected ${wanted}`,
      },
      {
        id: `kubelet-version:${expected.name}`,
        cause: `${expected.name} runs kubelet ${version || 'unknown'} but cluster.yaml asks for ${wanted}`,
        fix: `rebuild ${expected.name} (its packages come from the ${minor} repository), or change kubernetes.version in cluster.yaml if the cluster is meant to run another version`,
      },
    );

    const tainted = (node.spec?.taints ?? []).some(
      (t) => t.key === controlPlaneTaintKey && t.effect === 'NoSchedule',
    );
    const shouldTaint = expected.role === 'control-plane' && spec.kubernetes.controlPlaneTaint;
    findings.add(
      {
        ...base,
        check: 'taint',
        verdict: tainted === shouldTaint ? 'pass' : 'fail',
        detail: tainted ? `${controlPlaneTaintKey}:NoSchedule` : 'no control-plane taint',
      },
      {
        id: `taint:${expected.name}`,
        cause: shouldTaint
          ? `${expected.name} lacks the control-plane NoSchedule taint, so ordinary pods can land on it`
          : `${expected.name} has the control-plane NoSchedule taint although cluster.yaml sets kubernetes.controlPlaneTaint: false`,
        fix: shouldTaint
          ? `rebuild the control plane, or set kubernetes.controlPlaneTaint: false in cluster.yaml if workloads should run there`
          : `rebuild the control plane so kubeadm init applies taints: [] , or set kubernetes.controlPlaneTaint: true`,
      },
    );

    const flannelIp = node.metadata.annotations?.[flannelPublicIpAnnotation];
    if (cni.name === 'flannel' && flannelIp !== undefined) {
      findings.add(
        {
          ...base,
          check: 'flannel-address',
          verdict: flannelIp === hostOnlyAddress(expected) ? 'pass' : 'fail',
          detail:
            flannelIp === hostOnlyAddress(expected)
              ? flannelIp
              : `${flannelIp}, expected ${hostOnlyAddress(expected)}`,
        },
        {
          id: `flannel-iface:${expected.name}`,
          cause: `flannel on ${expected.name} sends VXLAN over ${flannelIp}, the NAT NIC (default route), not the host-only network`,
          fix: `run flannel with --iface=${expected.nics.hostOnly.guestName} (kubestation patches the kube-flannel DaemonSet this way), then delete the kube-flannel pods so they restart`,
        },
      );
    }
  }
  for (const node of nodes) {
    if (!spec.nodes.some((n) => n.name === node.metadata.name)) {
      findings.add(
        {
          group: 'nodes',
          check: 'registered',
          node: node.metadata.name ?? '',
          verdict: 'warn',
          detail: 'not in cluster.yaml',
        },
        {
          id: `node-extra:${node.metadata.name}`,
          cause: `node ${node.metadata.name} is registered but not part of cluster.yaml`,
          fix: 'if it was renamed or removed from cluster.yaml, delete it from the cluster (kubestation remove-node, or kubectl delete node)',
        },
      );
    }
  }
  return nodeCauses;
}

export interface PodHealth {
  healthy: boolean;
  detail: string;
  waitingReason: string | undefined;
}

export function podHealth(pod: Pod): PodHealth {
  const ready = findCondition(pod.status?.conditions, 'Ready')?.status === 'True';
  const statuses = pod.status?.containerStatuses ?? [];
  const restarts = statuses.reduce((sum, s) => sum + s.restartCount, 0);
  const waiting = statuses.find((s) => s.state?.waiting?.reason)?.state?.waiting?.reason;
  const restartText = restarts ? `, ${restarts} restart${restarts === 1 ? '' : 's'}` : '';
  if (pod.metadata.deletionTimestamp)
    return { healthy: false, detail: 'Terminating', waitingReason: undefined };
  if (pod.status?.phase === 'Running' && ready)
    return { healthy: true, detail: `Running, ready${restartText}`, waitingReason: undefined };
  const state =
    waiting ?? (pod.status?.phase === 'Running' ? 'Running, not ready' : (pod.status?.phase ?? 'Unknown'));
  return { healthy: false, detail: `${state}${restartText}`, waitingReason: waiting };
}

const ownedByDaemonSet = (pod: Pod, name: string) =>
  pod.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet' && o.name === name) ?? false;
const podKey = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

export interface SystemPodsInput {
  kubeSystem: Pod[];
  cniNamespace: Pod[];
  /** Last log lines of unhealthy pods (previous container when it crashed), by "namespace/name". */
  logTails: Map<string, string>;
  /** Nodes that are not Ready and why (checkNodes): an unhealthy pod there is explained by its node. */
  nodeCauses: Map<string, Problem>;
}

/** The problem explaining unhealthy CoreDNS (shared with the DNS data-path rows). */
export function coreDnsProblem(logTail: string | undefined): Problem {
  if (logTail && /plugin\/loop/.test(logTail)) {
    return {
      id: 'coredns',
      cause:
        "CoreDNS is crash-looping because it detected a forwarding loop: the nodes' resolv.conf sends its queries back to a local stub resolver (127.0.0.53)",
      fix: "have the kubelet hand pods the real upstream servers: KubeletConfiguration resolvConf: /run/systemd/resolve/resolv.conf (kubestation's kubeadm config sets it; rebuild if it was changed), then delete the CoreDNS pods so they restart",
    };
  }
  return {
    id: 'coredns',
    cause: 'CoreDNS is not running and ready, so no pod can resolve names',
    fix: 'read the CoreDNS log (shown in the detail column); common causes are a forwarding loop (resolv.conf pointing at 127.0.0.53) and no pod network on its node',
  };
}

export function checkSystemPods(
  spec: ClusterSpec,
  input: SystemPodsInput,
  findings: Findings,
): { coreDnsHealthy: boolean; coreDnsNodes: string[] } {
  const add = (result: Parameters<Findings['add']>[0], problem: Problem) =>
    findings.add(result, (result.node && input.nodeCauses.get(result.node)) || problem);
  const withLog = (pod: Pod, health: PodHealth) => {
    const tail = input.logTails.get(podKey(pod));
    return tail ? `${health.detail}; log: ${tail}` : health.detail;
  };
  for (const cp of spec.nodes.filter((n) => n.role === 'control-plane')) {
    for (const component of staticComponents) {
      const pod = input.kubeSystem.find(
        (p) => p.metadata.labels?.component === component && p.spec?.nodeName === cp.name,
      );
      const health = pod ? podHealth(pod) : undefined;
      add(
        {
          group: 'system-pods',
          check: component,
          node: cp.name,
          verdict: health?.healthy ? 'pass' : 'fail',
          detail: pod && health ? withLog(pod, health) : 'no pod',
        },
        {
          id: `static:${component}:${cp.name}`,
          cause: `${component} is not running on ${cp.name}`,
          fix: `on ${cp.name}'s console: \`sudo crictl ps -a --name ${component}\` and \`sudo crictl logs <container id>\`; its manifest is /etc/kubernetes/manifests/${component}.yaml`,
        },
      );
    }
  }

  const coreDns = input.kubeSystem.filter((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns');
  let coreDnsHealthy = false;
  const coreDnsNodes: string[] = [];
  if (coreDns.length === 0) {
    findings.add(
      {
        group: 'system-pods',
        check: 'coredns',
        node: '',
        verdict: 'fail',
        detail: 'no CoreDNS pods (label k8s-app=kube-dns)',
      },
      coreDnsProblem(undefined),
    );
  }
  for (const pod of coreDns) {
    const health = podHealth(pod);
    if (health.healthy) {
      coreDnsHealthy = true;
      coreDnsNodes.push(pod.spec?.nodeName ?? '');
    }
    add(
      {
        group: 'system-pods',
        check: 'coredns',
        node: pod.spec?.nodeName ?? '',
        target: pod.metadata.name,
        verdict: health.healthy ? 'pass' : 'fail',
        detail: withLog(pod, health),
      },
      coreDnsProblem(input.logTails.get(podKey(pod))),
    );
  }

  const cni = cniPods(spec);
  const perNode: { check: string; pods: Pod[]; daemonSet: string; namespace: string }[] = [
    { check: 'kube-proxy', pods: input.kubeSystem, daemonSet: 'kube-proxy', namespace: 'kube-system' },
    { check: cni.name, pods: input.cniNamespace, daemonSet: cni.daemonSet, namespace: cni.namespace },
  ];
  for (const { check, pods, daemonSet, namespace } of perNode) {
    for (const node of spec.nodes) {
      const pod = pods.find((p) => ownedByDaemonSet(p, daemonSet) && p.spec?.nodeName === node.name);
      const health = pod ? podHealth(pod) : undefined;
      add(
        {
          group: 'system-pods',
          check,
          node: node.name,
          verdict: health?.healthy ? 'pass' : 'fail',
          detail: pod && health ? withLog(pod, health) : `no ${daemonSet} pod on this node`,
        },
        check === 'kube-proxy'
          ? {
              id: `kube-proxy:${node.name}`,
              cause: `kube-proxy is not running on ${node.name}, so Services do not work from there`,
              fix: `read its log (detail column); if the pod is missing, the node may be NotReady or tainted against the DaemonSet ${namespace}/${daemonSet}`,
            }
          : {
              id: `cni:${node.name}`,
              cause: `${check} is not running on ${node.name}, so the node has no pod network`,
              fix: cniFix(spec, node),
            },
      );
    }
  }
  return { coreDnsHealthy, coreDnsNodes };
}
