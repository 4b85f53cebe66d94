/**
 * Applies the add-ons from the host through the API server, with server-side apply as field manager
 * "kubestation" (see client.ts apply). Why from the host: build-vms must converge on a lab that is already
 * built (re-apply what drifted, remove an add-on turned off), which a first-boot script cannot; one applier
 * shows per-add-on progress and bounds each wait in the build's own view; the manifests ship inside
 * kubestation, so nothing is downloaded.
 *
 * Per add-on, in catalogue order (the Gateway's Service needs MetalLB's pool): its CRDs, then a bounded wait
 * until each is Established; its namespaces; the rest of its vendored objects; a bounded wait until its
 * Deployments and DaemonSets are available; then kubestation's own objects (MetalLB validates pools with
 * a webhook served by the controller just awaited). Then every object kubestation once applied and
 * cluster.yaml no longer asks for (an add-on turned off, an object a newer release dropped) is deleted,
 * found by label over the kinds the catalogue renders. Applying is idempotent: the same objects change
 * nothing on the server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterSpec } from '../config/model.js';
import { KubestationError } from '../errors.js';
import { type KubeClient, KubeKindNotServedError, type KubeResource } from '../kube/client.js';
import { KubeApiError, KubeNotFoundError } from '../kube/errors.js';
import { findCondition, type KubeObject, type Pod } from '../kube/types.js';
import { waitUntil } from '../kube/wait.js';
import { ADDONS, type AddonName, type AddonRelease, readAddonManifest } from './catalog.js';
import { KubeletServingApprover } from './csr-approver.js';
import { ADDON_LABEL, MANAGED_BY_LABEL, parseManifest, renderAddonParts } from './render.js';

/** What the build view shows per add-on: one line each, its phase and what it is doing. */
export interface AddonEvent {
  type: 'addon';
  addon: AddonName;
  component: string;
  phase: 'applying' | 'waiting' | 'ready' | 'failed' | 'removing' | 'removed' | 'warning';
  message: string;
}

export interface AddonTimeouts {
  /** Each CRD to be Established. */
  establishedMs: number;
  /** Each add-on's Deployments and DaemonSets to be available (image pulls when not in the golden template). */
  availableMs: number;
}

export const DEFAULT_ADDON_TIMEOUTS: AddonTimeouts = { establishedMs: 60_000, availableMs: 300_000 };

/** The add-on waits stretched by --deadline-scale, like the stage deadlines and verify's waits. */
export function scaledAddonTimeouts(deadlineScale: number): AddonTimeouts {
  return {
    establishedMs: DEFAULT_ADDON_TIMEOUTS.establishedMs * deadlineScale,
    availableMs: DEFAULT_ADDON_TIMEOUTS.availableMs * deadlineScale,
  };
}

/** The vendored objects of a release (the real one reads the catalogue's files; tests give their own). */
export type ManifestSource = (release: AddonRelease) => Promise<KubeObject[]>;

export const vendoredManifests: ManifestSource = async (release) => {
  const objects: KubeObject[] = [];
  for (const manifest of release.manifests)
    objects.push(...parseManifest(await readAddonManifest(manifest.file), manifest.file));
  return objects;
};

export interface ApplyAddonsOptions {
  emit: (event: AddonEvent) => void;
  manifests?: ManifestSource;
  releases?: readonly AddonRelease[];
  timeouts?: AddonTimeouts;
  intervalMs?: number;
  signal?: AbortSignal | undefined;
}

/** An add-on failed: which one, what it was doing (the object or the wait) and the cause. */
export class AddonApplyError extends KubestationError {
  constructor(
    readonly addon: AddonName,
    readonly component: string,
    readonly doing: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('ADDON_FAILED', `add-on ${addon} (${component}) failed ${doing}: ${reason}`, {
      fix:
        (cause instanceof KubestationError && cause.fix ? `${cause.fix}; then ` : '') +
        'run build-vms again: it applies the add-ons again and changes nothing else (or turn the add-on off in cluster.yaml)',
      cause,
    });
    this.name = 'AddonApplyError';
  }
}

export interface AddonsResult {
  applied: AddonName[];
  removed: { addon: AddonName; objects: number }[];
}

