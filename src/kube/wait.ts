/** Polling with a deadline: the API server is asked again until a condition holds or time runs out. */
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeTimeoutError } from './errors.js';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** What is awaited, for the timeout message ("pod kubestation-verify/probe-k8s-master to finish"). */
  what: string;
  /** What to do when it times out. */
  fix: string;
}

/**
 * Calls `probe` until it returns `{ done: true, value }`. `state` from the
 * last attempt goes into the timeout message so the user sees where it stuck.
 */
export async function waitUntil<T>(
  probe: () => Promise<{ done: true; value: T } | { done: false; state?: string }>,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 1000;
  let lastState: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const result = await probe();
    if (result.done) return result.value;
    lastState = result.state ?? lastState;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new KubeTimeoutError(options.what, options.timeoutMs, lastState, options.fix);
    await sleep(
      Math.min(interval, remaining),
      undefined,
      options.signal ? { signal: options.signal } : undefined,
    );
  }
}
