/**
 * `build-template`: Ubuntu cloud image → Workstation template VM.
 *
 *   1. download the .ova (resumable, SHA-256 checked)   → <stateDir>/template/cache/
 *   2. extract its disk (.vmdk, stream-optimized)         → <stateDir>/template/work/
 *   3. convert + grow it with vmware-vdiskmanager         → <template folder>/<name>.vmdk
 *   4. write the .vmx from vmx-templates/template.vmx     → <template folder>/<name>.vmx
 *   5. register it with vmrest, check it is powered off
 *
 * Every step records its result in template.json and is skipped on a re-run
 * when that result still exists and still matches the spec.
 */
import { commandHint } from '../command-hint.js';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { KubestationError } from '../errors.js';
import type { ClusterSpec } from '../config/model.js';
import { VmxFile } from '../vmx/vmx-file.js';
import { fileNameFromUrl, sha256File } from './checksums.js';
import { downloadVerified, fetchExpectedSha256, type HttpOptions } from './download.js';
import { fileSize, writeFileAtomic } from './files.js';
import { extractOvaDisk } from './ova.js';
import { silentProgress, type ProgressSink } from './progress-bar.js';
import {
  imageSerialFromUrl,
  readTemplateState,
  templateStateDir,
  templateVmFolder,
  templateVmxPath,
  writeTemplateState,
  type ImageRecord,
  type TemplateState,
} from './state.js';
import {
  convertDiskArgs,
  findWorkstationInstallFolder,
  growDiskArgs,
  runVdiskmanager,
  vdiskmanagerFileName,
} from './vdiskmanager.js';
import { mergeRenderedVmx, renderTemplateVmx, SERIAL_LOG_FILE } from './vmx.js';
import type { TemplateVmrest } from './vmrest-port.js';
import { linkedClonesOf } from './linked-clones.js';
import { BuildStateStore } from '../bringup/state.js';
import { recordObservation } from '../bringup/observations.js';

export interface TemplateBuildDeps {
  vmrest: TemplateVmrest;
  /** One line per step ("image: downloaded ...", "disk: already converted ..."). */
  log: (line: string) => void;
  progress?: ProgressSink;
  http?: HttpOptions;
  /** Where Workstation is looked for (defaults: this process). */
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  exists?: (filePath: string) => boolean;
  /** Overrides the vmware-vdiskmanager path (tests). */
  vdiskmanagerPath?: string;
  now?: () => Date;
}

export interface TemplateBuildOptions {
  /** Re-check the image against SHA256SUMS and rebuild disk and .vmx even when records say done. */
  force?: boolean;
}

export interface TemplateBuildResult {
  state: TemplateState;
  vmId: string;
  /** Steps that did work this run (the others were already done). */
  ran: Array<'download' | 'extract' | 'convert' | 'grow' | 'vmx' | 'register'>;
}

/** The disk every node is cloned with: as large as the largest node asks for (a clone cannot shrink it). */
export function templateDiskGiB(spec: Pick<ClusterSpec, 'nodes'>): number {
  return Math.max(...spec.nodes.map((n) => n.diskGiB));
}

/** Workstation keeps `<file>.lck` folders while a VM is powered on or open; its files must not change then. */
function assertNotLocked(files: string[]): void {
  const locked = files.find((f) => existsSync(`${f}.lck`));
  if (locked) {
    throw new KubestationError(
      'TEMPLATE_IN_USE',
      `${locked} is locked by VMware Workstation (${path.basename(locked)}.lck exists): the template VM is powered on or open.`,
      {
        fix: 'Power off the template VM and close its tab in Workstation, then run the command again.',
      },
    );
  }
}

