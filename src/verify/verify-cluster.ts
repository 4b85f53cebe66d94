/**
 * `verifyCluster`: proves the cluster works using only the Kubernetes API
 * (no SSH, no kubectl). It reads nodes and system pods, then runs a
 * short-lived workload (see workload.ts) whose probe pods test DNS, pod to
 * pod across nodes, every backend through a Service's ClusterIP, NodePorts
 * and clocks, and reads their results back from termination messages (the
 * pod log when a message was cut). Every check verify expects must produce a
 * result: a probe that stops early (killed at its deadline, evicted, ...) is
 * run again for its missing checks while the probe deadline allows, and what
 * still did not run fails verify. The workload is always removed: on
 * success, failure, API errors and Ctrl-C (force-deleting pods that do not
 * terminate), within a bounded time.
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
import { limiter } from '../limiter.js';
import { Findings } from './findings.js';
import {
  checkKey,
  parseProbeOutput,
  renderProbeScript,
  type ProbeCheck,
  type ProbeLine,
} from './probe-script.js';
import type { VerifyReport } from './report.js';
import {
  defaultVerifyImage,
  defaultVerifyNamespace,
  nodeService,
  podNameFor,
  probePod,
  probePodName,
  serverPod,
  serviceNameFor,
  servicePort,
  serverPort,
  verifyNamespace,
} from './workload.js';
import { COMMAND_PREFIX } from '../command-hint.js';

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
  /** Names outside the cluster every pod must resolve (through CoreDNS's upstream); default registry.k8s.io. */
  externalDnsNames?: string[];
  timeouts?: {
    /** Test server pods ready (includes the first image pull); default 180 s. */
    serversReadyMs?: number;
    /** Every probe check has a result, retries of incomplete probes included; default 120 s. */
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
/** Probe attempts per node at most: the probe deadline is shared between them. */
const maxProbeAttempts = 3;
/** API calls verify makes at once when it creates or reads one object per node. */
const apiConcurrency = 8;

/** Runs `task` for every item, `apiConcurrency` at a time. */
async function forEachBounded<T>(items: T[], task: (item: T) => Promise<unknown>): Promise<void> {
  const limit = limiter(apiConcurrency);
  await Promise.all(items.map((item) => limit(() => task(item))));
}

function pendingReason(pod: Pod | undefined): string {
  if (!pod) return 'pod not created';
  const scheduled = findCondition(pod.status?.conditions, 'PodScheduled');
  if (scheduled?.status === 'False')
    return `not scheduled: ${scheduled.message ?? scheduled.reason ?? ''}`.trim();
  return podHealth(pod).detail;
}

export async function verifyCluster(
  spec: ClusterSpec,
  client: KubeClient,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
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
    const nodeCauses = checkNodes(spec, nodes, findings);
    const cni = cniPods(spec);
    const kubeSystem = await client.listPods('kube-system');
    const cniNamespace = await client.listPods(cni.namespace);
    const logTails = await collectLogTails(client, [...kubeSystem, ...cniNamespace]);
    const { coreDnsHealthy, coreDnsNodes } = checkSystemPods(
      spec,
      { kubeSystem, cniNamespace, logTails, nodeCauses },
      findings,
    );
    const coreDnsLogTail = [...logTails.entries()].find(([key]) =>
      key.startsWith('kube-system/coredns'),
    )?.[1];

    const readyNodes = spec.nodes.filter((n) => {
      const node = nodes.find((x) => x.metadata.name === n.name);
      return node !== undefined && findCondition(node.status?.conditions, 'Ready')?.status === 'True';
    });
    const probes = new Map<string, ProbeOutcome>();
    for (const n of spec.nodes)
      if (!readyNodes.includes(n))
        probes.set(n.name, { ran: false, reason: 'not run: the node is not Ready', lines: [], missing: [] });
    const serverFailures = new Map<string, string>();
    let serverNodes: string[] = [];
    const dnsNames = {
      cluster: [
        'kubernetes.default',
        ...(readyNodes[0] ? [`${serviceNameFor(readyNodes[0].name)}.${namespace}`] : []),
      ],
      external: options.externalDnsNames ?? ['registry.k8s.io'],
    };
    const probesMs = options.timeouts?.probesMs ?? DEFAULT_VERIFY_TIMEOUTS.probesMs;

    if (readyNodes.length > 0) {
      signal.throwIfAborted();
      workloadTouched = true;
      if (await client.getNamespace(namespace)) {
        log(`removing a test workload left by an earlier run (namespace ${namespace})`);
        const previous = await removeWorkload(client, namespace, options, interval);
        if (!previous.ok) {
          throw new KubestationError(
            'VERIFY_LEFTOVER',
            `the test workload of an earlier verify run could not be removed: ${previous.detail}`,
            {
              fix: `delete it with \`kubectl delete namespace ${namespace} --force --grace-period=0\` and run verify again`,
            },
          );
        }
      }
      log(
        `starting test pods on ${readyNodes.length} node${readyNodes.length === 1 ? '' : 's'} (image ${image})`,
      );
      await client.createNamespace(namespace, verifyNamespace(namespace).metadata.labels);
      await forEachBounded(readyNodes, (node) => client.createService(namespace, nodeService(node.name)));
      await forEachBounded(readyNodes, (node) => client.createPod(namespace, serverPod(node.name, image)));

      const servers = await waitForPods(
        client,
        namespace,
        serverSelector,
        readyNodes.length,
        (p) => podHealth(p).healthy,
        options.timeouts?.serversReadyMs ?? DEFAULT_VERIFY_TIMEOUTS.serversReadyMs,
        interval,
        signal,
      );
      const serverByNode = new Map(servers.map((p) => [p.spec?.nodeName ?? '', p]));
      for (const node of readyNodes) {
        const pod = servers.find((p) => p.metadata.name === podNameFor('verify-server', node.name));
        if (pod && podHealth(pod).healthy && pod.status?.podIP) continue;
        serverFailures.set(node.name, pendingReason(pod));
      }
      serverNodes = readyNodes.map((n) => n.name).filter((n) => !serverFailures.has(n));
      const services = new Map<string, { clusterIP?: string; nodePort?: number }>();
      await forEachBounded(serverNodes, async (target) => {
        const service = await client.getService(namespace, serviceNameFor(target));
        services.set(target, {
          clusterIP: service.spec?.clusterIP,
          nodePort: service.spec?.ports?.[0]?.nodePort,
        });
      });
      const controlPlane = spec.controlPlane.name;
      const hostOnly = new Map(spec.nodes.map((n) => [n.name, n.nics.hostOnly.address]));
      const plans = new Map<string, ProbeCheck[]>();
      for (const node of readyNodes) {
        const checks: ProbeCheck[] = [...dnsNames.cluster, ...dnsNames.external].map((name) => ({
          check: 'dns',
          target: name,
        }));
        for (const target of serverNodes)
          checks.push({
            check: 'pod',
            target,
            url: `http://${serverByNode.get(target)!.status!.podIP}:${serverPort}/hostname`,
          });
        for (const target of serverNodes) {
          const { clusterIP, nodePort } = services.get(target)!;
          if (clusterIP)
            checks.push({ check: 'service', target, url: `http://${clusterIP}:${servicePort}/hostname` });
          if (nodePort)
            checks.push({
              check: 'nodeport',
              target,
              url: `http://${hostOnly.get(target)}:${nodePort}/hostname`,
            });
        }
        if (serverNodes.includes(controlPlane))
          checks.push({
            check: 'clock',
            target: controlPlane,
            url: `http://${serverByNode.get(controlPlane)!.status!.podIP}:${serverPort}/`,
          });
        plans.set(node.name, checks);
      }

      log('running the probes');
      for (const [node, outcome] of await runProbes(client, namespace, image, plans, {
        probesMs,
        interval,
        signal,
        log,
      }))
        probes.set(node, outcome);
    }
    checkDataPath(
      spec,
      {
        serverNodes,
        serverFailures,
        probes,
        dnsNames,
        coreDnsHealthy,
        coreDnsNodes,
        coreDnsLogTail,
        clockToleranceSeconds: options.clockToleranceSeconds ?? 3,
        nodeCauses,
        probeSeconds: Math.round(probesMs / 1000),
      },
      findings,
    );
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
    checks: { expected: findings.results.length, ran: findings.results.filter((r) => !r.notRun).length },
    problems: cleanup.ok
      ? findings.problems
      : [
          ...findings.problems,
          {
            id: 'cleanup',
            cause: `the test workload could not be removed: ${cleanup.detail}`,
            fix: `delete it with \`kubectl delete namespace ${namespace} --force --grace-period=0\`, or run ${COMMAND_PREFIX} verify again (it removes leftovers first)`,
          },
        ],
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
        const text = await client.getPodLogs(pod.metadata.namespace!, pod.metadata.name!, {
          container: container.name,
          previous,
          tailLines: 1,
          timeoutMs: 5000,
        });
        const last = text.trim().split('\n').at(-1)?.trim();
        if (last) {
          tails.set(
            `${pod.metadata.namespace}/${pod.metadata.name}`,
            last.length > 200 ? `${last.slice(0, 197)}...` : last,
          );
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
async function waitForPods(
  client: KubeClient,
  namespace: string,
  labelSelector: string,
  count: number,
  done: (p: Pod) => boolean,
  timeoutMs: number,
  interval: number,
  signal: AbortSignal,
): Promise<Pod[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    const pods = await client.listPods(namespace, { labelSelector });
    if (pods.filter(done).length >= count || Date.now() >= deadline) return pods;
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())), undefined, { signal });
  }
}

