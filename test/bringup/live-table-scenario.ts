/**
 * A build as the live table sees it, for the terminal tests: plan, apply steps, first-boot stages with long
 * info lines (one in Japanese, as apt prints under a ja_JP locale: two cells per character), a quiet node,
 * notes and warnings, and terminal resizes in between. Shared by the in-process test (a fake TTY stream)
 * and live-table-driver.ts (run in a real pseudo-terminal through `script`).
 */
import type { ClusterSpec } from '../../src/config/model.js';
import type { BuildEvent } from '../../src/bringup/ports.js';
import { APPLY_STEPS } from '../../src/bringup/state.js';

export type ScenarioStep =
  | { event: BuildEvent; advanceMs: number }
  /** The terminal becomes this many columns wide. */
  | { resize: number };

export function liveTableScenario(spec: ClusterSpec, t0: number, resizes: number[] = []): ScenarioStep[] {
  const steps: ScenarioStep[] = [];
  let t = t0;
  const at = (ms: number): number => (t += ms);
  const push = (event: BuildEvent, advanceMs = 700): void => {
    at(advanceMs);
    steps.push({ event, advanceMs });
  };
  /** A progress line `advanceMs` after the previous event, stamped with that time (the guest's clock). */
  const stageLine = (
    node: string,
    stage: string,
    event: 'start' | 'info' | 'ok' | 'done',
    message: string,
    advanceMs: number,
    elapsedMs: number,
  ): void => {
    const atMs = at(advanceMs);
    steps.push({
      event: { type: 'stage', node, stage, event, message, atMs, elapsedMs, totalMs: atMs - t0 },
      advanceMs,
    });
  };
  const nodes = spec.nodes.map((n) => n.name);
  push({ type: 'preflight', ok: true, problems: [], warnings: 0 });
  push({
    type: 'warning',
    message:
      'the node disks may grow to 300 GiB in total (nodes[].diskGiB) but D:\\Virtual Machines has 120.5 GiB free; a full disk would pause the VMs',
  });
  push({ type: 'plan', nodes: nodes.map((node) => ({ node, status: 'create', actions: [...APPLY_STEPS] })) });
  for (const node of nodes) {
    for (const step of APPLY_STEPS) {
      push({ type: 'step', node, step, phase: 'start' }, 300);
      push(
        {
          type: 'step',
          node,
          step,
          phase: 'done',
          detail: step === 'disk' ? '100 GiB (template size is enough)' : `${step} finished for ${node}`,
        },
        400,
      );
    }
  }
  const resizeAt = new Map(
    resizes.map((cols, i) => [Math.floor(((i + 1) * 12) / (resizes.length + 1)), cols]),
  );
  const stages = ['os', 'packages', 'containerd', 'firewall'];
  const infos = [
    'apt: download 12 of 57 https://pkgs.k8s.io/core:/stable:/v1.37/deb/ kubelet 1.37.0-1.1 (23.4 MB of 51.0 MB)',
    'apt: パッケージリストを読み込んでいます... 完了 依存関係ツリーを作成しています... 状態情報を読み取っています... 完了',
    'images: pulling 2 of 7 registry.k8s.io/kube-apiserver:v1.37.0 (sha256:0f4e7c1d2a9b) from the registry mirror',
  ];
  let round = 0;
  for (const stage of stages) {
    for (const node of nodes) {
      stageLine(node, stage, 'start', '', 1000, 0);
      stageLine(node, stage, 'info', infos[round % infos.length]!, 5000, 5000);
      const cols = resizeAt.get(round);
      if (cols !== undefined) steps.push({ resize: cols });
      round++;
    }
    if (stage === 'packages') {
      push({
        type: 'quiet',
        node: nodes[0]!,
        stage,
        sinceMs: t - 90_000,
        serialLog: 'C:\\Users\\lab user\\kubestation\\.kubestation\\k8s-master\\serial.log',
      });
    }
    for (const node of nodes) {
      stageLine(node, stage, 'ok', '', 2000, 8000);
    }
  }
  push({
    type: 'note',
    node: nodes[1],
    message:
      'a fresh join token was registered through the API server (the recorded one expires within 2 hours)',
  });
  for (const node of nodes) {
    stageLine(
      node,
      'complete',
      'done',
      node === nodes[0] ? 'every node of the spec is Ready' : 'joined the cluster',
      3000,
      0,
    );
  }
  push({
    type: 'finish',
    files: [`${spec.stateDir}\\admin.kubeconfig`, `${spec.stateDir}\\ssh_config`],
    notes: [],
  });
  return steps;
}

/** The screen's lines (scrollback included), a row the terminal wrapped joined back into one. */
export function logicalLines(rows: Array<{ text: string; wrapped: boolean }>): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    if (row.wrapped && lines.length > 0) lines[lines.length - 1] += row.text;
    else lines.push(row.text);
  }
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines;
}

/** What a screen that ends with one live table and the notes above it holds: problems, or none. */
export function staleTableProblems(lines: string[], nodes: string[], columns: number): string[] {
  const problems: string[] = [];
  const header = lines.filter((l) => /^node\s+role\s+step \/ stage/.test(l));
  if (header.length !== 1) problems.push(`${header.length} table headers on the screen`);
  const rowOf = (node: string): RegExp => new RegExp(`^${node}\\s+(control-plane|worker)\\b`);
  for (const node of nodes) {
    const rows = lines.filter((l) => rowOf(node).test(l));
    if (rows.length !== 1) problems.push(`${rows.length} rows for ${node}`);
  }
  // The table is the screen's last lines, each within the width.
  const table = lines.slice(-(nodes.length + 1));
  if (!/^node\s+role/.test(table[0] ?? ''))
    problems.push(`the screen does not end with the table: ${JSON.stringify(table)}`);
  for (const line of table)
    if (line.length > columns) problems.push(`a table row is wider than ${columns}: ${line}`);
  // Everything above it is a note the view printed once (a leftover piece of a wrapped row is none).
  const notePrefixes = [
    'preflight: ',
    'warning: ',
    'no news from ',
    'wrote ',
    `${nodes[1]}: a fresh join token`,
  ];
  for (const line of lines.slice(0, -(nodes.length + 1))) {
    if (line.trim() === '') continue;
    if (!notePrefixes.some((p) => line.startsWith(p)))
      problems.push(`stale text on the screen: ${JSON.stringify(line)}`);
  }
  return problems;
}

/**
 * Written by live-table-driver.ts just before it resizes its pseudo-terminal (an OSC sequence terminals
 * ignore), followed by the new width and BEL: where the replaying emulator must resize too.
 */
export const RESIZE_MARK = '\u001b]7771;kubestation-test-resize=';
