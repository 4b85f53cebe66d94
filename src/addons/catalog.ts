/**
 * The add-ons kubestation installs (issue 23), each pinned: the upstream
 * release, the manifests vendored byte for byte under addons/ (shipped in the
 * npm package, so nothing is downloaded and a lab builds with no Internet once
 * the images are in the golden template), their official URL and sha256, the
 * Kubernetes minors the release supports by its own project's statement, and
 * every image the manifests run (the golden bake pulls them).
 *
 * Versions are not configurable in cluster.yaml: a release is pinned here, in
 * the repository, together with its files and checksums. A user who writes a
 * version is told the pinned one (src/config/structural.ts).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { asset } from '../assets.js';
import type { AddonsSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';

export type AddonName = 'loadBalancer' | 'storage' | 'metrics' | 'gateway';

export interface AddonManifest {
  /** Path inside the package (and the repository), e.g. "addons/loadBalancer/metallb-native.yaml". */
  file: string;
  /** The official URL of the same file at the pinned release. */
  url: string;
  /** sha256 of the vendored file (hex); readAddonManifest refuses a file that differs. */
  sha256: string;
  /** The upstream project and release this file comes from, when it is not the add-on's own (the Gateway API CRDs). */
  from?: { component: string; version: string };
}

export interface AddonRelease {
  name: AddonName;
  /** The upstream project, as a user would search for it. */
  component: string;
  /** The pinned upstream release, e.g. "v0.16.1". */
  version: string;
  /** Kubernetes minors this release supports (inclusive), e.g. { min: '1.31', max: '1.37' }. */
  kubernetes: { min: string; max: string };
  /** Applied in this order (CRDs before the objects that use them). */
  manifests: readonly AddonManifest[];
  /** Every container image the manifests run, as written in them. */
  images: readonly string[];
}

/**
 * No upstream below states a newest supported Kubernetes minor: each says "this minor or later" (or
 * "the supported minors"). The upper end is therefore the newest minor kubestation itself supports and
 * was checked against; adding a newer minor to SUPPORTED_KUBERNETES_MINORS means checking each add-on
 * again and raising this.
 */
const NEWEST_CHECKED_MINOR = '1.37';

const GATEWAY_API_VERSION = 'v1.5.1';
const gatewayApiCrd = (kind: string): AddonManifest => ({
  file: `addons/gateway/gateway.networking.k8s.io_${kind}.yaml`,
  url: `https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/${GATEWAY_API_VERSION}/config/crd/standard/gateway.networking.k8s.io_${kind}.yaml`,
  sha256: GATEWAY_API_SHA256[kind]!,
  from: { component: 'Gateway API (standard channel)', version: GATEWAY_API_VERSION },
});
/** The files config/crd/kustomization.yaml lists at v1.5.1, in its order (the standard channel). */
const GATEWAY_API_SHA256: Record<string, string> = {
  gatewayclasses: '234ad4b2757ee1b3596a4187bb98df071c5bbdd9e1806f692f2dbf8387e6bef4',
  gateways: '7416e8300eb4d8c0a71a23445609075bbacbe8bc80104584b019cfe1ebe77c31',
  grpcroutes: '979f4125d44d3df24659ba00d1d04ff8e76c45423193e8aae82dd5810d7827df',
  httproutes: '682203b109baecb18d38073a578f7bc2c17d22fe9b0c27bf030850abe014c370',
  referencegrants: 'a8902c486eed0b7339f5bb8a476ccaba0918eb038048402bdc01cbb69b0fbb51',
  backendtlspolicies: '9b8818172153d72f9c84032db0be0a4a657277d13f5bbc22226ad9481ff57971',
  listenersets: '9221468d19fdfbb0026113b1ef64abac64f27607975aff2410361b8b38f0e0bb',
  tlsroutes: '818e4827c469a40e2527a2851591e656782c50fea8dd44812c900d219da09345',
  vap_safeupgrades: '981a4da92706cb567c051e006ff229429947f054b90cd0719c297abe14f958a1',
};

