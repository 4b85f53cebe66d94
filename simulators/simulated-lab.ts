/**
 * A whole lab without VMware, for `build-vms --simulate`, the tests and the
 * benchmark: the vmrest simulator with a template VM in a temporary folder,
 * simulated guests that print the real progress protocol on their serial
 * files, and (optionally) the fake Kubernetes API server trusting the
 * cluster's own CA, so verify talks TLS with the admin kubeconfig.
 *
 * Everything listens on 127.0.0.1 only.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadOrCreateClusterSecrets } from '../src/pki/index.js';
import { GuestSimulator, type GuestBehaviour } from './guest-simulator.js';
import { KubeApiSimulator } from './kube-api-simulator.js';
import type { KubeApiScenario } from './kube-api-scenarios.js';
import { healthyScenarioFor } from './simulated-verify.js';
import { VmrestSimulator, type VmrestSimulatorOptions } from './vmrest-simulator.js';
import type { ClusterSpec } from '../src/config/model.js';
import {
  TEMPLATE_STATE_VERSION,
  type GoldenMarker,
  type ImageRecord,
  templateVmFolder,
  templateVmxPath,
  writeTemplateState,
} from '../src/template/state.js';
import { renderTemplateVmx, SERIAL_LOG_FILE } from '../src/template/vmx.js';
import { defaultVerifyImage } from '../src/verify/workload.js';
import { addonImages } from '../src/addons/catalog.js';
import { canonicalImage } from '../src/template/golden.js';
import { VmxFile } from '../src/vmx/vmx-file.js';
import { VmrestClient, type VmrestClientOptions } from '../src/vmrest/client.js';
import { VmrestCredentials } from '../src/vmrest/credentials.js';
import type { DiskGrower } from '../src/bringup/ports.js';
import { lookUpVmrun, type VmrunLookup } from '../src/template/vmrun.js';
import { VmrunSimulator } from './vmrun-simulator.js';
import { writeVmnetDhcpConf } from './workstation-preferences.js';

const GiB = 2 ** 30;

/** A VMDK text descriptor of `sizeGiB` (what the simulated vdiskmanager grows). */
export function vmdkDescriptor(sizeGiB: number, extentFile = 'disk-flat.vmdk'): string {
  return `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n# Extent description\nRW ${(sizeGiB * GiB) / 512} FLAT "${extentFile}" 0\n\nddb.adapterType = "lsilogic"\n`;
}

/** vmware-vdiskmanager -x stand-in for descriptor disks: rewrites the extent size. */
export const growDescriptorDisk: DiskGrower = async (vmdkPath, sizeGiB) => {
  const text = await readFile(vmdkPath, 'latin1');
  // Simulator choice (the real tool's message is unverified): a delta disk with a parent is not grown.
  if (/^parentFileNameHint=/m.test(text))
    throw new Error(
      `simulated vdiskmanager: ${vmdkPath} is a linked clone's delta disk and cannot be expanded`,
    );
  if (!/^RW \d+/m.test(text)) throw new Error(`simulated vdiskmanager: ${vmdkPath} is not a descriptor disk`);
  await writeFile(vmdkPath, text.replace(/^RW \d+/m, `RW ${(sizeGiB * GiB) / 512}`), 'latin1');
};

export interface SimulatedLabOptions {
  /** Everything lives here: the default VM folder, the template, the state folder. */
  dir: string;
  /** Template disk size (default: the largest node disk, as build-template makes it). */
  templateDiskGiB?: number;
  bootDelayMs?: number;
  latencies?: VmrestSimulatorOptions['latencies'];
  administrator?: boolean;
  paramsWhilePoweredOn?: VmrestSimulatorOptions['paramsWhilePoweredOn'];
  nicIndexFrom?: VmrestSimulatorOptions['nicIndexFrom'];
  vmnets?: VmrestSimulatorOptions['vmnets'];
  guest?: GuestBehaviour;
  /** Start the fake Kubernetes API server (for verify). */
  kubeApi?: boolean;
  /** The cluster the fake API server plays, from the healthy one matching the spec (default: unchanged). */
  kubeApiScenario?: (healthy: KubeApiScenario) => KubeApiScenario;
  /** Client options (short retries in tests). */
  client?: Partial<VmrestClientOptions>;
  /** Template never built: not in the library and no template.json (preflight test). */
  noTemplate?: boolean;
  /** The template's golden bake matches the spec (default true, as `up` leaves it); false: never baked. */
  golden?: boolean;
  /** Install the vmrun stand-in (linked clones, snapshots); default true. false: a Workstation without vmrun. */
  vmrun?: boolean;
}

