/**
 * build-vms' add-on step, between the nodes' first boots and verify: once every node is Ready (the CNI
 * is up), src/addons applies the add-ons through the API server with the admin kubeconfig, from the host.
 * It runs on every build-vms, also over a lab already built, so the lab converges on cluster.yaml.
 */
import { applyAddons, type AddonTimeouts, type ManifestSource } from '../addons/apply.js';
import type { AddonRelease } from '../addons/catalog.js';
import { KubestationError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { clusterSecretPaths } from '../pki/index.js';
import type { ClusterSpec } from '../config/model.js';
import { waitNodesReady } from './observe.js';
import type { AddonApplier } from './ports.js';

export interface ApiAddonApplierOptions {
  /** API server URL instead of the kubeconfig's (the simulator; KUBESTATION_API_SERVER). */
  server?: string | undefined;
  /** Kubeconfig to use; default `<stateDir>/pki/admin.kubeconfig`. */
  kubeconfig?: string | undefined;
  timeouts: AddonTimeouts;
  /** How long the nodes may take to be Ready before the add-ons are applied. */
  nodesReadyMs: number;
  intervalMs?: number;
  /** Tests: a stand-in catalogue. */
  releases?: readonly AddonRelease[];
  manifests?: ManifestSource;
}

export function apiAddonApplier(options: ApiAddonApplierOptions): AddonApplier {
  return async (spec: ClusterSpec, context) => {
    const kubeconfig = options.kubeconfig ?? clusterSecretPaths(spec.stateDir).adminKubeconfig;
    const client = await KubeClient.fromKubeconfig(
      kubeconfig,
      options.server ? { server: options.server } : {},
    );
    try {
      try {
        await waitNodesReady(
          client,
          spec.nodes.map((n) => n.name),
          {
            timeoutMs: options.nodesReadyMs,
            intervalMs: options.intervalMs ?? 1000,
            signal: context.signal,
            fix: 'the add-ons are applied once every node is Ready: look at the NotReady node (`kubectl describe node`), its CNI pod and its serial log',
          },
        );
      } catch (error) {
        if (context.signal?.aborted || !(error instanceof KubestationError)) throw error;
        throw new KubestationError('ADDONS_NOT_APPLIED', `the add-ons were not applied: ${error.message}`, {
          ...(error.fix ? { fix: error.fix } : {}),
          cause: error,
        });
      }
      await applyAddons(spec, client, {
        emit: context.emit,
        timeouts: options.timeouts,
        ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}),
        ...(options.releases ? { releases: options.releases } : {}),
        ...(options.manifests ? { manifests: options.manifests } : {}),
        signal: context.signal,
      });
    } finally {
      await client.close();
    }
  };
}
