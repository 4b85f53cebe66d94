/** verify's result model and how it is shown: a table per check group, then each problem with cause and fix. */

/** 'off': an add-on turned off in cluster.yaml: shown as such, never counted as a check that passed. */
export type Verdict = 'pass' | 'fail' | 'warn' | 'off';
export type CheckGroup = 'nodes' | 'system-pods' | 'data-path' | 'clock' | 'addons';

export interface CheckResult {
  group: CheckGroup;
  /** e.g. "ready", "internal-ip", "kube-proxy", "pod-to-pod", "dns kubernetes.default". */
  check: string;
  /** The node the result is about (for data-path checks: the node the probe ran on); "" when cluster-wide. */
  node: string;
  /** The other end, for checks between nodes. */
  target?: string;
  verdict: Verdict;
  detail: string;
  /** Id of the Problem that explains a failure or warning. */
  problem?: string;
  /** The check was expected but did not run (counted as a failure: a check that did not run is not a pass). */
  notRun?: true;
}

export interface Problem {
  id: string;
  /** What is most likely wrong. */
  cause: string;
  /** What to do about it. */
  fix: string;
}

export interface VerifyReport {
  cluster: string;
  ok: boolean;
  interrupted: boolean;
  startedAt: string;
  durationMs: number;
  results: CheckResult[];
  /** Checks expected (one row each) and how many of them ran. */
  checks: { expected: number; ran: number };
  problems: Problem[];
  /** Whether the test workload was removed. */
  cleanup: { ok: boolean; detail: string };
}

const groupTitles: Record<CheckGroup, string> = {
  nodes: 'Nodes',
  'system-pods': 'System pods',
  'data-path': 'Data path (from a test pod on each node)',
  clock: 'Clocks (against the control plane)',
  addons: 'Add-ons (from this PC, and from a test pod on each node)',
};

const verdictText: Record<Verdict, string> = { pass: 'ok', fail: 'FAIL', warn: 'warn', off: 'off' };

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    `  ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd(),
  );
}

export function renderReport(report: VerifyReport): string {
  const out: string[] = [`kubestation verify: cluster ${report.cluster}`, ''];
  for (const group of Object.keys(groupTitles) as CheckGroup[]) {
    const rows = report.results.filter((r) => r.group === group);
    if (rows.length === 0) continue;
    out.push(groupTitles[group]);
    out.push(
      ...table([
        ['CHECK', 'NODE', 'TARGET', 'RESULT', 'DETAIL'],
        ...rows.map((r) => [r.check, r.node || '-', r.target ?? '', verdictText[r.verdict], r.detail]),
      ]),
    );
    out.push('');
  }
  out.push(`Test workload: ${report.cleanup.detail}`, '');
  const failed = report.results.filter((r) => r.verdict === 'fail').length;
  const warned = report.results.filter((r) => r.verdict === 'warn').length;
  const checked = report.results.filter((r) => r.verdict !== 'off').length;
  const off = report.results.length - checked;
  const offText = off ? `; ${off} add-on${off === 1 ? '' : 's'} off` : '';
  if (report.problems.length > 0) {
    out.push('Problems');
    report.problems.forEach((problem, index) => {
      const where = report.results
        .filter((r) => r.problem === problem.id)
        .map((r) => `${r.check}${r.node ? ` on ${r.node}` : ''}${r.target ? ` -> ${r.target}` : ''}`);
      out.push(`  ${index + 1}. ${problem.cause}`);
      if (where.length)
        out.push(
          `     seen in: ${[...new Set(where)].slice(0, 6).join('; ')}${where.length > 6 ? `; and ${where.length - 6} more` : ''}`,
        );
      out.push(`     fix: ${problem.fix}`);
    });
    out.push('');
  }
  const ran = `${report.checks.ran} of ${report.checks.expected} expected checks ran`;
  const summary = report.interrupted
    ? `INTERRUPTED (${ran})`
    : report.ok
      ? `PASSED: ${checked} checks${warned ? `, ${warned} warnings` : ''} (${ran}${offText})`
      : `FAILED: ${failed} of ${checked} checks failed (${ran}${offText})`;
  out.push(`${summary} (${(report.durationMs / 1000).toFixed(1)} s)`);
  return `${out.join('\n')}\n`;
}