export const ADDONS: readonly AddonRelease[] = [
  {
    name: 'loadBalancer',
    component: 'MetalLB',
    version: 'v0.16.1',
    // https://github.com/metallb/metallb/blob/v0.16.1/website/content/_index.md ("Requirements"):
    // "running Kubernetes 1.13.0 or later"; concepts/maturity.md: the maintainers "aim to keep
    // compatibility with the supported versions of Kubernetes". No upper bound stated.
    kubernetes: { min: '1.13', max: NEWEST_CHECKED_MINOR },
    manifests: [
      {
        file: 'addons/loadBalancer/metallb-native.yaml',
        url: 'https://raw.githubusercontent.com/metallb/metallb/v0.16.1/config/manifests/metallb-native.yaml',
        sha256: 'bf25feebb7582ca7df845efd52ffbc2960d6cbf4cfc972f47fded9f788b67f0b',
      },
    ],
    images: ['quay.io/metallb/controller:v0.16.1', 'quay.io/metallb/speaker:v0.16.1'],
  },
  {
    name: 'storage',
    component: 'local-path-provisioner',
    version: 'v0.0.37',
    // https://github.com/rancher/local-path-provisioner/blob/v0.0.37/README.md ("Requirement"):
    // "Kubernetes v1.12+". No upper bound stated.
    kubernetes: { min: '1.12', max: NEWEST_CHECKED_MINOR },
    manifests: [
      {
        file: 'addons/storage/local-path-storage.yaml',
        url: 'https://raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.37/deploy/local-path-storage.yaml',
        sha256: '9781b39c24f3f651bd6d6e41b561e04e4904bbdb6d4f8c7a6009df3a702dcd65',
      },
    ],
    // The helper pod (in the ConfigMap's helperPod.yaml) names busybox without a tag, as upstream ships it.
    images: ['docker.io/rancher/local-path-provisioner:v0.0.37', 'docker.io/library/busybox'],
  },
  {
    name: 'metrics',
    component: 'metrics-server',
    version: 'v0.9.0',
    // https://github.com/kubernetes-sigs/metrics-server/blob/v0.9.0/README.md ("Compatibility Matrix"):
    // 0.9.x supports Kubernetes "1.34+" (0.8.x: 1.31+).
    kubernetes: { min: '1.34', max: NEWEST_CHECKED_MINOR },
    manifests: [
      {
        // The release asset is not a file in the repository: upstream's Makefile (release-manifests)
        // renders it with `kubectl kustomize manifests/overlays/release`. This file is that rendering of
        // the v0.9.0 tag (kustomize v5.5.0); its checksum is of this file, not compared with the asset.
        file: 'addons/metrics/components.yaml',
        url: 'https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.9.0/components.yaml',
        sha256: '1cec29a5267809306a2c6ec74a3e449abbb705b4a8beed0c8a1963910f72c79b',
      },
    ],
    images: ['registry.k8s.io/metrics-server/metrics-server:v0.9.0'],
  },
  {
    name: 'gateway',
    component: 'NGINX Gateway Fabric',
    version: 'v2.6.7',
    // https://github.com/nginx/nginx-gateway-fabric/blob/v2.6.7/README.md ("Technical Specifications"):
    // 2.6.7 supports Gateway API 1.5.1 and Kubernetes "1.31+". Gateway API
    // (https://github.com/kubernetes-sigs/gateway-api/blob/v1.5.1/site-src/concepts/versioning.md,
    // "Supported Versions") supports "a minimum of the most recent 5 Kubernetes minor versions" (1.31–1.35
    // when v1.5.1 came out); its ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) needs 1.30.
    kubernetes: { min: '1.31', max: NEWEST_CHECKED_MINOR },
    manifests: [
      ...[
        'gatewayclasses',
        'gateways',
        'grpcroutes',
        'httproutes',
        'referencegrants',
        'backendtlspolicies',
        'listenersets',
        'tlsroutes',
        'vap_safeupgrades',
      ].map(gatewayApiCrd),
      {
        file: 'addons/gateway/crds.yaml',
        url: 'https://raw.githubusercontent.com/nginx/nginx-gateway-fabric/v2.6.7/deploy/crds.yaml',
        sha256: '942d031b4f5d0cd57194c8d0d6e7a09bddf4ced3e59609dd390db013434ec8fa',
      },
      {
        file: 'addons/gateway/deploy.yaml',
        url: 'https://raw.githubusercontent.com/nginx/nginx-gateway-fabric/v2.6.7/deploy/default/deploy.yaml',
        sha256: '33c493b6233975913a1628dd0219ef787e3fff5a17bd9d6e3108b41139c7c05b',
      },
    ],
    // The controller, and the NGINX data plane it starts for each Gateway (named in the NginxProxy's
    // spec.kubernetes.deployment.container.image repository and tag, not in an `image:` line).
    images: ['ghcr.io/nginx/nginx-gateway-fabric:2.6.7', 'ghcr.io/nginx/nginx-gateway-fabric/nginx:2.6.7'],
  },
];

export function addonRelease(name: AddonName): AddonRelease {
  const release = ADDONS.find((a) => a.name === name);
  if (!release) throw new Error(`no add-on named ${name} in the catalogue`);
  return release;
}

/** The images of the enabled add-ons (what the golden template must hold for them). */
export function addonImages(spec: { addons: AddonsSpec }): string[] {
  const enabled = ADDONS.filter((a) => spec.addons[a.name].enabled);
  return [...new Set(enabled.flatMap((a) => a.images))];
}

/**
 * A vendored manifest's text, read from the package. Refuses a file whose sha256 is not the
 * catalogue's (edited, or line endings changed by a checkout) and one the catalogue does not list.
 */
export async function readAddonManifest(file: string): Promise<string> {
  const manifest = ADDONS.flatMap((a) => a.manifests).find((m) => m.file === file);
  if (!manifest)
    throw new KubestationError(
      'ADDON_MANIFEST_UNKNOWN',
      `${file} is not an add-on manifest kubestation pins`,
      {
        fix: 'name one of the files listed in src/addons/catalog.ts',
      },
    );
  const path = asset(...file.split('/'));
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new KubestationError(
      'ADDON_MANIFEST_MISSING',
      `the add-on manifest ${path} cannot be read: ${(error as Error).message}`,
      {
        fix: 'reinstall kubestation (npm ci in a fresh clone): the manifests under addons/ ship with it',
        cause: error,
      },
    );
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== manifest.sha256)
    throw new KubestationError(
      'ADDON_MANIFEST_CHANGED',
      `the add-on manifest ${path} has sha256 ${sha256}, not the pinned ${manifest.sha256} (taken from ${manifest.url})`,
      {
        fix: `restore the file as released (git checkout -- ${file}; a checkout that turns line endings into CRLF changes it too, which .gitattributes prevents), or reinstall kubestation`,
      },
    );
  return bytes.toString('utf8');
}
