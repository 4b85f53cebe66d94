/**
 * The fake kubelet runs container scripts for real: it must bound them like a
 * kubelet (activeDeadlineSeconds, pod deletion) and never leave a process of
 * theirs running, background jobs and stubs included.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  installStubs,
  runContainerScript,
  startContainerScript,
  type ScriptRun,
} from '../../simulators/fake-kubelet.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'kubestation-fake-kubelet-test-'));
  await installStubs(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet: ScriptRun['network'] = {
  dnsReachable: true,
  names: new Map(),
  dnsDomain: 'cluster.local',
  upstreamReachable: true,
  tcp: new Map(),
};
const run = (script: string, extra: Partial<ScriptRun> = {}): ScriptRun => ({
  stubsDir: dir,
  script,
  env: {},
  network: quiet,
  clockOffsetSeconds: 0,
  terminationMessagePath: '/dev/termination-log',
  ...extra,
});

/** Running (a zombie is dead: it only waits for an init that may never reap it). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false; // gone between the two looks
  }
}

/** Pids the script wrote to `file`, one per line. */
async function pids(file: string): Promise<number[]> {
  return (await readFile(file, 'utf8')).split('\n').filter(Boolean).map(Number);
}

describe('fake kubelet', () => {
  it('kills the whole process group at the deadline: no child, background job or stub survives, and it says so', async () => {
    const file = path.join(dir, 'deadline.pids');
    // A background job, a foreground child, and a stub that hangs (curl of a stalled node).
    const script = `sleep 300 & echo $! >> ${file}; ( sleep 300 ) & echo $! >> ${file}; echo $$ >> ${file}; curl -s -m 4 http://10.0.0.1:80/`;
    const result = await runContainerScript(run(script, { deadlineMs: 400, stall: true }));
    expect(result.killed).toBe('deadline');
    expect(result.exitCode).toBe(137);
    const started = await pids(file);
    expect(started).toHaveLength(3);
    expect(started.filter(alive)).toEqual([]);
  });

  it('a script that exits leaves nothing behind: its background jobs end with it, as in a container', async () => {
    const file = path.join(dir, 'exit.pids');
    const result = await runContainerScript(run(`sleep 300 & echo $! >> ${file}; echo done`));
    expect(result).toMatchObject({ exitCode: 0, stdout: 'done\n' });
    expect(result.killed).toBeUndefined();
    expect((await pids(file)).filter(alive)).toEqual([]);
  });

  it('stop() (pod deleted, simulator closing) kills the group at once', async () => {
    const file = path.join(dir, 'stop.pids');
    const running = await startContainerScript(run(`sleep 300 & echo $! >> ${file}; sleep 300`));
    await new Promise((resolve) => setTimeout(resolve, 200));
    running.stop();
    const result = await running.result;
    expect(result.killed).toBe('stopped');
    expect((await pids(file)).filter(alive)).toEqual([]);
  });

  it('keeps the last 4096 bytes of the termination message, as the kubelet does', async () => {
    const script =
      'i=0; while [ $i -lt 300 ]; do echo "line $i of the termination message" >> "$KSV_RESULT_FILE"; i=$((i + 1)); done';
    const result = await runContainerScript(
      run(script, { env: { KSV_RESULT_FILE: '/dev/termination-log' } }),
    );
    expect(Buffer.byteLength(result.terminationMessage)).toBe(4096);
    expect(result.terminationMessage.endsWith('line 299 of the termination message\n')).toBe(true);
  });

  it('curl answers several URLs in one process, one -w line per transfer', async () => {
    const network: ScriptRun['network'] = {
      ...quiet,
      tcp: new Map([
        ['10.0.0.1:80', { outcome: 'ok', clockOffsetSeconds: 0, body: 'a' }],
        ['10.0.0.2:80', { outcome: 'refused' }],
      ]),
    };
    const result = await runContainerScript(
      run(
        `curl -s -m 4 --parallel -w '%{urlnum} %{exitcode} %{http_code}\\n' -o /dev/null http://10.0.0.1:80/ -o /dev/null http://10.0.0.2:80/ -o /dev/null http://10.0.0.3:80/`,
        { network },
      ),
    );
    expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual(['0 0 200', '1 7 000', '2 28 000']);
    const unsupported = await runContainerScript(
      run(`curl -s -w '%{time_total}' http://10.0.0.1:80/`, { network }),
    );
    expect(unsupported.exitCode).toBe(2);
    expect(unsupported.stderr).toContain('-w %{time_total} is not simulated');
  });
});