const describe = (o: KubeObject): string =>
  `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;
const keyOf = (o: KubeObject): string =>
  `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export async function applyAddons(
  spec: ClusterSpec,
  kube: KubeClient,
  options: ApplyAddonsOptions,
): Promise<AddonsResult> {
  const releases = options.releases ?? ADDONS;
  const manifests = options.manifests ?? vendoredManifests;
  const timeouts = options.timeouts ?? DEFAULT_ADDON_TIMEOUTS;
  const intervalMs = options.intervalMs ?? 1000;
  const rendered = new Map<AddonName, ReturnType<typeof renderAddonParts>>();
  for (const release of releases)
    rendered.set(release.name, renderAddonParts(spec, release.name, await manifests(release)));

  const result: AddonsResult = { applied: [], removed: [] };
  for (const release of releases) {
    if (!spec.addons[release.name].enabled) continue;
    await applyOne(spec, kube, release, rendered.get(release.name)!, { ...options, timeouts, intervalMs });
    result.applied.push(release.name);
  }
  result.removed = await removeLeftovers(spec, kube, releases, rendered, options);
  return result;
}

type StepOptions = ApplyAddonsOptions & { timeouts: AddonTimeouts; intervalMs: number };

async function applyOne(
  spec: ClusterSpec,
  kube: KubeClient,
  release: AddonRelease,
  parts: ReturnType<typeof renderAddonParts>,
  options: StepOptions,
): Promise<void> {
  const { name, component } = release;
  const emit = (phase: AddonEvent['phase'], message: string): void =>
    options.emit({ type: 'addon', addon: name, component, phase, message });
  let doing = 'before it started';
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    doing = what;
    return run();
  };
  try {
    const crds = parts.vendored.filter((o) => o.kind === 'CustomResourceDefinition');
    const namespaces = parts.vendored.filter((o) => o.kind === 'Namespace');
    const rest = parts.vendored.filter(
      (o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Namespace',
    );
    emit('applying', `applying ${parts.vendored.length + parts.own.length} objects`);
    for (const crd of crds) await step(`applying ${describe(crd)}`, () => kube.apply(crd));
    if (crds.length > 0)
      emit(
        'waiting',
        crds.length === 1
          ? `waiting for ${describe(crds[0]!)} to be Established`
          : `waiting for its ${crds.length} CustomResourceDefinitions to be Established`,
      );
    for (const crd of crds)
      await step(`waiting for ${describe(crd)} to be Established`, () => waitEstablished(kube, crd, options));
    // A Job runs once, at install: NGINX Gateway Fabric's certificate generator deletes itself 30 s after it
    // finished, so applying it on every build would run it again each time. It is applied while the
    // add-on's Deployments are not all there yet (a first install, or a repair after they were deleted).
    const deployments = rest.filter((o) => o.kind === 'Deployment');
    const installing = (await Promise.all(deployments.map((d) => kube.getObject(d)))).some((d) => !d);
    for (const object of [...namespaces, ...rest.filter((o) => o.kind !== 'Job' || installing)])
      await step(`applying ${describe(object)}`, () => kube.apply(object));

    const approver = name === 'metrics' ? new KubeletServingApprover(spec, kube) : undefined;
    const approve = async (): Promise<void> => {
      if (!approver) return;
      const review = await approver.review();
      for (const a of review.approved)
        emit('applying', `approved the serving certificate request of ${a.node}`);
      for (const r of review.refused)
        emit(
          'warning',
          `left certificate request ${r.csr}${r.node ? ` of ${r.node}` : ''} pending: ${r.problem}`,
        );
    };
    await step("approving the kubelets' serving certificate requests", approve);
    for (const workload of parts.vendored.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet')) {
      emit('waiting', `waiting for ${describe(workload)} to be available`);
      await step(`waiting for ${describe(workload)} to be available`, () =>
        waitAvailable(kube, workload, options, approve),
      );
    }
    const ownNamespaces = parts.own.filter((o) => o.kind === 'Namespace');
    const ownRest = parts.own.filter((o) => o.kind !== 'Namespace');
    for (const object of [...ownNamespaces, ...ownRest])
      await step(`applying ${describe(object)}`, () => applyRetryingWebhook(kube, object, options));
    emit('ready', 'ready');
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const failure = new AddonApplyError(name, component, doing, error);
    emit('failed', `${doing}: ${error instanceof Error ? error.message : String(error)}`);
    throw failure;
  }
}

