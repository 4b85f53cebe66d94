/**
 * How the fake API server "runs" a shell-script container: the script is
 * executed for real by /bin/sh on this machine (Linux/macOS test hosts),
 * with `dig`, `curl` and `date` replaced by small stubs that answer from the
 * network as seen from the pod's node (which addresses answer, which names
 * resolve, the node's clock), computed by the fake from its scenario. So the
 * probe script verify renders is exercised as a real script, and only the
 * network around it is simulated.
 *
 * The stubs use shell builtins only (the network view is a sourced shell file
 * of `case` tables), so a probe costs a handful of processes whatever the
 * cluster size, as it does on a real node.
 *
 * Like the kubelet, it enforces the pod's activeDeadlineSeconds (the script
 * is killed, the pod fails with DeadlineExceeded) and kills a container whose
 * pod is deleted. Every script runs in its own process group and the whole
 * group is killed, so no stub or background job outlives its container.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

function findOnPath(command: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`fake kubelet needs ${command} on PATH`);
}

/** The network as seen from one node. */
export interface NetworkView {
  /** Whether the kube-dns Service answers from this node (false: every query times out). */
  dnsReachable: boolean;
  /** Names CoreDNS answers (cluster names, and external names when its upstream is reachable). */
  names: Map<string, string>;
  /** The cluster DNS domain: other names under it are NXDOMAIN (answered by CoreDNS itself). */
  dnsDomain: string;
  /** Whether CoreDNS reaches its upstream resolvers: other names are NXDOMAIN if so, SERVFAIL if not. */
  upstreamReachable: boolean;
  /** host:port → an HTTP answer (body, and the clock offset of the answering node) or a refusal; unlisted = no answer. */
  tcp: Map<string, { outcome: 'ok'; clockOffsetSeconds: number; body: string } | { outcome: 'refused' }>;
}

const caseLabel = (value: string) => {
  if (!/^[A-Za-z0-9._:-]+$/.test(value))
    throw new Error(`fake kubelet: unsafe table key ${JSON.stringify(value)}`);
  return value;
};

/** The network view as a shell file the stubs source: two lookup functions built on `case`. */
export function renderNetworkView(view: NetworkView): string {
  const lines = [
    `ksv_dns_reachable=${view.dnsReachable ? 'yes' : 'no'}`,
    'ksv_dns() {',
    '  ksv_addr=; ksv_status=NOERROR',
    '  case "$1" in',
  ];
  for (const [name, address] of view.names)
    lines.push(`    ${caseLabel(name)}) ksv_addr=${caseLabel(address)} ;;`);
  lines.push(
    `    *.${caseLabel(view.dnsDomain)}) ksv_status=NXDOMAIN ;;`,
    `    *) ksv_status=${view.upstreamReachable ? 'NXDOMAIN' : 'SERVFAIL'} ;;`,
    '  esac',
    '}',
  );
  lines.push('ksv_tcp() {', '  ksv_outcome=; ksv_offset=0; ksv_body=', '  case "$1" in');
  for (const [target, answer] of view.tcp) {
    lines.push(
      answer.outcome === 'ok'
        ? `    ${caseLabel(target)}) ksv_outcome=ok; ksv_offset=${Math.round(answer.clockOffsetSeconds)}; ksv_body=${caseLabel(answer.body)} ;;`
        : `    ${caseLabel(target)}) ksv_outcome=refused ;;`,
    );
  }
  lines.push('  esac', '}', '');
  return lines.join('\n');
}

/** A stalled container (ScriptRun.stall) hangs in its first network call until it is killed. */
const stallLine = 'if [ -n "$KSV_STALL" ]; then sleep 3600; fi';

const digStub = `#!/bin/sh
# fake dig: answers from the network view. Supports +short, or the +noall +comments +answer layout.
${stallLine}
. "$KSV_FAKE_NET"
name=""; short=""
for a in "$@"; do case "$a" in +short) short=1 ;; +*|-*) ;; *) name="$a" ;; esac; done
if [ "$ksv_dns_reachable" != yes ]; then
  echo ";; connection timed out; no servers could be reached"
  exit 9
fi
ksv_dns "$name"
if [ -n "$short" ]; then
  if [ -n "$ksv_addr" ]; then echo "$ksv_addr"; fi
  exit 0
fi
answers=0; if [ -n "$ksv_addr" ]; then answers=1; fi
printf ';; Got answer:\\n;; ->>HEADER<<- opcode: QUERY, status: %s, id: 4242\\n;; flags: qr rd ra; QUERY: 1, ANSWER: %s, AUTHORITY: 0, ADDITIONAL: 1\\n\\n' "$ksv_status" "$answers"
if [ -n "$ksv_addr" ]; then printf ';; ANSWER SECTION:\\n%s.\\t30\\tIN\\tA\\t%s\\n\\n' "$name" "$ksv_addr"; fi
exit 0
`;

