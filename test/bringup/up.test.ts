/**
 * `kubestation up` in-process against the vmrest simulator: the real template
 * build (image server, vdiskmanager stand-in) and then build-vms (simulated
 * guests on the clones), with one vmrest credentials resolution per run.
 */
import { writeWorkstationPreferences } from '../../simulators/workstation-preferences.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runUp } from '../../src/commands/up.js';
import { GuestSimulator } from '../../simulators/guest-simulator.js';
import { VmrestSimulator } from '../../simulators/vmrest-simulator.js';
import { loadClusterSpec } from '../../src/config/load.js';
import type { PromptFunction } from '../../src/vmrest/credentials.js';
import {
  captureOutput,
  IMAGE_NAME,
  makeCloudImageOva,
  startImageServer,
  writeTemplateCluster,
  writeVdiskmanagerStandIn,
  type ImageServer,
} from '../template/fixtures.js';

const USER = 'kube-admin';
const PASS = 'Up7#nB4!wQ2z';

let dir: string;
let server: ImageServer;
let sim: VmrestSimulator | undefined;
let guests: GuestSimulator | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-up-'));
  server = await startImageServer((await makeCloudImageOva(64 * 1024)).ova);
});
afterEach(async () => {
  guests?.stop();
  await sim?.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('kubestation up', () => {
  it('asks for the credentials once, builds the template and then the cluster; a second run does nothing', async () => {
    const vmFolder = path.join(dir, 'Virtual Machines');
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
    // The cluster file names the simulator's URL, so the port is taken first with a throwaway start.
    const probe = await VmrestSimulator.start({ defaultVmFolder: vmFolder, username: USER, password: PASS });
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const clusterFile = await writeTemplateCluster(dir, {
      vmrestUrl: probe.url,
      installFolder: path.dirname(standIn.executable),
      server,
    });
    // Clones land where Workstation's preferences say; kubestation reads them from the user's profile.
    const env = { HOME: dir };
    await writeWorkstationPreferences(env, vmFolder, { platform: 'linux' });
    const spec = await loadClusterSpec(clusterFile);
    guests = new GuestSimulator({ spec });
    sim = await VmrestSimulator.start({
      defaultVmFolder: vmFolder,
      username: USER,
      password: PASS,
      port,
      bootDelayMs: 5,
      onGuestBoot: guests.onGuestBoot,
    });

    const questions: string[] = [];
    const prompt: PromptFunction = async (question, { secret }) => {
      questions.push(question);
      return secret ? PASS : USER;
    };
    const up = async (): Promise<{ code: number; out: string; err: string }> => {
      const out = captureOutput();
      const err = captureOutput();
      const code = await runUp(
        {
          argv: ['--cluster', clusterFile, '--skip-verify'],
          stdout: out.stream,
          stderr: err.stream,
          env,
          cwd: dir,
        },
        { prompt },
      );
      return { code, out: out.text(), err: err.text() };
    };

    const first = await up();
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(questions).toEqual(['vmrest username: ', 'vmrest password: ']); // one resolution for both steps
    const templateReady = first.out.indexOf('template kubestation-noble-template is ready: ');
    const clusterReady = first.out.indexOf(`cluster ${spec.name} is ready (verify skipped)`);
    expect(templateReady).toBeGreaterThanOrEqual(0);
    expect(clusterReady).toBeGreaterThan(templateReady);
    const vms = sim
      .vms()
      .map((vm) => path.basename(vm.vmxPath))
      .sort();
    expect(vms).toEqual([
      'k8s-master.vmx',
      'k8s-worker1.vmx',
      'k8s-worker2.vmx',
      'kubestation-noble-template.vmx',
    ]);
    expect(sim.vms().filter((vm) => vm.power === 'poweredOn')).toHaveLength(3);
    expect(first.out).not.toContain(PASS);

    questions.length = 0;
    const downloads = server.requests.length;
    const diskCalls = (await standIn.calls()).length;
    const exchanges = sim.requestLog.length;
    const second = await up();
    expect(second.code).toBe(0);
    expect(questions).toEqual(['vmrest username: ', 'vmrest password: ']);
    expect(second.out).toContain('template kubestation-noble-template is up to date (nothing to do)\n');
    expect(second.out).toContain(`cluster ${spec.name} is ready`);
    expect(server.requests.slice(downloads).filter((r) => r.path.includes(IMAGE_NAME))).toEqual([]);
    expect((await standIn.calls()).length).toBe(diskCalls);
    // Nothing created, configured or powered: only reads (and finish's detach request to running VMs).
    const changes = sim.requestLog
      .slice(exchanges)
      .filter((e) => e.method !== 'GET' && e.operation !== 'setVmParam');
    expect(changes).toEqual([]);
    expect(sim.vms()).toHaveLength(4);
  });
});
