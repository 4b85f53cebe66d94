/**
 * `verifyCluster`: proves the cluster works using only the Kubernetes API
 * (no SSH, no kubectl). It reads nodes and system pods, then runs a
 * short-lived workload (see workload.ts) whose probe pods test DNS, pod to
 * pod across nodes, a Service's ClusterIP, NodePorts and clocks, and reads
 * their results back from termination messages. The workload is always
 * removed: on success, failure, API errors and Ctrl-C (force-deleting pods
 * that do not terminate), within a bounded time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KubestationError } from '../errors.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError, KubeNotFoundError } from '../kube/errors.js';
import type { Pod } from '../kube/types.js';
import { findCondition } from '../kube/types.js';
import type { ClusterSpec } from '../config/model.js';
import { checkNodes, checkSystemPods, cniPods, podHealth } from './cluster-checks.js';
import { checkDataPath, type ProbeOutcome } from './data-path-checks.js';
import { Findings } from './findings.js';
import { parseProbeOutput, renderProbeScript } from './probe-script.js';
import type { VerifyReport } from './report.js';
import { defaultVerifyImage, defaultVerifyNamespace, podNameFor, probePod, serverPod, serviceName, servicePort, serverPort, verifyNamespace, verifyService } from './workload.js';

/** How long verify waits for each phase unless told otherwise. */
export const DEFAULT_VERIFY_TIMEOUTS = {
  serversReadyMs: 180_000,
  probesMs: 120_000,
  cleanupMs: 60_000,
  forceDeleteAfterMs: 15_000,
} as const;

export interface VerifyOptions {
  /** Test image; default the pinned agnhost. */
  image?: string;
  /** Namespace of the test workload; default "kubestation-verify". */
  namespace?: string;
  /** Largest clock difference from the control plane that passes; default 3 s (HTTP dates have 1 s resolution). */
  clockToleranceSeconds?: number;
  timeouts?: {
    /** Test server pods ready (includes the first image pull); default 180 s. */
    serversReadyMs?: number;
    /** Probe pods finished; default 120 s. */
    probesMs?: number;
    /** Removing the workload; default 60 s. */
    cleanupMs?: number;
    /** Force-delete pods still terminating after this long during cleanup; default 15 s. */
    forceDeleteAfterMs?: number;
  };
  /** Poll interval; default 1 s. */
  intervalMs?: number;
  /** Aborting stops the checks and removes the workload. */
  signal?: AbortSignal;
  /** Install a SIGINT (Ctrl-C) handler for the duration of the run; default true. */
  handleSigint?: boolean;
  /** Progress lines ("starting test pods on 3 nodes"). */
  log?: (line: string) => void;
}

const serverSelector = 'app.kubernetes.io/name=verify-server';
const probeSelector = 'app.kubernetes.io/name=verify-probe';

function pendingReason(pod: Pod | undefined): string {
  if (!pod) return 'pod not created';
  const scheduled = findCondition(pod.status?.conditions, 'PodScheduled');
  if (scheduled?.status === 'False') return `not scheduled: ${scheduled.message ?? scheduled.reason ?? ''}`.trim();
  return podHealth(pod).detail;
}

