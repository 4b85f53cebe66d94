/**
 * A small Kubernetes API client over undici: client-certificate auth from a
 * kubeconfig, JSON in and out, typed errors. It covers what build-vms, day-2
 * commands and verify need — no kubectl on the host.
 */
import { Agent, request, type Dispatcher } from 'undici';
import {
  KubeConflictError,
  KubeForbiddenError,
  KubeHttpError,
  KubeInvalidError,
  KubeNotFoundError,
  KubeTlsError,
  KubeUnauthorizedError,
  KubeUnreachableError,
  type KubeCallDetails,
} from './errors.js';
import { type KubeConnection, type KubeIdentity, loadKubeconfig } from './kubeconfig.js';
import { KubestationError } from '../errors.js';
import {
  type DaemonSet,
  isStatus,
  type KubeList,
  type KubeObject,
  type Namespace,
  type Node,
  type Pod,
  type Secret,
  type Service,
  type Status,
} from './types.js';

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Default application/json for bodies. */
  contentType?: string;
  /** Return the body as text instead of parsing JSON (pod logs). */
  text?: boolean;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface KubeClientOptions {
  /** Overrides the kubeconfig's server URL (e.g. a simulator on 127.0.0.1). */
  server?: string;
  /** Per-request limit; default 30 s. */
  requestTimeoutMs?: number;
}

export type PatchType = 'merge' | 'strategic' | 'json';
const patchContentTypes: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

/** kubectl's --force --grace-period=0 and a normal delete, as DeleteOptions bodies. */
function deleteOptions(gracePeriodSeconds?: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'DeleteOptions',
    propagationPolicy: 'Background',
    ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
  };
}

const unreachableCodes = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
const tlsCodePattern = /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|CERT_|ERR_OSSL)/;

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (
    let e = error as { code?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string') codes.push(e.code);
  }
  return codes;
}

const enc = encodeURIComponent;

/** Where the API serves a kind: its REST path pieces, from discovery. */
export interface KubeResource {
  /** "v1" or "<group>/<version>". */
  apiVersion: string;
  kind: string;
  /** The resource's path segment, e.g. "ipaddresspools". */
  plural: string;
  namespaced: boolean;
}

/** The API has no such kind at that version (not built in, or its CRD is not installed or not Established yet). */
export class KubeKindNotServedError extends KubestationError {
  constructor(
    readonly apiVersion: string,
    readonly kind: string,
  ) {
    super('KUBE_KIND_NOT_SERVED', `the API server serves no ${kind} in ${apiVersion}`, {
      fix: `install the CustomResourceDefinition that defines ${kind} (${apiVersion}) first`,
    });
    this.name = 'KubeKindNotServedError';
  }
}

interface ApiResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean }[];
}

/** The field manager kubestation's server-side applies are recorded under. */
export const FIELD_MANAGER = 'kubestation';

export class KubeClient {
  readonly server: string;
  readonly identity: KubeIdentity;
  private readonly dispatcher: Dispatcher;
  private readonly requestTimeoutMs: number;
  /** Discovery answers per group/version, kept for the client's life (one run); misses are asked again. */
  private readonly discovered = new Map<string, Promise<ApiResourceList | undefined>>();

