/**
 * Host-side view of one node's first boot, built from its progress lines.
 * Deadlines are timed with the HOST clock at the moment each line was read
 * (the guest clock can jump when NTP syncs), using the stage deadlines from
 * stages.ts plus HOST_GRACE_SECONDS.
 */
import type { NodeRole } from '../config/model.js';
import type { ProgressLine } from './protocol.js';
import { FINAL_STAGE, FIRST_REPORT_DEADLINE_SECONDS, HOST_GRACE_SECONDS, type StageDefinition, stagesFor } from './stages.js';

export type NodeProgressStatus = 'booting' | 'running' | 'failed' | 'done';

export interface StageFailure {
  stage: string;
  /** The guest's message (with its log tail), or the host's account of a missed deadline. */
  message: string;
  /** True when the host gave up because the guest went silent past the deadline. */
  silent: boolean;
}

export interface OverdueStage {
  /** The stage that should have reported, or 'boot' before the first line. */
  stage: string;
  deadlineSeconds: number;
  waitedMs: number;
}

export class NodeProgress {
  readonly stages: StageDefinition[];
  status: NodeProgressStatus = 'booting';
  /** The stage running now (or expected next), and since when (host clock). */
  current: { stage: string; sinceMs: number; started: boolean };
  readonly finished: { stage: string; durationMs: number }[] = [];
  failure: StageFailure | undefined;
  doneMessage: string | undefined;

  constructor(
    readonly node: string,
    role: NodeRole,
    poweredOnAtMs: number,
  ) {
    this.stages = stagesFor(role);
    this.current = { stage: 'boot', sinceMs: poweredOnAtMs, started: false };
  }

  /** Applies a line read at `receivedAtMs`; lines for other nodes are ignored. Returns true when it changed the state. */
  apply(line: ProgressLine, receivedAtMs: number): boolean {
    if (line.node !== this.node || this.status === 'failed' || this.status === 'done') return false;
    if (line.event === 'done') {
      this.status = 'done';
      this.doneMessage = line.message;
      return true;
    }
    this.status = 'running';
    if (line.event === 'start') {
      this.current = { stage: line.stage, sinceMs: receivedAtMs, started: true };
    } else if (line.event === 'ok') {
      const startedAt = this.current.stage === line.stage ? this.current.sinceMs : receivedAtMs;
      this.finished.push({ stage: line.stage, durationMs: receivedAtMs - startedAt });
      const index = this.stages.findIndex((s) => s.name === line.stage);
      const next = this.stages[index + 1]?.name ?? FINAL_STAGE;
      this.current = { stage: next, sinceMs: receivedAtMs, started: false };
    } else {
      this.status = 'failed';
      this.failure = { stage: line.stage, message: line.message, silent: false };
    }
    return true;
  }

  private deadlineSecondsFor(stage: string): number {
    if (stage === 'boot') return FIRST_REPORT_DEADLINE_SECONDS;
    if (stage === FINAL_STAGE) return HOST_GRACE_SECONDS;
    const definition = this.stages.find((s) => s.name === stage);
    return (definition?.deadlineSeconds ?? FIRST_REPORT_DEADLINE_SECONDS) + HOST_GRACE_SECONDS;
  }

  /** The stage past its deadline at `nowMs`, if any (never for a node that failed or finished). */
  overdue(nowMs: number): OverdueStage | undefined {
    if (this.status === 'failed' || this.status === 'done') return undefined;
    const deadlineSeconds = this.deadlineSecondsFor(this.current.stage);
    const waitedMs = nowMs - this.current.sinceMs;
    return waitedMs > deadlineSeconds * 1000 ? { stage: this.current.stage, deadlineSeconds, waitedMs } : undefined;
  }

  /** Marks the node failed when a deadline passed; returns the failure when it did. */
  enforceDeadline(nowMs: number): StageFailure | undefined {
    const late = this.overdue(nowMs);
    if (!late) return undefined;
    const what = late.stage === 'boot' ? 'no progress line arrived since power-on' : `stage ${late.stage} did not report`;
    this.status = 'failed';
    this.failure = {
      stage: late.stage,
      message: `${what} within ${late.deadlineSeconds} s (host deadline); the guest may have hung or lost its serial console`,
      silent: true,
    };
    return this.failure;
  }
}