export async function verifyCluster(spec: ClusterSpec, client: KubeClient, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = Date.now();
  const namespace = options.namespace ?? defaultVerifyNamespace;
  const image = options.image ?? defaultVerifyImage;
  const interval = options.intervalMs ?? 1000;
  const log = options.log ?? (() => {});
  const findings = new Findings();
  const controller = new AbortController();
  const signal = controller.signal;
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  let cleaningUp = false;
  const onSigint = () => {
    if (cleaningUp) log('still removing the test workload; it is bounded and ends shortly');
    else log('interrupted: stopping and removing the test workload');
    controller.abort(new Error('interrupted'));
  };
  if (options.handleSigint ?? true) process.on('SIGINT', onSigint);

  let workloadTouched = false;
  let interrupted = false;
  let cleanup = { ok: true, detail: 'nothing was created' };
  let failure: unknown;
  try {
    log('reading nodes and system pods');
    const nodes = await client.listNodes();
    checkNodes(spec, nodes, findings);
    const cni = cniPods(spec);
    const kubeSystem = await client.listPods('kube-system');
    const cniNamespace = await client.listPods(cni.namespace);
    const logTails = await collectLogTails(client, [...kubeSystem, ...cniNamespace]);
    const { coreDnsHealthy, coreDnsNodes } = checkSystemPods(spec, { kubeSystem, cniNamespace, logTails }, findings);
    const coreDnsLogTail = [...logTails.entries()].find(([key]) => key.startsWith('kube-system/coredns'))?.[1];

    const readyNodes = spec.nodes.filter((n) => {
      const node = nodes.find((x) => x.metadata.name === n.name);
      return node !== undefined && findCondition(node.status?.conditions, 'Ready')?.status === 'True';
    });
    const probes = new Map<string, ProbeOutcome>();
    for (const n of spec.nodes) if (!readyNodes.includes(n)) probes.set(n.name, { ran: false, reason: 'not run: the node is not Ready' });
    const serverFailures = new Map<string, string>();
    let serverNodes: string[] = [];
    const dnsNames = ['kubernetes.default', `${serviceName}.${namespace}`];

    if (readyNodes.length > 0) {
      signal.throwIfAborted();
      workloadTouched = true;
      if (await client.getNamespace(namespace)) {
        log(`removing a test workload left by an earlier run (namespace ${namespace})`);
        const previous = await removeWorkload(client, namespace, options, interval);
        if (!previous.ok) {
          throw new KubestationError('VERIFY_LEFTOVER', `the test workload of an earlier verify run could not be removed: ${previous.detail}`, {
            fix: `delete it with \`kubectl delete namespace ${namespace} --force --grace-period=0\` and run verify again`,
          });
        }
      }
      log(`starting test pods on ${readyNodes.length} node${readyNodes.length === 1 ? '' : 's'} (image ${image})`);
      await client.createNamespace(namespace, verifyNamespace(namespace).metadata.labels);
      await client.createService(namespace, verifyService());
      for (const node of readyNodes) await client.createPod(namespace, serverPod(node.name, image));

      const servers = await waitForPods(client, namespace, serverSelector, readyNodes.length, (p) => podHealth(p).healthy, options.timeouts?.serversReadyMs ?? DEFAULT_VERIFY_TIMEOUTS.serversReadyMs, interval, signal);
      const serverByNode = new Map(servers.map((p) => [p.spec?.nodeName ?? '', p]));
      for (const node of readyNodes) {
        const pod = servers.find((p) => p.metadata.name === podNameFor('verify-server', node.name));
        if (pod && podHealth(pod).healthy && pod.status?.podIP) continue;
        serverFailures.set(node.name, pendingReason(pod));
      }
      serverNodes = readyNodes.map((n) => n.name).filter((n) => !serverFailures.has(n));
      const service = await client.getService(namespace, serviceName);
      const nodePort = service.spec?.ports?.[0]?.nodePort;
      const controlPlane = spec.controlPlane.name;

      log('running the probes');
      for (const node of readyNodes) {
        const script = renderProbeScript({
          node: node.name,
          dnsNames,
          pods: serverNodes.map((target) => ({ node: target, url: `http://${serverByNode.get(target)!.status!.podIP}:${serverPort}/hostname` })),
          service: service.spec?.clusterIP ? { name: serviceName, url: `http://${service.spec.clusterIP}:${servicePort}/hostname` } : undefined,
          nodePorts: nodePort ? readyNodes.map((target) => ({ node: target.name, url: `http://${target.nics.hostOnly.address}:${nodePort}/hostname` })) : [],
          clockReference: serverNodes.includes(controlPlane) ? { node: controlPlane, url: `http://${serverByNode.get(controlPlane)!.status!.podIP}:${serverPort}/` } : undefined,
        });
        await client.createPod(namespace, probePod(node.name, image, script));
      }
      const finished = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
      const probePods = await waitForPods(client, namespace, probeSelector, readyNodes.length, finished, options.timeouts?.probesMs ?? DEFAULT_VERIFY_TIMEOUTS.probesMs, interval, signal);
      for (const node of readyNodes) {
        const pod = probePods.find((p) => p.metadata.name === podNameFor('verify-probe', node.name));
        probes.set(node.name, await readProbe(client, namespace, pod, finished));
      }
    }
    checkDataPath(spec, { serverNodes, serverFailures, probes, dnsNames, coreDnsHealthy, coreDnsNodes, coreDnsLogTail, clockToleranceSeconds: options.clockToleranceSeconds ?? 3 }, findings);
  } catch (error) {
    if (signal.aborted) interrupted = true;
    else failure = error;
  } finally {
    if (workloadTouched) {
      cleaningUp = true;
      log(`removing the test workload (namespace ${namespace})`);
      cleanup = await removeWorkload(client, namespace, options, interval);
    }
    options.signal?.removeEventListener('abort', onAbort);
    if (options.handleSigint ?? true) process.off('SIGINT', onSigint);
  }
  if (failure) throw failure;
  return {
    cluster: spec.name,
    ok: !interrupted && !findings.failed() && cleanup.ok,
    interrupted,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    results: findings.results,
    problems: cleanup.ok
      ? findings.problems
      : [...findings.problems, { id: 'cleanup', cause: `the test workload could not be removed: ${cleanup.detail}`, fix: `delete it with \`kubectl delete namespace ${namespace} --force --grace-period=0\`, or run kubestation verify again (it removes leftovers first)` }],
    cleanup,
  };
}

