/**
 * Host-side view of one node's first boot, built from its progress lines.
 *
 * Every line carries the guest's clock. Stage times and deadlines are taken
 * from it (so a re-run that reads an old console sees how long each stage
 * really took, and a guest that died long ago is overdue at once), converted
 * to the host's timeline by `placeLine`: a guest time the host cannot
 * believe — later than the moment the line was read, or earlier than the
 * VM's power-on — is replaced by the read time, and the caller says so.
 * Deadlines are the stage deadlines from stages.ts plus HOST_GRACE_SECONDS.
 */
import type { NodeRole } from '../config/model.js';
import type { ProgressLine } from './protocol.js';
import {
  FINAL_STAGE,
  FIRST_REPORT_DEADLINE_SECONDS,
  HOST_GRACE_SECONDS,
  type StageDefinition,
  stagesFor,
} from './stages.js';

export type NodeProgressStatus = 'booting' | 'running' | 'failed' | 'done';

export interface StageFailure {
  stage: string;
  /** The guest's message (with its log tail), or the host's account of a missed deadline. */
  message: string;
  /** True when the host gave up because the guest went silent past the deadline. */
  silent: boolean;
  /** Host-timeline time of the fail line, or of the missed deadline. */
  atMs: number;
}

export interface OverdueStage {
  /** The stage that should have reported, or 'boot' before the first line. */
  stage: string;
  /** The host's limit for it (stage deadline + grace, scaled). */
  limitMs: number;
  waitedMs: number;
}

/** How far a guest clock may be off this PC's before its times are not believed (clocks sync at boot; NTP steps later). */
export const GUEST_CLOCK_TOLERANCE_MS = 2 * 60_000;

export type PlacedTime =
  | { atMs: number; clock: 'guest' }
  /** The guest time was not believable: `atMs` is when the host read the line; `skewMs` how far the guest clock is off (+ ahead). */
  | { atMs: number; clock: 'host'; skewMs: number };

/**
 * Where a line written at guest time `guestMs` and read by the host at
 * `readAtMs` sits on the host's timeline. A line is written before it is
 * read, and after its VM was powered on: a guest time outside that window
 * (plus GUEST_CLOCK_TOLERANCE_MS) means the guest clock is off.
 */
export function placeLine(guestMs: number, readAtMs: number, poweredOnAtMs: number): PlacedTime {
  if (guestMs > readAtMs + GUEST_CLOCK_TOLERANCE_MS)
    return { atMs: readAtMs, clock: 'host', skewMs: guestMs - readAtMs };
  if (guestMs < poweredOnAtMs - GUEST_CLOCK_TOLERANCE_MS)
    return { atMs: readAtMs, clock: 'host', skewMs: guestMs - poweredOnAtMs };
  return { atMs: Math.min(guestMs, readAtMs), clock: 'guest' };
}

/** "9 h 2 min ahead of this PC's", for a skew from placeLine. */
export function describeSkew(skewMs: number): string {
  const abs = Math.abs(skewMs);
  const text =
    abs >= 3_600_000
      ? `${Math.floor(abs / 3_600_000)} h ${Math.round((abs % 3_600_000) / 60_000)} min`
      : abs >= 60_000
        ? `${Math.round(abs / 60_000)} min`
        : `${Math.round(abs / 1000)} s`;
  return skewMs > 0
    ? `${text} ahead of this PC's`
    : `at least ${text} behind this PC's (earlier than the VM's power-on)`;
}

export class NodeProgress {
  readonly stages: StageDefinition[];
  status: NodeProgressStatus = 'booting';
  /** The stage running now (or expected next), and since when (host timeline); `started` once its start line was read. */
  current: { stage: string; sinceMs: number; started: boolean };
  readonly finished: { stage: string; durationMs: number }[] = [];
  failure: StageFailure | undefined;
  doneMessage: string | undefined;
  /** Host-timeline time of the last line (power-on before the first). */
  lastLineMs: number;
  /** The newest `info` line of the current stage (what a long stage is doing). */
  activity: { stage: string; message: string; atMs: number } | undefined;

