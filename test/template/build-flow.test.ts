/**
 * The whole `build-template` flow against the vmrest simulator: a local image
 * server, a recording vdiskmanager stand-in, real files in a temporary state
 * folder, and (for the golden bake) a simulated guest that reads its seed ISO,
 * writes progress lines to the serial file and powers off.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProgressLine, type ProgressEvent } from '../../src/progress/protocol.js';
import { VmrestSimulator, type SimulatedGuest } from '../../simulators/vmrest-simulator.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';
import { buildTemplate, type TemplateBuildDeps } from '../../src/template/build.js';
import { readBuildState } from '../../src/bringup/state.js';
import {
  bakeGolden,
  canonicalImage,
  compareGoldenWithSpec,
  DEFAULT_BAKE_TIMEOUT_MS,
  describeDuration,
  describeGoldenComparison,
  goldenMatchesSpec,
} from '../../src/template/golden.js';
import { defaultVerifyImage } from '../../src/verify/workload.js';
import { addonImages } from '../../src/addons/catalog.js';
import { requireReadyTemplate } from '../../src/template/ready.js';
import { readTemplateState, templateStatePath } from '../../src/template/state.js';
import type { GoldenMarker } from '../../src/template/state.js';
import { VmrestClient } from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import {
  DISK_NAME,
  IMAGE_NAME,
  makeCloudImageOva,
  sha256,
  startImageServer,
  writeVdiskmanagerStandIn,
  type ImageServer,
} from './fixtures.js';

const USER = 'kube-admin';
const PASS = 'Zq8#vL2!pR9x';

type GuestScript = (guest: SimulatedGuest) => Promise<void>;

let dir: string;
let server: ImageServer;
let ova: Buffer;
let sim: VmrestSimulator;
let client: VmrestClient;
let spec: ClusterSpec;
let standIn: Awaited<ReturnType<typeof writeVdiskmanagerStandIn>>;
let guestScript: GuestScript | undefined;
let hookErrors: unknown[];
/** Rejects with the first error a guest script threw (a failed expect inside it), so a test sees it at once. */
let hookFailure: Promise<never>;
let logLines: string[];

async function labSpec(): Promise<ClusterSpec> {
  const text = await readFile(path.resolve('cluster.yaml'), 'utf8');
  const base = parseClusterSpec(text, { sourcePath: path.join(dir, 'cluster.yaml') });
  return {
    ...base,
    stateDir: path.join(dir, 'state dir'),
    vmware: {
      ...base.vmware,
      vmrestUrl: sim.url,
      template: {
        ...base.vmware.template,
        imageUrl: server.url(IMAGE_NAME),
        checksumsUrl: server.url('SHA256SUMS'),
      },
    },
  };
}

function deps(): TemplateBuildDeps {
  return {
    vmrest: client,
    log: (l) => logLines.push(l),
    vdiskmanagerPath: standIn.executable,
    http: { retryDelayMs: 10 },
  };
}

const imageRequests = () => server.requests.filter((r) => r.path.endsWith('.ova'));

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-template-'));
  ova = (await makeCloudImageOva(200 * 1024)).ova;
  server = await startImageServer(ova);
  hookErrors = [];
  let failHook!: (error: unknown) => void;
  hookFailure = new Promise<never>((_, reject) => (failHook = reject));
  hookFailure.catch(() => undefined); // only the tests that race it report it
  logLines = [];
  guestScript = undefined;
  sim = await VmrestSimulator.start({
    defaultVmFolder: path.join(dir, 'Virtual Machines'),
    username: USER,
    password: PASS,
    bootDelayMs: 10,
    onGuestBoot: async (guest) => {
      if (guestScript) await guestScript(guest);
    },
    onHookError: (e) => {
      hookErrors.push(e);
      failHook(e);
    },
  });
  client = new VmrestClient({
    baseUrl: sim.url,
    credentials: new VmrestCredentials(USER, PASS),
    pollIntervalMs: 10,
    retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10, maxTotalMs: 2000 },
  });
  standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
  spec = await labSpec();
});

