/**
 * Follow: read each node's serial console file as it grows and turn the
 * progress lines in it into stage events, enforcing the stage deadlines
 * with the host's clock.
 *
 * The tail is poll + stat + read-from-offset, which works on Windows while
 * vmware-vmx holds the file open (no file-change notifications needed), and
 * notices a file that was replaced (size went down) by starting over.
 */
import { open, stat } from 'node:fs/promises';
import { KubestationError } from '../errors.js';
import { ProgressLineAccumulator, type ProgressLine } from '../progress/protocol.js';
import { FINAL_STAGE, FIRST_REPORT_DEADLINE_SECONDS, findStage, HOST_GRACE_SECONDS, stagesFor } from '../progress/stages.js';
import type { NodeSpec } from '../config/model.js';
import type { BuildEventSink } from './ports.js';

export interface FollowTiming {
  /** Multiplies every deadline (tests use tiny values; 1 = the real deadlines). */
  deadlineScale?: number;
  /** How often the files are read. Default 500 ms. */
  pollMs?: number;
  now?: () => number;
}

/** A growing file read from where the last read stopped. */
export class FileTail {
  #offset = 0;
  #decoder = new TextDecoder('utf-8');
  constructor(readonly file: string) {}

  /** New text since the last call ('' when the file is missing or unchanged). */
  async read(): Promise<{ text: string; restarted: boolean }> {
    const info = await stat(this.file).catch(() => undefined);
    if (!info) return { text: '', restarted: false };
    let restarted = false;
    if (info.size < this.#offset) {
      this.#offset = 0;
      this.#decoder = new TextDecoder('utf-8');
      restarted = true;
    }
    if (info.size === this.#offset) return { text: '', restarted };
    const handle = await open(this.file, 'r');
    try {
      const length = info.size - this.#offset;
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.#offset);
      this.#offset += bytesRead;
      return { text: this.#decoder.decode(buffer.subarray(0, bytesRead), { stream: true }), restarted };
    } finally {
      await handle.close();
    }
  }
}

/** The last `lines` lines of a file, progress lines and all (for error reports). */
export async function tailLines(file: string, lines = 15): Promise<string[]> {
  const info = await stat(file).catch(() => undefined);
  if (!info) return [];
  const handle = await open(file, 'r');
  try {
    const length = Math.min(info.size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, info.size - length);
    return buffer.toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '').slice(-lines);
  } finally {
    await handle.close();
  }
}

export interface FollowedNode {
  node: NodeSpec;
  serialLog: string;
  /** Host time the VM was first powered on by build-vms (first-report deadline). */
  poweredOnAtMs: number;
}

export interface NodeProgress {
  node: string;
  stage: string | undefined;
  event: ProgressLine['event'] | undefined;
  /** Host time the current stage started (or the node was powered on). */
  stageStartedMs: number;
  lastEventMs: number;
  completed: boolean;
}

export class NodeFailedError extends KubestationError {
  constructor(
    readonly node: string,
    readonly stage: string,
    message: string,
    readonly logTail: string[],
    readonly serialLog: string,
    kind: 'failed' | 'silent',
  ) {
    super(
      kind === 'failed' ? 'NODE_STAGE_FAILED' : 'NODE_STAGE_TIMEOUT',
      `${message}\n  last lines of ${serialLog}:\n${logTail.map((l) => `    ${l}`).join('\n')}`,
      {
        fix:
          kind === 'failed'
            ? `read the log above (the whole console is in ${serialLog}); fix the cause (network, package mirror, cluster.yaml), then rebuild the node: delete its VM in Workstation and run build-vms again`
            : `the node stopped reporting: open "${node}" in Workstation to see its console, check ${serialLog}; then delete its VM and run build-vms again`,
      },
    );
  }
}

function deadlineMsFor(progress: NodeProgress, role: NodeSpec['role'], scale: number): { stage: string; at: number; limitMs: number } {
  if (progress.stage === undefined) {
    const limitMs = (FIRST_REPORT_DEADLINE_SECONDS + HOST_GRACE_SECONDS) * 1000 * scale;
    return { stage: 'boot', at: progress.stageStartedMs + limitMs, limitMs };
  }
  let stageName = progress.stage;
  if (progress.event === 'ok') {
    // Between stages: the next one must start and finish within its own deadline.
    const list = stagesFor(role);
    const next = list[list.findIndex((s) => s.name === progress.stage) + 1];
    stageName = next?.name ?? progress.stage;
  }
  const def = findStage(stageName);
  const limitMs = ((def?.deadlineSeconds ?? FIRST_REPORT_DEADLINE_SECONDS) + HOST_GRACE_SECONDS) * 1000 * scale;
  return { stage: stageName, at: (progress.event === 'ok' ? progress.lastEventMs : progress.stageStartedMs) + limitMs, limitMs };
}

/**
 * Follows nodes as they are added (a node is added once it is powered on)
 * until `isDone` says the build is complete, a node fails or goes silent
 * past its deadline (NodeFailedError), or `signal` aborts (returns false).
 */
export class ConsoleFollower {
  readonly #nodes = new Map<string, { followed: FollowedNode; tail: FileTail; acc: ProgressLineAccumulator; progress: NodeProgress }>();
  readonly #emit: BuildEventSink;
  readonly #timing: Required<Pick<FollowTiming, 'deadlineScale' | 'pollMs'>> & { now: () => number };

