/**
 * What kubestation applies for each add-on, as Kubernetes objects (pure: spec + the vendored manifests'
 * objects → objects): the vendored objects, plus the ones kubestation makes itself from cluster.yaml —
 * MetalLB's address pool and its L2 announcement on the host-only NIC only, the default-StorageClass
 * annotation, and the lab's Gateway on its pool address. Every object carries the
 * labels that let a later build-vms find and remove what it applied.
 */
import yaml from 'js-yaml';
import type { ClusterSpec } from '../config/model.js';
import type { KubeObject } from '../kube/types.js';
import type { AddonName } from './catalog.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const ADDON_LABEL = 'kubestation.io/addon';
export const GATEWAY_NAMESPACE = 'kubestation-gateway';
/** The name of the objects kubestation makes itself (pool, announcement, Gateway). */
export const KUBESTATION_OBJECT = 'kubestation';
export const DEFAULT_STORAGE_CLASS = 'local-path';

/** Each YAML document of a manifest as an object (empty documents skipped, `kind: List` unpacked). */
export function parseManifest(text: string, file: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const doc of yaml.loadAll(text, undefined, { filename: file })) {
    if (doc === null || doc === undefined) continue;
    const object = doc as KubeObject & { items?: KubeObject[] };
    if (typeof object !== 'object' || typeof object.kind !== 'string' || typeof object.metadata !== 'object')
      throw new Error(`${file}: a document that is not a Kubernetes object`);
    if (object.kind.endsWith('List') && Array.isArray(object.items)) objects.push(...object.items);
    else objects.push(object);
  }
  return objects;
}

/** An add-on's objects in two groups: the vendored ones, and kubestation's own (applied once the add-on's controllers run: MetalLB validates its pools through a webhook). */
export interface RenderedAddon {
  vendored: KubeObject[];
  own: KubeObject[];
}

export function renderAddonParts(spec: ClusterSpec, name: AddonName, vendored: KubeObject[]): RenderedAddon {
  // A manifest's `status` (CRDs carry an empty one) is the server's to write: it is not applied.
  const label = ({ status: _status, ...object }: KubeObject): KubeObject => ({
    ...object,
    metadata: {
      ...object.metadata,
      labels: { ...(object.metadata.labels ?? {}), [MANAGED_BY_LABEL]: 'kubestation', [ADDON_LABEL]: name },
    },
  });
  const copies = vendored.map((o) => label(structuredClone(o)));
  switch (name) {
    case 'loadBalancer':
      return { vendored: copies, own: metallbPool(spec).map(label) };
    case 'storage':
      return { vendored: copies.map(markDefaultStorageClass), own: [] };
    case 'metrics':
      return { vendored: copies, own: [] };
    case 'gateway':
      return { vendored: copies, own: labGateway(spec, vendored).map(label) };
  }
}

/** Every object kubestation applies for the add-on, in no particular order (apply.ts orders them). */
export function renderAddon(spec: ClusterSpec, name: AddonName, vendored: KubeObject[]): KubeObject[] {
  const parts = renderAddonParts(spec, name, vendored);
  return [...parts.vendored, ...parts.own];
}

/**
 * The pool on VMnet1 and its L2 announcement on the host-only NIC only (ens37): the speakers answer ARP
 * where the Windows host is, never on the NAT network, whose addresses VMware's NAT owns.
 */
function metallbPool(spec: ClusterSpec): KubeObject[] {
  const { start, end } = spec.addons.loadBalancer.pool;
  const metadata = { name: KUBESTATION_OBJECT, namespace: 'metallb-system' };
  return [
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata,
      spec: { addresses: [`${start}-${end}`] },
    },
    {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata,
      spec: { ipAddressPools: [KUBESTATION_OBJECT], interfaces: [spec.controlPlane.nics.hostOnly.guestName] },
    },
  ];
}

/** local-path-provisioner's StorageClass, annotated as the cluster's default (a PVC without a class uses it). */
function markDefaultStorageClass(object: KubeObject): KubeObject {
  if (object.kind !== 'StorageClass' || object.metadata.name !== DEFAULT_STORAGE_CLASS) return object;
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: {
        ...(object.metadata.annotations ?? {}),
        'storageclass.kubernetes.io/is-default-class': 'true',
      },
    },
  };
}

/**
 * The GatewayClass the lab's Gateway uses. A controller that ships its own class serves only that one
 * (NGINX Gateway Fabric's `--gatewayclass=nginx`), so the Gateway takes it; a release that ships none gets
 * the class `kubestation`, for NGINX Gateway Fabric's controller name.
 */
function gatewayClass(vendored: KubeObject[]): { name: string; own: KubeObject[] } {
  const shipped = vendored.find((o) => o.kind === 'GatewayClass');
  if (shipped?.metadata.name) return { name: shipped.metadata.name, own: [] };
  return {
    name: KUBESTATION_OBJECT,
    own: [
      {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'GatewayClass',
        metadata: { name: KUBESTATION_OBJECT },
        spec: { controllerName: 'gateway.nginx.org/nginx-gateway-controller' },
      },
    ],
  };
}

/**
 * The lab's Gateway: HTTP on port 80 for routes from every namespace, its Service on the address
 * cluster.yaml gives (MetalLB's loadBalancerIPs annotation, passed on to the Service the controller makes
 * through the Gateway's spec.infrastructure), so it keeps that address across rebuilds.
 */
function labGateway(spec: ClusterSpec, vendored: KubeObject[]): KubeObject[] {
  const cls = gatewayClass(vendored);
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GATEWAY_NAMESPACE } },
    ...cls.own,
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: KUBESTATION_OBJECT, namespace: GATEWAY_NAMESPACE },
      spec: {
        gatewayClassName: cls.name,
        infrastructure: { annotations: { 'metallb.io/loadBalancerIPs': spec.addons.gateway.address } },
        listeners: [
          { name: 'http', protocol: 'HTTP', port: 80, allowedRoutes: { namespaces: { from: 'All' } } },
        ],
      },
    },
  ];
}
