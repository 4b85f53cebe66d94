/**
 * Follow: read each node's serial console file as it grows and turn the
 * progress lines in it into stage events, enforcing the stage deadlines.
 *
 * Times come from the guest's own stamps (src/progress/tracker.ts), so a
 * re-run that reads an old console reports real stage durations and a guest
 * that went silent long ago is overdue at once. A guest clock the host cannot
 * believe is named in a warning and replaced by the time the line was read.
 *
 * Every poll reads every node first and only then judges: when anything
 * failed, the error reports every node — failures first (the guest's own
 * `fail` lines, then the silent ones), then where the others are.
 */
import { KubestationError } from '../errors.js';
import { ProgressLineAccumulator, type ProgressLine } from '../progress/protocol.js';
import { FINAL_STAGE, findStage } from '../progress/stages.js';
import { describeSkew, formatDuration, NodeProgress, placeLine } from '../progress/tracker.js';
import type { NodeSpec } from '../config/model.js';
import { FileTail, tailLines } from './console-log.js';
import type { ConsoleRead } from './observations.js';
import type { BuildEventSink } from './ports.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export { FileTail, tailLines } from './console-log.js';

export interface FollowTiming {
  /** Multiplies every deadline (tests use tiny values; 1 = the real deadlines). */
  deadlineScale?: number;
  /** How often the files are read. Default 500 ms. */
  pollMs?: number;
  /** A running node that printed nothing for this long is reported as quiet (once per silence). Default 2 min. */
  quietAfterMs?: number;
  now?: () => number;
}

export const DEFAULT_QUIET_AFTER_MS = 2 * 60_000;

export interface FollowedNode {
  node: NodeSpec;
  serialLog: string;
  /** Host time the VM was first powered on by build-vms (first-report deadline). */
  poweredOnAtMs: number;
}

/** One node's state when a build stops on a failure. */
export interface NodeReport {
  node: string;
  serialLog: string;
  /** failed: the guest printed `fail`; silent: a deadline passed without a line. */
  state: 'failed' | 'silent' | 'booting' | 'running' | 'done';
  /** The failing stage, or the one running (or expected next). */
  stage: string;
  /** The failure (decoded guest message, or the host's account), or where the node is. */
  message: string;
  /** Silent nodes: the last console lines, decoded, from a line start. */
  consoleTail: string[];
  role: NodeSpec['role'];
  /** Failed nodes: how long the stage ran before it failed, when its start was read. */
  ranFor?: string | undefined;
}

function reportText(r: NodeReport): string {
  const indent = (text: string) =>
    text
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n');
  if (r.state === 'failed') {
    const title = findStage(r.stage)?.title;
    const [first = '', ...rest] = r.message.split('\n');
    return `  ${r.node}: stage "${r.stage}"${title ? ` (${title})` : ''} failed${r.ranFor ? ` after ${r.ranFor}` : ''}: ${first}${rest.length ? `\n${indent(rest.join('\n'))}` : ''}`;
  }
  if (r.state === 'silent') {
    const tail = r.consoleTail.length
      ? `\n    last lines of its console ${r.serialLog}:\n${indent(r.consoleTail.join('\n'))}`
      : `\n    its console ${r.serialLog} is empty`;
    return `  ${r.node}: ${r.message}${tail}`;
  }
  return `  ${r.node}: ${r.message}`;
}

export class NodeFailedError extends KubestationError {
  /** The first failure (a guest `fail` line before a silent node). */
  readonly node: string;
  readonly stage: string;
  readonly serialLog: string;
  /** Every node that failed, guest failures first. */
  readonly failures: NodeReport[];
  /** Where the other followed nodes are. */
  readonly others: NodeReport[];

  constructor(reports: NodeReport[], sshConfig?: string) {
    const failures = [
      ...reports.filter((r) => r.state === 'failed'),
      ...reports.filter((r) => r.state === 'silent'),
    ];
    const others = reports.filter((r) => r.state !== 'failed' && r.state !== 'silent');
    const first = failures[0]!;
    const names = failures
      .map((f) => `${f.node} (${f.stage}${f.state === 'silent' ? ', silent' : ''})`)
      .join(', ');
    const head =
      failures.length === 1
        ? first.state === 'failed'
          ? `node "${first.node}" failed at stage "${first.stage}"`
          : `node "${first.node}" went silent at ${first.stage === 'boot' ? 'boot' : `stage "${first.stage}"`}`
        : `${failures.length} nodes failed: ${names}`;
    const lines = [head, ...failures.map(reportText)];
    if (others.length) lines.push('the other nodes:', ...others.map(reportText));
    // A node that printed a progress line has its user and key (cloud-init makes them before the stages run).
    const reachable = failures.filter((f) => f.stage !== 'boot');
    if (sshConfig && reachable.length) {
      lines.push(
        `the VMs are left running so you can look inside (each stage's log is in /var/log/kubestation/<stage>.log):`,
        ...reachable.map((f) => `    ssh -F ${sshConfig} ${f.node}`),
      );
    } else {
      lines.push('the VMs are left running so you can look inside them in Workstation');
    }
    const rebuild = failures
      .map(
        (f) => `\`${COMMAND_PREFIX} rebuild-node ${f.node}${f.role === 'control-plane' ? ' --force' : ''}\``,
      )
      .join(', ');
    const silentHint = failures.some((f) => f.state === 'silent')
      ? 'for a silent node open it in Workstation to see its screen (a boot error, a dialog) and read its console file; '
      : '';
    super(
      failures.some((f) => f.state === 'failed') ? 'NODE_STAGE_FAILED' : 'NODE_STAGE_TIMEOUT',
      lines.join('\n'),
      {
        fix: `${silentHint}fix the cause shown for each node (network, package mirror, cluster.yaml), then rebuild it: ${rebuild}; or start over with \`${COMMAND_PREFIX} destroy\` and \`${COMMAND_PREFIX} build-vms\``,
      },
    );
    this.node = first.node;
    this.stage = first.stage;
    this.serialLog = first.serialLog;
    this.failures = failures;
    this.others = others;
  }
}