async function waitEstablished(kube: KubeClient, crd: KubeObject, options: StepOptions): Promise<void> {
  await waitUntil(
    async () => {
      const current = await kube.getObject<KubeObject & { status?: { conditions?: [] } }>(crd);
      const established = findCondition(current?.status?.conditions, 'Established');
      return established?.status === 'True'
        ? { done: true as const, value: undefined }
        : { done: false as const, state: established?.message ?? 'not Established' };
    },
    {
      timeoutMs: options.timeouts.establishedMs,
      intervalMs: Math.min(options.intervalMs, 500),
      signal: options.signal,
      what: `${describe(crd)} to be Established`,
      fix: "the API server did not accept the CRD's schema in time: look at `kubectl get crd` and the kube-apiserver log on the control plane",
    },
  );
}

interface WorkloadStatus {
  replicas?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
  observedGeneration?: number;
  desiredNumberScheduled?: number;
  numberAvailable?: number;
  updatedNumberScheduled?: number;
}

/** "1 of 1 available" for a Deployment or DaemonSet, and whether it is done (every wanted pod available). */
function availability(object: KubeObject & { spec?: { replicas?: number }; status?: WorkloadStatus }): {
  done: boolean;
  state: string;
} {
  const status = object.status ?? {};
  const generation = object.metadata.generation as number | undefined;
  const current = generation === undefined || (status.observedGeneration ?? 0) >= generation;
  if (object.kind === 'Deployment') {
    const wanted = object.spec?.replicas ?? 1;
    const available = status.availableReplicas ?? 0;
    return {
      done: current && available >= wanted && (status.updatedReplicas ?? 0) >= wanted,
      state: `${available} of ${wanted} available`,
    };
  }
  const wanted = status.desiredNumberScheduled ?? 0;
  const available = status.numberAvailable ?? 0;
  return {
    done: current && wanted > 0 && available >= wanted && (status.updatedNumberScheduled ?? 0) >= wanted,
    state: wanted === 0 ? 'no node runs it yet' : `${available} of ${wanted} available`,
  };
}

