/**
 * How a build looks: on a terminal a small table redrawn in place (node,
 * phase, stage, elapsed); otherwise one plain line per event; with --json
 * one JSON object per line for tools. verify's report is shown as its table.
 * Each add-on gets a row under the nodes once build-vms applies it.
 *
 * The live table fits the terminal: each row is cut to its width, and a
 * redraw moves up over as many screen lines as the last table covers at the
 * current width (a terminal that re-wraps on resize makes a cut row of a wider
 * terminal take several), so no stale copy is left behind. A resize redraws.
 * The table appears with the plan: before it there is nothing to show per node.
 */
import type { ClusterSpec } from '../config/model.js';
import { findStage } from '../progress/stages.js';
import { formatDuration } from '../progress/tracker.js';
import { renderReport } from '../verify/report.js';
import type { BuildEvent, BuildEventSink } from './ports.js';
import { fitToWidth, screenLines } from './screen-width.js';

export type ViewMode = 'tty' | 'plain' | 'json';

interface Row {
  node: string;
  role: string;
  phase: string;
  detail: string;
  /** Host time the current phase/stage started. */
  since: number;
  /** Host time the node was powered on (its first-boot clock). */
  bootAt: number | undefined;
  state: 'working' | 'ok' | 'failed' | 'waiting';
  /** Set while the node has printed nothing for a while (a `quiet` event); cleared by its next line. */
  quietSince?: number | undefined;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function seconds(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export interface BuildView {
  emit: BuildEventSink;
  /** Stops the redraw timer and leaves the final table on screen. */
  close(): void;
}

export function createBuildView(
  spec: ClusterSpec,
  mode: ViewMode,
  out: NodeJS.WritableStream,
  now: () => number = Date.now,
): BuildView {
  if (mode === 'json') return jsonView(out, now);
  const rows = waitingRows(spec, now);
  const screen = mode === 'tty' ? terminalScreen(out, rows, now) : plainLines(out);
  const emit: BuildEventSink = (event: BuildEvent) => {
    applyEvent(event, rows, screen, now());
    screen.redraw();
  };
  screen.start();
  return {
    emit,
    close: () => {
      screen.stop();
      screen.redraw();
    },
  };
}

/** --json: one JSON object per event, stamped with the host time. */
function jsonView(out: NodeJS.WritableStream, now: () => number): BuildView {
  return {
    emit: (event) => void out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), ...event })}\n`),
    close: () => undefined,
  };
}

/** One row per node of cluster.yaml, each pending until the plan says what it needs. */
function waitingRows(spec: ClusterSpec, now: () => number): Map<string, Row> {
  return new Map<string, Row>(
    spec.nodes.map((n) => [
      n.name,
      {
        node: n.name,
        role: n.role,
        phase: 'pending',
        detail: '',
        since: now(),
        bootAt: undefined,
        state: 'waiting',
      },
    ]),
  );
}

/** Where the events land: the terminal's live table, or plain lines. */
interface Screen {
  /** A message that stays: printed above the table on a terminal, as a line otherwise. */
  note(text: string): void;
  /** A line only the plain view prints (the table shows the same on a terminal). */
  plainLine(text: string): void;
  /** The plan arrived: from now on there is a table to show. */
  showTable(): void;
  redraw(): void;
  /** Starts the redraw timer and the resize handler (terminal only). */
  start(): void;
  stop(): void;
}

/** Not a terminal: every note and step is one line, written at once. */
function plainLines(out: NodeJS.WritableStream): Screen {
  const line = (text: string): void => void out.write(`${text}\n`);
  return {
    note: line,
    plainLine: line,
    showTable: () => undefined,
    redraw: () => undefined,
    start: () => undefined,
    stop: () => undefined,
  };
}

/** A terminal: new notes scroll up above the table, which is redrawn in place every second and on resize. */
function terminalScreen(out: NodeJS.WritableStream, rows: Map<string, Row>, now: () => number): Screen {
  const notes: string[] = [];
  /** The table's lines as last written (each cut to the width of that moment). */
  let drawn: string[] = [];
  /** No table before the plan: every row would read "pending". */
  let planned = false;
  let timer: NodeJS.Timeout | undefined;
  const redraw = (): void => {
    const width = terminalWidth(out);
    // One cell to spare: a row filling the last column would wrap at once on some consoles.
    const tbl = planned
      ? tableLines(rows.values(), now()).map((row) => (width ? fitToWidth(row, width - 1) : row))
      : [];
    // Move up over the previous table, print new notes (they scroll up and stay) and the table again.
    const up = width ? screenLines(drawn, width) : drawn.length;
    if (up > 0) out.write(`\u001b[${up}A\u001b[0J`);
    const text = [...notes.splice(0), ...tbl];
    if (text.length > 0) out.write(`${text.join('\n')}\n`);
    drawn = tbl;
  };
  return {
    note: (text) => void notes.push(text),
    plainLine: () => undefined,
    showTable: () => {
      planned = true;
    },
    redraw,
    start: () => {
      timer = setInterval(redraw, 1000);
      timer.unref();
      out.on('resize', redraw);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      out.off('resize', redraw);
    },
  };
}

/** The terminal's width, when the stream is one that knows it. */
function terminalWidth(out: NodeJS.WritableStream): number | undefined {
  const c = (out as { columns?: number }).columns;
  return c !== undefined && c > 0 ? c : undefined;
}

/** The table at host time t: a header and one line per node, in padded columns. */
function tableLines(rows: Iterable<Row>, t: number): string[] {
  const cells = [...rows].map((r) => [
    r.node,
    r.role,
    r.state === 'failed' ? `FAILED ${r.phase}` : r.phase,
    r.bootAt === undefined ? '' : seconds(t - r.bootAt),
    r.state === 'working' ? seconds(t - r.since) : '',
    clip(r.quietSince === undefined ? r.detail : `no news for ${seconds(t - r.quietSince)}; ${r.detail}`),
  ]);
  const header = ['node', 'role', 'step / stage', 'boot', 'in step', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]): string =>
    c
      .map((x, i) => x.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...cells.map(fmt)];
}

function update(rows: Map<string, Row>, node: string, change: Partial<Row>): void {
  const row = rows.get(node);
  if (row) Object.assign(row, change);
}

/** One event at host time t: the rows it changes, and what it says. */
function applyEvent(event: BuildEvent, rows: Map<string, Row>, screen: Screen, t: number): void {
  switch (event.type) {
    case 'preflight':
      screen.note(event.ok ? 'preflight: ok' : `preflight: ${event.problems.length} problem(s)`);
      break;
    case 'plan':
      applyPlan(event, rows, screen);
      break;
    case 'note':
      screen.note(`${event.node ? `${event.node}: ` : ''}${event.message}`);
      break;
    case 'step':
      applyStep(event, rows, screen, t);
      break;
    case 'stage':
      applyStage(event, rows, screen);
      break;
    case 'quiet':
      update(rows, event.node, { quietSince: event.sinceMs });
      screen.note(
        `no news from ${event.node} for ${formatDuration(t - event.sinceMs)} (${event.stage === 'boot' ? 'no progress line since power-on' : `stage ${event.stage}`}); its console log is ${event.serialLog}`,
      );
      break;
    case 'warning':
      screen.note(`warning: ${event.node ? `${event.node}: ` : ''}${event.message}`);
      break;
    case 'addon':
      applyAddon(event, rows, screen, t);
      break;
    case 'verify':
      screen.note(verifyNote(event));
      break;
    case 'finish':
      for (const f of event.files) screen.note(`wrote ${f}`);
      for (const n of event.notes) screen.note(n);
      break;
    case 'result':
      break;
  }
}

type EventOf<T extends BuildEvent['type']> = Extract<BuildEvent, { type: T }>;

/** The plan: the clone road, each node's status and steps, the nodes cluster.yaml no longer lists. */
function applyPlan(event: EventOf<'plan'>, rows: Map<string, Row>, screen: Screen): void {
  screen.showTable();
  if (event.clone && event.nodes.some((n) => n.actions.includes('clone')))
    screen.note(
      event.clone.mode === 'linked'
        ? `clones: linked, from the template's snapshot ${event.clone.snapshot ?? ''} (${event.clone.reason})`
        : `clones: full, through vmrest (${event.clone.reason})`,
    );
  for (const n of event.nodes) {
    update(rows, n.node, {
      phase: n.status === 'complete' ? 'complete' : 'queued',
      state: n.status === 'complete' ? 'ok' : 'waiting',
      detail: n.actions.length ? `${n.actions.length} step(s) to run` : n.status,
    });
    screen.plainLine(`${n.node}: ${n.status}${n.actions.length ? ` (${n.actions.join(', ')})` : ''}`);
  }
  for (const r of event.remove ?? []) {
    screen.note(
      `${r.node}: not in cluster.yaml any more: ${r.controlPlane ? 'the control plane cannot be removed' : event.prune ? 'to remove (--prune)' : 'to remove with --prune'}`,
    );
  }
}

