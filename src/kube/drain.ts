/**
 * kubectl drain, the parts kubestation needs: cordon, evict every pod that
 * would be rescheduled elsewhere, wait (bounded) until they are gone. Pods
 * owned by a DaemonSet would come straight back and mirror pods (static
 * control-plane pods) cannot be evicted, so both are left alone, as kubectl
 * does with --ignore-daemonsets.
 */
import type { KubeClient } from './client.js';
import { KubeApiError } from './errors.js';
import type { Pod } from './types.js';
import { waitUntil } from './wait.js';

export const mirrorPodAnnotation = 'kubernetes.io/config.mirror';

export interface DrainOptions {
  /** How long to wait for evicted pods to disappear; default 120 s. */
  timeoutMs?: number;
  intervalMs?: number;
  signal?: AbortSignal;
}

export interface DrainResult {
  evicted: string[];
  skipped: { pod: string; why: 'daemonset' | 'mirror' | 'finished' }[];
}

const podKey = (pod: Pod) => `${pod.metadata.namespace}/${pod.metadata.name}`;

function skipReason(pod: Pod): DrainResult['skipped'][number]['why'] | undefined {
  if (pod.metadata.annotations?.[mirrorPodAnnotation] !== undefined) return 'mirror';
  if (pod.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet' && o.controller !== false))
    return 'daemonset';
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 'finished';
  return undefined;
}

export async function drainNode(
  client: KubeClient,
  nodeName: string,
  options: DrainOptions = {},
): Promise<DrainResult> {
  await client.cordonNode(nodeName);
  const onNode = { fieldSelector: `spec.nodeName=${nodeName}` };
  const pods = await client.listPods(undefined, onNode);
  const result: DrainResult = { evicted: [], skipped: [] };
  const toEvict: Pod[] = [];
  for (const pod of pods) {
    const why = skipReason(pod);
    if (why) result.skipped.push({ pod: podKey(pod), why });
    else toEvict.push(pod);
  }
  for (const pod of toEvict) {
    try {
      await client.evictPod(pod.metadata.namespace!, pod.metadata.name!);
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) continue; // already gone
      throw error;
    }
    result.evicted.push(podKey(pod));
  }
  const evictedUids = new Set(toEvict.map((p) => p.metadata.uid));
  await waitUntil(
    async () => {
      const remaining = (await client.listPods(undefined, onNode)).filter((p) =>
        evictedUids.has(p.metadata.uid),
      );
      return remaining.length === 0
        ? { done: true, value: undefined }
        : { done: false, state: `still there: ${remaining.map(podKey).join(', ')}` };
    },
    {
      timeoutMs: options.timeoutMs ?? 120_000,
      intervalMs: options.intervalMs ?? 1000,
      signal: options.signal,
      what: `the pods evicted from node ${nodeName} to terminate`,
      fix: `the node's kubelet may be unresponsive; check that ${nodeName} is Ready, or delete the stuck pods with --force`,
    },
  );
  return result;
}