/** Why the workload's pods are not available yet, from their containers' waiting reasons (ImagePullBackOff...). */
async function podTrouble(kube: KubeClient, workload: KubeObject): Promise<string> {
  const selector = (workload.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)
    ?.selector?.matchLabels;
  if (!selector || !workload.metadata.namespace) return '';
  const pods = await kube.listPods(workload.metadata.namespace, {
    labelSelector: Object.entries(selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  });
  const reasons = pods.flatMap((p: Pod) =>
    (p.status?.containerStatuses ?? [])
      .filter((c) => c.state?.waiting?.reason)
      .map(
        (c) =>
          `pod ${p.metadata.name}: ${c.state!.waiting!.reason}${c.state!.waiting!.message ? ` (${c.state!.waiting!.message})` : ''}`,
      ),
  );
  const unscheduled = pods
    .map((p) => findCondition(p.status?.conditions, 'PodScheduled'))
    .find((c) => c?.status === 'False');
  if (unscheduled?.message) reasons.push(`not scheduled: ${unscheduled.message}`);
  return reasons.slice(0, 2).join('; ');
}

async function waitAvailable(
  kube: KubeClient,
  workload: KubeObject,
  options: StepOptions,
  eachPoll: () => Promise<void>,
): Promise<void> {
  await waitUntil(
    async () => {
      await eachPoll();
      const current = await kube.getObject(workload);
      if (!current) return { done: false as const, state: 'not found' };
      const { done, state } = availability(current);
      if (done) return { done: true as const, value: undefined };
      const trouble = await podTrouble(kube, current);
      return { done: false as const, state: trouble ? `${state}; ${trouble}` : state };
    },
    {
      timeoutMs: options.timeouts.availableMs,
      intervalMs: options.intervalMs,
      signal: options.signal,
      what: `${describe(workload)} to be available`,
      fix: `look at its pods (\`kubectl -n ${workload.metadata.namespace ?? 'default'} get pods\`, \`kubectl describe pod\`): an image that cannot be pulled (no Internet, and not in the golden template) is the usual cause; on a slow host pass --deadline-scale 2`,
    },
  );
}

/** A webhook served by the add-on's controller can refuse for a moment after it is available (its endpoints lag): retried within the CRD bound. */
async function applyRetryingWebhook(
  kube: KubeClient,
  object: KubeObject,
  options: StepOptions,
): Promise<void> {
  const deadline = Date.now() + options.timeouts.establishedMs;
  for (;;) {
    try {
      await kube.apply(object);
      return;
    } catch (error) {
      const webhook =
        error instanceof KubeApiError && (error.status ?? 0) >= 500 && /webhook/i.test(error.message);
      if (!webhook || Date.now() >= deadline) throw error;
      await sleep(
        Math.min(options.intervalMs, 1000),
        undefined,
        options.signal ? { signal: options.signal } : undefined,
      );
    }
  }
}

/** Kinds add-on manifests use, looked at besides the rendered ones: a newer release may drop a kind altogether. */
const COMMON_KINDS: [string, string][] = [
  ['v1', 'ConfigMap'],
  ['v1', 'Secret'],
  ['v1', 'Service'],
  ['v1', 'ServiceAccount'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'DaemonSet'],
  ['batch/v1', 'Job'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRole'],
  ['rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'],
  ['admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration'],
];

/**
 * Deletes what kubestation applied and cluster.yaml no longer asks for: every object labelled as managed by
 * kubestation for an add-on, of a kind the catalogue renders (or COMMON_KINDS), that this run did not render (everything of
 * an add-on turned off). Namespaced objects go first, then namespaces, CRDs last.
 */
async function removeLeftovers(
  spec: ClusterSpec,
  kube: KubeClient,
  releases: readonly AddonRelease[],
  rendered: Map<AddonName, ReturnType<typeof renderAddonParts>>,
  options: ApplyAddonsOptions,
): Promise<AddonsResult['removed']> {
  const wanted = new Set<string>();
  const kinds = new Map<string, { apiVersion: string; kind: string }>(
    COMMON_KINDS.map(([apiVersion, kind]) => [`${apiVersion}/${kind}`, { apiVersion, kind }]),
  );
  for (const release of releases) {
    const parts = rendered.get(release.name)!;
    for (const o of [...parts.vendored, ...parts.own]) {
      kinds.set(`${o.apiVersion}/${o.kind}`, { apiVersion: o.apiVersion!, kind: o.kind! });
      if (spec.addons[release.name].enabled) wanted.add(keyOf(o));
    }
  }
  const found = new Map<AddonName, KubeObject[]>();
  for (const { apiVersion, kind } of kinds.values()) {
    let resource: KubeResource;
    try {
      resource = await kube.resourceFor(apiVersion, kind);
    } catch (error) {
      if (error instanceof KubeKindNotServedError) continue; // its CRD is gone: so are its objects
      throw error;
    }
    let objects: KubeObject[];
    try {
      objects = await kube.listObjects(resource, {
        labelSelector: `${MANAGED_BY_LABEL}=kubestation,${ADDON_LABEL}`,
      });
    } catch (error) {
      if (error instanceof KubeNotFoundError) continue; // its CRD went since discovery
      throw error;
    }
    for (const o of objects) {
      const addon = o.metadata.labels?.[ADDON_LABEL] as AddonName;
      const release = releases.find((r) => r.name === addon);
      const object = { ...o, apiVersion, kind };
      if (!release || wanted.has(keyOf(object))) continue;
      found.set(addon, [...(found.get(addon) ?? []), object]);
    }
  }
  const removed: AddonsResult['removed'] = [];
  const rank = (o: KubeObject): number =>
    o.kind === 'CustomResourceDefinition' ? 2 : o.kind === 'Namespace' ? 1 : 0;
  for (const release of releases) {
    const objects = (found.get(release.name) ?? []).sort((a, b) => rank(a) - rank(b));
    if (objects.length === 0) continue;
    const emit = (phase: AddonEvent['phase'], message: string): void =>
      options.emit({ type: 'addon', addon: release.name, component: release.component, phase, message });
    const off = !spec.addons[release.name].enabled;
    emit(
      'removing',
      `removing ${objects.length} objects ${off ? '(turned off in cluster.yaml)' : 'no longer in its manifests'}`,
    );
    let doing = '';
    try {
      for (const object of objects) {
        doing = `deleting ${describe(object)}`;
        await kube.deleteObject(object);
      }
    } catch (error) {
      emit('failed', `${doing}: ${error instanceof Error ? error.message : String(error)}`);
      throw new AddonApplyError(release.name, release.component, doing, error);
    }
    emit('removed', `removed ${objects.length} objects`);
    removed.push({ addon: release.name, objects: objects.length });
  }
  return removed;
}