export interface SimulatedLab {
  /** The spec with stateDir moved into `dir`. */
  spec: ClusterSpec;
  vmrest: VmrestSimulator;
  client: VmrestClient;
  guests: GuestSimulator;
  kubeApi: KubeApiSimulator | undefined;
  credentials: { username: string; password: string };
  clonesFolder: string;
  /** The stand-in of Workstation's DHCP settings file (vmnetdhcp.conf), holding the ranges cluster.yaml declares. */
  vmnetDhcpConfig: string;
  /** The vmrun stand-in and where it was found, as build-vms' deps take it (found: false without one). */
  vmrun: VmrunSimulator | undefined;
  vmrunLookup: VmrunLookup;
  close(): Promise<void>;
}

function vmnetsFor(spec: ClusterSpec): NonNullable<VmrestSimulatorOptions['vmnets']> {
  return [
    { name: 'vmnet0', type: 'bridged', dhcp: 'false', subnet: '', mask: '' },
    {
      name: spec.networks.hostOnly.vmnet,
      type: 'hostOnly',
      dhcp: 'true',
      subnet: spec.networks.hostOnly.subnet.network,
      mask: spec.networks.hostOnly.subnet.mask,
    },
    {
      name: spec.networks.nat.vmnet,
      type: 'nat',
      dhcp: 'true',
      subnet: spec.networks.nat.subnet.network,
      mask: spec.networks.nat.subnet.mask,
    },
  ];
}

/**
 * Writes the template VM build-template would make (its .vmx from the shipped
 * template, a descriptor disk) and, unless `recordBuilt` is false, its record
 * in template.json, which build-vms' preflight asks for (requireReadyTemplate).
 * `hostPath` gives the path the record holds as the simulated host names it (a Windows host: C:\...).
 */
export async function writeSimulatedTemplate(
  spec: ClusterSpec,
  diskGiB: number,
  options: { recordBuilt?: boolean; hostPath?: (local: string) => string; golden?: boolean } = {},
): Promise<string> {
  const folder = templateVmFolder(spec);
  await mkdir(folder, { recursive: true });
  const name = spec.vmware.template.name;
  const vmx: VmxFile = await renderTemplateVmx({
    displayName: name,
    annotation: 'kubestation simulated template',
    cpus: 2,
    memoryMiB: 2048,
    diskFile: `${name}.vmdk`,
    serialFile: SERIAL_LOG_FILE,
    natVnet: spec.networks.nat.vmnet,
    hostOnlyVnet: spec.networks.hostOnly.vmnet,
  });
  await writeFile(path.join(folder, `${name}.vmdk`), vmdkDescriptor(diskGiB, `${name}-flat.vmdk`));
  await writeFile(path.join(folder, `${name}-flat.vmdk`), '');
  await writeFile(templateVmxPath(spec), vmx.toString());
  if (options.recordBuilt ?? true) {
    const builtAt = new Date().toISOString();
    await writeTemplateState(spec, {
      formatVersion: TEMPLATE_STATE_VERSION,
      vm: {
        name,
        vmxPath: options.hostPath ? options.hostPath(templateVmxPath(spec)) : templateVmxPath(spec),
        vmrestId: undefined,
        firmware: 'efi',
        virtualHwVersion: 20,
        registeredAt: undefined,
      },
      builtAt,
      ...(options.golden
        ? {
            image: SIMULATED_IMAGE,
            golden: { ...simulatedGoldenMarker(spec), imageSha256: SIMULATED_IMAGE.sha256 },
          }
        : {}),
    });
  }
  return templateVmxPath(spec);
}

/** The cloud image record of a simulated template (no file behind it). */
const SIMULATED_IMAGE: ImageRecord = {
  url: 'https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.ova',
  checksumsUrl: 'https://cloud-images.ubuntu.com/noble/current/SHA256SUMS',
  fileName: 'noble-server-cloudimg-amd64.ova',
  path: '(simulated: no file)',
  sha256: '0'.repeat(64),
  bytes: 0,
  serial: undefined,
  lastModified: undefined,
  downloadedAt: '2026-01-01T00:00:00.000Z',
};

/** What a golden bake for `spec` records (src/template/state.ts GoldenMarker), with made-up digests. */
export function simulatedGoldenMarker(spec: ClusterSpec): GoldenMarker {
  const k = spec.kubernetes;
  const version = k.patch ?? `${k.minor}.0`;
  const images = [
    ...['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kube-proxy'].map(
      (name) => `registry.k8s.io/${name}:v${version}`,
    ),
    'registry.k8s.io/pause:3.10.1',
    defaultVerifyImage,
    ...addonImages(spec).map(canonicalImage),
  ].sort();
  const digest = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;
  return {
    formatVersion: 1,
    bakedAt: '2026-01-01T00:00:00Z',
    kubernetes: {
      minor: k.minor,
      version,
      packages: { kubelet: `${version}-1.1`, kubeadm: `${version}-1.1`, kubectl: `${version}-1.1` },
    },
    containerd: { package: 'containerd', version: '2.2.1-0ubuntu1~24.04.3' },
    cni: {
      name: k.cni.name,
      version: k.cni.version,
      manifests: k.cni.manifestUrls.map((url, i) => ({
        url,
        file: `${i + 1}-${path.basename(url)}`,
        sha256: digest(url).slice('sha256:'.length),
      })),
    },
    images,
    imageDigests: Object.fromEntries(images.map((image) => [image, digest(image)])),
  };
}

