/**
 * How a build looks: on a terminal a small table redrawn in place (node,
 * phase, stage, elapsed); otherwise one plain line per event; with --json
 * one JSON object per line for tools. verify's report is shown as its table.
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
  if (mode === 'json') {
    return {
      emit: (event) =>
        void out.write(`${JSON.stringify({ time: new Date(now()).toISOString(), ...event })}\n`),
      close: () => undefined,
    };
  }
  const rows = new Map<string, Row>(
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
  const notes: string[] = [];
  /** The table's lines as last written (each cut to the width of that moment). */
  let drawn: string[] = [];
  /** No table before the plan: every row would read "pending". */
  let planned = false;
  let timer: NodeJS.Timeout | undefined;
  /** The terminal's width, when the stream is one that knows it. */
  const columns = (): number | undefined => {
    const c = (out as { columns?: number }).columns;
    return c !== undefined && c > 0 ? c : undefined;
  };

  const line = (text: string): void => void out.write(`${text}\n`);

  const table = (): string[] => {
    const t = now();
    const cells = [...rows.values()].map((r) => [
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
  };

  const redraw = (): void => {
    if (mode !== 'tty') return;
    const width = columns();
    // One cell to spare: a row filling the last column would wrap at once on some consoles.
    const tbl = planned ? table().map((row) => (width ? fitToWidth(row, width - 1) : row)) : [];
    // Move up over the previous table, print new notes (they scroll up and stay) and the table again.
    const up = width ? screenLines(drawn, width) : drawn.length;
    if (up > 0) out.write(`\u001b[${up}A\u001b[0J`);
    const text = [...notes.splice(0), ...tbl];
    if (text.length > 0) out.write(`${text.join('\n')}\n`);
    drawn = tbl;
  };

  const note = (text: string): void => {
    if (mode === 'tty') notes.push(text);
    else line(text);
  };

  const update = (node: string, change: Partial<Row>): void => {
    const row = rows.get(node);
    if (row) Object.assign(row, change);
  };

  const emit: BuildEventSink = (event: BuildEvent) => {
    const t = now();
    switch (event.type) {
      case 'preflight':
        note(event.ok ? 'preflight: ok' : `preflight: ${event.problems.length} problem(s)`);
        break;
      case 'plan':
        planned = true;
        if (event.clone && event.nodes.some((n) => n.actions.includes('clone')))
          note(
            event.clone.mode === 'linked'
              ? `clones: linked, from the template's snapshot ${event.clone.snapshot ?? ''} (${event.clone.reason})`
              : `clones: full, through vmrest (${event.clone.reason})`,
          );
        for (const n of event.nodes) {
          update(n.node, {
            phase: n.status === 'complete' ? 'complete' : 'queued',
            state: n.status === 'complete' ? 'ok' : 'waiting',
            detail: n.actions.length ? `${n.actions.length} step(s) to run` : n.status,
          });
          if (mode === 'plain')
            line(`${n.node}: ${n.status}${n.actions.length ? ` (${n.actions.join(', ')})` : ''}`);
        }
        for (const r of event.remove ?? []) {
          note(
            `${r.node}: not in cluster.yaml any more: ${r.controlPlane ? 'the control plane cannot be removed' : event.prune ? 'to remove (--prune)' : 'to remove with --prune'}`,
          );
        }
        break;
      case 'note':
        note(`${event.node ? `${event.node}: ` : ''}${event.message}`);
        break;
      case 'step':
        if (event.phase === 'start')
          update(event.node, { phase: event.step, since: t, state: 'working', detail: '' });
        else update(event.node, { detail: event.detail ?? '' });
        if (event.step === 'power-on' && event.phase === 'done')
          update(event.node, { bootAt: t, phase: 'booting', since: t });
        if (mode === 'plain' && event.phase === 'done')
          line(`${event.node}: ${event.step} done${event.detail ? ` (${event.detail})` : ''}`);
        break;
      case 'stage': {
        // Times come from the line (the guest's clock): a re-run reading an old console shows real durations.
        const title = findStage(event.stage)?.title ?? event.stage;
        const firstLine = withoutStagePrefix(event.stage, event.message.split('\n')[0] ?? '');
        update(event.node, { quietSince: undefined });
        if (event.event === 'start')
          update(event.node, { phase: event.stage, since: event.atMs, state: 'working', detail: title });
        else if (event.event === 'ok') update(event.node, { detail: `${event.stage} ok` });
        else if (event.event === 'fail')
          update(event.node, { phase: event.stage, state: 'failed', detail: firstLine });
        else if (event.event === 'done')
          update(event.node, { phase: 'complete', state: 'ok', detail: event.message });
        // Any other kind (info): what the running stage is doing now.
        else update(event.node, { detail: firstLine });
        const row = rows.get(event.node);
        if (row && row.bootAt === undefined) row.bootAt = event.atMs - event.totalMs;
        if (mode === 'plain') {
          const what =
            event.event === 'start'
              ? ` start — ${title}`
              : event.event === 'ok' || event.event === 'fail'
                ? ` ${event.event} after ${seconds(event.elapsedMs)}`
                : event.event === 'done'
                  ? ` done (${event.message})`
                  : `: ${firstLine} (${seconds(event.elapsedMs)} in)`;
          line(`${event.node}: ${event.stage}${what}`);
        }
        break;
      }
      case 'quiet':
        update(event.node, { quietSince: event.sinceMs });
        note(
          `no news from ${event.node} for ${formatDuration(t - event.sinceMs)} (${event.stage === 'boot' ? 'no progress line since power-on' : `stage ${event.stage}`}); its console log is ${event.serialLog}`,
        );
        break;
      case 'warning':
        note(`warning: ${event.node ? `${event.node}: ` : ''}${event.message}`);
        break;
      case 'verify':
        if (event.phase === 'start') note('verify: checking the cluster through its API server');
        else if (event.phase === 'progress') note(`verify: ${event.message ?? ''}`);
        else if (event.report) note(renderReport(event.report).trimEnd());
        else
          note(
            `verify: ${event.phase === 'done' ? (event.summary ?? 'passed') : `FAILED: ${event.message ?? ''}`}`,
          );
        break;
      case 'finish':
        for (const f of event.files) note(`wrote ${f}`);
        for (const n of event.notes) note(n);
        break;
      case 'result':
        break;
    }
    redraw();
  };

  if (mode === 'tty') {
    timer = setInterval(redraw, 1000);
    timer.unref();
    out.on('resize', redraw);
  }
  return {
    emit,
    close: () => {
      if (timer) clearInterval(timer);
      out.off('resize', redraw);
      redraw();
    },
  };
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