/** A host-side step (clone, configure, power-on, ...) started or done; power-on done starts the boot clock. */
function applyStep(event: EventOf<'step'>, rows: Map<string, Row>, screen: Screen, t: number): void {
  if (event.phase === 'start')
    update(rows, event.node, { phase: event.step, since: t, state: 'working', detail: '' });
  else update(rows, event.node, { detail: event.detail ?? '' });
  if (event.step === 'power-on' && event.phase === 'done')
    update(rows, event.node, { bootAt: t, phase: 'booting', since: t });
  if (event.phase === 'done')
    screen.plainLine(`${event.node}: ${event.step} done${event.detail ? ` (${event.detail})` : ''}`);
}

/** A line of a guest's first-boot progress. */
function applyStage(event: EventOf<'stage'>, rows: Map<string, Row>, screen: Screen): void {
  // Times come from the line (the guest's clock): a re-run reading an old console shows real durations.
  const title = findStage(event.stage)?.title ?? event.stage;
  const firstLine = withoutStagePrefix(event.stage, event.message.split('\n')[0] ?? '');
  update(rows, event.node, { quietSince: undefined });
  if (event.event === 'start')
    update(rows, event.node, { phase: event.stage, since: event.atMs, state: 'working', detail: title });
  else if (event.event === 'ok') update(rows, event.node, { detail: `${event.stage} ok` });
  else if (event.event === 'fail')
    update(rows, event.node, { phase: event.stage, state: 'failed', detail: firstLine });
  else if (event.event === 'done')
    update(rows, event.node, { phase: 'complete', state: 'ok', detail: event.message });
  // Any other kind (info): what the running stage is doing now.
  else update(rows, event.node, { detail: firstLine });
  const row = rows.get(event.node);
  if (row && row.bootAt === undefined) row.bootAt = event.atMs - event.totalMs;
  const what =
    event.event === 'start'
      ? ` start — ${title}`
      : event.event === 'ok' || event.event === 'fail'
        ? ` ${event.event} after ${seconds(event.elapsedMs)}`
        : event.event === 'done'
          ? ` done (${event.message})`
          : `: ${firstLine} (${seconds(event.elapsedMs)} in)`;
  screen.plainLine(`${event.node}: ${event.stage}${what}`);
}

