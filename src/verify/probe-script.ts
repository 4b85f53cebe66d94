/**
 * The shell script each probe pod runs, and the parser for what it prints.
 * One result per line, so the host reads it back from the pod's termination
 * message (written by the kubelet's file mount, no kubelet log access needed)
 * or, failing that, from the pod log:
 *
 *   KSV1 <check> <target> ok|fail [detail...]
 *
 *   KSV1 dns kubernetes.default ok 10.96.0.1
 *   KSV1 pod k8s-worker1 fail curl-exit-28
 *   KSV1 service verify-web ok http-200
 *   KSV1 nodeport k8s-master ok http-200
 *   KSV1 clock k8s-master ok <before> <after> <HTTP-date with _ for spaces>
 *   KSV1 end - ok
 *
 * The script needs sh, dig, curl, date, tr, sed, grep, head: all in agnhost.
 */

export const probeLinePrefix = 'KSV1';
/** Environment variable naming the file the script appends its results to (the container's terminationMessagePath). */
export const resultFileEnv = 'KSV_RESULT_FILE';

export interface ProbeTargets {
  /** Node this probe runs on (for the header comment only). */
  node: string;
  dnsNames: string[];
  /** Server pods by node: TCP (HTTP) to each, including the probe's own node. */
  pods: { node: string; url: string }[];
  service: { name: string; url: string } | undefined;
  nodePorts: { node: string; url: string }[];
  /** A server pod on the control plane, whose HTTP Date header is the reference clock. */
  clockReference: { node: string; url: string } | undefined;
}

/** Labels and URLs go into the script unquoted-safe: only these characters are allowed. */
const safe = /^[A-Za-z0-9._:/@-]+$/;
function word(value: string): string {
  if (!safe.test(value)) throw new Error(`unsafe value for the probe script: ${JSON.stringify(value)}`);
  return value;
}

export function renderProbeScript(targets: ProbeTargets): string {
  const lines = [
    '#!/bin/sh',
    `# kubestation verify probe on node ${word(targets.node)}: one result line per check, see src/verify/probe-script.ts.`,
    `out="\${${resultFileEnv}:-/dev/termination-log}"`,
    ': > "$out" 2>/dev/null || out=/dev/null',
    `report() { echo "${probeLinePrefix} $*"; echo "${probeLinePrefix} $*" >> "$out"; }`,
    '',
    'dns() {',
    '  answer=$(dig +search +short +time=2 +tries=2 "$1" 2>&1); rc=$?',
    "  addr=$(printf '%s\\n' \"$answer\" | grep -E '^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$' | head -n 1)",
    '  if [ -n "$addr" ]; then report dns "$1" ok "$addr"',
    '  elif [ "$rc" -ne 0 ]; then report dns "$1" fail "dig-exit-$rc"',
    '  else report dns "$1" fail no-such-name; fi',
    '}',
    '',
    '# tcp <check> <label> <url>: an HTTP GET; any HTTP answer proves the TCP path.',
    'tcp() {',
    "  code=$(curl -s -m 4 -o /dev/null -w '%{http_code}' \"$3\"); rc=$?",
    '  if [ "$rc" -eq 0 ]; then report "$1" "$2" ok "http-$code"; else report "$1" "$2" fail "curl-exit-$rc"; fi',
    '}',
    '',
    '# clock <label> <url>: this node\'s clock before and after, and the reference pod\'s HTTP Date header.',
    'clock() {',
    '  before=$(date +%s)',
    "  header=$(curl -s -m 4 -o /dev/null -D - \"$2\" | tr -d '\\r' | sed -n 's/^[Dd]ate: //p' | tr ' ' '_')",
    '  after=$(date +%s)',
    '  if [ -n "$header" ]; then report clock "$1" ok "$before" "$after" "$header"; else report clock "$1" fail no-answer; fi',
    '}',
    '',
  ];
  for (const name of targets.dnsNames) lines.push(`dns ${word(name)}`);
  for (const pod of targets.pods) lines.push(`tcp pod ${word(pod.node)} ${word(pod.url)}`);
  if (targets.service) lines.push(`tcp service ${word(targets.service.name)} ${word(targets.service.url)}`);
  for (const port of targets.nodePorts) lines.push(`tcp nodeport ${word(port.node)} ${word(port.url)}`);
  if (targets.clockReference) lines.push(`clock ${word(targets.clockReference.node)} ${word(targets.clockReference.url)}`);
  lines.push('report end - ok', '');
  return lines.join('\n');
}

export interface ProbeLine {
  check: string;
  target: string;
  ok: boolean;
  detail: string[];
}

/** Parses probe output (termination message or log); other lines are ignored. */
export function parseProbeOutput(text: string): { lines: ProbeLine[]; complete: boolean } {
  const lines: ProbeLine[] = [];
  let complete = false;
  for (const raw of text.split(/\r?\n/)) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] !== probeLinePrefix || fields.length < 4) continue;
    const [, check, target, result, ...detail] = fields as [string, string, string, string, ...string[]];
    if (check === 'end') {
      complete = true;
      continue;
    }
    if (result !== 'ok' && result !== 'fail') continue;
    lines.push({ check, target, ok: result === 'ok', detail });
  }
  return { lines, complete };
}

/** What curl's exit code means for a TCP check, in words. */
export function describeCurlFailure(detail: string | undefined): string {
  const code = /^curl-exit-(\d+)$/.exec(detail ?? '')?.[1];
  switch (code) {
    case '28':
      return 'no answer within 4 s (packets dropped)';
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