export async function startSimulatedLab(
  baseSpec: ClusterSpec,
  options: SimulatedLabOptions,
): Promise<SimulatedLab> {
  const clonesFolder = path.join(options.dir, 'Virtual Machines');
  const spec: ClusterSpec = { ...baseSpec, stateDir: path.join(options.dir, 'state') };
  const templateVmx = await writeSimulatedTemplate(
    spec,
    options.templateDiskGiB ?? Math.max(...spec.nodes.map((n) => n.diskGiB)),
    { recordBuilt: !options.noTemplate, golden: options.golden ?? true },
  );
  const credentials = { username: 'kubestation', password: `Sim-${randomBytes(3).toString('hex')}!` };

  let kubeApi: KubeApiSimulator | undefined;
  if (options.kubeApi) {
    const secrets = await loadOrCreateClusterSecrets({
      stateDir: spec.stateDir,
      clusterName: spec.name,
      apiEndpoint: spec.kubernetes.apiEndpoint,
    });
    const scenario = healthyScenarioFor(spec);
    kubeApi = await KubeApiSimulator.start({
      scenario: options.kubeApiScenario?.(scenario) ?? scenario,
      ca: secrets.ca,
    });
  }

  const guests = new GuestSimulator({
    spec,
    behaviour: { golden: !options.noTemplate && (options.golden ?? true), ...options.guest },
  });
  const hookErrors: unknown[] = [];
  const vmrest = await VmrestSimulator.start({
    defaultVmFolder: clonesFolder,
    username: credentials.username,
    password: credentials.password,
    registeredVmx: options.noTemplate ? [] : [templateVmx],
    bootDelayMs: options.bootDelayMs ?? 10,
    ...(options.latencies ? { latencies: options.latencies } : {}),
    vmnets: options.vmnets ?? vmnetsFor(spec),
    administrator: options.administrator ?? true,
    ...(options.paramsWhilePoweredOn ? { paramsWhilePoweredOn: options.paramsWhilePoweredOn } : {}),
    ...(options.nicIndexFrom !== undefined ? { nicIndexFrom: options.nicIndexFrom } : {}),
    onGuestBoot: guests.onGuestBoot,
    onHookError: (error) => hookErrors.push(error),
  });
  const client = new VmrestClient({
    baseUrl: vmrest.url,
    credentials: new VmrestCredentials(credentials.username, credentials.password),
    ...options.client,
  });
  const vmnetDhcpConfig = await writeVmnetDhcpConf(
    path.join(options.dir, 'ProgramData', 'VMware', 'vmnetdhcp.conf'),
    [spec.networks.hostOnly, spec.networks.nat],
  );
  const installFolder = path.join(options.dir, 'Workstation');
  const vmrun = options.vmrun === false ? undefined : await VmrunSimulator.start(vmrest, installFolder);
  const vmrunLookup = lookUpVmrun({ vmware: { ...spec.vmware, installFolder } } as ClusterSpec, {});
  return {
    vmrun,
    vmrunLookup,
    spec,
    vmrest,
    client,
    guests,
    kubeApi,
    credentials,
    clonesFolder,
    vmnetDhcpConfig,
    async close() {
      guests.stop();
      await client.close();
      await vmrun?.close();
      await vmrest.close();
      await kubeApi?.close();
    },
  };
}

/**
 * Makes the fake Kubernetes API follow the VMs' power, as a real cluster
 * does: the API server answers only while the control plane's VM runs and has
 * booted, and a Node is Ready only while its VM does. Pass the result as the
 * vmrest simulator's onPowerChange.
 */
export function linkPowerToKubeApi(
  spec: ClusterSpec,
  kubeApi: KubeApiSimulator,
): NonNullable<VmrestSimulatorOptions['onPowerChange']> {
  return (vm, state) => {
    const node = spec.nodes.find((n) => n.name === path.basename(vm.vmxPath, '.vmx'));
    if (!node) return;
    if (node.role === 'control-plane') kubeApi.setServing(state.booted);
    kubeApi.setNodeReady(node.name, state.booted);
  };
}
