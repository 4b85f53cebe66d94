/**
 * status' add-on part (issue 23 §4): each add-on's state, read from its pods
 * through the API (off when cluster.yaml turns it off), and the LoadBalancer
 * addresses in use, Service → address, which is what a user opens in the
 * Windows browser. Read-only; an API that fails is reported, not fatal.
 */
import type { ClusterSpec } from '../config/model.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError } from '../kube/errors.js';
import { findCondition, type Condition, type KubeObject, type Service } from '../kube/types.js';
import { podHealth } from '../verify/cluster-checks.js';
import { ADDON_NAMES } from '../verify/addon-checks.js';

type AddonKey = keyof ClusterSpec['addons'];

export interface AddonState {
  addon: AddonKey;
  state: 'off' | 'running' | 'not running' | 'not installed' | 'unknown';
  /** What was seen: the pool, the StorageClass, the Gateway's address, or the pod that is not running. */
  detail: string;
}

export interface LoadBalancerAddress {
  /** "namespace/name" */
  service: string;
  /** undefined: pending (no address yet). */
  address: string | undefined;
}

export interface AddonsStatus {
  addons: AddonState[];
  loadBalancers: LoadBalancerAddress[];
}

/** Where each add-on's pods run (its manifests' namespaces and labels). */
const podsOf: Record<AddonKey, { namespace: string; labelSelector?: string }> = {
  loadBalancer: { namespace: ADDON_NAMES.metallbNamespace },
  storage: { namespace: ADDON_NAMES.storageNamespace },
  metrics: { namespace: 'kube-system', labelSelector: 'k8s-app=metrics-server' },
  gateway: { namespace: 'nginx-gateway' },
};

const ingressOf = (service: Service): string | undefined =>
  (service.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0]?.ip;

async function orUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof KubeApiError) return undefined;
    throw error;
  }
}

function whatIsOn(spec: ClusterSpec, addon: AddonKey): string {
  const a = spec.addons;
  switch (addon) {
    case 'loadBalancer':
      return `pool ${a.loadBalancer.pool.start}-${a.loadBalancer.pool.end}`;
    case 'storage':
      return `StorageClass ${ADDON_NAMES.storageClass} (default)`;
    case 'metrics':
      return '`kubectl top nodes`';
    case 'gateway':
      return `Gateway ${ADDON_NAMES.gateway} at ${a.gateway.address}`;
  }
}

export async function collectAddonsStatus(spec: ClusterSpec, client: KubeClient): Promise<AddonsStatus> {
  const addons: AddonState[] = [];
  for (const addon of Object.keys(podsOf) as AddonKey[]) {
    if (!spec.addons[addon].enabled) {
      addons.push({ addon, state: 'off', detail: `addons.${addon}.enabled: false` });
      continue;
    }
    const where = podsOf[addon];
    const pods = await orUndefined(() =>
      client.listPods(where.namespace, where.labelSelector ? { labelSelector: where.labelSelector } : {}),
    );
    if (pods === undefined) {
      addons.push({ addon, state: 'unknown', detail: `could not list pods in ${where.namespace}` });
      continue;
    }
    if (pods.length === 0) {
      addons.push({ addon, state: 'not installed', detail: `no pods in ${where.namespace}` });
      continue;
    }
    const unhealthy = pods.filter((p) => !p.metadata.deletionTimestamp && !podHealth(p).healthy);
    if (unhealthy.length > 0) {
      addons.push({
        addon,
        state: 'not running',
        detail: unhealthy.map((p) => `${p.metadata.name}: ${podHealth(p).detail}`).join('; '),
      });
      continue;
    }
    let detail = whatIsOn(spec, addon);
    if (addon === 'gateway') {
      const gateway = await orUndefined(() =>
        client.request<KubeObject & { status?: { conditions?: Condition[] } }>(
          'GET',
          `/apis/gateway.networking.k8s.io/v1/namespaces/${ADDON_NAMES.gatewayNamespace}/gateways/${ADDON_NAMES.gateway}`,
        ),
      );
      const programmed = findCondition(gateway?.status?.conditions, 'Programmed');
      if (programmed?.status !== 'True') {
        addons.push({
          addon,
          state: 'not running',
          detail: gateway
            ? `Gateway ${ADDON_NAMES.gateway} not programmed${programmed?.reason ? ` (${programmed.reason})` : ''}`
            : `no Gateway ${ADDON_NAMES.gateway}`,
        });
        continue;
      }
      detail = `${detail}, programmed`;
    }
    addons.push({ addon, state: 'running', detail });
  }
  const services =
    (await orUndefined(() => client.request<{ items: Service[] }>('GET', '/api/v1/services')))?.items ?? [];
  const loadBalancers = services
    .filter((s) => s.spec?.type === 'LoadBalancer')
    .map((s) => ({ service: `${s.metadata.namespace}/${s.metadata.name}`, address: ingressOf(s) }))
    .sort((a, b) => a.service.localeCompare(b.service));
  return { addons, loadBalancers };
}

/** The status text's add-on lines. */
export function formatAddonsStatus(status: AddonsStatus | undefined): string[] {
  if (!status) return ['add-ons: ? (the Kubernetes API is not reachable)'];
  const width = Math.max(...status.addons.map((a) => a.addon.length));
  const stateWidth = Math.max(...status.addons.map((a) => a.state.length));
  const lines = [
    'add-ons:',
    ...status.addons.map((a) => `  ${a.addon.padEnd(width)}  ${a.state.padEnd(stateWidth)}  ${a.detail}`),
  ];
  if (status.loadBalancers.length === 0) return [...lines, 'LoadBalancer addresses: none in use'];
  const serviceWidth = Math.max(...status.loadBalancers.map((l) => l.service.length));
  return [
    ...lines,
    'LoadBalancer addresses (open http://<address>/ from this PC):',
    ...status.loadBalancers.map((l) => `  ${l.service.padEnd(serviceWidth)}  → ${l.address ?? '<pending>'}`),
  ];
}
