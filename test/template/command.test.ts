/**
 * `kubestation build-template` as the CLI runs it: cluster.yaml on disk,
 * vmrest credentials from the environment, Workstation found through
 * vmware.installFolder (holding the vdiskmanager stand-in).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { VmrestSimulator, type SimulatedGuest } from '../../simulators/vmrest-simulator.js';
import {
  captureOutput,
  IMAGE_NAME,
  makeCloudImageOva,
  startImageServer,
  writeTemplateCluster,
  writeVdiskmanagerStandIn,
  type ImageServer,
} from './fixtures.js';

const USER = 'kube-admin';
const PASS = 'Zq8#vL2!pR9x';

let dir: string;
let server: ImageServer;
let sim: VmrestSimulator;
/** What the template's guest does when the bake boots it; default: nothing (never booted in these tests). */
let guestScript: ((guest: SimulatedGuest) => void) | undefined;

beforeEach(async () => {
  guestScript = undefined;
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-cmd-'));
  server = await startImageServer((await makeCloudImageOva(64 * 1024)).ova);
  sim = await VmrestSimulator.start({
    defaultVmFolder: path.join(dir, 'Virtual Machines'),
    username: USER,
    password: PASS,
    onGuestBoot: (guest) => guestScript?.(guest),
  });
});
afterEach(async () => {
  await sim.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function writeCluster(installFolder: string): Promise<string> {
  return writeTemplateCluster(dir, { vmrestUrl: sim.url, installFolder, server });
}

describe('kubestation build-template', () => {
  it('builds the template from cluster.yaml, printing steps and plain progress lines, and finds nothing to do the second time', async () => {
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
    const cluster = await writeCluster(path.dirname(standIn.executable));
    const env = { VMREST_USERNAME: USER, VMREST_PASSWORD: PASS };
    const out = captureOutput();
    const err = captureOutput();
    const code = await main(['build-template', '--no-golden', '--cluster', cluster], {
      stdout: out.stream,
      stderr: err.stream,
      env,
      cwd: dir,
    });
    expect(err.text()).toBe('');
    expect(code).toBe(0);
    const text = out.text();
    expect(text).not.toContain('\r'); // not a TTY: no redraws
    expect(text).toContain(`image: downloading ${server.url(IMAGE_NAME)}`);
    expect(text).toMatch(/noble-server-cloudimg-amd64\.ova {2}\[#{24}\] 100%/);
    expect(text).toContain('template kubestation-noble-template is ready: ');
    expect(text).toContain(path.join(dir, '.kubestation', 'template', 'template.json'));
    expect(await standIn.calls()).toHaveLength(2);

    const again = captureOutput();
    expect(
      await main(['build-template', '--no-golden', '--cluster', cluster], {
        stdout: again.stream,
        stderr: err.stream,
        env,
        cwd: dir,
      }),
    ).toBe(0);
    expect(again.text()).toContain('already downloaded and verified');
    expect(again.text()).not.toContain('downloading');
    expect(again.text()).toContain('template kubestation-noble-template is up to date (nothing to do)\n');
    expect(again.text()).not.toContain('is ready');
    expect(await standIn.calls()).toHaveLength(2);
    // --no-golden: the template was never booted.
    expect(sim.requestLog.filter((e) => e.operation === 'setPowerState')).toEqual([]);
  });

  it('bakes the template by default: boots it with the bake seed (here a guest that powers off without baking)', async () => {
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
    const cluster = await writeCluster(path.dirname(standIn.executable));
    const env = { VMREST_USERNAME: USER, VMREST_PASSWORD: PASS };
    let seedAtBoot = '';
    guestScript = (guest) => {
      void guest.readVmx().then((vmx) => {
        seedAtBoot = vmx.get('sata0:1.fileName') ?? '';
        setTimeout(() => guest.powerOff(), 20);
      });
    };
    const out = captureOutput();
    const err = captureOutput();
    const code = await main(['build-template', '--cluster', cluster], {
      stdout: out.stream,
      stderr: err.stream,
      env,
      cwd: dir,
    });
    expect(out.text()).toContain(
      'golden: booting kubestation-noble-template with the bake seed (Kubernetes 1.37, flannel',
    );
    expect(path.basename(seedAtBoot)).toBe('kubestation-bake.iso');
    expect(code).toBe(1);
    expect(err.text()).toContain('The template powered off without reporting a finished bake');

    const both = captureOutput();
    expect(
      await main(['build-template', '--golden', '--no-golden', '--cluster', cluster], {
        stdout: captureOutput().stream,
        stderr: both.stream,
        env,
        cwd: dir,
      }),
    ).toBe(1);
    expect(both.text()).toContain('--golden and --no-golden contradict each other.');
  });

  it('says where to set the Workstation folder when vdiskmanager is not there', async () => {
    const cluster = await writeCluster(path.join(dir, 'no workstation here'));
    const err = captureOutput();
    const code = await main(['build-template', '--cluster', cluster], {
      stdout: captureOutput().stream,
      stderr: err.stream,
      env: { VMREST_USERNAME: USER, VMREST_PASSWORD: PASS },
      cwd: dir,
    });
    expect(code).toBe(1);
    expect(err.text()).toContain('vmware.installFolder in cluster.yaml is');
    expect(err.text()).toContain('fix: Set vmware.installFolder');
    expect(server.requests).toEqual([]); // found out before downloading anything
  });
});