/**
 * Runs one probe pod per node and keeps every result it reports; a probe
 * that ends with checks missing (killed at its activeDeadlineSeconds,
 * evicted, a tool that failed) is run again for the missing checks only,
 * while the probe deadline allows. Each attempt gets an equal share of the
 * time left, so a probe killed at its deadline leaves time for another try.
 */
async function runProbes(
  client: KubeClient,
  namespace: string,
  image: string,
  plans: Map<string, ProbeCheck[]>,
  run: { probesMs: number; interval: number; signal: AbortSignal; log: (line: string) => void },
): Promise<Map<string, ProbeOutcome>> {
  const deadline = Date.now() + run.probesMs;
  const results = new Map([...plans.keys()].map((node) => [node, new Map<string, ProbeLine>()]));
  const reasons = new Map<string, string>();
  const missingOf = (node: string) => plans.get(node)!.filter((c) => !results.get(node)!.has(checkKey(c)));
  for (let attempt = 1; attempt <= maxProbeAttempts; attempt++) {
    const pending = [...plans.keys()].filter((node) => missingOf(node).length > 0);
    const left = deadline - Date.now();
    if (pending.length === 0 || left < 1000) break;
    if (attempt > 1)
      run.log(
        `running the probe again for the checks that did not run on ${pending.join(', ')} (attempt ${attempt})`,
      );
    // An equal share of the time left; 15 % of it stays for the kubelet to kill the pod and report.
    const activeDeadlineSeconds = Math.max(
      1,
      Math.floor((0.85 * left) / (maxProbeAttempts - attempt + 1) / 1000),
    );
    await forEachBounded(pending, (node) =>
      client.createPod(
        namespace,
        probePod(node, image, renderProbeScript({ node, checks: missingOf(node) }), {
          attempt,
          activeDeadlineSeconds,
        }),
      ),
    );
    const names = new Map(pending.map((node) => [probePodName(node, attempt), node]));
    const finished = (p: Pod) =>
      names.has(p.metadata.name!) && (p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed');
    const attemptEnds = Math.min(deadline, Date.now() + activeDeadlineSeconds * 1000 + 10_000);
    const pods = (
      await waitForPods(
        client,
        namespace,
        probeSelector,
        names.size,
        finished,
        attemptEnds - Date.now(),
        run.interval,
        run.signal,
      )
    ).filter((p) => names.has(p.metadata.name!));
    await forEachBounded([...names], async ([name, node]) => {
      const pod = pods.find((p) => p.metadata.name === name);
      const wanted = new Set(missingOf(node).map(checkKey));
      const read = await readProbe(client, namespace, pod, wanted);
      for (const line of read.lines)
        if (wanted.has(checkKey(line))) results.get(node)!.set(checkKey(line), line);
      reasons.set(node, read.reason);
      if (pod && !finished(pod)) {
        // Still running past its own deadline (a kubelet that does not enforce it): stop it before trying again.
        await client.deletePod(namespace, name, { gracePeriodSeconds: 0 }).catch((error: unknown) => {
          if (!(error instanceof KubeApiError)) throw error;
        });
      }
    });
  }
  const outcomes = new Map<string, ProbeOutcome>();
  for (const [node, checks] of plans) {
    const lines = checks
      .map((c) => results.get(node)!.get(checkKey(c)))
      .filter((l): l is ProbeLine => l !== undefined);
    const missing = missingOf(node);
    outcomes.set(node, {
      ran: true,
      lines,
      missing,
      reason: missing.length > 0 ? (reasons.get(node) ?? 'no probe result') : '',
    });
  }
  return outcomes;
}

/** The results one probe pod reported (termination message, then its log for what the message lacks) and, if incomplete, why. */
async function readProbe(
  client: KubeClient,
  namespace: string,
  pod: Pod | undefined,
  wanted: Set<string>,
): Promise<{ lines: ProbeLine[]; reason: string }> {
  if (!pod) return { lines: [], reason: 'the probe pod disappeared' };
  const phase = pod.status?.phase;
  if (phase !== 'Succeeded' && phase !== 'Failed')
    return { lines: [], reason: `the probe did not finish in time: ${pendingReason(pod)}` };
  const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
  const parsed = parseProbeOutput(terminated?.message ?? '');
  let lines = parsed.lines;
  const errors = [...parsed.errors];
  if ([...wanted].some((key) => !lines.some((l) => checkKey(l) === key))) {
    // The kubelet keeps only the last 4 KiB of the termination message: the log has every line.
    try {
      const fromLog = parseProbeOutput(
        await client.getPodLogs(namespace, pod.metadata.name!, { timeoutMs: 10_000 }),
      );
      lines = [...lines, ...fromLog.lines.filter((l) => !lines.some((k) => checkKey(k) === checkKey(l)))];
      errors.push(...fromLog.errors.filter((e) => !errors.includes(e)));
    } catch (error) {
      if (!(error instanceof KubeApiError)) throw error;
    }
  }
  const why = [
    pod.status?.reason === 'DeadlineExceeded'
      ? `killed at its ${pod.spec?.activeDeadlineSeconds ?? '?'} s deadline`
      : pod.status?.reason
        ? `${pod.status.reason}${pod.status.message ? `: ${pod.status.message}` : ''}`
        : '',
    terminated && terminated.exitCode !== 0 ? `exit code ${terminated.exitCode}` : '',
    ...errors.map((e) => `${e.split(' ')[0]} failed (${e.split(' ').slice(1).join(' ')})`),
  ].filter(Boolean);
  return { lines, reason: why.length > 0 ? why.join('; ') : 'the probe reported no result for them' };
}

/**
 * Deletes the namespace and waits until it is gone; pods still terminating
 * after `forceDeleteAfterMs` (a kubelet that never confirms) are force
 * deleted. Never throws: the outcome is reported.
 */
async function removeWorkload(
  client: KubeClient,
  namespace: string,
  options: VerifyOptions,
  interval: number,
): Promise<{ ok: boolean; detail: string }> {
  const cleanupMs = options.timeouts?.cleanupMs ?? DEFAULT_VERIFY_TIMEOUTS.cleanupMs;
  const forceAfter =
    Date.now() + (options.timeouts?.forceDeleteAfterMs ?? DEFAULT_VERIFY_TIMEOUTS.forceDeleteAfterMs);
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
        return {
          ok: true,
          detail: `removed (namespace ${namespace}${forced.size ? `; force-deleted stuck pods ${[...forced].join(', ')}` : ''})`,
        };
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
        return {
          ok: false,
          detail: `namespace ${namespace} still terminating after ${Math.round(cleanupMs / 1000)} s`,
        };
      }
      await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    }
  } catch (error) {
    return {
      ok: false,
      detail: `could not remove namespace ${namespace}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}