async function ensureImage(
  spec: ClusterSpec,
  state: TemplateState,
  deps: TemplateBuildDeps,
  options: TemplateBuildOptions,
  ran: TemplateBuildResult['ran'],
): Promise<ImageRecord> {
  const { imageUrl, checksumsUrl } = spec.vmware.template;
  const fileName = fileNameFromUrl(imageUrl);
  const cachePath = path.join(templateStateDir(spec), 'cache', fileName);
  const recorded = state.image;
  if (
    !options.force &&
    recorded &&
    recorded.url === imageUrl &&
    recorded.path === cachePath &&
    (await fileSize(cachePath)) === recorded.bytes
  ) {
    deps.log(`image: ${fileName} already downloaded and verified (sha256 ${recorded.sha256.slice(0, 12)}…)`);
    return recorded;
  }
  const imageTarget = { url: imageUrl, setting: 'vmware.template.imageUrl' };
  const checksumsTarget = { url: checksumsUrl, setting: 'vmware.template.checksumsUrl' };
  const expected = await fetchExpectedSha256(imageTarget, checksumsTarget, deps.http);
  await mkdir(path.dirname(cachePath), { recursive: true });
  const now = (deps.now ?? (() => new Date()))().toISOString();
  const cachedBytes = await fileSize(cachePath);
  if (cachedBytes !== undefined && (await sha256File(cachePath)) === expected) {
    deps.log(`image: ${fileName} in the cache matches ${checksumsUrl}`);
    const record: ImageRecord = {
      url: imageUrl,
      checksumsUrl,
      fileName,
      path: cachePath,
      sha256: expected,
      bytes: cachedBytes,
      serial: imageSerialFromUrl(imageUrl),
      lastModified: recorded?.url === imageUrl ? recorded.lastModified : undefined,
      downloadedAt: recorded?.downloadedAt ?? now,
    };
    return record;
  }
  await rm(cachePath, { force: true });
  deps.log(`image: downloading ${imageUrl}`);
  const download = await downloadVerified(imageTarget, checksumsTarget, cachePath, {
    ...deps.http,
    progress: deps.progress ?? silentProgress,
    expectedSha256: expected,
  });
  ran.push('download');
  deps.log(`image: verified sha256 ${download.sha256}`);
  return {
    url: imageUrl,
    checksumsUrl,
    fileName,
    path: cachePath,
    sha256: download.sha256,
    bytes: download.bytes,
    serial: imageSerialFromUrl(imageUrl),
    lastModified: download.lastModified,
    downloadedAt: now,
  };
}

function vdiskmanager(spec: ClusterSpec, deps: TemplateBuildDeps): string {
  if (deps.vdiskmanagerPath) return deps.vdiskmanagerPath;
  const platform = deps.platform ?? process.platform;
  const folder = findWorkstationInstallFolder({
    configured: spec.vmware.installFolder,
    platform,
    env: deps.env ?? process.env,
    exists: deps.exists ?? existsSync,
  });
  return (platform === 'win32' ? path.win32 : path.posix).join(folder, vdiskmanagerFileName(platform));
}

/**
 * The template's disk is the parent of its linked clones: replacing or growing it would leave them
 * unable to power on (or reading changed content). Refused, naming them, before anything changes.
 */
async function assertNoLinkedClones(spec: ClusterSpec, what: string): Promise<void> {
  // The clones the template's .vmsd records (Workstation writes them there when it makes one).
  const clones = await linkedClonesOf(templateVmxPath(spec), []);
  if (clones.length === 0) return;
  throw new KubestationError(
    'TEMPLATE_HAS_LINKED_CLONES',
    `cannot ${what}: ${clones.length} linked clone${clones.length === 1 ? '' : 's'} read${clones.length === 1 ? 's' : ''} it and could not power on without it:\n${clones.map((c) => `    ${c.vmxPath}`).join('\n')}`,
    {
      fix: `delete those VMs first (\`${commandHint('destroy')}\` for this cluster's nodes), or keep the template as it is and set vmware.cloneMode: full for nodes that need a larger disk`,
    },
  );
}

/** Records what vmware-vdiskmanager did with the OVA's disk in state.json (observations.ts); never fails the build. */
async function recordConversion(
  spec: ClusterSpec,
  deps: TemplateBuildDeps,
  value: 'converted' | 'failed',
  detail: string,
): Promise<void> {
  const warn = (message: string): void => deps.log(`disk: ${message}`);
  try {
    const store = await BuildStateStore.open(spec.stateDir, spec.name);
    await recordObservation(
      store,
      'vdiskmanager-converts-ova-disk',
      {
        value,
        detail,
        at: (deps.now ?? (() => new Date()))(),
        command: 'vmware-vdiskmanager -r <ova disk> -t 0 <template disk>',
      },
      warn,
    );
  } catch (error) {
    warn(`could not record what vmware-vdiskmanager did in state.json: ${(error as Error).message}`);
  }
}

