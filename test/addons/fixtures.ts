/**
 * A stand-in catalogue for the add-on tests: small manifests shaped like the vendored ones (CRDs with the
 * empty status upstream CRD files carry, a
 * namespace, a controller Deployment, a DaemonSet, a StorageClass, an APIService), so apply.ts meets every
 * kind of object it orders, without the real files (addons-config vendors those).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddonRelease } from '../../src/addons/catalog.js';
import type { ManifestSource } from '../../src/addons/apply.js';
import { parseManifest } from '../../src/addons/render.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { AddonsSpec, ClusterSpec } from '../../src/config/model.js';

const specPath = path.resolve('cluster.yaml');

/** The repository's cluster.yaml with every add-on on (the contract's defaults), or as `change` says. */
export function specWithAddons(change: (addons: AddonsSpec) => void = () => undefined): ClusterSpec {
  const spec = parseClusterSpec(readFileSync(specPath, 'utf8'), { sourcePath: specPath });
  const addons: AddonsSpec = {
    loadBalancer: { enabled: true, pool: { start: '172.100.100.64', end: '172.100.100.95' } },
    storage: { enabled: true },
    metrics: { enabled: true },
    gateway: { enabled: true, address: '172.100.100.64' },
  };
  change(addons);
  return { ...spec, addons };
}

const crd = (group: string, kind: string, plural: string, version: string) => `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${plural}.${group}
spec:
  group: ${group}
  names: { kind: ${kind}, plural: ${plural}, singular: ${kind.toLowerCase()}, listKind: ${kind}List }
  scope: ${kind.endsWith('Class') ? 'Cluster' : 'Namespaced'}
  versions:
    - name: ${version}
      served: true
      storage: true
      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }
status: { acceptedNames: { kind: '', plural: '' }, conditions: null, storedVersions: null }
`;

const deployment = (namespace: string, name: string) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec: { containers: [{ name: ${name}, image: example.test/${name}:v1 }] }
`;

const manifests: Record<AddonRelease['name'], string> = {
  loadBalancer: [
    crd('metallb.io', 'IPAddressPool', 'ipaddresspools', 'v1beta1'),
    crd('metallb.io', 'L2Advertisement', 'l2advertisements', 'v1beta1'),
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: metallb-system }\n',
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: controller, namespace: metallb-system }\n',
    deployment('metallb-system', 'controller'),
    `apiVersion: apps/v1
kind: DaemonSet
metadata: { name: speaker, namespace: metallb-system }
spec:
  selector: { matchLabels: { app: speaker } }
  template:
    metadata: { labels: { app: speaker } }
    spec:
      hostNetwork: true
      tolerations: [{ operator: Exists }]
      containers: [{ name: speaker, image: example.test/speaker:v1 }]
`,
  ].join('\n---\n'),
  storage: [
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: local-path-storage }\n',
    deployment('local-path-storage', 'local-path-provisioner'),
    'apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: { name: local-path }\nprovisioner: rancher.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n',
  ].join('\n---\n'),
  metrics: [
    'apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: metrics-server, namespace: kube-system }\n',
    deployment('kube-system', 'metrics-server'),
    'apiVersion: apiregistration.k8s.io/v1\nkind: APIService\nmetadata: { name: v1beta1.metrics.k8s.io }\nspec: { group: metrics.k8s.io, version: v1beta1, service: { name: metrics-server, namespace: kube-system } }\n',
  ].join('\n---\n'),
  gateway: [
    crd('gateway.networking.k8s.io', 'GatewayClass', 'gatewayclasses', 'v1'),
    crd('gateway.networking.k8s.io', 'Gateway', 'gateways', 'v1'),
    'apiVersion: v1\nkind: Namespace\nmetadata: { name: nginx-gateway }\n',
    deployment('nginx-gateway', 'nginx-gateway'),
    // Like NGINX Gateway Fabric's: a one-shot certificate generator, and the one class its controller serves.
    `apiVersion: batch/v1
kind: Job
metadata: { name: nginx-gateway-cert-generator, namespace: nginx-gateway }
spec:
  ttlSecondsAfterFinished: 30
  template:
    spec: { restartPolicy: Never, containers: [{ name: cert-generator, image: example.test/ngf:v1 }] }
`,
    'apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata: { name: nginx }\nspec: { controllerName: gateway.nginx.org/nginx-gateway-controller }\n',
  ].join('\n---\n'),
};

export const TEST_RELEASES: AddonRelease[] = (
  [
    ['loadBalancer', 'MetalLB'],
    ['storage', 'local-path-provisioner'],
    ['metrics', 'metrics-server'],
    ['gateway', 'NGINX Gateway Fabric'],
  ] as const
).map(([name, component]) => ({
  name,
  component,
  version: 'v0.0.0-test',
  kubernetes: { min: '1.30', max: '1.40' },
  manifests: [{ file: `test/${name}.yaml`, url: 'https://example.test', sha256: '' }],
  images: [],
}));

export const testManifests: ManifestSource = async (release) =>
  parseManifest(manifests[release.name], `test/${release.name}.yaml`);
