/**
 * What build-vms (adding and removing workers) and the day-2 commands look
 * at before they act: each node's VM as vmrest
 * lists it (by the .vmx path build-vms recorded, else by name), with its
 * ownership marker and power state; and whether the Kubernetes API server
 * answers with the admin kubeconfig.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { findNodeVm } from './apply.js';
import { inspectOwnership, type Ownership } from './ownership.js';
import type { BuildState } from './state.js';
import {
  findCondition,
  KubeApiError,
  KubeClient,
  KubeTimeoutError,
  waitUntil,
  type KubeClientOptions,
  type Node,
} from '../kube/index.js';
import { clusterSecretPaths } from '../pki/index.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import type { PowerState, VmSummary } from '../vmrest/client.js';
import { clusterNotStarted } from './not-started.js';
import type { Day2Vmrest } from './ports.js';

export interface ObservedVm {
  id: string;
  vmxPath: string;
  ownership: Ownership;
  /** Undefined when vmrest could not say (the VM vanished meanwhile). */
  power: PowerState | undefined;
}

export interface NodeVm {
  node: NodeSpec;
  /** The VM vmrest lists for this node, ours or not; undefined when there is none. */
  vm: ObservedVm | undefined;
}

/** True when the VM carries this cluster's marker for exactly this node. */
export function isOwnedBy(vm: ObservedVm | undefined, node: Pick<NodeSpec, 'name'>): boolean {
  return vm !== undefined && vm.ownership.kind === 'ours' && vm.ownership.node === node.name;
}

export async function observeVm(
  vmrest: Pick<Day2Vmrest, 'getPowerState'>,
  vm: VmSummary,
  cluster: string,
): Promise<ObservedVm> {
  const [ownership, power] = await Promise.all([
    inspectOwnership(vm.path, cluster),
    // A power state vmrest does not give is `undefined`, which every reader shows as unknown (status,
    // doctor, the stop/start plan); the commands that act on it read it again and report that failure.
    vmrest.getPowerState(vm.id).catch(() => undefined),
  ]);
  return { id: vm.id, vmxPath: vm.path, ownership, power };
}

export async function observeNodeVms(
  spec: ClusterSpec,
  vmrest: Day2Vmrest,
  state: BuildState | undefined,
  nodes: NodeSpec[] = spec.nodes,
): Promise<NodeVm[]> {
  const vms = await vmrest.listVms();
  return Promise.all(
    nodes.map(async (node) => {
      const found = findNodeVm(vms, node, state?.nodes[node.name]?.vmxPath);
      return { node, vm: found ? await observeVm(vmrest, found, spec.name) : undefined };
    }),
  );
}

/** `<clonesFolder>/<node>/<node>.vmx`: where a clone of the node lands (and may linger unregistered). */
export function expectedCloneVmx(
  clonesFolder: string | undefined,
  node: Pick<NodeSpec, 'name'>,
): string | undefined {
  return clonesFolder ? path.join(clonesFolder, node.name, `${node.name}.vmx`) : undefined;
}

export function fileExists(file: string | undefined): file is string {
  return file !== undefined && existsSync(file);
}

// ---- Kubernetes API --------------------------------------------------------

export interface KubeAccess {
  /** Where the admin kubeconfig is expected. */
  kubeconfig: string;
  /** The API server URL to use instead of the kubeconfig's (e.g. KUBESTATION_API_SERVER). */
  server?: string | undefined;
  requestTimeoutMs?: number | undefined;
  /** The cluster whose build state says whether an API server can exist yet (see not-started.ts); unchecked when absent. */
  cluster?: Parameters<typeof clusterNotStarted>[0] | undefined;
}

export function defaultKubeAccess(spec: ClusterSpec, env: NodeJS.ProcessEnv): KubeAccess {
  return {
    kubeconfig: clusterSecretPaths(spec.stateDir).adminKubeconfig,
    server: env.KUBESTATION_API_SERVER || undefined,
    requestTimeoutMs: 10_000,
    cluster: spec,
  };
}

export type ApiProbe =
  | { reachable: true; client: KubeClient; nodes: Node[] }
  | { reachable: false; client: KubeClient | undefined; reason: string; fix: string };

/**
 * Opens a client with the admin kubeconfig and lists the nodes once. An API
 * server that does not answer (or a missing kubeconfig) is a result, not an
 * error: day-2 commands go on without the Kubernetes steps. The caller closes
 * `client`.
 */
export async function probeApi(access: KubeAccess): Promise<ApiProbe> {
  if (!existsSync(access.kubeconfig)) {
    return {
      reachable: false,
      client: undefined,
      reason: `no admin kubeconfig at ${access.kubeconfig}`,
      fix: 'build the cluster first (build-vms writes it), or restore the state folder',
    };
  }
  const notStarted = access.cluster && (await clusterNotStarted(access.cluster));
  if (notStarted) return { reachable: false, client: undefined, ...notStarted };
  const options: KubeClientOptions = {};
  if (access.server) options.server = access.server;
  if (access.requestTimeoutMs) options.requestTimeoutMs = access.requestTimeoutMs;
  const client = await KubeClient.fromKubeconfig(access.kubeconfig, options);
  try {
    return { reachable: true, client, nodes: await client.listNodes() };
  } catch (error) {
    if (error instanceof KubeApiError || error instanceof KubeTimeoutError)
      return { reachable: false, client, reason: error.message, fix: error.fix ?? '' };
    await client.close();
    throw error;
  }
}

/**
 * Waits until every node in `names` is registered and Ready through the API
 * server; an API server that does not answer yet counts as "not yet" (its
 * last error is in the timeout message). KubeTimeoutError with `fix` after
 * `timeoutMs`.
 */
export async function waitNodesReady(
  client: KubeClient,
  names: string[],
  options: {
    timeoutMs: number;
    intervalMs: number;
    signal?: AbortSignal | undefined;
    fix: string;
    onPending?: (pending: string[]) => void;
  },
): Promise<void> {
  await waitUntil(
    async () => {
      try {
        const nodes = await client.listNodes();
        const pending = names.filter(
          (name) =>
            findCondition(nodes.find((n) => n.metadata.name === name)?.status?.conditions, 'Ready')
              ?.status !== 'True',
        );
        options.onPending?.(pending);
        return pending.length === 0
          ? { done: true as const, value: undefined }
          : { done: false as const, state: `not Ready yet: ${pending.join(', ')}` };
      } catch (error) {
        if (error instanceof KubeApiError || error instanceof KubeTimeoutError)
          return { done: false as const, state: `API server: ${error.message}` };
        throw error;
      }
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs,
      ...(options.signal ? { signal: options.signal } : {}),
      what: `${names.join(', ')} to be Ready`,
      fix: options.fix,
    },
  );
}

/** Node role names as kubectl shows them (from node-role.kubernetes.io/<role> labels). */
export function nodeRoles(node: Node): string[] {
  return Object.keys(node.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .sort();
}
