/**
 * The golden bake (`build-template`, unless --no-golden): boot the template once with a
 * seed that installs containerd + kubelet/kubeadm/kubectl and pre-pulls the
 * images, follow its progress on the serial console, wait until it powers
 * itself off, detach and delete the seed ISO, and record what the template
 * now holds. A node whose template already has the right versions can then
 * skip its package installs and image pulls on first boot.
 */
import { existsSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubestationError } from '../errors.js';
import { buildIso } from '../iso/iso9660.js';
import { ProgressLineAccumulator, type ProgressLine } from '../progress/protocol.js';
import type { ClusterSpec } from '../config/model.js';
import { VmxFile } from '../vmx/vmx-file.js';
import { ADDONS } from '../addons/catalog.js';
import { defaultVerifyImage } from '../verify/workload.js';
import { renderBakeSeed } from './bake-seed.js';
import { writeFileAtomic } from './files.js';
import { readTemplateState, writeTemplateState, type GoldenMarker, type TemplateState } from './state.js';
import { SEED_CDROM } from './vmx.js';
import type { TemplateVmrest } from './vmrest-port.js';
import { COMMAND_PREFIX, commandHint } from '../command-hint.js';

/** Where the bake leaves its marker inside the guest (and so inside every clone). */
export const GOLDEN_MARKER_PATH = '/etc/kubestation/golden.json';
export const BAKE_ISO_FILE = 'kubestation-bake.iso';

/** The node name the bake uses in its progress lines. */
export const BAKE_PROGRESS_NODE = 'template';

/** The `golden ok` message: golden.json as one line of JSON. Checks the fields nodes rely on. */
export function decodeGoldenMarker(json: string): GoldenMarker {
  const value = JSON.parse(json) as Partial<GoldenMarker>;
  if (
    value.formatVersion !== 1 ||
    typeof value.kubernetes?.version !== 'string' ||
    typeof value.kubernetes.minor !== 'string' ||
    typeof value.containerd?.version !== 'string' ||
    typeof value.cni?.name !== 'string' ||
    !Array.isArray(value.images)
  ) {
    throw new Error('the golden marker from the guest is incomplete');
  }
  return value as GoldenMarker;
}

/** What a first boot downloads when the template does not hold it (a comparable uncached kubeadm build measured packages 115 s and image pulls about 109 s per node). */
export const FIRST_BOOT_DOWNLOADS = {
  packages: 'containerd and the Kubernetes packages (about 2 minutes per node)',
  images: 'the control-plane and CNI images (about 2 minutes per node)',
  cni: 'the CNI manifests',
  /** Not at first boot: pulled by the add-ons' pods once build-vms applies them. */
  addons: "the add-ons' images when build-vms applies the add-ons",
} as const;

/** One way the template's bake differs from what the spec asks for, and what a first boot then downloads. */
export interface GoldenDifference {
  what: string;
  downloads: (keyof typeof FIRST_BOOT_DOWNLOADS)[];
}

/**
 * How the template's bake compares with `spec`: nothing listed means a node's first
 * boot downloads nothing. Compared: the baked cloud image, the Kubernetes minor (and the
 * pinned patch), the CNI name and release with its manifests kept, the verify image.
 */
export function compareGoldenWithSpec(
  state: TemplateState,
  spec: Pick<ClusterSpec, 'kubernetes' | 'addons'>,
): GoldenDifference[] {
  const golden = state.golden;
  const all: GoldenDifference['downloads'] = ['packages', 'images', 'cni'];
  if (!golden) return [{ what: 'the template is not baked (golden)', downloads: all }];
  if (!state.image || golden.imageSha256 !== state.image.sha256) {
    return [{ what: 'the template was baked on an older cloud image', downloads: all }];
  }
  const k = spec.kubernetes;
  const differences: GoldenDifference[] = [];
  const wanted = k.patch ?? k.minor;
  if (
    golden.kubernetes.minor !== k.minor ||
    (k.patch !== undefined && golden.kubernetes.version !== k.patch)
  ) {
    differences.push({
      what: `the template holds Kubernetes ${golden.kubernetes.version}, cluster.yaml asks for ${wanted}`,
      downloads: ['packages', 'images'],
    });
  }
  if (golden.cni.name !== k.cni.name || golden.cni.version !== k.cni.version) {
    differences.push({
      what: `the template holds ${golden.cni.name} ${golden.cni.version}, cluster.yaml asks for ${k.cni.name} ${k.cni.version}`,
      downloads: ['images', 'cni'],
    });
  } else {
    const kept = golden.cni.manifests?.map((m) => m.url) ?? [];
    if (k.cni.manifestUrls.some((url, i) => kept[i] !== url)) {
      differences.push({
        what: `the template does not keep the CNI manifests cluster.yaml names (${k.cni.manifestUrls.join(', ')})`,
        downloads: ['cni'],
      });
    }
  }
  const held = new Set(golden.images.map(canonicalImage));
  const missing = ADDONS.filter(
    (a) => spec.addons[a.name].enabled && a.images.some((image) => !held.has(canonicalImage(image))),
  );
  if (missing.length > 0) {
    differences.push({
      what: `the template does not hold the images of ${missing.map((a) => `${a.component} ${a.version}`).join(', ')}`,
      downloads: ['addons'],
    });
  }
  if (!golden.images.includes(defaultVerifyImage)) {
    differences.push({
      what: `the template does not hold verify's test image ${defaultVerifyImage}`,
      downloads: ['images'],
    });
  }
  return differences;
}