  constructor(
    readonly node: string,
    role: NodeRole,
    readonly poweredOnAtMs: number,
    /** Multiplies every deadline (--deadline-scale). */
    readonly deadlineScale = 1,
  ) {
    this.stages = stagesFor(role);
    this.current = { stage: 'boot', sinceMs: poweredOnAtMs, started: false };
    this.lastLineMs = poweredOnAtMs;
  }

  /**
   * Applies a line that happened at `atMs` (host timeline, see placeLine);
   * lines for other nodes, and lines after a failure or the final line, are
   * ignored. Lines are in write order, so a time before the previous line's
   * is taken as the previous line's. Returns true when it changed the state.
   */
  apply(line: ProgressLine, atMs: number): boolean {
    if (line.node !== this.node || this.status === 'failed' || this.status === 'done') return false;
    const at = Math.max(atMs, this.lastLineMs);
    this.lastLineMs = at;
    if (line.event === 'done') {
      this.status = 'done';
      this.doneMessage = line.message;
      return true;
    }
    this.status = 'running';
    if (line.event === 'start') {
      this.current = { stage: line.stage, sinceMs: at, started: true };
      this.activity = undefined;
    } else if (line.event === 'ok') {
      const startedAt = this.current.stage === line.stage ? this.current.sinceMs : at;
      this.finished.push({ stage: line.stage, durationMs: at - startedAt });
      const index = this.stages.findIndex((s) => s.name === line.stage);
      const next = this.stages[index + 1]?.name ?? FINAL_STAGE;
      this.current = { stage: next, sinceMs: at, started: false };
      this.activity = undefined;
    } else if (line.event === 'fail') {
      this.status = 'failed';
      this.failure = { stage: line.stage, message: line.message, silent: false, atMs: at };
    } else {
      // Any other kind (`info`): life inside the stage; it changes no stage and no deadline.
      this.activity = { stage: line.stage, message: line.message, atMs: at };
    }
    return true;
  }

  /** The host's limit for `stage`: its deadline plus grace (first report: from power-on), scaled. */
  limitMs(stage: string): number {
    let seconds: number;
    if (stage === 'boot') seconds = FIRST_REPORT_DEADLINE_SECONDS + HOST_GRACE_SECONDS;
    else if (stage === FINAL_STAGE) seconds = HOST_GRACE_SECONDS;
    else
      seconds =
        (this.stages.find((s) => s.name === stage)?.deadlineSeconds ?? FIRST_REPORT_DEADLINE_SECONDS) +
        HOST_GRACE_SECONDS;
    return seconds * 1000 * this.deadlineScale;
  }

  /** The stage past its limit at `nowMs`, if any (never for a node that failed or finished). */
  overdue(nowMs: number): OverdueStage | undefined {
    if (this.status === 'failed' || this.status === 'done') return undefined;
    const limitMs = this.limitMs(this.current.stage);
    const waitedMs = nowMs - this.current.sinceMs;
    return waitedMs > limitMs ? { stage: this.current.stage, limitMs, waitedMs } : undefined;
  }

  /** Marks the node failed when a limit passed; returns the failure when it did. */
  enforceDeadline(nowMs: number): StageFailure | undefined {
    const late = this.overdue(nowMs);
    if (!late) return undefined;
    const what =
      late.stage === 'boot'
        ? 'printed no progress line since power-on'
        : this.current.started
          ? `stage "${late.stage}" started ${formatDuration(late.waitedMs)} ago and did not finish`
          : `stage "${late.stage}" did not start`;
    this.status = 'failed';
    this.failure = {
      stage: late.stage,
      message: `${what} within ${formatDuration(late.limitMs)} (the host's limit: the stage deadline plus ${HOST_GRACE_SECONDS} s); the guest may have hung or lost its serial console`,
      silent: true,
      atMs: this.current.sinceMs + late.limitMs,
    };
    return this.failure;
  }
}

/** "1 h 02 min", "4 min 10 s", "12 s", "300 ms": a duration as a person reads it. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const totalS = Math.round(ms / 1000);
  if (totalS < 60) return ms < 10_000 ? `${Math.round(ms / 100) / 10} s` : `${totalS} s`;
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h} h ${String(m).padStart(2, '0')} min` : `${m} min${s ? ` ${s} s` : ''}`;
}