  constructor(emit: BuildEventSink, timing: FollowTiming = {}) {
    this.#emit = emit;
    this.#timing = { deadlineScale: timing.deadlineScale ?? 1, pollMs: timing.pollMs ?? 500, now: timing.now ?? Date.now };
  }

  add(followed: FollowedNode): void {
    if (this.#nodes.has(followed.node.name)) return;
    this.#nodes.set(followed.node.name, {
      followed,
      tail: new FileTail(followed.serialLog),
      acc: new ProgressLineAccumulator(),
      progress: { node: followed.node.name, stage: undefined, event: undefined, stageStartedMs: followed.poweredOnAtMs, lastEventMs: followed.poweredOnAtMs, completed: false },
    });
  }

  progress(node: string): NodeProgress | undefined {
    const entry = this.#nodes.get(node);
    return entry ? { ...entry.progress } : undefined;
  }

  /** Reads every followed file once; throws NodeFailedError on a failure or a missed deadline. */
  async pollOnce(): Promise<void> {
    const now = this.#timing.now();
    for (const entry of this.#nodes.values()) {
      const { followed, progress } = entry;
      if (progress.completed) continue;
      const { text, restarted } = await entry.tail.read();
      if (restarted) entry.acc = new ProgressLineAccumulator();
      for (const line of entry.acc.push(text)) this.#apply(entry.followed, progress, line, now);
      if (progress.completed) continue;
      const deadline = deadlineMsFor(progress, followed.node.role, this.#timing.deadlineScale);
      if (now > deadline.at) {
        const what = deadline.stage === 'boot' ? 'printed no progress since power-on' : `stage "${deadline.stage}" did not finish`;
        throw new NodeFailedError(
          followed.node.name,
          deadline.stage,
          `node "${followed.node.name}" ${what} within ${formatSeconds(deadline.limitMs)}`,
          await tailLines(followed.serialLog),
          followed.serialLog,
          'silent',
        );
      }
    }
  }

  #apply(followed: FollowedNode, progress: NodeProgress, line: ProgressLine, now: number): void {
    // A node's console only speaks for that node; anything else is not ours to act on.
    if (line.node !== followed.node.name) return;
    if (line.event === 'start') progress.stageStartedMs = now;
    progress.stage = line.stage;
    progress.event = line.event;
    progress.lastEventMs = now;
    this.#emit({
      type: 'stage',
      node: line.node,
      stage: line.stage,
      event: line.event,
      message: line.message,
      elapsedMs: now - progress.stageStartedMs,
      totalMs: now - followed.poweredOnAtMs,
    });
    if (line.event === 'done' && line.stage === FINAL_STAGE) progress.completed = true;
    if (line.event === 'fail') this.#pendingFailure ??= { followed, line };
  }

  #pendingFailure: { followed: FollowedNode; line: ProgressLine } | undefined;

  /** Polls until `isDone()`; false when aborted. */
  async run(isDone: () => boolean, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      await this.pollOnce();
      if (this.#pendingFailure) {
        const { followed, line } = this.#pendingFailure;
        throw new NodeFailedError(
          followed.node.name,
          line.stage,
          `node "${followed.node.name}" failed at stage "${line.stage}" (${findStage(line.stage)?.title ?? line.stage}): ${line.message}`,
          await tailLines(followed.serialLog),
          followed.serialLog,
          'failed',
        );
      }
      if (isDone()) return true;
      if (signal.aborted) return false;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, this.#timing.pollMs);
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }

  completed(node: string): boolean {
    return this.#nodes.get(node)?.progress.completed ?? false;
  }
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${Math.round(ms)} ms`;
}