/**
 * An add-on's progress: a row of its own under the nodes (the add-on, "add-on", its phase and what it is
 * doing); on a plain stream, a line per event. A warning (a certificate request left pending) stays as a note.
 */
function applyAddon(event: EventOf<'addon'>, rows: Map<string, Row>, screen: Screen, t: number): void {
  const label = `add-on ${event.addon} (${event.component})`;
  if (event.phase === 'warning') {
    screen.note(`warning: ${label}: ${event.message}`);
    return;
  }
  const key = `add-on:${event.addon}`;
  if (!rows.has(key))
    rows.set(key, {
      node: event.addon,
      role: 'add-on',
      phase: '',
      detail: '',
      since: t,
      bootAt: undefined,
      state: 'waiting',
    });
  const row = rows.get(key)!;
  const state: Row['state'] =
    event.phase === 'failed'
      ? 'failed'
      : event.phase === 'ready' || event.phase === 'removed'
        ? 'ok'
        : 'working';
  if (row.phase !== event.phase) row.since = t;
  Object.assign(row, {
    phase: event.phase,
    state,
    detail: event.phase === 'ready' ? event.component : event.message,
  });
  // A failure stays on screen above the table too; the other phases show in the row (lines when plain).
  if (event.phase === 'failed') screen.note(`${label} FAILED: ${event.message}`);
  else screen.plainLine(`${label}: ${event.phase === 'ready' ? 'ready' : event.message}`);
}

/** verify's progress, its report as a table, or its verdict. */
function verifyNote(event: EventOf<'verify'>): string {
  if (event.phase === 'start') return 'verify: checking the cluster through its API server';
  if (event.phase === 'progress') return `verify: ${event.message ?? ''}`;
  if (event.report) return renderReport(event.report).trimEnd();
  return `verify: ${event.phase === 'done' ? (event.summary ?? 'passed') : `FAILED: ${event.message ?? ''}`}`;
}

/**
 * A guest's progress message without its own tool prefix when the stage
 * already says it: stage images "images: pulling 1 of 7" → "pulling 1 of 7",
 * stage kubeadm-init "kubeadm: phase preflight" → "phase preflight".
 */
export function withoutStagePrefix(stage: string, message: string): string {
  const prefix = /^([a-z0-9-]+): /.exec(message)?.[1];
  return prefix && (prefix === stage || stage.startsWith(`${prefix}-`))
    ? message.slice(prefix.length + 2)
    : message;
}