afterEach(async () => {
  await client.close();
  await sim.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('build-template', () => {
  it('downloads, extracts, converts, grows, writes the .vmx and registers a powered-off template', async () => {
    const result = await buildTemplate(spec, deps());
    expect(result.ran).toEqual(['download', 'extract', 'convert', 'grow', 'vmx', 'register']);

    const vmFolder = path.join(spec.stateDir, 'template', 'vm');
    const vmxPath = path.join(vmFolder, 'kubestation-noble-template.vmx');
    const diskPath = path.join(vmFolder, 'kubestation-noble-template.vmdk');
    const converting = path.join(vmFolder, 'kubestation-noble-template.converting.vmdk');
    const extracted = path.join(spec.stateDir, 'template', 'work', DISK_NAME);
    expect(await standIn.calls()).toEqual([
      ['-r', extracted, '-t', '0', converting],
      ['-x', '100GB', converting],
    ]);
    expect(existsSync(diskPath)).toBe(true);
    expect(existsSync(extracted)).toBe(false); // the intermediate copy is not kept
    // What vdiskmanager did with the OVA's streamOptimized disk is recorded for a support bundle.
    expect(
      (await readBuildState(spec.stateDir, spec.name)).assumptions?.['vdiskmanager-converts-ova-disk'],
    ).toEqual({
      latest: {
        value: 'converted',
        detail: DISK_NAME,
        at: expect.stringMatching(/^\d{4}-.*Z$/),
        command: 'vmware-vdiskmanager -r <ova disk> -t 0 <template disk>',
      },
    });

    // Registered with vmrest, powered off.
    const vms = sim.vms();
    expect(vms).toHaveLength(1);
    expect(vms[0]).toMatchObject({ vmxPath, power: 'poweredOff' });
    expect(result.vmId).toBe(vms[0]!.id);

    // The .vmx on disk points at the converted disk and a serial log beside it.
    const vmx = VmxFile.parse(await readFile(vmxPath, 'utf8'));
    expect(vmx.get('scsi0:0.fileName')).toBe('kubestation-noble-template.vmdk');
    expect(vmx.get('displayName')).toBe('kubestation-noble-template');
    expect(vmx.get('numvcpus')).toBe(String(spec.controlPlane.cpus));
    expect(vmx.get('memsize')).toBe(String(spec.controlPlane.memoryMiB));
    expect(vmx.get('serial0.fileName')).toBe('serial0.log');
    expect(vmx.get('annotation')).toContain(sha256(ova).slice(0, 16));

    // template.json records what was built.
    const state = JSON.parse(await readFile(templateStatePath(spec), 'utf8')) as Record<string, any>;
    expect(state.formatVersion).toBe(1);
    expect(state.image).toMatchObject({
      url: server.url(IMAGE_NAME),
      checksumsUrl: server.url('SHA256SUMS'),
      fileName: IMAGE_NAME,
      path: path.join(spec.stateDir, 'template', 'cache', IMAGE_NAME),
      sha256: sha256(ova),
      bytes: ova.length,
      lastModified: 'Wed, 15 Jan 2025 10:00:00 GMT',
    });
    expect(state.disk).toMatchObject({ path: diskPath, sizeGiB: 100, imageSha256: sha256(ova) });
    expect(state.vm).toMatchObject({
      name: 'kubestation-noble-template',
      vmxPath,
      vmrestId: result.vmId,
      firmware: 'efi',
      virtualHwVersion: 20,
    });
    expect(typeof state.builtAt).toBe('string');
  });

  it('records a conversion vdiskmanager refused, and the build fails with its message', async () => {
    await writeFile(path.join(dir, 'VMware Workstation', 'fail'), '');
    await expect(buildTemplate(spec, deps())).rejects.toThrow(/vmware-vdiskmanager \(convert/);
    const observed = (await readBuildState(spec.stateDir, spec.name)).assumptions?.[
      'vdiskmanager-converts-ova-disk'
    ];
    expect(observed?.latest).toMatchObject({ value: 'failed' });
    expect(observed?.latest.detail).toContain('The file is locked');
  });

  it('skips every completed step on a re-run: no download, no conversion, no second registration', async () => {
    await buildTemplate(spec, deps());
    const requestsAfterFirst = server.requests.length;
    const callsAfterFirst = (await standIn.calls()).length;
    const registrations = sim.callCount('registerVm');

    const again = await buildTemplate(spec, deps());
    expect(again.ran).toEqual([]);
    expect(server.requests.length).toBe(requestsAfterFirst); // not even SHA256SUMS
    expect((await standIn.calls()).length).toBe(callsAfterFirst);
    expect(sim.callCount('registerVm')).toBe(registrations);
    expect(logLines.filter((l) => /already|up to date|is registered/.test(l))).toHaveLength(4);
  });

  it('only grows the disk when a node asks for more, and re-uses a verified image whose record was lost', async () => {
    await buildTemplate(spec, deps());
    const bigger = { ...spec, nodes: spec.nodes.map((n, i) => (i === 1 ? { ...n, diskGiB: 150 } : n)) };
    const grown = await buildTemplate(bigger, deps());
    expect(grown.ran).toEqual(['grow']);
    expect((await standIn.calls()).at(-1)).toEqual([
      '-x',
      '150GB',
      path.join(spec.stateDir, 'template', 'vm', 'kubestation-noble-template.vmdk'),
    ]);

    // template.json deleted, the verified image still in the cache: it is hashed, not downloaded again.
    await rm(templateStatePath(spec));
    const before = imageRequests().length;
    const rebuilt = await buildTemplate(bigger, deps());
    expect(imageRequests().length).toBe(before);
    expect(rebuilt.ran).toEqual(['extract', 'convert', 'grow']); // the .vmx already matches: left alone
  });

  it('refuses to touch a template that is powered on', async () => {
    const first = await buildTemplate(spec, deps());
    await client.setPowerState(first.vmId, 'on');
    await expect(buildTemplate(spec, deps())).rejects.toMatchObject({ code: 'TEMPLATE_NOT_POWERED_OFF' });
  });

  it('tells build-vms whether the template is ready to clone', async () => {
    await expect(requireReadyTemplate(spec, client)).rejects.toMatchObject({ code: 'TEMPLATE_NOT_BUILT' });
    const built = await buildTemplate(spec, deps());
    const ready = await requireReadyTemplate(spec, client);
    expect(ready).toMatchObject({ id: built.vmId, vmxPath: built.state.vm!.vmxPath, golden: undefined });
    await client.setPowerState(built.vmId, 'on');
    await expect(requireReadyTemplate(spec, client)).rejects.toMatchObject({
      code: 'TEMPLATE_NOT_POWERED_OFF',
    });
  });
});

function markerFor(s: ClusterSpec, version: string): GoldenMarker {
  return {
    formatVersion: 1,
    bakedAt: '2026-09-01T00:00:00Z',
    kubernetes: {
      minor: s.kubernetes.minor,
      version,
      packages: { kubelet: `${version}-1.1`, kubeadm: `${version}-1.1`, kubectl: `${version}-1.1` },
    },
    containerd: { package: 'containerd', version: '2.2.1-0ubuntu1~24.04.3' },
    cni: {
      name: s.kubernetes.cni.name,
      version: s.kubernetes.cni.version,
      manifests: s.kubernetes.cni.manifestUrls.map((url, i) => ({
        url,
        file: `${i + 1}-${path.basename(url)}`,
        sha256: 'a'.repeat(64),
      })),
    },
    images: [
      'registry.k8s.io/kube-apiserver:v' + version,
      'ghcr.io/flannel-io/flannel:' + s.kubernetes.cni.version,
      defaultVerifyImage,
      ...addonImages(s).map(canonicalImage),
    ],
    imageDigests: {
      ['registry.k8s.io/kube-apiserver:v' + version]: 'sha256:' + '1'.repeat(64),
      ['ghcr.io/flannel-io/flannel:' + s.kubernetes.cni.version]: 'sha256:' + '2'.repeat(64),
      [defaultVerifyImage]: 'sha256:' + '3'.repeat(64),
      ...Object.fromEntries(addonImages(s).map((i) => [canonicalImage(i), 'sha256:' + '4'.repeat(64)])),
    },
  };
}

/** A progress line as the bake's guest prints it (node "template"), with CRLF as a serial console has. */
function line(stage: string, event: ProgressEvent, message = ''): string {
  return `${formatProgressLine({ node: 'template', stage, event, timeMs: 1_788_000_000_000, message })}\r\n`;
}

/** What the bake seed's guest does, condensed: read the seed, report stages, report the marker, power off. */
function bakingGuest(marker: GoldenMarker, seen: { userData?: string; isoPath?: string }): GuestScript {
  return async (guest) => {
    const vmx = await guest.readVmx();
    const iso = vmx.get('sata0:1.fileName')!;
    seen.isoPath = iso;
    expect(vmx.get('sata0:1.startConnected')).toBe('TRUE');
    // Read the seed the way a guest would: from the ISO's file system (xorriso).
    const out = path.join(dir, 'seen-user-data');
    await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/user-data', out]);
    seen.userData = await readFile(out, 'utf8');
    const label = await execa('blkid', ['-o', 'value', '-s', 'LABEL', iso]);
    expect(label.stdout.trim()).toBe('cidata');
    await guest.writeSerial('[    0.000000] Linux version 6.8.0-51-generic\r\n');
    await guest.writeSerial(line('packages', 'start'));
    await guest.writeSerial(
      `${line('packages', 'ok', `kubeadm ${marker.kubernetes.version}`)}[   42.1] cloud-init[901]: apt noise\n${line('images', 'start')}`,
    );
    // A line cut by console noise is dropped, not misread.
    await guest.writeSerial(
      `${line('images', 'ok', '9 images').replace('9 images', '9 ima[  50.0] noise')}${line('images', 'ok', '9 images')}`,
    );
    await guest.writeSerial(
      `${line('golden', 'start')}${line('golden', 'ok', JSON.stringify(marker))}${line('seal', 'start')}${line('complete', 'done')}`,
    );
    setTimeout(() => guest.powerOff(), 30);
  };
}

describe('build-template: the golden bake', () => {
  it('boots the template with the bake seed, follows the serial console, records the marker and detaches the ISO', async () => {
    await buildTemplate(spec, deps());
    const marker = markerFor(spec, '1.37.2');
    const seen: { userData?: string; isoPath?: string } = {};
    guestScript = bakingGuest(marker, seen);

    // No short bound: the guest powers off by itself, however long xorriso and blkid take on a loaded machine.
    const result = await Promise.race([
      bakeGolden(spec, { vmrest: client, log: (l) => logLines.push(l), pollIntervalMs: 10 }),
      hookFailure,
    ]);
    expect(hookErrors).toEqual([]);
    expect(result).toEqual({ marker, skipped: false });
    expect(seen.userData).toMatch(/^#cloud-config/);
    expect(seen.userData).toContain('/usr/local/sbin/kubestation-bake');

    const state = await readTemplateState(spec);
    expect(state.golden).toEqual({ ...marker, imageSha256: sha256(ova) });
    expect(goldenMatchesSpec(state, spec)).toBe(true);
    expect(logLines).toEqual(
      expect.arrayContaining([
        'golden: packages start',
        'golden: images ok (9 images)',
        'golden: ok, /etc/kubestation/golden.json written',
      ]),
    );

    const vmx = VmxFile.parse(await readFile(state.vm!.vmxPath, 'utf8'));
    expect(vmx.get('sata0:1.fileName')).toBe('');
    expect(vmx.get('sata0:1.startConnected')).toBe('FALSE');
    expect(existsSync(seen.isoPath!)).toBe(false);
    expect(sim.vms()[0]!.power).toBe('poweredOff');
    const ready = await requireReadyTemplate(spec, client);
    expect(ready.golden).toEqual({ ...marker, imageSha256: sha256(ova) });

    // A second run with the same spec does not boot the template again.
    const powerOns = sim.requestLog.filter((e) => e.operation === 'setPowerState').length;
    const again = await bakeGolden(spec, { vmrest: client, log: () => {}, pollIntervalMs: 10 });
    expect(again.skipped).toBe(true);
    expect(sim.requestLog.filter((e) => e.operation === 'setPowerState').length).toBe(powerOns);
    // ...but a different pinned patch or CNI release does not match.
    expect(goldenMatchesSpec(state, { ...spec, kubernetes: { ...spec.kubernetes, patch: '1.37.3' } })).toBe(
      false,
    );
    expect(goldenMatchesSpec(state, { ...spec, kubernetes: { ...spec.kubernetes, minor: '1.36' } })).toBe(
      false,
    );
    // What differs and what a first boot then downloads, as validate and the build-vms plan say it.
    expect(describeGoldenComparison(compareGoldenWithSpec(state, spec))).toBe(
      'the golden template matches cluster.yaml: a first boot downloads nothing',
    );
    const otherCni = { ...spec.kubernetes, cni: { ...spec.kubernetes.cni, version: 'v0.29.0' } };
    expect(describeGoldenComparison(compareGoldenWithSpec(state, { ...spec, kubernetes: otherCni }))).toBe(
      `the template holds flannel ${spec.kubernetes.cni.version}, cluster.yaml asks for flannel v0.29.0: every node downloads the control-plane and CNI images (about 2 minutes per node), the CNI manifests at first boot`,
    );
    const olderBake = {
      ...state,
      golden: { ...state.golden!, cni: { name: 'flannel', version: spec.kubernetes.cni.version } },
    };
    expect(compareGoldenWithSpec(olderBake, spec).map((d) => d.downloads)).toEqual([['cni']]);
  });

  it('reports the failing stage with the guest log lines and leaves no marker and no ISO', async () => {
    await buildTemplate(spec, deps());
    guestScript = async (guest) => {
      await guest.writeSerial(line('packages', 'start'));
      await guest.writeSerial(
        line(
          'packages',
          'fail',
          'exit status 100 at bake.sh line 70 | last log lines:\nE: Unable to locate package kubeadm\nE: Unable to locate package kubelet',
        ),
      );
      setTimeout(() => guest.powerOff(), 20);
    };
    const error = await Promise.race([
      bakeGolden(spec, { vmrest: client, log: () => {}, pollIntervalMs: 10 }),
      hookFailure,
    ]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAKE_FAILED' });
    const message = (error as Error).message;
    expect(message).toContain('stage packages');
    expect(message).toContain('exit status 100');
    expect(message).toContain('Unable to locate package kubeadm');
    const state = await readTemplateState(spec);
    expect(state.golden).toBeUndefined();
    const vmx = VmxFile.parse(await readFile(state.vm!.vmxPath, 'utf8'));
    expect(vmx.get('sata0:1.fileName')).toBe('');
    expect(existsSync(path.join(spec.stateDir, 'template', 'vm', 'kubestation-bake.iso'))).toBe(false);
  });

  it('powers the template off and says so when the bake never finishes', async () => {
    await buildTemplate(spec, deps());
    guestScript = async (guest) => {
      await guest.writeSerial(line('packages', 'start'));
    };
    // The bake's own clock runs a minute per reading, so its default bound passes after a few dozen polls.
    let minutes = 0;
    const now = () => new Date(Date.UTC(2026, 0, 1) + minutes++ * 60_000);
    const error = await bakeGolden(spec, { vmrest: client, log: () => {}, pollIntervalMs: 10, now }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'BAKE_TIMEOUT' });
    expect((error as Error).message).toContain(
      `did not power off the template within ${DEFAULT_BAKE_TIMEOUT_MS / 60_000} minutes`,
    );
    expect(sim.vms()[0]!.power).toBe('poweredOff');
    const vmx = VmxFile.parse(await readFile((await readTemplateState(spec)).vm!.vmxPath, 'utf8'));
    expect(vmx.get('sata0:1.startConnected')).toBe('FALSE');
  });

  it('says the bake seed stays attached when it cannot tell the template is off', async () => {
    await buildTemplate(spec, deps());
    // Once the template runs, vmrest stops answering power-state reads.
    guestScript = async (guest) => {
      await guest.writeSerial(line('packages', 'start'));
      sim.injectFault({ operation: 'getPowerState', kind: 'status', status: 500, times: Infinity });
    };
    const logged: string[] = [];
    const error = await bakeGolden(spec, {
      vmrest: client,
      log: (l) => logged.push(l),
      pollIntervalMs: 10,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    const vmxPath = (await readTemplateState(spec)).vm!.vmxPath;
    expect(logged.join('\n')).toContain(
      `golden: the bake seed stays attached to ${vmxPath}: the template is in an unknown power state (`,
    );
    expect(logged.join('\n')).toContain('run `.\\kubestation build-template` again, which detaches it');
    expect(VmxFile.parse(await readFile(vmxPath, 'utf8')).get('sata0:1.startConnected')).toBe('TRUE');
    sim.clearFaults();
  });

  it('does not record a bake whose marker is unusable, and still detaches the seed', async () => {
    await buildTemplate(spec, deps());
    guestScript = async (guest) => {
      await guest.writeSerial(
        `${line('golden', 'ok', '{"formatVersion":1,"kubernetes":{}}')}${line('complete', 'done')}`,
      );
      setTimeout(() => guest.powerOff(), 20);
    };
    const error = await Promise.race([
      bakeGolden(spec, { vmrest: client, log: () => {}, pollIntervalMs: 10 }),
      hookFailure,
    ]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'BAKE_NO_MARKER' });
    expect((error as Error).message).toContain('incomplete');
    expect((await readTemplateState(spec)).golden).toBeUndefined();
    expect(existsSync(path.join(spec.stateDir, 'template', 'vm', 'kubestation-bake.iso'))).toBe(false);
  });

  it('states its bound in units a user reads, never "0 minutes"', () => {
    expect(describeDuration(400)).toBe('400 ms');
    expect(describeDuration(10_000)).toBe('10 seconds');
    expect(describeDuration(90_000)).toBe('90 seconds');
    expect(describeDuration(DEFAULT_BAKE_TIMEOUT_MS)).toBe(`${DEFAULT_BAKE_TIMEOUT_MS / 60_000} minutes`);
  });

  it('refuses to bake before the template exists', async () => {
    await expect(bakeGolden(spec, { vmrest: client, log: () => {} })).rejects.toMatchObject({
      code: 'TEMPLATE_NOT_BUILT',
    });
  });
});
