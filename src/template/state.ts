/**
 * What `build-template` has built, in `<stateDir>/template/template.json`.
 * Each step records its verified result here; a re-run skips a step whose
 * record matches the spec and whose files still exist.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ClusterSpec } from '../config/model.js';
import { writeFileAtomic } from './files.js';

export const TEMPLATE_STATE_VERSION = 1;

export interface ImageRecord {
  url: string;
  checksumsUrl: string;
  /** File name as SHA256SUMS lists it, e.g. "noble-server-cloudimg-amd64.ova". */
  fileName: string;
  /** Where the verified image is kept (reused by later rebuilds). */
  path: string;
  sha256: string;
  bytes: number;
  /** Image serial when the URL names a dated folder (".../noble/20250115/..."), else undefined. */
  serial: string | undefined;
  /** The server's Last-Modified for the image: identifies a "current" image without a serial. */
  lastModified: string | undefined;
  downloadedAt: string;
}

export interface DiskRecord {
  /** The Workstation disk (monolithic sparse) beside the template's .vmx. */
  path: string;
  sizeGiB: number;
  /** SHA-256 of the image it was converted from. */
  imageSha256: string;
  convertedAt: string;
}

export interface VmRecord {
  name: string;
  vmxPath: string;
  /** vmrest id when it was registered (ids can change; look the VM up by path). */
  vmrestId: string | undefined;
  firmware: 'efi';
  virtualHwVersion: number;
  registeredAt: string | undefined;
}

/** Versions a golden bake installed; the same object the guest keeps in /etc/kubestation/golden.json. */
export interface GoldenMarker {
  formatVersion: 1;
  bakedAt: string;
  kubernetes: {
    minor: string;
    /** Exact version installed, e.g. "1.37.2". */
    version: string;
    /** Debian package versions of kubelet, kubeadm, kubectl (e.g. "1.37.2-1.1"). */
    packages: Record<string, string>;
  };
  /** The containerd package the bake installed and its Debian version. */
  containerd: { package: string; version: string };
  cni: {
    name: string;
    version: string;
    /** The CNI manifests kept in the template (GOLDEN_CNI_DIR) for the nodes to apply; absent in bakes before they were kept. */
    manifests?: GoldenCniManifest[];
  };
  /** Images present in containerd's k8s.io namespace after the bake. */
  images: string[];
  /** Each image with its digest (repository digest, else image id); absent in older bakes. */
  imageDigests?: Record<string, string>;
  /** Debian versions of the other packages a node's first boot installs (ethtool, ufw, conntrack, ...). */
  basePackages?: Record<string, string>;
}

/** One CNI manifest the bake downloaded and kept: its URL, its file name in the template, its SHA-256. */
export interface GoldenCniManifest {
  url: string;
  file: string;
  sha256: string;
}

export interface TemplateState {
  formatVersion: typeof TEMPLATE_STATE_VERSION;
  image?: ImageRecord;
  disk?: DiskRecord;
  vm?: VmRecord;
  golden?: GoldenMarker & { imageSha256: string };
  /** Set when all of steps 1–5 are done. */
  builtAt?: string;
}

export function templateStateDir(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return path.join(spec.stateDir, 'template');
}

export function templateStatePath(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return path.join(templateStateDir(spec), 'template.json');
}

/** The template VM's folder, `<stateDir>/template/vm/` (build-template writes it itself, so it can choose). */
export function templateVmFolder(spec: Pick<ClusterSpec, 'stateDir'>): string {
  return path.join(templateStateDir(spec), 'vm');
}

export function templateVmxPath(spec: Pick<ClusterSpec, 'stateDir' | 'vmware'>): string {
  return path.join(templateVmFolder(spec), `${spec.vmware.template.name}.vmx`);
}

export async function readTemplateState(spec: Pick<ClusterSpec, 'stateDir'>): Promise<TemplateState> {
  let text: string;
  try {
    text = await readFile(templateStatePath(spec), 'utf8');
  } catch {
    return { formatVersion: TEMPLATE_STATE_VERSION };
  }
  const parsed = JSON.parse(text) as Partial<TemplateState>;
  // An unknown format means an older or newer kubestation wrote it: rebuild the records, keep the files.
  if (parsed.formatVersion !== TEMPLATE_STATE_VERSION) return { formatVersion: TEMPLATE_STATE_VERSION };
  return parsed as TemplateState;
}

/** Atomic write: a crash leaves the old record or the new one, never half of one. */
export async function writeTemplateState(
  spec: Pick<ClusterSpec, 'stateDir'>,
  state: TemplateState,
): Promise<void> {
  await writeFileAtomic(templateStatePath(spec), `${JSON.stringify(state, null, 2)}\n`);
}

/** "https://cloud-images.ubuntu.com/noble/20250115/x.ova" → "20250115"; "current" URLs have none. */
export function imageSerialFromUrl(url: string): string | undefined {
  return /\/(\d{8}(?:\.\d+)?)\//.exec(new URL(url).pathname)?.[1];
}
