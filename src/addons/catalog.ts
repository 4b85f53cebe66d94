/**
 * STAND-IN (addons-apply branch): the add-on catalogue's names as the issue 23 contract gives them, with no
 * vendored manifests. addons-config's catalog.ts (the vendored files, their versions, URLs, sha256 and
 * images) replaces this file whole at the merge.
 */
import { readFile } from 'node:fs/promises';
import { KubestationError } from '../errors.js';

export type AddonName = 'loadBalancer' | 'storage' | 'metrics' | 'gateway';

export interface AddonRelease {
  name: AddonName;
  component: string;
  version: string;
  kubernetes: { min: string; max: string };
  manifests: { file: string; url: string; sha256: string }[];
  images: string[];
}

export const ADDONS: readonly AddonRelease[] = [
  {
    name: 'loadBalancer',
    component: 'MetalLB',
    version: '',
    kubernetes: { min: '', max: '' },
    manifests: [],
    images: [],
  },
  {
    name: 'storage',
    component: 'local-path-provisioner',
    version: '',
    kubernetes: { min: '', max: '' },
    manifests: [],
    images: [],
  },
  {
    name: 'metrics',
    component: 'metrics-server',
    version: '',
    kubernetes: { min: '', max: '' },
    manifests: [],
    images: [],
  },
  {
    name: 'gateway',
    component: 'NGINX Gateway Fabric',
    version: '',
    kubernetes: { min: '', max: '' },
    manifests: [],
    images: [],
  },
];

export async function readAddonManifest(file: string): Promise<string> {
  try {
    return await readFile(new URL(`../../../${file}`, import.meta.url), 'utf8');
  } catch (error) {
    throw new KubestationError('ADDON_MANIFEST', `cannot read the vendored manifest ${file}`, {
      fix: 'reinstall kubestation',
      cause: error,
    });
  }
}