/**
 * An image reference as containerd lists it: Docker Hub names get their registry (and library/), a
 * reference without tag or digest gets :latest ("rancher/x:v1" is "docker.io/rancher/x:v1").
 */
export function canonicalImage(reference: string): string {
  const [first, ...rest] = reference.split('/');
  const hasRegistry = rest.length > 0 && (/[.:]/.test(first!) || first === 'localhost');
  let name = hasRegistry ? reference : `docker.io/${rest.length === 0 ? 'library/' : ''}${reference}`;
  const last = name.slice(name.lastIndexOf('/') + 1);
  if (!last.includes(':') && !last.includes('@')) name += ':latest';
  return name;
}

/** "first boot downloads nothing", or what differs and what each node downloads because of it. */
export function describeGoldenComparison(differences: GoldenDifference[]): string {
  if (differences.length === 0)
    return 'the golden template matches cluster.yaml: a first boot downloads nothing';
  const kinds = new Set(differences.flatMap((d) => d.downloads));
  const atFirstBoot = [...kinds].filter((d) => d !== 'addons').map((d) => FIRST_BOOT_DOWNLOADS[d]);
  const downloads = [
    ...(atFirstBoot.length > 0 ? [`${atFirstBoot.join(', ')} at first boot`] : []),
    ...(kinds.has('addons') ? [FIRST_BOOT_DOWNLOADS.addons] : []),
  ];
  return `${differences.map((d) => d.what).join('; ')}: every node downloads ${downloads.join(', and ')}`;
}

/**
 * The golden template against cluster.yaml as validate and the build-vms plan say it: what
 * differs and what it costs, and the command that bakes again.
 */
export function goldenStatusLine(
  state: TemplateState,
  spec: Pick<ClusterSpec, 'kubernetes' | 'addons'>,
): string {
  if (!state.builtAt) {
    return `golden template: not built yet; \`${commandHint('up')}\` builds and bakes it, then a first boot downloads nothing`;
  }
  const differences = compareGoldenWithSpec(state, spec);
  const text = describeGoldenComparison(differences);
  return differences.length === 0
    ? `golden template: ${text.replace(/^the golden template matches/, 'matches')}`
    : `golden template: ${text} (\`${commandHint('up')}\` bakes it${state.golden ? ' again' : ''})`;
}

/**
 * True when the template's bake holds what `spec` asks for (compareGoldenWithSpec finds
 * nothing). build-vms and the bake decide with this whether nodes may skip downloads.
 */
export function goldenMatchesSpec(
  state: TemplateState,
  spec: Pick<ClusterSpec, 'kubernetes' | 'addons'>,
): boolean {
  return compareGoldenWithSpec(state, spec).length === 0;
}

/** Reads what was appended to the serial log file since the last call. */
export class SerialFollower {
  #offset = 0;

  constructor(readonly filePath: string) {}

