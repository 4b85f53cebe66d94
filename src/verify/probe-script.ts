/**
 * The shell script each probe pod runs, and the parser for what it prints.
 * One result per line, so the host reads it back from the pod's termination
 * message (written by the kubelet's file mount, no kubelet log access needed)
 * or, when that is cut (the kubelet keeps its last 4 KiB), from the pod log:
 *
 *   KSV1 <check> <target> ok|fail [detail...]
 *
 *   KSV1 dns kubernetes.default ok 10.96.0.1
 *   KSV1 dns registry.k8s.io fail status-SERVFAIL
 *   KSV1 pod k8s-worker1 fail curl-exit-28
 *   KSV1 service k8s-worker1 ok http-200
 *   KSV1 nodeport k8s-master ok http-200
 *   KSV1 loadbalancer 172.100.100.65 ok http-200   (the add-on check's LoadBalancer address)
 *   KSV1 clock k8s-master ok <before> <after> <HTTP-date with _ for spaces>
 *   KSV1 error curl fail exit-2          (a tool gave no per-check result at all)
 *   KSV1 end - ok
 *
 * Cost does not grow with the cluster: every TCP check goes through ONE curl
 * process (`--parallel`, at most `tcpParallelism` connections at a time,
 * `-w` printing one line per transfer), the DNS lookups run beside it, and
 * only the clock check runs alone afterwards (its before/after readings must
 * bracket one request). Parsing uses shell builtins, so a probe starts about
 * ten processes whatever the cluster size. A tool killed by a signal (exit code > 128) reports
 * nothing: a killed check is not a result, it is missing, and verify runs it
 * again or fails.
 *
 * The script needs sh, dig (bind-tools), curl 7.75 or newer (-w %{urlnum}
 * and %{exitcode}) and date: all in agnhost (Alpine).
 */

export const probeLinePrefix = 'KSV1';
/** Environment variable naming the file the script appends its results to (the container's terminationMessagePath). */
export const resultFileEnv = 'KSV_RESULT_FILE';
/** TCP connections one probe keeps open at once. */
export const tcpParallelism = 16;
/** Seconds curl waits for one TCP check (connect and answer). */
export const tcpTimeoutSeconds = 4;

/** One check a probe runs; `target` is the DNS name, or the node whose test pod / Service / NodePort is tried. */
export type ProbeCheck =
  | { check: 'dns'; target: string }
  | { check: 'pod' | 'service' | 'nodeport' | 'clock' | 'loadbalancer'; target: string; url: string };

/** What one probe pod runs. */
export interface ProbePlan {
  /** Node this probe runs on (for the header comment only). */
  node: string;
  checks: ProbeCheck[];
}

/** The identity of a check within one probe: "<check> <target>". */
export const checkKey = (check: { check: string; target: string }): string =>
  `${check.check} ${check.target}`;

/** Labels and URLs go into the script unquoted-safe: only these characters are allowed. */
const safe = /^[A-Za-z0-9._:/@-]+$/;
function word(value: string): string {
  if (!safe.test(value)) throw new Error(`unsafe value for the probe script: ${JSON.stringify(value)}`);
  return value;
}

const functions = [
  'report() { echo "KSV1 $*"; echo "KSV1 $*" >> "$out"; }',
  '',
  "# dns <name>: the A record through the pod's resolver (search list applied); NXDOMAIN and SERVFAIL are told apart.",
  'dns() {',
  '  name="$1"',
  '  answer=$(dig +search +time=2 +tries=2 +noall +comments +answer "$name" 2>&1); rc=$?',
  '  if [ "$rc" -gt 128 ]; then return 0; fi',
  '  status=""; addr=""',
  '  while IFS= read -r l; do',
  '    case "$l" in',
  '      *\'status: \'*) status="${l#*status: }"; status="${status%%,*}" ;;',
  '      *)',
  '        # shellcheck disable=SC2086',
  '        set -- $l',
  '        if [ -z "$addr" ] && [ "$#" -ge 5 ] && [ "$3" = IN ] && [ "$4" = A ]; then addr="$5"; fi ;;',
  '    esac',
  '  done <<EOF',
  '$answer',
  'EOF',
  '  if [ -n "$addr" ]; then report dns "$name" ok "$addr"',
  '  elif [ "$rc" -ne 0 ]; then report dns "$name" fail "dig-exit-$rc"',
  '  elif [ "$status" = NXDOMAIN ]; then report dns "$name" fail no-such-name',
  '  else report dns "$name" fail "status-${status:-none}"; fi',
  '}',
  '',
  '# tcp -o /dev/null <url> ...: every TCP check in one curl; any HTTP answer proves the path.',
  '# -w prints "<url index> <curl exit code> <HTTP status>" per transfer; tcp_label_<index> names the check.',
  'tcp() {',
  `  result=$(curl -s -m ${tcpTimeoutSeconds} --parallel --parallel-max ${tcpParallelism} -w '%{urlnum} %{exitcode} %{http_code}\\n' "$@"); rc=$?`,
  '  if [ "$rc" -gt 128 ]; then return 0; fi',
  '  seen=0',
  '  while read -r num code http; do',
  '    case "$num" in \'\'|*[!0-9]*) continue ;; esac',
  '    eval "label=\\${tcp_label_$num:-}"',
  '    if [ -z "$label" ]; then continue; fi',
  '    # shellcheck disable=SC2086',
  '    set -- $label',
  '    if [ "$code" = 0 ]; then report "$1" "$2" ok "http-$http"; else report "$1" "$2" fail "curl-exit-$code"; fi',
  '    seen=$((seen + 1))',
  '  done <<EOF',
  '$result',
  'EOF',
  '  if [ "$seen" -eq 0 ]; then report error curl fail "exit-$rc"; fi',
  '}',
  '',
  "# clock <label> <url>: this node's clock before and after, and the reference pod's HTTP Date header.",
  'clock() {',
  '  before=$(date +%s)',
  `  headers=$(curl -s -m ${tcpTimeoutSeconds} -o /dev/null -D - "$2"); rc=$?`,
  '  after=$(date +%s)',
  '  if [ "$rc" -gt 128 ]; then return 0; fi',
  '  header=""',
  '  while IFS= read -r l; do',
  '    l="${l%"$cr"}"',
  '    case "$l" in [Dd]ate:\\ *) header="${l#*: }" ;; esac',
  '  done <<EOF',
  '$headers',
  'EOF',
  '  while :; do case "$header" in *\' \'*) header="${header%% *}_${header#* }" ;; *) break ;; esac; done',
  '  if [ -n "$header" ]; then report clock "$1" ok "$before" "$after" "$header"; else report clock "$1" fail no-answer; fi',
  '}',
];