/**
 * fake curl: -s, -m N, --connect-timeout N, -o FILE, -w FORMAT (%{urlnum} %{exitcode} %{http_code}),
 * -D -, --parallel/-Z, --parallel-max N, one or more http URLs. In parallel mode the -w lines come
 * in reverse URL order, as a reminder that curl prints them as transfers finish.
 */
const curlStub = (realDate: string) => `#!/bin/sh
${stallLine}
. "$KSV_FAKE_NET"
set -f
urls=""; outputs=0; format=""; headers=""; parallel=""
while [ $# -gt 0 ]; do
  case "$1" in
    -s|--silent) ;;
    -m|--max-time|--connect-timeout|--parallel-max) shift ;;
    -o|--output) shift; outputs=$((outputs + 1)) ;;
    -w|--write-out) shift; format="$1" ;;
    -D|--dump-header) shift; headers="$1" ;;
    -Z|--parallel) parallel=1 ;;
    http://*) urls="$urls $1" ;;
    *) echo "fake curl: option $1 is not simulated" >&2; exit 2 ;;
  esac
  shift
done
# expand FORMAT for one transfer into $o (num, rc, code set by the caller), builtins only:
# %{urlnum} %{exitcode} %{http_code}, and \\n as a newline.
nl='
'
expand() {
  f="$format"; o=""
  while :; do
    case "$f" in
      *'%{'*)
        o="$o\${f%%'%{'*}"; f="\${f#*'%{'}"; var="\${f%%'}'*}"; f="\${f#*'}'}"
        case "$var" in
          urlnum) o="$o$num" ;;
          exitcode) o="$o$rc" ;;
          http_code) o="$o$code" ;;
          *) echo "fake curl: -w %{$var} is not simulated" >&2; exit 2 ;;
        esac ;;
      *) o="$o$f"; break ;;
    esac
  done
  f="$o"; o=""
  while :; do
    case "$f" in
      *'\\n'*) o="$o\${f%%'\\n'*}$nl"; f="\${f#*'\\n'}" ;;
      *) o="$o$f"; break ;;
    esac
  done
}
num=0; result=""; last=0
for u in $urls; do
  target="\${u#*://}"; target="\${target%%/*}"
  ksv_tcp "$target"
  case "$ksv_outcome" in
    ok) rc=0; code=200 ;;
    refused) rc=7; code=000 ;;
    *) rc=28; code=000 ;;
  esac
  [ "$rc" -ne 0 ] && last=$rc
  out=""
  if [ "$headers" = "-" ] && [ "$rc" -eq 0 ]; then
    # headers go out as the transfer happens (one URL with -D - in practice); the Date from the answering node's clock
    printf 'HTTP/1.1 200 OK\\r\\nDate: '
    if [ "$ksv_offset" = 0 ]; then LC_ALL=C ${realDate} -u '+%a, %d %b %Y %H:%M:%S GMT' | tr -d '\\n'
    else LC_ALL=C ${realDate} -u -d "@$(( $(${realDate} +%s) + ksv_offset ))" '+%a, %d %b %Y %H:%M:%S GMT' | tr -d '\\n'; fi
    printf '\\r\\nContent-Type: text/plain\\r\\n\\r\\n'
  fi
  if [ "$num" -ge "$outputs" ] && [ "$rc" -eq 0 ]; then out="$out$ksv_body"; fi
  if [ -n "$format" ]; then expand; out="$out$o"; fi
  if [ -n "$parallel" ]; then result="$out$result"; else result="$result$out"; fi
  num=$((num + 1))
done
printf '%s' "$result"
exit "$last"
`;

const dateStub = (realDate: string) => `#!/bin/sh
# fake date: the node's clock, KSV_CLOCK_OFFSET seconds from true time.
if [ "\${KSV_CLOCK_OFFSET:-0}" = 0 ]; then exec ${realDate} "$@"; fi
exec ${realDate} -d "@$(( $(${realDate} +%s) + KSV_CLOCK_OFFSET ))" "$@"
`;

