/**
 * The add-on catalogue against the files it pins: every vendored manifest has the recorded sha256, the
 * images listed are exactly those the manifests run, and readAddonManifest refuses a changed file.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it, vi } from 'vitest';
import { ADDONS, addonImages, readAddonManifest } from '../../src/addons/catalog.js';
import { SUPPORTED_KUBERNETES_MINORS } from '../../src/config/defaults.js';
import { parseClusterSpec } from '../../src/config/load.js';
import { KubestationError } from '../../src/errors.js';
import { seedLab } from '../config/bad-spec-cases.js';
import { tempDir } from '../support/temp-dir.js';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(root, file));

/**
 * The images a manifest runs: every `image:` with a value, and the NGINX data plane NGINX Gateway Fabric
 * starts, named by its NginxProxy's spec.kubernetes.deployment.container.image repository and tag.
 */
function imagesIn(text: string): string[] {
  const found = [...text.matchAll(/^\s*(?:-\s+)?image:\s*(\S+)\s*$/gm)].map((m) => m[1]!);
  for (const doc of yaml.loadAll(text) as Array<Record<string, any> | null>) {
    if (doc?.kind !== 'NginxProxy') continue;
    const image = doc.spec?.kubernetes?.deployment?.container?.image;
    if (image?.repository) found.push(`${image.repository}:${image.tag}`);
  }
  return found;
}

describe('the add-on catalogue', () => {
  it('lists the four add-ons once each, every Kubernetes range a valid one', () => {
    expect(ADDONS.map((a) => a.name).sort()).toEqual(['gateway', 'loadBalancer', 'metrics', 'storage']);
    for (const addon of ADDONS) {
      expect(addon.kubernetes.min, addon.name).toMatch(/^1\.\d+$/);
      expect(SUPPORTED_KUBERNETES_MINORS, addon.name).toContain(addon.kubernetes.max);
      expect(addon.version, addon.name).toMatch(/^v\d+\.\d+\.\d+$/);
    }
  });

  it('pins every vendored file by its sha256 and an official release URL of the same version', () => {
    for (const addon of ADDONS) {
      for (const m of addon.manifests) {
        const sha256 = createHash('sha256').update(read(m.file)).digest('hex');
        expect(sha256, `${m.file} changed: vendor the upstream file again and update its sha256`).toBe(
          m.sha256,
        );
        expect(m.url, m.file).toMatch(/^https:\/\/(raw\.githubusercontent\.com|github\.com)\//);
        expect(m.url, m.file).toContain(m.from?.version ?? addon.version);
      }
    }
  });

  it('lists exactly the images its manifests run', () => {
    for (const addon of ADDONS) {
      const inManifests = new Set(addon.manifests.flatMap((m) => imagesIn(read(m.file).toString('utf8'))));
      expect([...inManifests].sort(), addon.name).toEqual([...addon.images].sort());
    }
  });

  it('keeps every add-on file in the package and from line-ending conversion', () => {
    const pkg = JSON.parse(read('package.json').toString('utf8')) as { files: string[] };
    expect(pkg.files).toContain('addons');
    expect(read('.gitattributes').toString('utf8')).toMatch(/^addons\/\*\* -text$/m);
  });
});

describe('addonImages', () => {
  it('gives the images of the enabled add-ons only', () => {
    const doc = seedLab();
    const all = addonImages(parseClusterSpec(yaml.dump(doc), { sourcePath: '/lab/cluster.yaml' }));
    expect(all).toContain('quay.io/metallb/speaker:v0.16.1');
    expect(all).toContain('registry.k8s.io/metrics-server/metrics-server:v0.9.0');
    doc.addons = { metrics: { enabled: false }, gateway: { enabled: false } };
    const some = addonImages(parseClusterSpec(yaml.dump(doc), { sourcePath: '/lab/cluster.yaml' }));
    expect(some).not.toContain('registry.k8s.io/metrics-server/metrics-server:v0.9.0');
    expect(some).not.toContain('ghcr.io/nginx/nginx-gateway-fabric:2.6.7');
    expect(some).toEqual([
      'quay.io/metallb/controller:v0.16.1',
      'quay.io/metallb/speaker:v0.16.1',
      'docker.io/rancher/local-path-provisioner:v0.0.37',
      'docker.io/library/busybox',
    ]);
  });
});

describe('readAddonManifest', () => {
  it('returns the vendored text', async () => {
    const text = await readAddonManifest('addons/loadBalancer/metallb-native.yaml');
    expect(text).toContain('image: quay.io/metallb/speaker:v0.16.1');
  });

  it('refuses a file whose sha256 differs (here: CRLF line endings), naming the file and the fix', async () => {
    // A package copy whose manifest was changed: readAddonManifest reads from the package root.
    const copy = tempDir('kubestation-addons-');
    await writeFile(path.join(copy, 'package.json'), '{}');
    const file = 'addons/storage/local-path-storage.yaml';
    await mkdir(path.join(copy, 'addons', 'storage'), { recursive: true });
    await writeFile(path.join(copy, file), read(file).toString('utf8').replace(/\n/g, '\r\n'));
    vi.resetModules();
    vi.doMock('../../src/assets.js', () => ({ asset: (...s: string[]) => path.join(copy, ...s) }));
    try {
      const { readAddonManifest: readFromCopy } = await import('../../src/addons/catalog.js');
      const error = await readFromCopy(file).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as KubestationError).code).toBe('ADDON_MANIFEST_CHANGED');
      expect((error as KubestationError).message).toContain(path.join(copy, file));
      expect((error as KubestationError).fix).toContain(`git checkout -- ${file}`);
      // and a file the copy does not have at all
      await copyFile(path.join(root, file), path.join(copy, file));
      await expect(readFromCopy(file)).resolves.toContain('local-path');
      await expect(readFromCopy('addons/gateway/deploy.yaml')).rejects.toThrow(/cannot be read/);
    } finally {
      vi.doUnmock('../../src/assets.js');
      vi.resetModules();
    }
  });

  it('refuses a file the catalogue does not pin', async () => {
    await expect(readAddonManifest('addons/loadBalancer/other.yaml')).rejects.toThrow(
      /not an add-on manifest kubestation pins/,
    );
  });
});
