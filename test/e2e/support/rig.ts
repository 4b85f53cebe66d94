/**
 * The e2e rig: build (once, cached) a Debian 12 guest image with real cloud-init, boot it
 * under QEMU with a NoCloud seed ISO and two NICs on isolated hubs, then read back what
 * the guest did — its serial console (with the report the image's hook prints before
 * powering off) and files from its disk. The heavy lifting is in scripts/e2e/*.sh.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { appendRunEvent, imageBuildOutcome } from './run-record.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** Where the guest image is cached; E2E_CACHE_DIR lets CI runs from fresh clones share one cache. */
export const cacheDir = process.env.E2E_CACHE_DIR
  ? path.resolve(process.env.E2E_CACHE_DIR)
  : path.join(repoRoot, '.e2e-cache');
const scriptsDir = path.join(repoRoot, 'scripts/e2e');

/** The guest repository the stand-in packages live in (see scripts/e2e/build-image.sh); its key is Release.key there. */
export const STANDIN_APT_REPOSITORY = 'file:///opt/kubestation-e2e/apt/';
/** A stand-in flannel manifest inside the guest image. */
export const STANDIN_FLANNEL_MANIFEST = 'file:///opt/kubestation-e2e/cni/kube-flannel.yml';
/**
 * The CNI release the golden image (golden.img) was baked for, and the URL its kept manifest is
 * recorded under: an https URL the guest cannot reach (scripts/e2e/build-image.sh names the same).
 */
export const GOLDEN_CNI_VERSION = 'v0.28.9';
export const GOLDEN_CNI_MANIFEST_URL = `https://github.com/flannel-io/flannel/releases/download/${GOLDEN_CNI_VERSION}/kube-flannel.yml`;
/** Version the stand-in kubeadm/kubectl/kubelet report (scripts/e2e/build-image.sh). */
export const STANDIN_KUBERNETES_VERSION = 'v1.37.0';

export interface GuestImage {
  dir: string;
  /** Host path of the armoured key that signs the stand-in repository. */
  aptKeyPath: string;
  key: string;
  kernel: string;
  /** Wall time of this call: the full build, or only the cache check. */
  seconds: number;
  /** Build time recorded when the image was made (maybe by an earlier run); includes the base when it was built then too. */
  buildSeconds: number;
  /** The debootstrap base's own build time (cached separately). */
  baseBuildSeconds: number;
  /** This call built the image (false: it was cached). */
  built: boolean;
  /** This call built the debootstrap base too. */
  baseBuilt: boolean;
}

export function describeImage(image: GuestImage): string {
  return (
    `guest image ${image.key} (${image.kernel}) ${image.built ? 'built' : 'found cached'} in ${image.seconds} s ` +
    `(its build took ${image.buildSeconds} s; the debootstrap base ${image.baseBuildSeconds} s)`
  );
}

function elapsedSeconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 100) / 10;
}

export function assertRigCanRun(): void {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new Error(
      'the e2e rig needs Linux and root (debootstrap and chroot build the guest image); run `npm run test:e2e` as root on Linux',
    );
  }
}

/** Builds the guest image, or reuses the cached one when its inputs are unchanged. */
export async function ensureGuestImage(): Promise<GuestImage> {
  assertRigCanRun();
  const start = Date.now();
  await mkdir(cacheDir, { recursive: true });
  const log = path.join(cacheDir, 'build-image.log');
  const build = await execa(path.join(scriptsDir, 'build-image.sh'), [cacheDir], {
    stderr: { file: log },
    reject: false,
  });
  if (build.exitCode !== 0) {
    throw new Error(
      `building the e2e guest image failed (exit ${build.exitCode}); the whole build log is ${log}`,
    );
  }
  const dir = build.stdout.trim().split('\n').at(-1) ?? '';
  const info = JSON.parse(await readFile(path.join(dir, 'image.json'), 'utf8')) as {
    key: string;
    kernel: string;
    buildSeconds: number;
    baseBuildSeconds?: number;
  };
  // The scripts say on stderr (this call's log) when they built something; a cached image or base is silent.
  const { built, baseBuilt } = imageBuildOutcome(await readFile(log, 'utf8'));
  const image: GuestImage = {
    dir,
    aptKeyPath: path.join(dir, 'apt-key.asc'),
    key: info.key,
    kernel: info.kernel,
    seconds: elapsedSeconds(start),
    buildSeconds: info.buildSeconds,
    baseBuildSeconds: info.baseBuildSeconds ?? 0,
    built,
    baseBuilt,
  };
  appendRunEvent(cacheDir, {
    type: 'image',
    key: image.key,
    seconds: image.seconds,
    built: image.built,
    baseBuilt: image.baseBuilt,
    recordedBuildSeconds: image.buildSeconds,
    recordedBaseBuildSeconds: image.baseBuildSeconds,
  });
  return image;
}