export function renderProbeScript(plan: ProbePlan): string {
  const lines = [
    '#!/bin/sh',
    '# shellcheck disable=SC2034 # tcp_label_N are read through eval',
    `# kubestation verify probe on node ${word(plan.node)}: one result line per check, see src/verify/probe-script.ts.`,
    'set -f',
    `out="\${${resultFileEnv}:-/dev/termination-log}"`,
    ': > "$out" 2>/dev/null || out=/dev/null',
    "cr=$(printf '\\r')",
    ...functions,
    '',
  ];
  const tcpChecks = plan.checks.filter(
    (c): c is Extract<ProbeCheck, { url: string }> => c.check !== 'dns' && c.check !== 'clock',
  );
  tcpChecks.forEach((c, index) => lines.push(`tcp_label_${index}='${word(c.check)} ${word(c.target)}'`));
  const dnsChecks = plan.checks.filter((c) => c.check === 'dns');
  if (dnsChecks.length > 0) lines.push(`{ ${dnsChecks.map((c) => `dns ${word(c.target)};`).join(' ')} } &`);
  if (tcpChecks.length > 0)
    lines.push(`tcp ${tcpChecks.map((c) => `-o /dev/null ${word(c.url)}`).join(' ')}`);
  lines.push('wait');
  for (const c of plan.checks) if (c.check === 'clock') lines.push(`clock ${word(c.target)} ${word(c.url)}`);
  lines.push('report end - ok', '');
  return lines.join('\n');
}

export interface ProbeLine {
  check: string;
  target: string;
  ok: boolean;
  detail: string[];
}

/**
 * Parses probe output (termination message or log); other lines are ignored,
 * and so is a last line without its newline (cut off when the probe was killed).
 */
export function parseProbeOutput(text: string): { lines: ProbeLine[]; complete: boolean; errors: string[] } {
  const lines: ProbeLine[] = [];
  const errors: string[] = [];
  let complete = false;
  const terminated = text.split('\n').slice(0, -1);
  for (const raw of terminated) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] !== probeLinePrefix || fields.length < 4) continue;
    const [, check, target, result, ...detail] = fields as [string, string, string, string, ...string[]];
    if (check === 'end') {
      complete = true;
      continue;
    }
    if (result !== 'ok' && result !== 'fail') continue;
    if (check === 'error') {
      errors.push(`${target} ${detail.join(' ')}`.trim());
      continue;
    }
    lines.push({ check, target, ok: result === 'ok', detail });
  }
  return { lines, complete, errors };
}

/** What curl's exit code means for a TCP check, in words. */
export function describeCurlFailure(detail: string | undefined): string {
  const code = /^curl-exit-(\d+)$/.exec(detail ?? '')?.[1];
  switch (code) {
    case '28':
      return `no answer within ${tcpTimeoutSeconds} s (packets dropped)`;
    case '7':
      return 'connection refused';
    case '6':
      return 'name not resolved';
    case '52':
    case '56':
      return 'connection reset';
    default:
      return detail ?? 'failed';
  }
}

/**
 * Offset of the probe node's clock from the reference (control-plane) clock,
 * in seconds: reference time minus the midpoint of the local before/after
 * readings. Positive = the node is behind. HTTP dates have 1 s resolution.
 */
export function clockOffsetSeconds(line: ProbeLine): number | undefined {
  const [before, after, header] = line.detail;
  const reference = Date.parse((header ?? '').replace(/_/g, ' '));
  if (!before || !after || Number.isNaN(reference)) return undefined;
  return reference / 1000 - (Number(before) + Number(after)) / 2;
}