  async poll(): Promise<string> {
    let size: number;
    try {
      size = (await stat(this.filePath)).size;
    } catch {
      return '';
    }
    if (size < this.#offset) this.#offset = 0; // the file was replaced
    if (size === this.#offset) return '';
    const handle = await open(this.filePath, 'r');
    try {
      const buffer = Buffer.alloc(size - this.#offset);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, this.#offset);
      this.#offset += bytesRead;
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  }
}

/** "90 seconds", "45 minutes": a bound as a user reads it (never rounded down to 0). */
export function describeDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1000).toPrecision(3))} seconds`;
  return `${Number((ms / 60_000).toPrecision(3))} minutes`;
}

export interface GoldenDeps {
  vmrest: TemplateVmrest;
  log: (line: string) => void;
  /** The bake's clock: its start time and its deadline (default the system clock). */
  now?: () => Date;
  /** How often the serial log and the power state are read (default 2 s). */
  pollIntervalMs?: number;
  /** Overall bound for the bake (default DEFAULT_BAKE_TIMEOUT_MS). */
  timeoutMs?: number;
}

export interface GoldenResult {
  marker: GoldenMarker;
  skipped: boolean;
}

/**
 * The bake's overall bound: boot, the package installs and the image pulls
 * over a slow mirror, with room to spare. A healthy bake takes minutes.
 */
export const DEFAULT_BAKE_TIMEOUT_MS = 75 * 60_000;

async function patchVmx(vmxPath: string, edit: (vmx: VmxFile) => void): Promise<void> {
  const vmx = VmxFile.parse(await readFile(vmxPath, 'utf8'));
  edit(vmx);
  await writeFileAtomic(vmxPath, vmx.toString());
}

function attachIso(vmx: VmxFile, isoPath: string): void {
  vmx.set(`${SEED_CDROM}.present`, 'TRUE');
  vmx.set(`${SEED_CDROM}.deviceType`, 'cdrom-image');
  vmx.set(`${SEED_CDROM}.fileName`, isoPath);
  vmx.set(`${SEED_CDROM}.startConnected`, 'TRUE');
}

function detachIso(vmx: VmxFile): void {
  vmx.set(`${SEED_CDROM}.fileName`, '');
  vmx.set(`${SEED_CDROM}.startConnected`, 'FALSE');
}

function serialLogPath(vmx: VmxFile, vmxPath: string): string {
  const name = vmx.get('serial0.fileName');
  if ((vmx.get('serial0.fileType') ?? '').toLowerCase() !== 'file' || !name) {
    throw new KubestationError(
      'TEMPLATE_NO_SERIAL',
      `${vmxPath} has no file-backed serial port, so the bake's progress cannot be followed.`,
      {
        fix: `Run \`${COMMAND_PREFIX} build-template --force\` to rewrite the template .vmx, then bake again.`,
      },
    );
  }
  return path.isAbsolute(name) || path.win32.isAbsolute(name) ? name : path.join(path.dirname(vmxPath), name);
}