/** A fresh folder for one boot's seed, disk overlay, console log and read-back files. */
export async function runDir(name: string): Promise<string> {
  const dir = path.join(cacheDir, 'runs', name);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

/** The reference NoCloud seed: genisoimage with Joliet and Rock Ridge, label cidata. */
export async function writeSeedIso(dir: string, files: Record<string, string>): Promise<string> {
  const seedDir = path.join(dir, 'seed');
  await mkdir(seedDir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(path.join(seedDir, name), content);
  const iso = path.join(dir, 'seed.iso');
  await execa(
    'genisoimage',
    ['-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', ...Object.keys(files)],
    {
      cwd: seedDir,
    },
  );
  return iso;
}

export interface BootOptions {
  name: string;
  dir: string;
  image: GuestImage;
  /** The NoCloud seed on a CD-ROM; undefined = the guest has no CD-ROM drive (a later boot). */
  seedIso: string | undefined;
  /** Boot golden.img (the image as a golden bake leaves a template) instead of root.img. */
  golden?: boolean;
  /** Boot the disk an earlier boot in the same `dir` left (a reboot) instead of a fresh overlay on the image. */
  reuseDisk?: boolean;
  /** File name of the console log in `dir`; default console.log. */
  consoleName?: string;
  /** The node's MACs in NIC order: NAT (ens33) first, host-only (ens37) second. */
  macs: string[];
  /** Stand-in calls told to fail, "program" or "program:subcommand" (kernel command line kubestation_e2e_fail=...). */
  failCalls?: string[];
  /** Stand-in calls told to take long, "program[:subcommand]@seconds" (kernel command line kubestation_e2e_slow=...). */
  slowCalls?: string[];
  /** Serve a stand-in API server's /readyz at this "address:port" inside the guest (a worker's seed waits for it). */
  fakeApiEndpoint?: string;
  timeoutSeconds?: number;
}

export interface BootResult {
  name: string;
  dir: string;
  /** Serial console, carriage returns removed. */
  console: string;
  /** Seconds from QEMU start to power-off. */
  seconds: number;
  /** The report the image's hook printed before power-off: section name → text. */
  report: Map<string, string>;
  disk: string;
}

/** Guest files read back after every boot (see readBack). */
export const READ_BACK_PATHS = [
  '/etc/hostname',
  '/etc/hosts',
  '/etc/timezone',
  '/etc/default/locale',
  '/etc/chrony',
  '/etc/containerd',
  '/etc/sysctl.d',
  '/etc/modules-load.d',
  '/etc/fstab',
  '/etc/fstab.kubestation-orig',
  '/etc/ufw',
  '/etc/sudoers.d',
  '/etc/netplan',
  '/etc/kubernetes',
  '/etc/apt/sources.list.d',
  '/home',
  '/var/lib/cloud/data',
  '/var/lib/cloud/instance/user-data.txt',
  '/var/log/kubestation',
  '/var/log/kubestation-standins',
  '/var/log/kubestation-e2e',
  '/var/log/cloud-init.log',
  '/var/log/cloud-init-output.log',
];

export async function boot(options: BootOptions): Promise<BootResult> {
  const disk = path.join(options.dir, 'disk.qcow2');
  const consolePath = path.join(options.dir, options.consoleName ?? 'console.log');
  const timeout = options.timeoutSeconds ?? 900;
  const append = [`kubestation_e2e_deadline=${timeout - 60}`];
  if (options.failCalls?.length) append.push(`kubestation_e2e_fail=${options.failCalls.join(',')}`);
  if (options.slowCalls?.length) append.push(`kubestation_e2e_slow=${options.slowCalls.join(',')}`);
  if (options.fakeApiEndpoint) append.push(`kubestation_e2e_fake_api=${options.fakeApiEndpoint}`);
  const args = ['--image', options.image.dir, '--disk', disk, '--console', consolePath];
  if (options.seedIso) args.push('--seed', options.seedIso);
  if (options.reuseDisk) args.push('--reuse-disk', 'yes');
  if (options.golden) args.push('--root', 'golden.img');
  for (const mac of options.macs) args.push('--mac', mac);
  args.push('--timeout', String(timeout), '--append', append.join(' '));

  const start = Date.now();
  const run = await execa(path.join(scriptsDir, 'boot.sh'), args, { reject: false, all: true });
  const seconds = elapsedSeconds(start);
  appendRunEvent(cacheDir, { type: 'boot', name: options.name, seconds, ok: run.exitCode === 0 });
  const console = (await readFile(consolePath, 'utf8')).replace(/\r/g, '');
  if (run.exitCode !== 0) {
    throw new Error(
      `guest ${options.name} did not power off cleanly (boot.sh exit ${run.exitCode} after ${seconds} s):\n${run.all}\n` +
        `--- last console lines (${consolePath}) ---\n${console.split('\n').slice(-40).join('\n')}`,
    );
  }
  return { name: options.name, dir: options.dir, console, seconds, report: parseReport(console), disk };
}

/** Sections the hook prints as "===== kubestation-e2e begin NAME =====" ... "end NAME". */
export function parseReport(console: string): Map<string, string> {
  const sections = new Map<string, string>();
  const pattern =
    /^===== kubestation-e2e begin (\S+) =====\n([\s\S]*?)^===== kubestation-e2e end \1 =====$/gm;
  for (const match of console.matchAll(pattern)) sections.set(match[1] ?? '', match[2] ?? '');
  return sections;
}

/**
 * Copies guest paths out of the powered-off disk into <dir>/<rootName>/...; returns that root.
 * The disk is deleted afterwards unless `keepDisk` (it boots again) or E2E_KEEP_DISKS.
 */
export async function readBack(
  result: BootResult,
  paths: string[] = READ_BACK_PATHS,
  options: { rootName?: string; keepDisk?: boolean } = {},
): Promise<string> {
  const root = path.join(result.dir, options.rootName ?? 'root');
  await rm(root, { recursive: true, force: true });
  await execa(path.join(scriptsDir, 'read-back.sh'), [result.disk, root, ...paths]);
  if (!options.keepDisk && !process.env.E2E_KEEP_DISKS) await rm(result.disk, { force: true });
  return root;
}

export async function readGuestFile(root: string, guestPath: string): Promise<string> {
  return readFile(path.join(root, guestPath), 'utf8');
}

/** One call of a stand-in program, as its recorder logged it (see scripts/e2e/standins/). */
export interface StandinCall {
  seq: number;
  time: number;
  uptime: number;
  program: string;
  argv: string[];
  files: { path: string; sha256?: string; copy?: string }[];
  containerd: {
    configExists: boolean;
    configSha256?: string;
    systemdCgroupTrue?: boolean;
    serviceActive: string;
  };
  failOnPurpose: boolean;
}

export async function standinCalls(root: string): Promise<StandinCall[]> {
  const text = await readGuestFile(root, '/var/log/kubestation-standins/calls.log').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as StandinCall);
}

export function logTiming(message: string): void {
  process.stdout.write(`[e2e] ${message}\n`);
}