async function ensureDisk(
  spec: ClusterSpec,
  state: TemplateState,
  image: ImageRecord,
  deps: TemplateBuildDeps,
  options: TemplateBuildOptions,
  ran: TemplateBuildResult['ran'],
): Promise<NonNullable<TemplateState['disk']>> {
  const name = spec.vmware.template.name;
  const diskPath = path.join(templateVmFolder(spec), `${name}.vmdk`);
  const wantedGiB = templateDiskGiB(spec);
  const recorded = state.disk;
  const now = (deps.now ?? (() => new Date()))().toISOString();
  if (
    !options.force &&
    recorded &&
    recorded.path === diskPath &&
    recorded.imageSha256 === image.sha256 &&
    existsSync(diskPath)
  ) {
    if (recorded.sizeGiB >= wantedGiB) {
      deps.log(`disk: ${diskPath} already converted (${recorded.sizeGiB} GiB)`);
      return recorded;
    }
    await assertNoLinkedClones(spec, `grow the template disk to ${wantedGiB} GiB`);
    assertNotLocked([diskPath]);
    deps.log(`disk: growing ${diskPath} from ${recorded.sizeGiB} to ${wantedGiB} GiB`);
    await runVdiskmanager(
      vdiskmanager(spec, deps),
      growDiskArgs(diskPath, wantedGiB),
      `grow ${path.basename(diskPath)} to ${wantedGiB} GiB`,
    );
    ran.push('grow');
    return { ...recorded, sizeGiB: wantedGiB, convertedAt: now };
  }

  const tool = vdiskmanager(spec, deps);
  if (existsSync(diskPath)) await assertNoLinkedClones(spec, 'replace the template disk');
  assertNotLocked([diskPath, templateVmxPath(spec)]);
  const workDir = path.join(templateStateDir(spec), 'work');
  deps.log(`disk: extracting the disk from ${image.fileName}`);
  const extracted = await extractOvaDisk(image.path, workDir);
  ran.push('extract');
  try {
    await mkdir(path.dirname(diskPath), { recursive: true });
    // vdiskmanager refuses to overwrite; convert beside the target, then swap it in.
    const converting = path.join(path.dirname(diskPath), `${name}.converting.vmdk`);
    await rm(converting, { force: true });
    deps.log(`disk: converting to a growable Workstation disk`);
    try {
      await runVdiskmanager(
        tool,
        convertDiskArgs(extracted.path, converting),
        `convert ${path.basename(extracted.path)}`,
      );
    } catch (error) {
      const message = (error as Error).message;
      // A tool that did not start says nothing about the disk.
      if (!message.includes('could not start'))
        await recordConversion(spec, deps, 'failed', message.split('\n').slice(0, 2).join(' '));
      throw error;
    }
    await recordConversion(spec, deps, 'converted', path.basename(extracted.path));
    ran.push('convert');
    const capacityGiB = extracted.capacityBytes === undefined ? undefined : extracted.capacityBytes / 2 ** 30;
    if (capacityGiB === undefined || capacityGiB < wantedGiB) {
      deps.log(`disk: growing to ${wantedGiB} GiB`);
      await runVdiskmanager(tool, growDiskArgs(converting, wantedGiB), `grow to ${wantedGiB} GiB`);
      ran.push('grow');
    }
    // A monolithic sparse disk is one file whose descriptor names no other extent, so a rename is safe.
    await rm(diskPath, { force: true });
    await rename(converting, diskPath);
    return {
      path: diskPath,
      sizeGiB: Math.max(wantedGiB, Math.floor(capacityGiB ?? 0)),
      imageSha256: image.sha256,
      convertedAt: now,
    };
  } finally {
    await rm(extracted.path, { force: true });
  }
}

