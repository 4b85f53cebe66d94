/**
 * How stop, start and snapshot show their progress: one line per node step
 * (with how long it took), the plan first, waits and verify's report; with
 * --json one JSON object per line, as build-vms does.
 */
import { renderReport } from '../verify/report.js';
import type { LabEvent, LabEventSink } from './lab-power.js';

export type LabViewMode = 'plain' | 'json';

function seconds(ms: number | undefined): string {
  if (ms === undefined) return '';
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export function formatLabEvent(event: LabEvent): string[] {
  switch (event.type) {
    case 'plan': {
      const width = Math.max(...event.nodes.map((n) => n.node.length));
      return [
        `plan (${event.command}):`,
        ...event.nodes.map((n) => `  ${n.node.padEnd(width)}  ${n.power.padEnd(10)}  → ${n.action}`),
      ];
    }
    case 'node': {
      const took =
        event.phase === 'done' || event.phase === 'failed' ? ` after ${seconds(event.elapsedMs)}` : '';
      const what = event.phase === 'start' ? '...' : event.phase === 'failed' ? 'FAILED' : event.phase;
      return [`${event.node}: ${event.step} ${what}${took}${event.detail ? ` (${event.detail})` : ''}`];
    }
    case 'wait': {
      const label = event.what === 'api-server' ? 'API server' : 'nodes Ready';
      if (event.phase === 'start')
        return [`waiting for ${label}${event.detail ? ` (${event.detail})` : ''}...`];
      if (event.phase === 'progress') return [`  ${event.detail ?? ''}`];
      return [`${label}: ok after ${seconds(event.elapsedMs)}${event.detail ? ` (${event.detail})` : ''}`];
    }
    case 'warning':
      return [`warning: ${event.node ? `${event.node}: ` : ''}${event.message}`];
    case 'verify':
      if (event.phase === 'start') return ['verify: checking the cluster through its API server'];
      if (event.phase === 'progress') return [`verify: ${event.message ?? ''}`];
      if (event.report) return [renderReport(event.report).trimEnd()];
      return [
        `verify: ${event.phase === 'done' ? (event.message ?? 'passed') : `FAILED: ${event.message ?? ''}`}`,
      ];
  }
}

export function createLabView(
  mode: LabViewMode,
  out: NodeJS.WritableStream,
): { emit: LabEventSink; line: (text: string) => void } {
  if (mode === 'json') {
    return {
      emit: (event) => void out.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`),
      line: (text) =>
        void out.write(`${JSON.stringify({ time: new Date().toISOString(), type: 'log', message: text })}\n`),
    };
  }
  return {
    emit: (event) => void out.write(`${formatLabEvent(event).join('\n')}\n`),
    line: (text) => void out.write(`${text}\n`),
  };
}