/** Told what reading a running node's console file showed (observations.ts: serial-readable-running). */
type ConsoleReadObserver = (read: ConsoleRead) => void;

interface Followed {
  followed: FollowedNode;
  tail: FileTail;
  acc: ProgressLineAccumulator;
  progress: NodeProgress;
  /** The guest clock was already reported as implausible. */
  clockWarned: boolean;
  /** The current silence was already reported. */
  quietReported: boolean;
}

/**
 * Follows nodes as they are added (a node is added once it is powered on)
 * until `isDone` says the build is complete, a node fails or goes silent
 * past its deadline (NodeFailedError naming every node), or `signal` aborts
 * (returns false).
 */
export class ConsoleFollower {
  readonly #nodes = new Map<string, Followed>();
  readonly #emit: BuildEventSink;
  readonly #timing: Required<Pick<FollowTiming, 'deadlineScale' | 'pollMs' | 'quietAfterMs'>> & {
    now: () => number;
  };
  readonly #sshConfig: string | undefined;
  readonly #onConsoleRead: ConsoleReadObserver | undefined;
  #consoleReadSeen = false;

  /**
   * `sshConfig`: the ssh_config the failure report points at for a look inside. `onConsoleRead`: told
   * once, at the first read of a running node's console that returned text or failed.
   */
  constructor(
    emit: BuildEventSink,
    timing: FollowTiming = {},
    sshConfig?: string,
    onConsoleRead?: ConsoleReadObserver,
  ) {
    this.#onConsoleRead = onConsoleRead;
    this.#emit = emit;
    this.#timing = {
      deadlineScale: timing.deadlineScale ?? 1,
      pollMs: timing.pollMs ?? 500,
      quietAfterMs: timing.quietAfterMs ?? DEFAULT_QUIET_AFTER_MS,
      now: timing.now ?? Date.now,
    };
    this.#sshConfig = sshConfig;
  }

  add(followed: FollowedNode): void {
    if (this.#nodes.has(followed.node.name)) return;
    this.#nodes.set(followed.node.name, {
      followed,
      tail: new FileTail(followed.serialLog),
      acc: new ProgressLineAccumulator(),
      progress: new NodeProgress(
        followed.node.name,
        followed.node.role,
        followed.poweredOnAtMs,
        this.#timing.deadlineScale,
      ),
      clockWarned: false,
      quietReported: false,
    });
  }

  /** Reads every followed file once, then applies the deadlines; throws NodeFailedError when any node failed. */
  async pollOnce(): Promise<void> {
    await this.#readAll();
    await this.#judge();
  }

  async #readAll(): Promise<void> {
    for (const entry of this.#nodes.values()) {
      if (entry.progress.status === 'done' || entry.progress.status === 'failed') continue;
      const { text, restarted } = await this.#read(entry);
      if (restarted) {
        entry.acc = new ProgressLineAccumulator();
        entry.progress = new NodeProgress(
          entry.followed.node.name,
          entry.followed.node.role,
          entry.followed.poweredOnAtMs,
          this.#timing.deadlineScale,
        );
      }
      const readAt = this.#timing.now();
      for (const line of entry.acc.push(text)) this.#apply(entry, line, readAt);
    }
  }

  /** The node's new console text; the first read that saw text or failed is told to onConsoleRead. */
  async #read(entry: Followed): Promise<{ text: string; restarted: boolean }> {
    try {
      const read = await entry.tail.read();
      if (read.text !== '' && !this.#consoleReadSeen) {
        this.#consoleReadSeen = true;
        this.#onConsoleRead?.({
          node: entry.followed.node.name,
          file: entry.followed.serialLog,
          readable: true,
        });
      }
      return read;
    } catch (error) {
      if (!this.#consoleReadSeen) {
        this.#consoleReadSeen = true;
        this.#onConsoleRead?.({
          node: entry.followed.node.name,
          file: entry.followed.serialLog,
          readable: false,
          error: (error as NodeJS.ErrnoException).code ?? (error as Error).message,
        });
      }
      throw error;
    }
  }

  /** Deadlines and silences, judged once every console was read (so one node's failure is never hidden by another's). */
  async #judge(): Promise<void> {
    const now = this.#timing.now();
    for (const entry of this.#nodes.values()) {
      if (entry.progress.enforceDeadline(now)) continue;
      this.#checkQuiet(entry, now);
    }
    if ([...this.#nodes.values()].some((e) => e.progress.status === 'failed')) {
      throw new NodeFailedError(
        await Promise.all([...this.#nodes.values()].map((e) => this.#report(e, now))),
        this.#sshConfig,
      );
    }
  }

  #apply(entry: Followed, line: ProgressLine, readAt: number): void {
    const { followed, progress } = entry;
    // A node's console only speaks for that node; anything else is not ours to act on.
    if (line.node !== followed.node.name) return;
    const placed = placeLine(line.timeMs, readAt, followed.poweredOnAtMs);
    if (placed.clock === 'host' && !entry.clockWarned) {
      entry.clockWarned = true;
      this.#emit({
        type: 'warning',
        node: line.node,
        message: `the clock of ${line.node} reads ${new Date(line.timeMs).toISOString()}, ${describeSkew(placed.skewMs)}: its stage times are counted from when this PC reads each line (check the VM's time sync: \`timedatectl\` on the node)`,
      });
    }
    if (!progress.apply(line, placed.atMs)) return;
    entry.quietReported = false;
    const at = progress.lastLineMs;
    this.#emit({
      type: 'stage',
      node: line.node,
      stage: line.stage,
      event: line.event,
      message: line.message,
      atMs: at,
      // ok: the stage's duration; start: 0; the others: time since the current stage (or the last ok).
      elapsedMs:
        line.event === 'ok' ? (progress.finished.at(-1)?.durationMs ?? 0) : at - progress.current.sinceMs,
      totalMs: at - followed.poweredOnAtMs,
    });
  }

  /** Says once per silence that a running node has printed nothing for a while (its deadline may be far off). */
  #checkQuiet(entry: Followed, now: number): void {
    const { progress, followed } = entry;
    if (entry.quietReported || progress.status === 'done' || progress.status === 'failed') return;
    const quietMs = now - progress.lastLineMs;
    if (quietMs < this.#timing.quietAfterMs) return;
    entry.quietReported = true;
    this.#emit({
      type: 'quiet',
      node: followed.node.name,
      stage: progress.status === 'booting' ? 'boot' : progress.current.stage,
      sinceMs: progress.lastLineMs,
      serialLog: followed.serialLog,
    });
  }

  async #report(entry: Followed, now: number): Promise<NodeReport> {
    const { progress, followed } = entry;
    const base = { node: followed.node.name, serialLog: followed.serialLog, role: followed.node.role };
    if (progress.failure) {
      const failure = progress.failure;
      if (failure.silent) {
        return {
          ...base,
          state: 'silent',
          stage: failure.stage,
          message: failure.message,
          consoleTail: await tailLines(followed.serialLog),
        };
      }
      const ranFor =
        progress.current.stage === failure.stage && progress.current.started
          ? formatDuration(failure.atMs - progress.current.sinceMs)
          : undefined;
      return {
        ...base,
        state: 'failed',
        stage: failure.stage,
        message: failure.message,
        consoleTail: [],
        ranFor,
      };
    }
    if (progress.status === 'done')
      return {
        ...base,
        state: 'done',
        stage: FINAL_STAGE,
        message: `finished (${progress.doneMessage ?? 'done'})`,
        consoleTail: [],
      };
    if (progress.status === 'booting') {
      return {
        ...base,
        state: 'booting',
        stage: 'boot',
        message: `no progress line yet, ${formatDuration(now - followed.poweredOnAtMs)} after power-on`,
        consoleTail: [],
      };
    }
    const { stage, sinceMs, started } = progress.current;
    const info = progress.activity ? `; last: ${progress.activity.message}` : '';
    return {
      ...base,
      state: 'running',
      stage,
      message: `${started ? `in stage "${stage}" for` : `between stages, "${stage}" due to start for`} ${formatDuration(now - sinceMs)}${info}`,
      consoleTail: [],
    };
  }

  /** Polls until `isDone()`; false when aborted. */
  async run(isDone: () => boolean, signal: AbortSignal): Promise<boolean> {
    for (;;) {
      await this.#readAll();
      // Done first: once the control plane reports every node Ready, a worker's unread final line is no silence.
      if (isDone()) return true;
      await this.#judge();
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
    return this.#nodes.get(node)?.progress.status === 'done';
  }
}