async function ensureVmx(
  spec: ClusterSpec,
  image: ImageRecord,
  deps: TemplateBuildDeps,
  ran: TemplateBuildResult['ran'],
): Promise<string> {
  const vmxPath = templateVmxPath(spec);
  const name = spec.vmware.template.name;
  const rendered = await renderTemplateVmx({
    displayName: name,
    annotation: `kubestation template from ${image.fileName}${image.serial ? ` ${image.serial}` : ''} (sha256 ${image.sha256.slice(0, 16)}…)`,
    cpus: spec.controlPlane.cpus,
    memoryMiB: spec.controlPlane.memoryMiB,
    diskFile: `${name}.vmdk`,
    serialFile: SERIAL_LOG_FILE,
    natVnet: spec.networks.nat.vmnet,
    hostOnlyVnet: spec.networks.hostOnly.vmnet,
  });
  let text = rendered.toString();
  if (existsSync(vmxPath)) {
    const existing = VmxFile.parse(await readFile(vmxPath, 'utf8'));
    if (!mergeRenderedVmx(existing, rendered)) {
      deps.log(`vmx: ${vmxPath} is up to date`);
      return vmxPath;
    }
    text = existing.toString();
  }
  assertNotLocked([vmxPath]);
  await writeFileAtomic(vmxPath, text);
  ran.push('vmx');
  deps.log(`vmx: wrote ${vmxPath}`);
  return vmxPath;
}

async function ensureRegistered(
  spec: ClusterSpec,
  vmxPath: string,
  deps: TemplateBuildDeps,
  ran: TemplateBuildResult['ran'],
): Promise<string> {
  const name = spec.vmware.template.name;
  let vm = await deps.vmrest.findVm({ vmxPath });
  if (vm) {
    deps.log(`vmrest: ${name} is registered (id ${vm.id})`);
  } else {
    vm = await deps.vmrest.registerVm({ name, path: vmxPath });
    ran.push('register');
    deps.log(`vmrest: registered ${name} (id ${vm.id})`);
  }
  const power = await deps.vmrest.getPowerState(vm.id);
  if (power !== 'poweredOff') {
    throw new KubestationError(
      'TEMPLATE_NOT_POWERED_OFF',
      `The template VM ${name} is ${power}; clones can only be made from a powered-off VM.`,
      {
        fix: `Shut down ${name} in Workstation (or: vmrun stop "${vmxPath}" soft), then run the command again.`,
      },
    );
  }
  return vm.id;
}

export async function buildTemplate(
  spec: ClusterSpec,
  deps: TemplateBuildDeps,
  options: TemplateBuildOptions = {},
): Promise<TemplateBuildResult> {
  const ran: TemplateBuildResult['ran'] = [];
  const state = await readTemplateState(spec);
  const save = (): Promise<void> => writeTemplateState(spec, state);

  // A missing Workstation should stop the run before a long download, not after it.
  if (options.force || !state.disk || !existsSync(state.disk.path)) vdiskmanager(spec, deps);

  const image = await ensureImage(spec, state, deps, options, ran);
  if (state.image?.sha256 !== image.sha256) delete state.golden; // a new base image has none of the baked packages
  state.image = image;
  await save();

  const disk = await ensureDisk(spec, state, image, deps, options, ran);
  if (ran.includes('convert')) delete state.golden; // a fresh disk: nothing baked into it yet
  state.disk = disk;
  await save();

  const vmxPath = await ensureVmx(spec, image, deps, ran);
  const now = (deps.now ?? (() => new Date()))().toISOString();
  state.vm = {
    name: spec.vmware.template.name,
    vmxPath,
    vmrestId: state.vm?.vmrestId,
    firmware: 'efi',
    virtualHwVersion: 20,
    registeredAt: state.vm?.registeredAt,
  };
  await save();

  const vmId = await ensureRegistered(spec, vmxPath, deps, ran);
  state.vm = {
    ...state.vm,
    vmrestId: vmId,
    registeredAt: ran.includes('register') ? now : (state.vm.registeredAt ?? now),
  };
  if (ran.length > 0 || !state.builtAt) state.builtAt = now;
  await save();
  return { state, vmId, ran };
}