  constructor(connection: KubeConnection, options: KubeClientOptions = {}) {
    this.server = (options.server ?? connection.server).replace(/\/+$/, '');
    this.identity = connection.identity;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connect: {
        ca: connection.caPem,
        cert: connection.clientCertPem,
        key: connection.clientKeyPem,
        timeout: 10_000,
      },
      keepAliveTimeout: 10_000,
    });
  }

  static async fromKubeconfig(
    file: string,
    options: KubeClientOptions & { context?: string } = {},
  ): Promise<KubeClient> {
    return new KubeClient(await loadKubeconfig(file, { context: options.context }), options);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** One API call. 2xx → parsed body; otherwise a KubeApiError subclass. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const query = Object.entries(options.query ?? {}).filter(
      (entry): entry is [string, string | number | boolean] => entry[1] !== undefined,
    );
    const search = query.length
      ? `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString()}`
      : '';
    const call = `${method} ${path}`;
    const details: KubeCallDetails = { call, server: this.server };
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = {
      accept: options.text ? 'text/plain, */*' : 'application/json',
      'user-agent': 'kubestation',
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = options.contentType ?? 'application/json';
    }

    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.server}${path}${search}`, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body,
        dispatcher: this.dispatcher,
        signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const codes = errorCodes(error);
      if (signal.aborted)
        throw new KubeUnreachableError(
          { ...details, cause: error },
          `no answer within ${Math.round(timeoutMs / 1000)} s`,
        );
      const tls = codes.find((c) => tlsCodePattern.test(c));
      if (tls) throw new KubeTlsError({ ...details, cause: error }, tls);
      const code = codes.find((c) => unreachableCodes.has(c));
      throw new KubeUnreachableError({ ...details, cause: error }, code ?? (error as Error).message);
    }

    const text = await response.body.text();
    if (response.statusCode >= 200 && response.statusCode < 300) {
      if (options.text) return text as T;
      return (text ? JSON.parse(text) : undefined) as T;
    }
    let apiStatus: Status | undefined;
    try {
      const parsed: unknown = JSON.parse(text);
      if (isStatus(parsed)) apiStatus = parsed;
    } catch {
      // Not JSON (a proxy or a non-API endpoint); the status code says enough.
    }
    const failed = { ...details, status: response.statusCode, ...(apiStatus ? { apiStatus } : {}) };
    switch (response.statusCode) {
      case 401:
        throw new KubeUnauthorizedError(failed, this.identity);
      case 403:
        throw new KubeForbiddenError(failed, this.identity);
      case 404:
        throw new KubeNotFoundError(failed);
      case 409:
        throw new KubeConflictError(failed);
      case 422:
        throw new KubeInvalidError(failed);
      default:
        throw new KubeHttpError(failed);
    }
  }

  /** Like `request` but undefined for 404. */
  async getOptional<T>(path: string, options: RequestOptions = {}): Promise<T | undefined> {
    try {
      return await this.request<T>('GET', path, options);
    } catch (error) {
      if (error instanceof KubeNotFoundError) return undefined;
      throw error;
    }
  }

  private async list<T extends KubeObject>(path: string, options: ListOptions = {}): Promise<T[]> {
    const list = await this.request<KubeList<T>>('GET', path, {
      query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
    });
    return list.items;
  }

  // Nodes

  listNodes(options?: ListOptions): Promise<Node[]> {
    return this.list<Node>('/api/v1/nodes', options);
  }

  getNode(name: string): Promise<Node> {
    return this.request<Node>('GET', `/api/v1/nodes/${enc(name)}`);
  }

  patchNode(name: string, patch: unknown, type: PatchType = 'merge'): Promise<Node> {
    return this.request<Node>('PATCH', `/api/v1/nodes/${enc(name)}`, {
      body: patch,
      contentType: patchContentTypes[type],
    });
  }

  /** Marks the node unschedulable (kubectl cordon). */
  cordonNode(name: string): Promise<Node> {
    return this.patchNode(name, { spec: { unschedulable: true } });
  }

  uncordonNode(name: string): Promise<Node> {
    return this.patchNode(name, { spec: { unschedulable: null } });
  }

  async deleteNode(name: string): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/nodes/${enc(name)}`, { body: deleteOptions() });
  }

  // Pods

  /** Pods of one namespace, or of all namespaces when `namespace` is undefined. */
  listPods(namespace: string | undefined, options?: ListOptions): Promise<Pod[]> {
    return this.list<Pod>(
      namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${enc(namespace)}/pods`,
      options,
    );
  }

  getPod(namespace: string, name: string): Promise<Pod> {
    return this.request<Pod>('GET', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`);
  }

  createPod(namespace: string, pod: Pod): Promise<Pod> {
    return this.request<Pod>('POST', `/api/v1/namespaces/${enc(namespace)}/pods`, {
      body: { apiVersion: 'v1', kind: 'Pod', ...pod },
    });
  }

  /** Deletes a pod; `gracePeriodSeconds: 0` is a force delete (the API forgets it without waiting for the kubelet). */
  async deletePod(
    namespace: string,
    name: string,
    options: { gracePeriodSeconds?: number } = {},
  ): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}`, {
      body: deleteOptions(options.gracePeriodSeconds),
    });
  }

  /** POSTs a policy/v1 Eviction, which honours PodDisruptionBudgets (429 when one blocks it). */
  async evictPod(namespace: string, name: string): Promise<void> {
    await this.request<unknown>('POST', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}/eviction`, {
      body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace } },
    });
  }

  /** The API server fetches logs from the node's kubelet, so a dead node makes this slow: `timeoutMs` bounds it. */
  getPodLogs(
    namespace: string,
    name: string,
    options: { container?: string; previous?: boolean; tailLines?: number; timeoutMs?: number } = {},
  ): Promise<string> {
    return this.request<string>('GET', `/api/v1/namespaces/${enc(namespace)}/pods/${enc(name)}/log`, {
      text: true,
      timeoutMs: options.timeoutMs,
      query: {
        container: options.container,
        previous: options.previous || undefined,
        tailLines: options.tailLines,
      },
    });
  }

  // Namespaces

  getNamespace(name: string): Promise<Namespace | undefined> {
    return this.getOptional<Namespace>(`/api/v1/namespaces/${enc(name)}`);
  }

  createNamespace(name: string, labels: Record<string, string> = {}): Promise<Namespace> {
    return this.request<Namespace>('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
    });
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/namespaces/${enc(name)}`, { body: deleteOptions() });
  }

  // Services

  createService(namespace: string, service: Service): Promise<Service> {
    return this.request<Service>('POST', `/api/v1/namespaces/${enc(namespace)}/services`, {
      body: { apiVersion: 'v1', kind: 'Service', ...service },
    });
  }

  getService(namespace: string, name: string): Promise<Service> {
    return this.request<Service>('GET', `/api/v1/namespaces/${enc(namespace)}/services/${enc(name)}`);
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/namespaces/${enc(namespace)}/services/${enc(name)}`, {
      body: deleteOptions(),
    });
  }

  // DaemonSets

  createDaemonSet(namespace: string, daemonSet: DaemonSet): Promise<DaemonSet> {
    return this.request<DaemonSet>('POST', `/apis/apps/v1/namespaces/${enc(namespace)}/daemonsets`, {
      body: { apiVersion: 'apps/v1', kind: 'DaemonSet', ...daemonSet },
    });
  }

  getDaemonSet(namespace: string, name: string): Promise<DaemonSet> {
    return this.request<DaemonSet>(
      'GET',
      `/apis/apps/v1/namespaces/${enc(namespace)}/daemonsets/${enc(name)}`,
    );
  }

  async deleteDaemonSet(namespace: string, name: string): Promise<void> {
    await this.request<unknown>(
      'DELETE',
      `/apis/apps/v1/namespaces/${enc(namespace)}/daemonsets/${enc(name)}`,
      { body: deleteOptions() },
    );
  }

  // Secrets

  createSecret(namespace: string, secret: Secret): Promise<Secret> {
    return this.request<Secret>('POST', `/api/v1/namespaces/${enc(namespace)}/secrets`, {
      body: { apiVersion: 'v1', kind: 'Secret', ...secret },
    });
  }

  getSecret(namespace: string, name: string): Promise<Secret | undefined> {
    return this.getOptional<Secret>(`/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`);
  }

  async deleteSecret(namespace: string, name: string): Promise<void> {
    await this.request<unknown>('DELETE', `/api/v1/namespaces/${enc(namespace)}/secrets/${enc(name)}`, {
      body: deleteOptions(),
    });
  }

  // Any kind, through discovery (the add-ons' manifests)

  /** The resource serving `kind` in `apiVersion`; KubeKindNotServedError when the API has none. */
  async resourceFor(apiVersion: string, kind: string): Promise<KubeResource> {
    let list = this.discovered.get(apiVersion);
    if (!list) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      list = this.getOptional<ApiResourceList>(path);
      this.discovered.set(apiVersion, list);
    }
    let found: ApiResourceList | undefined;
    try {
      found = await list;
    } finally {
      // A group not served yet (a CRD being established) is asked again next time.
      if (!found) this.discovered.delete(apiVersion);
    }
    const resource = found?.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) {
      this.discovered.delete(apiVersion);
      throw new KubeKindNotServedError(apiVersion, kind);
    }
    return { apiVersion, kind, plural: resource.name, namespaced: resource.namespaced };
  }

  /** The REST path of a resource's collection (namespace undefined: across all namespaces) or of one object. */
  resourcePath(resource: KubeResource, namespace: string | undefined, name?: string): string {
    const base = resource.apiVersion.includes('/')
      ? `/apis/${resource.apiVersion}`
      : `/api/${resource.apiVersion}`;
    const ns = resource.namespaced && namespace !== undefined ? `/namespaces/${enc(namespace)}` : '';
    return `${base}${ns}/${resource.plural}${name === undefined ? '' : `/${enc(name)}`}`;
  }

  private async objectPath(object: KubeObject): Promise<{ resource: KubeResource; path: string }> {
    if (!object.apiVersion || !object.kind || !object.metadata.name)
      throw new KubestationError('KUBE_BAD_OBJECT', 'an object needs apiVersion, kind and metadata.name');
    const resource = await this.resourceFor(object.apiVersion, object.kind);
    if (resource.namespaced && !object.metadata.namespace)
      throw new KubestationError(
        'KUBE_BAD_OBJECT',
        `${object.kind} ${object.metadata.name} is namespaced but names no namespace`,
      );
    return { resource, path: this.resourcePath(resource, object.metadata.namespace, object.metadata.name) };
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml; JSON is YAML) as field manager "kubestation",
   * forcing ownership of the fields it sets: creates the object or brings those fields back to `object`.
   */
  async apply<T extends KubeObject = KubeObject>(object: KubeObject): Promise<T> {
    const { path } = await this.objectPath(object);
    return this.request<T>('PATCH', path, {
      query: { fieldManager: FIELD_MANAGER, force: true },
      body: object,
      contentType: 'application/apply-patch+yaml',
    });
  }

  /** The object as stored, or undefined when it does not exist. */
  async getObject<T extends KubeObject = KubeObject>(object: KubeObject): Promise<T | undefined> {
    const { path } = await this.objectPath(object);
    return this.getOptional<T>(path);
  }

  /** Objects of one kind in every namespace (or cluster-wide), optionally by label selector. */
  listObjects<T extends KubeObject = KubeObject>(
    resource: KubeResource,
    options: ListOptions = {},
  ): Promise<T[]> {
    return this.list<T>(this.resourcePath(resource, undefined), options);
  }

  /** Deletes the object (background propagation); false when it was already gone. */
  async deleteObject(object: KubeObject): Promise<boolean> {
    const { path } = await this.objectPath(object);
    try {
      await this.request<unknown>('DELETE', path, { body: deleteOptions() });
      return true;
    } catch (error) {
      if (error instanceof KubeNotFoundError) return false;
      throw error;
    }
  }
}