/** The stubs, written once per simulator into `dir`/bin. */
export async function installStubs(dir: string): Promise<string> {
  const realDate = findOnPath('date');
  const bin = path.join(dir, 'bin');
  await mkdir(bin, { recursive: true });
  for (const [name, text] of [
    ['dig', digStub],
    ['curl', curlStub(realDate)],
    ['date', dateStub(realDate)],
  ] as const) {
    await writeFile(path.join(bin, name), text);
    await chmod(path.join(bin, name), 0o755);
  }
  return bin;
}

export interface ScriptRun {
  /** The folder installStubs wrote into. */
  stubsDir: string;
  script: string;
  env: Record<string, string>;
  network: NetworkView;
  clockOffsetSeconds: number;
  /** The container's terminationMessagePath and the env var naming it, if the script writes one. */
  terminationMessagePath: string;
  /**
   * The container's volume mounts: mount path → a folder on this machine. The script sees a mount
   * through an env var naming the mount path (rewritten to the folder, as the terminationMessagePath is).
   */
  mounts?: Record<string, string>;
  /** The pod's activeDeadlineSeconds, in ms: the script is killed after this long. */
  deadlineMs?: number;
  /** The node is starved: dig and curl hang until the container is killed. */
  stall?: boolean;
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** The last 4096 bytes of the termination message file, as the kubelet reads it. */
  terminationMessage: string;
  /** Why the container was killed, if it was. */
  killed?: 'deadline' | 'stopped';
}

export interface RunningScript {
  /** Process group id (the shell's pid). */
  pid: number;
  result: Promise<ScriptResult>;
  /** Kills the whole process group now (pod deleted, simulator closing). */
  stop(): void;
}

/** The kubelet keeps the tail of the termination message: kubelet tail.ReadAtMost(path, 4096). */
const maxTerminationMessageBytes = 4096;

/** Starts one container script with the network stubs; its result never rejects for a failing script. */
export async function startContainerScript(run: ScriptRun): Promise<RunningScript> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kubestation-fake-kubelet-'));
  await writeFile(path.join(dir, 'net.sh'), renderNetworkView(run.network));
  const terminationFile = path.join(dir, 'termination-log');
  await writeFile(terminationFile, '');
  // Like the kubelet's bind mount: the container's terminationMessagePath is a host file.
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(run.env))
    env[key] = value === run.terminationMessagePath ? terminationFile : (run.mounts?.[value] ?? value);
  const child = spawn('/bin/sh', ['-c', run.script], {
    env: {
      PATH: `${path.join(run.stubsDir, 'bin')}:/usr/bin:/bin`,
      KSV_FAKE_NET: path.join(dir, 'net.sh'),
      KSV_CLOCK_OFFSET: String(run.clockOffsetSeconds),
      ...(run.stall ? { KSV_STALL: '1' } : {}),
      ...env,
    },
    cwd: dir,
    detached: true, // its own process group, so the whole group can be killed
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let killed: ScriptResult['killed'];
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is empty already
    }
  };
  const stop = (reason: NonNullable<ScriptResult['killed']>) => {
    killed ??= reason;
    killGroup();
  };
  const deadline =
    run.deadlineMs === undefined ? undefined : setTimeout(() => stop('deadline'), run.deadlineMs);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  // The container ends with its main process: background jobs it left are killed with it.
  child.on('exit', killGroup);
  const result = new Promise<ScriptResult>((resolve) => {
    child.on('error', (error) => {
      stderr += String(error);
    });
    // 'close': the shell exited and every process holding its output is gone.
    child.on('close', (code, signal) => {
      if (deadline) clearTimeout(deadline);
      void (async () => {
        try {
          const terminationMessage = await readTail(terminationFile, maxTerminationMessageBytes);
          resolve({
            exitCode: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15),
            stdout,
            stderr,
            terminationMessage,
            ...(killed ? { killed } : {}),
          });
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      })();
    });
  });
  return { pid: child.pid!, result, stop: () => stop('stopped') };
}

async function readTail(file: string, bytes: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Runs one container script to the end (tests). */
export async function runContainerScript(run: ScriptRun): Promise<ScriptResult> {
  return (await startContainerScript(run)).result;
}
