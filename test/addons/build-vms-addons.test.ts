/**
 * build-vms with the add-ons (a stand-in catalogue, see fixtures.ts) against the simulated lab and its
 * fake API server: applied once the nodes finished their first boot and before verify, shown per add-on,
 * converging on a second run over the built lab, and a failing add-on ending the build failed with its
 * name, what it waited for and why, the nodes left as they are.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AddonApplyError } from '../../src/addons/apply.js';
import { apiAddonApplier } from '../../src/bringup/addons-step.js';
import type { BuildEvent } from '../../src/bringup/ports.js';
import { readBuildState } from '../../src/bringup/state.js';
import { createBuildView } from '../../src/bringup/view.js';
import { captureOutput } from '../template/fixtures.js';
import { startTestLab, type TestLab } from '../bringup/lab.js';
import { specWithAddons, TEST_RELEASES, testManifests } from './fixtures.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

function applier(l: TestLab, availableMs = 3000, nodesReadyMs = 3000) {
  return apiAddonApplier({
    server: l.kubeApi!.url,
    timeouts: { establishedMs: 3000, availableMs },
    nodesReadyMs,
    intervalMs: 20,
    releases: TEST_RELEASES,
    manifests: testManifests,
  });
}

const addonEvents = (events: BuildEvent[]) =>
  events.filter((e): e is Extract<BuildEvent, { type: 'addon' }> => e.type === 'addon');

describe('build-vms applies the add-ons', () => {
  it('after the first boots and before verify; a second run over the built lab changes nothing', async () => {
    lab = await startTestLab({ kubeApi: true, spec: specWithAddons() });
    const verified: number[] = [];
    const verify = async () => {
      verified.push(lab!.events.length);
      return { summary: 'verify passed: stand-in' };
    };
    const first = await lab.build({}, { addons: applier(lab), verify });
    expect(first.status).toBe('ready');
    const events = lab.events;
    const lastBoot = events.findLastIndex((e) => e.type === 'stage' && e.event === 'done');
    const firstAddon = events.findIndex((e) => e.type === 'addon');
    const lastAddon = events.findLastIndex((e) => e.type === 'addon');
    expect(lastBoot).toBeGreaterThanOrEqual(0);
    expect(firstAddon).toBeGreaterThan(lastBoot);
    expect(verified[0]).toBeGreaterThan(lastAddon);
    expect(
      addonEvents(events)
        .filter((e) => e.phase === 'ready')
        .map((e) => e.addon),
    ).toEqual(['loadBalancer', 'storage', 'metrics', 'gateway']);

    const rv = () =>
      lab!
        .kubeApi!.allObjects()
        .filter((o) => o.metadata.labels?.['kubestation.io/addon'])
        .map((o) => `${o.kind}/${o.metadata.name}@${o.metadata.resourceVersion}`)
        .sort();
    const before = rv();
    lab.events.length = 0;
    const second = await lab.build({}, { addons: applier(lab), verify });
    expect(second.status).toBe('ready');
    expect(rv()).toEqual(before);
    // The nodes were not touched: no clone, no power change.
    expect(lab.events.filter((e) => e.type === 'step' && e.phase === 'start')).toEqual([]);
    expect(addonEvents(lab.events).filter((e) => e.phase === 'ready')).toHaveLength(4);
  });

  it('a failing add-on ends the build failed, naming it; verify does not run; the kubeconfig is written', async () => {
    lab = await startTestLab({
      kubeApi: true,
      spec: specWithAddons(),
      kubeApiScenario: (healthy) => ({
        ...healthy,
        stalledWorkloads: ['local-path-storage/local-path-provisioner'],
      }),
    });
    let verifyRan = false;
    const error = await lab
      .build(
        {},
        {
          addons: applier(lab, 500),
          verify: async () => {
            verifyRan = true;
            return { summary: '' };
          },
        },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AddonApplyError);
    expect((error as Error).message).toContain(
      'add-on storage (local-path-provisioner) failed waiting for Deployment local-path-storage/local-path-provisioner to be available',
    );
    expect((error as Error).message).toContain('0 of 1 available');
    expect(verifyRan).toBe(false);
    expect(addonEvents(lab.events).map((e) => `${e.addon}:${e.phase}`)).toContain('storage:failed');
    expect(addonEvents(lab.events).some((e) => e.addon === 'metrics')).toBe(false);
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    expect(state.readyAt).toBeUndefined();
    expect(existsSync(path.join(lab.spec.stateDir, 'admin.kubeconfig'))).toBe(true);
  });

  it('waits (bounded) for every node to be Ready first, and says the add-ons were not applied when one is not', async () => {
    lab = await startTestLab({
      kubeApi: true,
      spec: specWithAddons(),
      kubeApiScenario: (healthy) => ({
        ...healthy,
        nodes: healthy.nodes.map((n) => (n.name === 'k8s-worker2' ? { ...n, ready: false } : n)),
      }),
    });
    const error = (await lab
      .build({}, { addons: applier(lab, 3000, 300) })
      .catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(
      /^the add-ons were not applied: timed out after \d+ s waiting for .*to be Ready/,
    );
    expect(error.message).toContain('not Ready yet: k8s-worker2');
    expect(addonEvents(lab.events)).toEqual([]);
    expect(lab.kubeApi!.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  it('the view: a row per add-on on a terminal, a line per step when plain, the events in --json', () => {
    const spec = specWithAddons();
    const events: BuildEvent[] = [
      {
        type: 'addon',
        addon: 'loadBalancer',
        component: 'MetalLB',
        phase: 'applying',
        message: 'applying 9 objects',
      },
      {
        type: 'addon',
        addon: 'loadBalancer',
        component: 'MetalLB',
        phase: 'waiting',
        message: 'waiting for Deployment metallb-system/controller to be available',
      },
      { type: 'addon', addon: 'loadBalancer', component: 'MetalLB', phase: 'ready', message: 'ready' },
      {
        type: 'addon',
        addon: 'metrics',
        component: 'metrics-server',
        phase: 'warning',
        message: 'left certificate request csr-1 of k8s-worker2 pending: it asks for IP address 10.0.0.9',
      },
      {
        type: 'addon',
        addon: 'metrics',
        component: 'metrics-server',
        phase: 'failed',
        message: 'waiting for Deployment kube-system/metrics-server to be available: timed out',
      },
    ];
    const plain = captureOutput();
    const view = createBuildView(spec, 'plain', plain.stream);
    for (const e of events) view.emit(e);
    view.close();
    expect(plain.text()).toBe(
      [
        'add-on loadBalancer (MetalLB): applying 9 objects',
        'add-on loadBalancer (MetalLB): waiting for Deployment metallb-system/controller to be available',
        'add-on loadBalancer (MetalLB): ready',
        'warning: add-on metrics (metrics-server): left certificate request csr-1 of k8s-worker2 pending: it asks for IP address 10.0.0.9',
        'add-on metrics (metrics-server) FAILED: waiting for Deployment kube-system/metrics-server to be available: timed out',
        '',
      ].join('\n'),
    );

    const tty = captureOutput();
    const live = createBuildView(spec, 'tty', tty.stream);
    live.emit({
      type: 'plan',
      nodes: spec.nodes.map((n) => ({ node: n.name, status: 'complete', actions: [] })),
    });
    for (const e of events.slice(0, 3)) live.emit(e);
    live.close();
    expect(tty.text()).toMatch(/loadBalancer +add-on +ready +MetalLB/);

    const json = captureOutput();
    const jsonView = createBuildView(spec, 'json', json.stream);
    jsonView.emit(events[1]!);
    expect(JSON.parse(json.text())).toMatchObject({ type: 'addon', addon: 'loadBalancer', phase: 'waiting' });
  });
});
