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
import {
  VmrestSimulator,
  type SimulatedGuest,
  type VmrestSimulatorOptions,
} from '../../simulators/vmrest-simulator.js';
import { simulatedGoldenMarker } from '../../simulators/simulated-lab.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { formatProgressLine, type ProgressEvent } from '../../src/progress/protocol.js';
import { loadClusterSpec } from '../../src/config/load.js';
import type { PromptFunction } from '../../src/vmrest/credentials.js';
import { PreflightError } from '../../src/bringup/preflight.js';
import { loadOrCreateClusterSecrets } from '../../src/pki/index.js';
import { KubeApiSimulator } from '../../simulators/kube-api-simulator.js';
import { healthyScenarioFor } from '../../simulators/simulated-verify.js';
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
let kubeApi: KubeApiSimulator | undefined;

/**
 * The template's boot with the bake seed (`up` bakes by default), condensed: the guest reports a finished
 * bake with the marker a bake for `spec` writes, then powers itself off.
 */
async function bakeTemplate(guest: SimulatedGuest, spec: ClusterSpec): Promise<void> {
  const line = (stage: string, event: ProgressEvent, message = ''): string =>
    `${formatProgressLine({ node: 'template', stage, event, timeMs: Date.now(), message })}\r\n`;
  await guest.writeSerial(
    `${line('golden', 'start')}${line('golden', 'ok', JSON.stringify(simulatedGoldenMarker(spec)))}${line('complete', 'done')}`,
  );
  setTimeout(() => guest.powerOff(), 20);
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-up-'));
  server = await startImageServer((await makeCloudImageOva(64 * 1024)).ova);
});
afterEach(async () => {
  guests?.stop();
  await sim?.close();
  await kubeApi?.close();
  kubeApi = undefined;
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
    const spec = await loadClusterSpec(clusterFile);
    // The cluster's API server (build-vms applies the add-ons through it), trusting the CA build-vms uses.
    const { ca } = await loadOrCreateClusterSecrets({
      stateDir: spec.stateDir,
      clusterName: spec.name,
      apiEndpoint: spec.kubernetes.apiEndpoint,
    });
    kubeApi = await KubeApiSimulator.start({ scenario: healthyScenarioFor(spec), ca });
    // Clones land where Workstation's preferences say; kubestation reads them from the user's profile.
    const env = { HOME: dir, KUBESTATION_API_SERVER: kubeApi.url };
    await writeWorkstationPreferences(env, vmFolder, { platform: 'linux' });
    guests = new GuestSimulator({ spec });
    sim = await VmrestSimulator.start({
      defaultVmFolder: vmFolder,
      username: USER,
      password: PASS,
      port,
      bootDelayMs: 5,
      onGuestBoot: (guest) =>
        guest.name === spec.vmware.template.name ? bakeTemplate(guest, spec) : guests!.onGuestBoot(guest),
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
    // The template is baked (the default) before the cluster is built from it.
    expect(first.out).toContain('golden: ok, /etc/kubestation/golden.json written');
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

describe('kubestation up: checks that cannot wait for the download', () => {
  /**
   * `up` on a host whose vmrest is `vmrest` ('down': nothing listens on its port): the cluster file names the
   * image server of this test, so any download would show in its request log.
   */
  async function upOn(
    vmrest: 'down' | { password: string; vmnets?: VmrestSimulatorOptions['vmnets'] },
    argv: string[] = [],
  ): Promise<{ error: unknown; calls: string[][]; out: string; questions: string[] }> {
    const vmFolder = path.join(dir, 'Virtual Machines');
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
    const probe = await VmrestSimulator.start({ defaultVmFolder: vmFolder, username: USER, password: PASS });
    const port = Number(new URL(probe.url).port);
    await probe.close();
    if (vmrest !== 'down') {
      sim = await VmrestSimulator.start({
        defaultVmFolder: vmFolder,
        username: USER,
        password: PASS,
        port,
        ...(vmrest.vmnets ? { vmnets: vmrest.vmnets } : {}),
      });
    }
    const clusterFile = await writeTemplateCluster(dir, {
      vmrestUrl: probe.url,
      installFolder: path.dirname(standIn.executable),
      server,
    });
    const out = captureOutput();
    const questions: string[] = [];
    // With vmrest down the credentials come from nowhere: asking for them is a mistake the prompt records.
    const env =
      vmrest === 'down'
        ? { HOME: dir }
        : { HOME: dir, VMREST_USERNAME: USER, VMREST_PASSWORD: vmrest.password };
    const error = await runUp(
      {
        argv: ['--cluster', clusterFile, ...argv],
        stdout: out.stream,
        stderr: captureOutput().stream,
        env,
        cwd: dir,
      },
      { prompt: async (question) => (questions.push(question), 'typed') },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, calls: await standIn.calls(), out: out.text(), questions };
  }

  it('stops before the image download when vmrest is not running', async () => {
    const { error, calls, questions } = await upOn('down');
    expect(questions).toEqual([]);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as PreflightError).problems.map((p) => p.code)).toEqual(['VMREST_NOT_RUNNING']);
    expect((error as Error).message).toContain('nothing was created or changed');
    expect(server.requests).toEqual([]);
    expect(calls).toEqual([]);
  });

  it('up --dry-run with vmrest not running plans from the state folder, asking for nothing', async () => {
    const { error, out, questions } = await upOn('down', ['--dry-run']);
    expect(error).toBeUndefined();
    expect(questions).toEqual([]);
    expect(out).toContain('so this plan comes from cluster.yaml and');
    expect(out).toMatch(/k8s-master +create: clone the template/);
    expect(server.requests).toEqual([]);
  });

  it('stops before the image download when vmrest refuses the credentials', async () => {
    const { error, calls } = await upOn({ password: 'not-the-password' });
    expect((error as PreflightError).problems.map((p) => p.code)).toEqual(['VMREST_AUTH']);
    expect((error as Error).message).not.toContain('not-the-password');
    expect(server.requests).toEqual([]);
    expect(calls).toEqual([]);
    expect(sim!.vms()).toEqual([]);
  });

  it('stops before the image download when a host network is not as cluster.yaml says', async () => {
    const { error, calls } = await upOn({
      password: PASS,
      vmnets: [
        { name: 'vmnet1', type: 'hostOnly', dhcp: 'true', subnet: '192.168.80.0', mask: '255.255.255.0' },
        { name: 'vmnet8', type: 'nat', dhcp: 'true', subnet: '192.168.5.0', mask: '255.255.255.0' },
      ],
    });
    expect((error as PreflightError).problems.map((p) => p.code)).toEqual(['VMNET_MISMATCH']);
    expect((error as Error).message).toContain('vmnet1 is hostOnly on 192.168.80.0/255.255.255.0');
    expect(server.requests).toEqual([]);
    expect(calls).toEqual([]);
  });
});