export async function bakeGolden(
  spec: ClusterSpec,
  deps: GoldenDeps,
  options: { force?: boolean } = {},
): Promise<GoldenResult> {
  const state = await readTemplateState(spec);
  const vmxPath = state.vm?.vmxPath;
  if (!state.builtAt || !vmxPath || !state.image) {
    throw new KubestationError(
      'TEMPLATE_NOT_BUILT',
      'The template VM has not been built yet, so there is nothing to bake.',
      { fix: `Run \`${COMMAND_PREFIX} build-template\` first (it builds and bakes the template).` },
    );
  }
  if (!options.force && state.golden && goldenMatchesSpec(state, spec)) {
    deps.log(
      `golden: the template already holds Kubernetes ${state.golden.kubernetes.version} and ${spec.kubernetes.cni.name} ${state.golden.cni.version} images`,
    );
    return { marker: state.golden, skipped: true };
  }
  const vm = await deps.vmrest.findVm({ vmxPath });
  if (!vm) {
    throw new KubestationError(
      'TEMPLATE_NOT_REGISTERED',
      `The template VM ${vmxPath} is not in Workstation's library.`,
      { fix: `Run \`${COMMAND_PREFIX} build-template\` to register it again.` },
    );
  }
  const power = await deps.vmrest.getPowerState(vm.id);
  if (power !== 'poweredOff') {
    throw new KubestationError(
      'TEMPLATE_NOT_POWERED_OFF',
      `The template VM ${spec.vmware.template.name} is ${power}; the bake boots it itself.`,
      { fix: `Shut down ${spec.vmware.template.name} in Workstation, then run the command again.` },
    );
  }

  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const isoPath = path.join(path.dirname(vmxPath), BAKE_ISO_FILE);
  const files = await renderBakeSeed(spec, {
    bakeId: startedAt.toISOString().replace(/\D/g, '').slice(0, 14),
  });
  await writeFileAtomic(isoPath, buildIso(files, { volumeId: 'cidata', timestamp: startedAt }));

  const vmxText = await readFile(vmxPath, 'utf8');
  const serialPath = serialLogPath(VmxFile.parse(vmxText), vmxPath);
  await rm(serialPath, { force: true }); // old console output must not be read as this bake's
  await patchVmx(vmxPath, (vmx) => attachIso(vmx, isoPath));

  delete state.golden; // the disk is about to change; until the bake succeeds it holds no verified versions
  await writeTemplateState(spec, state);

  const follower = new SerialFollower(serialPath);
  const lines = new ProgressLineAccumulator();
  const interval = deps.pollIntervalMs ?? 2000;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_BAKE_TIMEOUT_MS;
  const deadline = startedAt.getTime() + timeoutMs;
  let marker: GoldenMarker | undefined;
  let markerProblem: string | undefined;
  let failure: ProgressLine | undefined;
  let poweredOff = false;
  try {
    deps.log(
      `golden: booting ${spec.vmware.template.name} with the bake seed (Kubernetes ${spec.kubernetes.patch ?? spec.kubernetes.minor}, ${spec.kubernetes.cni.name} ${spec.kubernetes.cni.version})`,
    );
    await deps.vmrest.setPowerState(vm.id, 'on');
    const handle = (line: ProgressLine): void => {
      if (line.node !== BAKE_PROGRESS_NODE) return;
      if (line.stage === 'golden' && line.event === 'ok') {
        try {
          marker = decodeGoldenMarker(line.message);
          deps.log(`golden: ok, ${GOLDEN_MARKER_PATH} written`);
        } catch (error) {
          // Keep following until power-off: the guest seals itself either way.
          markerProblem = (error as Error).message;
        }
        return;
      }
      if (line.event === 'fail') failure ??= line;
      const firstLine = line.message.split('\n')[0];
      deps.log(`golden: ${line.stage} ${line.event}${firstLine ? ` (${firstLine})` : ''}`);
    };
    const read = async (): Promise<void> => {
      for (const line of lines.push(await follower.poll())) handle(line);
    };
    for (;;) {
      await read();
      if ((await deps.vmrest.getPowerState(vm.id)) === 'poweredOff') {
        poweredOff = true;
        await read();
        for (const line of lines.end()) handle(line);
        break;
      }
      const left = deadline - now().getTime();
      if (left <= 0) break;
      await sleep(Math.min(interval, left));
    }
    if (!poweredOff) {
      await deps.vmrest.setPowerState(vm.id, 'off');
      throw new KubestationError(
        'BAKE_TIMEOUT',
        `The golden bake did not power off the template within ${describeDuration(timeoutMs)}; it was powered off. The console log is ${serialPath}.`,
        {
          fix: `Read the end of the console log for the step that hung (often a slow or unreachable package mirror), then run \`${COMMAND_PREFIX} build-template\` again.`,
        },
      );
    }
  } finally {
    // Never leave the bake seed attached: a clone would otherwise boot it again.
    const power = poweredOff
      ? 'poweredOff'
      : await deps.vmrest
          .getPowerState(vm.id)
          .catch((error: unknown) => `in an unknown power state (${(error as Error).message})`);
    if (power === 'poweredOff') {
      await patchVmx(vmxPath, detachIso);
      await rm(isoPath, { force: true });
    } else {
      deps.log(
        `golden: the bake seed stays attached to ${vmxPath}: the template is ${power}; power it off and run \`${commandHint('build-template')}\` again, which detaches it`,
      );
    }
  }

  if (failure) {
    throw new KubestationError(
      'BAKE_FAILED',
      `The golden bake failed in stage ${failure.stage}: ${failure.message.replace(/\n/g, '\n    ')}\n  The template was reset and stays usable without the bake; the full console log is ${serialPath}.`,
      {
        fix: `Fix the cause shown above (network, package repository, Kubernetes version), then run \`${COMMAND_PREFIX} build-template\` again.`,
      },
    );
  }
  if (!marker) {
    const why = markerProblem
      ? `its "golden ok" line was unusable: ${markerProblem}`
      : `no "golden ok" progress line in ${serialPath}`;
    throw new KubestationError(
      'BAKE_NO_MARKER',
      `The template powered off without reporting a finished bake (${why}).`,
      {
        fix: `Look at the console log for what stopped the bake, then run \`${COMMAND_PREFIX} build-template\` again.`,
      },
    );
  }
  const latest = await readTemplateState(spec);
  latest.golden = { ...marker, imageSha256: state.image.sha256 };
  await writeTemplateState(spec, latest);
  return { marker, skipped: false };
}

/** For build-vms: true when the template's bake seed is still attached (a bake was interrupted). */
export async function bakeIsoAttached(vmxPath: string): Promise<boolean> {
  if (!existsSync(vmxPath)) return false;
  const vmx = VmxFile.parse(await readFile(vmxPath, 'utf8'));
  return (vmx.get(`${SEED_CDROM}.fileName`) ?? '').toLowerCase().endsWith(BAKE_ISO_FILE);
}