/** Last log line of each unhealthy system pod (previous container if it crashed), for the detail column. */
async function collectLogTails(client: KubeClient, pods: Pod[]): Promise<Map<string, string>> {
  const tails = new Map<string, string>();
  for (const pod of pods) {
    const health = podHealth(pod);
    if (health.healthy || !pod.status?.containerStatuses?.length) continue;
    const container = pod.status.containerStatuses.find((s) => !s.ready) ?? pod.status.containerStatuses[0]!;
    for (const previous of container.restartCount > 0 ? [true, false] : [false]) {
      try {
        const text = await client.getPodLogs(pod.metadata.namespace!, pod.metadata.name!, { container: container.name, previous, tailLines: 1, timeoutMs: 5000 });
        const last = text.trim().split('\n').at(-1)?.trim();
        if (last) {
          tails.set(`${pod.metadata.namespace}/${pod.metadata.name}`, last.length > 200 ? `${last.slice(0, 197)}...` : last);
          break;
        }
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error; // logs are a bonus: a kubelet that cannot serve them is reported elsewhere
      }
    }
  }
  return tails;
}

/** Polls until `count` pods match `done` or the deadline passes; returns the last listing either way. */
async function waitForPods(client: KubeClient, namespace: string, labelSelector: string, count: number, done: (p: Pod) => boolean, timeoutMs: number, interval: number, signal: AbortSignal): Promise<Pod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    const pods = await client.listPods(namespace, { labelSelector });
    if (pods.filter(done).length >= count || Date.now() >= deadline) return pods;
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), undefined, { signal });
  }
}

async function readProbe(client: KubeClient, namespace: string, pod: Pod | undefined, finished: (p: Pod) => boolean): Promise<ProbeOutcome> {
  if (!pod || !finished(pod)) return { ran: false, reason: `did not finish in time: ${pendingReason(pod)}` };
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  let parsed = parseProbeOutput(terminated?.message ?? '');
  if (parsed.lines.length === 0) {
    try {
      parsed = parseProbeOutput(await client.getPodLogs(namespace, pod.metadata.name!, { timeoutMs: 10_000 }));
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
    }
  }
  if (parsed.lines.length === 0) {
    return { ran: false, reason: `the probe printed no results (exit code ${terminated?.exitCode ?? '?'}${terminated?.message ? `: ${terminated.message.trim().split('\n').at(-1)}` : ''})` };
  }
  return { ran: true, ...parsed };
}

/**
 * Deletes the namespace and waits until it is gone; pods still terminating
 * after `forceDeleteAfterMs` (a kubelet that never confirms) are force
 * deleted. Never throws: the outcome is reported.
 */
async function removeWorkload(client: KubeClient, namespace: string, options: VerifyOptions, interval: number): Promise<{ ok: boolean; detail: string }> {
  const cleanupMs = options.timeouts?.cleanupMs ?? DEFAULT_VERIFY_TIMEOUTS.cleanupMs;
  const forceAfter = Date.now() + (options.timeouts?.forceDeleteAfterMs ?? DEFAULT_VERIFY_TIMEOUTS.forceDeleteAfterMs);
  const deadline = Date.now() + cleanupMs;
  const forced = new Set<string>();
  try {
    try {
      await client.deleteNamespace(namespace);
    } catch (error) {
      if (!(error instanceof KubeNotFoundError)) throw error;
    }
    for (;;) {
      if (!(await client.getNamespace(namespace))) {
        return { ok: true, detail: `removed (namespace ${namespace}${forced.size ? `; force-deleted stuck pods ${[...forced].join(', ')}` : ''})` };
      }
      if (Date.now() >= forceAfter) {
        for (const pod of await client.listPods(namespace)) {
          if (forced.has(pod.metadata.name!)) continue;
          try {
            await client.deletePod(namespace, pod.metadata.name!, { gracePeriodSeconds: 0 });
          } catch (error) {
            if (!(error instanceof KubeNotFoundError)) throw error;
          }
          forced.add(pod.metadata.name!);
        }
      }
      if (Date.now() >= deadline) {
        return { ok: false, detail: `namespace ${namespace} still terminating after ${Math.round(cleanupMs / 1000)} s` };
      }
      await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    }
  } catch (error) {
    return { ok: false, detail: `could not remove namespace ${namespace}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

