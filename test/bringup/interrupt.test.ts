/**
 * Kill the real CLI (a child process, talking to the simulator in this
 * process) at each apply step, then run again: the build converges, with no
 * duplicate or orphaned VMs.
 */
import { writeWorkstationPreferences } from '../../simulators/workstation-preferences.js';
import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { inspectOwnership } from '../../src/bringup/ownership.js';
import { APPLY_STEPS, type ApplyStep } from '../../src/bringup/state.js';
import { readBuildState } from '../../src/bringup/state.js';
import { repoRoot, startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

async function writeClusterFile(l: TestLab): Promise<string> {
  let text = await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8');
  text = text
    .replace(/^stateDir: .*$/m, `stateDir: ${JSON.stringify(l.spec.stateDir)}`)
    .replace(/^  vmrestUrl: .*$/m, `  vmrestUrl: ${l.vmrest.url}`);
  // The child finds the simulator's clone folder where it finds Workstation's: in the user's preferences.
  await writeWorkstationPreferences({ HOME: l.dir }, l.clonesFolder, { platform: 'linux' });
  const file = path.join(l.dir, 'cluster.yaml');
  await writeFile(file, text);
  return file;
}

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: Array<Record<string, unknown>>;
  stderr: string;
}

/** Runs build-vms in a child; `stopAt` sends `signal` when the first node starts that step. */
function runChild(
  l: TestLab,
  clusterFile: string,
  stopAt?: { step: ApplyStep; signal: NodeJS.Signals } | { when: () => boolean; signal: NodeJS.Signals },
): Promise<ChildRun> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.join(repoRoot, 'src', 'bin.ts'),
      'build-vms',
      '--cluster',
      clusterFile,
      '--json',
      '--skip-verify',
      '--deadline-scale',
      '0.001',
    ],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        HOME: l.dir,
        VMREST_USERNAME: l.credentials.username,
        VMREST_PASSWORD: l.credentials.password,
        VMREST_URL: '',
        // The add-on step talks to the lab's fake API server (a child has no loopback guard: never the real address).
        KUBESTATION_API_SERVER: l.kubeApi?.url ?? 'https://127.0.0.1:9',
        // verify's LoadBalancer and Gateway requests from "the PC": the fake's VMnet1 stand-in, or a closed port.
        KUBESTATION_HOST_ONLY_PROXY: l.kubeApi?.hostOnlyProxy ?? '127.0.0.1:9',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const events: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let sent = false;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    if (
      stopAt &&
      'step' in stopAt &&
      !sent &&
      event.type === 'step' &&
      event.step === stopAt.step &&
      event.phase === 'start'
    ) {
      sent = true;
      child.kill(stopAt.signal);
    }
  });
  const watch =
    stopAt && 'when' in stopAt
      ? setInterval(() => {
          if (!sent && stopAt.when()) {
            sent = true;
            child.kill(stopAt.signal);
          }
        }, 2)
      : undefined;
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearInterval(watch);
      resolve({ code, signal, events, stderr });
    }),
  );
}

async function assertConverged(l: TestLab): Promise<void> {
  const vms = l.nodeVms();
  expect(vms.map((v) => path.basename(v.vmxPath)).sort()).toEqual([
    'k8s-master.vmx',
    'k8s-worker1.vmx',
    'k8s-worker2.vmx',
  ]);
  for (const vm of vms) {
    const ownership = await inspectOwnership(vm.vmxPath, l.spec.name);
    expect(ownership).toEqual({ kind: 'ours', node: path.basename(vm.vmxPath, '.vmx') });
    expect(vm.power).toBe('poweredOn');
  }
  // No orphaned or duplicate folders where clones land.
  expect((await readdir(l.clonesFolder)).sort()).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']); // the template stays in the state folder
  const state = await readBuildState(l.spec.stateDir, l.spec.name);
  for (const n of l.spec.nodes) expect(state.nodes[n.name]).toMatchObject({ step: 'power-on' });
  expect(state.readyAt).toBeDefined();
}

describe('killed mid-build, then run again', () => {
  it.each(APPLY_STEPS.map((step) => ({ step })))(
    'SIGKILL at $step converges with no duplicates',
    async ({ step }) => {
      // A slow clone so that a kill at "clone" lands while vmrest is still copying.
      lab = await startTestLab();
      const clusterFile = await writeClusterFile(lab);
      let stop: Parameters<typeof runChild>[2] = { step, signal: 'SIGKILL' };
      if (step === 'clone') {
        // The worst moment: vmrest made the clone but the reply never reached kubestation.
        lab.vmrest.injectFault({ operation: 'cloneVm', kind: 'hang', when: 'after', times: 1 });
        const sim = lab.vmrest;
        stop = { when: () => sim.callCount('cloneVm') >= 1 && lab!.nodeVms().length >= 1, signal: 'SIGKILL' };
      }
      const killed = await runChild(lab, clusterFile, stop);
      expect(killed.signal, `${killed.stderr}\n${JSON.stringify(killed.events.slice(-3))}`).toBe('SIGKILL');
      expect(killed.events.some((e) => e.type === 'result')).toBe(false);

      const again = await lab.build({}, { vmrest: lab.newClient() });
      expect(again.status).toBe('ready');
      await assertConverged(lab);
      // Never more clones than nodes, whatever the interruption.
      expect(lab.vmrest.callCount('cloneVm')).toBeLessThanOrEqual(3);
      if (step === 'clone') {
        // The clones the killed run had asked for finished without a marker: the re-run adopts them.
        const adopted = lab.events.filter(
          (e) => e.type === 'warning' && e.message.includes('adopted the clone'),
        );
        expect(adopted.length).toBeGreaterThan(0);
      }
    },
  );

  it('Ctrl-C (SIGINT) stops starting steps, saves state and exits 130; the next run finishes', async () => {
    lab = await startTestLab({ kubeApi: true });
    const clusterFile = await writeClusterFile(lab);
    const interrupted = await runChild(lab, clusterFile, { step: 'seed', signal: 'SIGINT' });
    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('progress is saved');
    expect(interrupted.events.at(-1)).toMatchObject({ type: 'result', status: 'interrupted' });
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(Object.values(state.nodes).every((n) => n.step !== 'power-on')).toBe(true);

    const finished = await runChild(lab, clusterFile);
    expect(finished.code).toBe(0);
    expect(finished.events.at(-1)).toMatchObject({ type: 'result', status: 'ready' });
    await assertConverged(lab);
  });
});
