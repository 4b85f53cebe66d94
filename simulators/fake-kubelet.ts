/**
 * How the fake API server "runs" a shell-script container: the script is
 * executed for real by /bin/sh on this machine (Linux/macOS test hosts),
 * with `dig`, `curl` and `date` replaced by small stubs that answer from a
 * network table the fake computes from its scenario (which addresses are
 * reachable from the pod's node, which names resolve, the node's clock).
 * So the probe script verify renders is exercised as a real script, and
 * only the network around it is simulated.
 *
 * Table lines (one file per container run):
 *   dns-down                        every DNS query times out
 *   dns <name> <address>            name resolves
 *   tcp <host:port> ok <offset>     HTTP 200; Date header from a clock <offset> s from true time
 *   tcp <host:port> refused         connection refused (curl exit 7)
 *   (unlisted host:port)            no answer (curl exit 28, timeout)
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

const digStub = `#!/bin/sh
# fake dig: the last argument not starting with + or - is the name.
name=""
for a in "$@"; do case "$a" in +*|-*) ;; *) name="$a" ;; esac; done
if grep -q '^dns-down$' "$KSV_FAKE_NET"; then
  echo ";; connection timed out; no servers could be reached"
  exit 9
fi
grep "^dns $name " "$KSV_FAKE_NET" | head -n 1 | cut -d ' ' -f 3
exit 0
`;

const curlStub = (realDate: string) => `#!/bin/sh
# fake curl: supports -s -m N -o FILE -w FORMAT -D - URL as used by the probe.
url=""; headers=""; format=""
while [ $# -gt 0 ]; do
  case "$1" in
    -m|-o) shift ;;
    -w) shift; format="$1" ;;
    -D) shift; headers="$1" ;;
    http://*|https://*) url="$1" ;;
  esac
  shift
done
target=$(echo "$url" | sed -e 's#^[a-z]*://##' -e 's#/.*##')
line=$(grep "^tcp $target " "$KSV_FAKE_NET" | head -n 1)
outcome=$(echo "$line" | cut -d ' ' -f 3)
case "$outcome" in
  ok)
    offset=$(echo "$line" | cut -d ' ' -f 4)
    now=$(( $(${realDate} +%s) + offset ))
    if [ "$headers" = "-" ]; then
      printf 'HTTP/1.1 200 OK\\r\\nDate: %s\\r\\nContent-Type: text/plain\\r\\n\\r\\n' "$(LC_ALL=C ${realDate} -u -d "@$now" '+%a, %d %b %Y %H:%M:%S GMT')"
    fi
    [ "$format" = '%{http_code}' ] && printf '200'
    exit 0 ;;
  refused) [ -n "$format" ] && printf '000'; exit 7 ;;
  *) [ -n "$format" ] && printf '000'; exit 28 ;;
esac
`;

const dateStub = (realDate: string) => `#!/bin/sh
# fake date: the node's clock, KSV_CLOCK_OFFSET seconds from true time.
exec ${realDate} -d "@$(( $(${realDate} +%s) + \${KSV_CLOCK_OFFSET:-0} ))" "$@"
`;

export interface ScriptRun {
  script: string;
  env: Record<string, string>;
  /** Network table (see above). */
  networkTable: string;
  clockOffsetSeconds: number;
  /** The container's terminationMessagePath and the env var naming it, if the script writes one. */
  terminationMessagePath: string;
  timeoutMs?: number;
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  terminationMessage: string;
}

/** Runs one container script with the network stubs; never throws for a failing script. */
export async function runContainerScript(run: ScriptRun): Promise<ScriptResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'kubestation-fake-kubelet-'));
  try {
    const realDate = findOnPath('date');
    const bin = path.join(dir, 'bin');
    await writeFile(path.join(dir, 'net'), run.networkTable);
    await mkdir(bin);
    for (const [name, text] of [
      ['dig', digStub],
      ['curl', curlStub(realDate)],
      ['date', dateStub(realDate)],
    ] as const) {
      await writeFile(path.join(bin, name), text);
      await chmod(path.join(bin, name), 0o755);
    }
    const terminationFile = path.join(dir, 'termination-log');
    await writeFile(terminationFile, '');
    // Like the kubelet's bind mount: the container's terminationMessagePath is a host file.
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(run.env)) env[key] = value === run.terminationMessagePath ? terminationFile : value;
    const result = await new Promise<{ exitCode: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        '/bin/sh',
        ['-c', run.script],
        {
          env: { PATH: `${bin}:/usr/bin:/bin`, KSV_FAKE_NET: path.join(dir, 'net'), KSV_CLOCK_OFFSET: String(run.clockOffsetSeconds), ...env },
          timeout: run.timeoutMs ?? 20_000,
          cwd: dir,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 137) : 0;
          resolve({ exitCode: code, stdout, stderr });
        },
      );
    });
    const terminationMessage = (await readFile(terminationFile, 'utf8')).slice(0, 4096);
    return { ...result, terminationMessage };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
