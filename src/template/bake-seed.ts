/**
 * The golden bake's cloud-init seed: cloud-init/bake/user-data.yaml with
 * bake.sh, its settings and the progress-line writer embedded, a meta-data with a fresh instance id
 * (so cloud-init runs again for a re-bake), and a network-config that brings
 * up ens33 (NAT, DHCP) only: the bake needs the Internet, not the cluster
 * network. Pure: spec in, files out.
 */
import { readFile } from 'node:fs/promises';
import { asset } from '../assets.js';
import { FIRST_MINOR_NEEDING_CONTAINERD2 } from '../config/defaults.js';
import type { ClusterSpec } from '../config/model.js';
import { addonImages } from '../addons/catalog.js';
import { defaultVerifyImage } from '../verify/workload.js';

export interface SeedFile {
  name: string;
  content: string;
}

/** A value for a `KEY='...'` line in bake.env (POSIX sh single quotes). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function bakeEnv(spec: Pick<ClusterSpec, 'kubernetes' | 'addons'>): string {
  const k = spec.kubernetes;
  const values: Record<string, string> = {
    KUBERNETES_MINOR: k.minor,
    KUBERNETES_PATCH: k.patch ?? '',
    PACKAGE_REPOSITORY: k.packageRepository,
    PACKAGE_KEY_URL: k.packageRepositoryKeyUrl,
    CONTAINERD_PACKAGE_SOURCE: k.containerdPackageSource,
    CONTAINERD_PACKAGE_KEY_URL: k.containerdPackageKeyUrl,
    CONTAINERD2_FIRST_MINOR: FIRST_MINOR_NEEDING_CONTAINERD2,
    CNI_NAME: k.cni.name,
    CNI_VERSION: k.cni.version,
    CNI_MANIFEST_URLS: k.cni.manifestUrls.join(' '),
    VERIFY_IMAGE: defaultVerifyImage,
    // The enabled add-ons' images: build-vms applies the add-ons from the host, and their pods start from these.
    ADDON_IMAGES: addonImages(spec).join(' '),
  };
  return `${Object.entries(values)
    .map(([key, value]) => `${key}=${shellQuote(value)}`)
    .join('\n')}\n`;
}

export function bakeNetworkConfig(spec: Pick<ClusterSpec, 'os'>): string {
  const dns = spec.os.dnsServers.map((a) => JSON.stringify(a)).join(', ');
  return [
    'version: 2',
    'ethernets:',
    '  ens33:',
    '    dhcp4: true',
    ...(dns ? ['    nameservers:', `      addresses: [${dns}]`] : []),
    '',
  ].join('\n');
}

/** cloud-init/lib files bake.sh sources from /usr/local/lib/kubestation-bake/. */
export const BAKE_LIBRARIES = ['progress.sh', 'network.sh', 'apt.sh', 'containerd-package.sh'] as const;

export interface BakeSeedOptions {
  /** Makes the instance id unique per bake, e.g. the bake's start time. */
  bakeId: string;
}

export async function renderBakeSeed(
  spec: Pick<ClusterSpec, 'kubernetes' | 'os' | 'addons'>,
  options: BakeSeedOptions,
): Promise<SeedFile[]> {
  const [template, script, markerWriter, ...libs] = await Promise.all([
    readFile(asset('cloud-init', 'bake', 'user-data.yaml'), 'utf8'),
    readFile(asset('cloud-init', 'bake', 'bake.sh'), 'utf8'),
    readFile(asset('cloud-init', 'bake', 'golden-marker.py'), 'utf8'),
    // The nodes' libraries, so the bake speaks the same protocol (src/progress/protocol.ts) and checks the way out the same way.
    ...BAKE_LIBRARIES.map((name) => readFile(asset('cloud-init', 'lib', name), 'utf8')),
  ]);
  const values: Record<string, string> = {
    bakeEnvBase64: Buffer.from(bakeEnv(spec)).toString('base64'),
    bakeScriptBase64: Buffer.from(script).toString('base64'),
    goldenMarkerBase64: Buffer.from(markerWriter).toString('base64'),
  };
  BAKE_LIBRARIES.forEach(
    (name, i) =>
      (values[`${name.replace(/\.sh$/, '').replace(/-(\w)/g, (_, c: string) => c.toUpperCase())}LibBase64`] =
        Buffer.from(libs[i]!).toString('base64')),
  );
  const userData = template.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => values[name] ?? whole);
  const instanceId = `kubestation-bake-${options.bakeId.replace(/[^A-Za-z0-9-]/g, '')}`;
  return [
    { name: 'user-data', content: userData },
    { name: 'meta-data', content: `instance-id: ${instanceId}\nlocal-hostname: kubestation-bake\n` },
    { name: 'network-config', content: bakeNetworkConfig(spec) },
  ];
}
