/**
 * A fake Kubernetes API server for tests: HTTPS on 127.0.0.1 with a server
 * certificate from the cluster CA, client-certificate authentication (401
 * for certificates from another CA, 403 for identities outside the admin
 * groups), the real paths, verbs, list kinds and Status error bodies
 * (404/409/422/403), and an in-memory store of nodes, namespaces, pods,
 * services, secrets and daemonsets, and generically of any kind the add-ons
 * apply: discovery, CRDs (Established at once), server-side apply, label
 * selectors, and kubelet-serving CSRs with their approval subresource.
 *
 * Small controllers make it behave like a cluster over time: a scheduler
 * honouring nodeSelector, taints and tolerations; a kubelet that starts
 * pods on Ready nodes (shell-script containers really run, see
 * fake-kubelet.ts) and finishes graceful deletions; a namespace controller;
 * a DaemonSet controller. The scenario (kube-api-scenarios.ts) decides the
 * faults: NotReady nodes, crash-looping CoreDNS, dropped cross-node or
 * Service traffic, pods that never terminate, skewed clocks.
 *
 * Every request is recorded (method, path, query, parsed body, user).
 */
import { randomInt, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { KubeObject, Node, Pod, Service, Status, Taint, Toleration } from '../src/kube/types.js';
import {
  type CertificateAndKey,
  createClusterCa,
  issueClientCertificate,
  issueServerCertificate,
} from '../src/pki/certificates.js';
import { renderKubeconfig } from '../src/pki/kubeconfig.js';
import { createKubeletServingRequest } from '../src/pki/certificate-requests.js';
import { installStubs, startContainerScript, type NetworkView, type RunningScript } from './fake-kubelet.js';
import type { FakeNode, KubeApiScenario } from './kube-api-scenarios.js';
import { AddonControllers, addonResources, ingressOf } from './addon-controllers.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  contentType: string | undefined;
  user: string | undefined;
}

interface ResourceInfo {
  kind: string;
  apiVersion: string;
  namespaced: boolean;
}

/** Built-in resources by "<groupVersion>/<plural>"; a CRD adds its own while it exists (see registerCrd). */
const builtInResources: Record<string, ResourceInfo> = {
  'v1/nodes': { kind: 'Node', apiVersion: 'v1', namespaced: false },
  'v1/namespaces': { kind: 'Namespace', apiVersion: 'v1', namespaced: false },
  'v1/pods': { kind: 'Pod', apiVersion: 'v1', namespaced: true },
  'v1/services': { kind: 'Service', apiVersion: 'v1', namespaced: true },
  'v1/secrets': { kind: 'Secret', apiVersion: 'v1', namespaced: true },
  'v1/events': { kind: 'Event', apiVersion: 'v1', namespaced: true },
  'v1/configmaps': { kind: 'ConfigMap', apiVersion: 'v1', namespaced: true },
  'v1/serviceaccounts': { kind: 'ServiceAccount', apiVersion: 'v1', namespaced: true },
  'v1/persistentvolumeclaims': { kind: 'PersistentVolumeClaim', apiVersion: 'v1', namespaced: true },
  'v1/persistentvolumes': { kind: 'PersistentVolume', apiVersion: 'v1', namespaced: false },
  'apps/v1/daemonsets': { kind: 'DaemonSet', apiVersion: 'apps/v1', namespaced: true },
  'apps/v1/deployments': { kind: 'Deployment', apiVersion: 'apps/v1', namespaced: true },
  'batch/v1/jobs': { kind: 'Job', apiVersion: 'batch/v1', namespaced: true },
  'policy/v1/poddisruptionbudgets': {
    kind: 'PodDisruptionBudget',
    apiVersion: 'policy/v1',
    namespaced: true,
  },
  'rbac.authorization.k8s.io/v1/roles': {
    kind: 'Role',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: true,
  },
  'rbac.authorization.k8s.io/v1/rolebindings': {
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: true,
  },
  'rbac.authorization.k8s.io/v1/clusterroles': {
    kind: 'ClusterRole',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: false,
  },
  'rbac.authorization.k8s.io/v1/clusterrolebindings': {
    kind: 'ClusterRoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    namespaced: false,
  },
  'apiextensions.k8s.io/v1/customresourcedefinitions': {
    kind: 'CustomResourceDefinition',
    apiVersion: 'apiextensions.k8s.io/v1',
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/validatingwebhookconfigurations': {
    kind: 'ValidatingWebhookConfiguration',
    apiVersion: 'admissionregistration.k8s.io/v1',
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': {
    kind: 'MutatingWebhookConfiguration',
    apiVersion: 'admissionregistration.k8s.io/v1',
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/validatingadmissionpolicies': {
    kind: 'ValidatingAdmissionPolicy',
    apiVersion: 'admissionregistration.k8s.io/v1',
    namespaced: false,
  },
  'admissionregistration.k8s.io/v1/validatingadmissionpolicybindings': {
    kind: 'ValidatingAdmissionPolicyBinding',
    apiVersion: 'admissionregistration.k8s.io/v1',
    namespaced: false,
  },
  'apiregistration.k8s.io/v1/apiservices': {
    kind: 'APIService',
    apiVersion: 'apiregistration.k8s.io/v1',
    namespaced: false,
  },
  'storage.k8s.io/v1/storageclasses': {
    kind: 'StorageClass',
    apiVersion: 'storage.k8s.io/v1',
    namespaced: false,
  },
  'networking.k8s.io/v1/networkpolicies': {
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    namespaced: true,
  },
  'autoscaling/v2/horizontalpodautoscalers': {
    kind: 'HorizontalPodAutoscaler',
    apiVersion: 'autoscaling/v2',
    namespaced: true,
  },
  'scheduling.k8s.io/v1/priorityclasses': {
    kind: 'PriorityClass',
    apiVersion: 'scheduling.k8s.io/v1',
    namespaced: false,
  },
  'certificates.k8s.io/v1/certificatesigningrequests': {
    kind: 'CertificateSigningRequest',
    apiVersion: 'certificates.k8s.io/v1',
    namespaced: false,
  },
  ...addonResources,
};

class ApiFailure extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Status['details'],
  ) {
    super(message);
  }
}

const notFound = (resource: string, name: string) =>
  new ApiFailure(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const adminGroups = ['kubeadm:cluster-admins', 'system:masters'];

/** Options for a simulator run. */
export interface KubeApiSimulatorOptions {
  scenario: KubeApiScenario;
  /** Reuse a CA (e.g. the one loadOrCreateClusterSecrets made); default: a fresh one. */
  ca?: CertificateAndKey;
  /** How long a graceful pod deletion takes to finish; default 30 ms. */
  podTerminationMs?: number;
}

/** A refusal the next matching requests get instead of their answer (e.g. a PodDisruptionBudget blocking evictions). */
export interface KubeApiFault {
  method: string;
  path: RegExp;
  code: number;
  reason: string;
  message: string;
  /** How many matching requests are refused; default every one until clearFaults(). */
  times?: number;
}

interface PodRuntime {
  started: boolean;
  logs: string;
  previousLogs: string;
  removeAt?: number;
  /** A script container still running (killed when the pod goes). */
  script?: RunningScript;
}

export class KubeApiSimulator {
  readonly requests: RecordedRequest[] = [];
  readonly scenario: KubeApiScenario;
  readonly ca: CertificateAndKey;
  private readonly store = new Map<string, KubeObject>();
  /** The resources served now, by "<groupVersion>/<plural>": the built-in ones and those of Established CRDs. */
  private readonly resources = new Map<string, ResourceInfo>(Object.entries(builtInResources));
  /** Workloads created through the API, whose status the simulated controllers keep (the seeded ones are fixed). */
  private readonly controlled = new Set<string>();
  private readonly runtime = new Map<string, PodRuntime>();
  private readonly server: https.Server;
  private readonly timer: NodeJS.Timeout;
  private readonly podTerminationMs: number;
  private resourceVersion = 1000;
  private nextServiceIp = 1;
  private nextNodePort = 30080;
  private readonly nextPodIp = new Map<string, number>();
  private running = new Set<Promise<void>>();
  private port = 0;
  private readonly faults: Array<KubeApiFault & { hits: number }> = [];
  /** Where the fake kubelet's dig/curl/date stubs live (written once). */
  private stubsDir = '';
  /** Script containers started per node (for FakeNode.stalledScriptRuns). */
  private readonly scriptRuns = new Map<string, number>();
  private serving = true;
  /** The add-ons' controllers (addon-controllers.ts). */
  private readonly addons: AddonControllers;

  private constructor(
    options: KubeApiSimulatorOptions,
    ca: CertificateAndKey,
    serverCert: CertificateAndKey,
  ) {
    this.scenario = options.scenario;
    this.ca = ca;
    this.podTerminationMs = options.podTerminationMs ?? 30;
    this.server = https.createServer(
      // Like the real API server: ask for a client certificate but decide in HTTP (401), not in the handshake.
      {
        key: serverCert.keyPem,
        cert: serverCert.certPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void this.handle(req, res),
    );
    // The real API server keeps idle connections open far longer than Node's 5 s default; a short
    // server-side timeout races with the client reusing the connection (ECONNRESET under load).
    this.server.keepAliveTimeout = 120_000;
    this.timer = setInterval(() => this.tick(), 10);
    this.timer.unref();
    this.addons = new AddonControllers({
      scenario: this.scenario,
      objects: (resource, namespace) => this.objects(resource, namespace),
      get: (resource, namespace, name) => this.get(resource, namespace, name),
      put: (object) => this.put(object),
      remove: (object) => this.remove(object),
      seedPod: (pod, node, { hostNetwork, crashLoop }) => {
        const seeded = this.seedPod({ apiVersion: 'v1', kind: 'Pod', ...pod }, node, hostNetwork);
        if (crashLoop) this.crashLoop(seeded, seeded.spec!.containers[0]!.name, 6);
        return seeded;
      },
    });
    this.populate();
    this.addons.populate();
  }

  static async start(options: KubeApiSimulatorOptions): Promise<KubeApiSimulator> {
    const ca = options.ca ?? (await createClusterCa());
    const serverCert = await issueServerCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes'],
      ipAddresses: ['127.0.0.1'],
    });
    const sim = new KubeApiSimulator(options, ca, serverCert);
    sim.stubsDir = await mkdtemp(path.join(tmpdir(), 'kubestation-fake-kubelet-stubs-'));
    await installStubs(sim.stubsDir);
    await sim.addons.start();
    if (options.scenario.serverTLSBootstrap) await sim.fileServingCsrs();
    await new Promise<void>((resolve) => sim.server.listen(0, '127.0.0.1', resolve));
    sim.port = (sim.server.address() as AddressInfo).port;
    return sim;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** "127.0.0.1:port": the HTTP CONNECT proxy playing VMnet1 as the PC sees it (KUBESTATION_HOST_ONLY_PROXY). */
  get hostOnlyProxy(): string {
    return this.addons.hostOnlyProxy;
  }

  /** A kubeconfig for this server with a fresh client certificate (default: the kubeadm admin identity). */
  async kubeconfig(
    identity: { user: string; groups: string[] } = {
      user: 'kubernetes-admin',
      groups: ['kubeadm:cluster-admins'],
    },
    ca = this.ca,
  ): Promise<string> {
    const client = await issueClientCertificate(ca, {
      commonName: identity.user,
      organizations: identity.groups,
    });
    return renderKubeconfig({
      clusterName: 'sim',
      server: this.url,
      caCertPem: this.ca.certPem,
      userName: identity.user,
      clientCertPem: client.certPem,
      clientKeyPem: client.keyPem,
    });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Like a node shutting down: every container still running is killed (its whole process group).
    for (const runtime of this.runtime.values()) runtime.script?.stop();
    await Promise.all(this.running);
    await this.addons.close();
    await rm(this.stubsDir, { recursive: true, force: true });
  }

  // Store access for tests

  /** Objects of a resource ("pods", "services", "namespaces", …), optionally in one namespace. */
  objects<T extends KubeObject = KubeObject>(resource: string, namespace?: string): T[] {
    const info = this.resourceByName(resource);
    return [...this.store.values()].filter(
      (o) => o.kind === info.kind && (namespace === undefined || o.metadata.namespace === namespace),
    ) as T[];
  }

  /** Every stored object, of every kind (copies). */
  allObjects(): KubeObject[] {
    return [...this.store.values()].map((o) => structuredClone(o));
  }

  get<T extends KubeObject = KubeObject>(
    resource: string,
    namespace: string | undefined,
    name: string,
  ): T | undefined {
    return this.store.get(storeKey(this.resourceByName(resource).kind, namespace, name)) as T | undefined;
  }

  /** Requests whose method and path match (path may be a prefix ending in "*"). */
  /** Refuse matching requests with `fault` (checked before anything is changed). */
  injectFault(fault: KubeApiFault): void {
    this.faults.push({ ...fault, hits: 0 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  requestsTo(method: string, path: string): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        r.method === method && (path.endsWith('*') ? r.path.startsWith(path.slice(0, -1)) : r.path === path),
    );
  }

  /**
   * The node's kubelet stops posting status (its VM was powered off: Ready
   * turns Unknown, the unreachable taints are set, no pod starts there) or
   * posts Ready again (booted). A Node object that was deleted stays deleted.
   */
  setNodeReady(name: string, ready: boolean): void {
    const fake = this.nodeSpec(name);
    if (!fake) return;
    (fake as { ready?: boolean }).ready = ready;
    const node = this.get<Node>('nodes', undefined, name);
    if (!node) return;
    const now = new Date().toISOString();
    const taints = (node.spec?.taints ?? []).filter(
      (t) => t.key !== 'node.kubernetes.io/unreachable' && t.key !== 'node.kubernetes.io/not-ready',
    );
    if (!ready)
      taints.push(
        { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
      );
    node.spec = { ...node.spec, taints };
    const conditions = (node.status?.conditions ?? []).filter((c) => c.type !== 'Ready');
    conditions.push(
      ready
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
            lastHeartbeatTime: now,
          }
        : {
            type: 'Ready',
            status: 'Unknown',
            reason: 'NodeStatusUnknown',
            message: 'Kubelet stopped posting node status.',
            lastHeartbeatTime: now,
          },
    );
    node.status = { ...node.status, conditions };
    this.put(node);
  }

  /** false: the API server is down (its VM is off): every connection is dropped unanswered. true: it serves again. */
  setServing(serving: boolean): void {
    this.serving = serving;
  }

  /** Resolves once every started script container has finished (for tests that want a quiet store). */
  async settle(): Promise<void> {
    await Promise.all(this.running);
  }

  // Seed objects

  private populate(): void {
    const s = this.scenario;
    const systemNamespaces = [
      'default',
      'kube-system',
      'kube-public',
      'kube-node-lease',
      ...(s.cni === 'flannel' ? ['kube-flannel'] : ['tigera-operator', 'calico-system']),
    ];
    for (const name of systemNamespaces)
      this.put({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'kubernetes.io/metadata.name': name } },
        status: { phase: 'Active' },
      });
    s.nodes.forEach((node, index) => this.put(this.nodeObject(node, index)));
    this.put(
      serviceObject(
        'default',
        'kubernetes',
        '10.96.0.1',
        [{ name: 'https', port: 443, targetPort: 6443 }],
        undefined,
      ),
    );
    this.put(
      serviceObject(
        'kube-system',
        'kube-dns',
        '10.96.0.10',
        [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53 },
        ],
        { 'k8s-app': 'kube-dns' },
      ),
    );

    const cp = s.nodes.find((n) => n.role === 'control-plane')!;
    for (const component of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd']) {
      this.seedPod(
        {
          metadata: {
            name: `${component}-${cp.name}`,
            namespace: 'kube-system',
            labels: { component, tier: 'control-plane' },
            annotations: {
              'kubernetes.io/config.mirror': randomUUID(),
              'kubernetes.io/config.source': 'file',
            },
            ownerReferences: [
              { apiVersion: 'v1', kind: 'Node', name: cp.name, uid: randomUUID(), controller: true },
            ],
          },
          spec: {
            nodeName: cp.name,
            hostNetwork: true,
            containers: [{ name: component, image: `registry.k8s.io/${component}:${cp.kubeletVersion}` }],
          },
        },
        cp,
        true,
      );
    }
    for (const suffix of ['7c65d6cfc9-2xk8q', '7c65d6cfc9-9zt4m']) {
      const pod = this.seedPod(
        {
          metadata: {
            name: `coredns-${suffix}`,
            namespace: 'kube-system',
            labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '7c65d6cfc9' },
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'ReplicaSet',
                name: 'coredns-7c65d6cfc9',
                uid: randomUUID(),
                controller: true,
              },
            ],
          },
          spec: {
            nodeName: cp.name,
            containers: [
              {
                name: 'coredns',
                image: 'registry.k8s.io/coredns/coredns:v1.12.1',
                ports: [{ containerPort: 53, protocol: 'UDP' }],
              },
            ],
          },
        },
        cp,
        false,
      );
      if (s.coreDnsCrashLoop) {
        this.crashLoop(pod, 'coredns', 7);
        this.runtime.get(keyOf(pod))!.previousLogs =
          '[INFO] plugin/reload: Running configuration SHA512 = 591cf328cccc12bc490481273e738df59329c62c0b729d94e8b61db9961c2fa5\n' +
          '[FATAL] plugin/loop: Loop (127.0.0.1:45437 -> :53) detected for zone ".", see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."\n';
      }
    }
    const daemonSets: [string, string, string][] = [['kube-system', 'kube-proxy', 'k8s-app']];
    daemonSets.push(
      s.cni === 'flannel'
        ? ['kube-flannel', 'kube-flannel-ds', 'app']
        : ['calico-system', 'calico-node', 'k8s-app'],
    );
    for (const [namespace, name, labelKey] of daemonSets) {
      const labelValue = name === 'kube-flannel-ds' ? 'flannel' : name;
      const ds = this.put<KubeObject>({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name, namespace, labels: { [labelKey]: labelValue } },
        spec: {
          selector: { matchLabels: { [labelKey]: labelValue } },
          template: {
            metadata: { labels: { [labelKey]: labelValue } },
            spec: {
              hostNetwork: true,
              tolerations: [{ operator: 'Exists' }],
              containers: [{ name, image: `example/${name}` }],
            },
          },
        },
        status: {
          desiredNumberScheduled: s.nodes.length,
          numberReady: s.nodes.filter((n) => n.ready !== false).length,
        },
      });
      for (const node of s.nodes) {
        const pod = this.seedPod(
          {
            metadata: {
              name: `${name}-${node.name.replace(/[^a-z0-9]/g, '').slice(-5)}`,
              namespace,
              labels: { [labelKey]: labelValue },
              ownerReferences: [
                { apiVersion: 'apps/v1', kind: 'DaemonSet', name, uid: ds.metadata.uid!, controller: true },
              ],
            },
            spec: {
              nodeName: node.name,
              hostNetwork: true,
              containers: [
                { name: name === 'kube-flannel-ds' ? 'kube-flannel' : name, image: `example/${name}` },
              ],
            },
          },
          node,
          true,
        );
        // A node whose CNI never came up: its CNI pod crash-loops, which is why the node is NotReady.
        if (node.ready === false && name !== 'kube-proxy')
          this.crashLoop(pod, pod.spec!.containers[0]!.name, 5);
      }
    }
  }

  private nodeObject(node: FakeNode, index: number): Node {
    const ready = node.ready !== false;
    const kubeletStopped = node.kubelet === 'stopped';
    const taints: Taint[] = [];
    if (node.role === 'control-plane' && this.scenario.controlPlaneTaint)
      taints.push({ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' });
    if (kubeletStopped) {
      taints.push(
        { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
      );
    } else if (!ready) {
      taints.push(
        { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/not-ready', effect: 'NoExecute' },
      );
    }
    const now = new Date().toISOString();
    const annotations: Record<string, string> = {};
    if (this.scenario.cni === 'flannel') {
      annotations['flannel.alpha.coreos.com/backend-type'] = 'vxlan';
      annotations['flannel.alpha.coreos.com/public-ip'] = node.flannelPublicIp ?? node.internalIP;
    }
    return {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: node.name,
        labels: {
          'kubernetes.io/hostname': node.name,
          'kubernetes.io/os': 'linux',
          'kubernetes.io/arch': 'amd64',
          ...(node.role === 'control-plane'
            ? {
                'node-role.kubernetes.io/control-plane': '',
                'node.kubernetes.io/exclude-from-external-load-balancers': '',
              }
            : {}),
        },
        annotations,
      },
      spec: { podCIDR: `10.244.${index}.0/24`, taints },
      status: {
        conditions: [
          {
            type: 'MemoryPressure',
            status: 'False',
            reason: 'KubeletHasSufficientMemory',
            lastHeartbeatTime: now,
          },
          {
            type: 'DiskPressure',
            status: 'False',
            reason: 'KubeletHasNoDiskPressure',
            lastHeartbeatTime: now,
          },
          kubeletStopped
            ? {
                type: 'Ready',
                status: 'Unknown',
                reason: 'NodeStatusUnknown',
                message: 'Kubelet stopped posting node status.',
                lastHeartbeatTime: new Date(Date.now() - 300_000).toISOString(),
              }
            : ready
              ? {
                  type: 'Ready',
                  status: 'True',
                  reason: 'KubeletReady',
                  message: 'kubelet is posting ready status',
                  lastHeartbeatTime: now,
                }
              : {
                  type: 'Ready',
                  status: 'False',
                  reason: 'KubeletNotReady',
                  message:
                    'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
                  lastHeartbeatTime: now,
                },
        ],
        addresses: [
          { type: 'InternalIP', address: node.internalIP },
          { type: 'Hostname', address: node.name },
        ],
        nodeInfo: {
          kubeletVersion: node.kubeletVersion,
          containerRuntimeVersion: 'containerd://2.2.1',
          osImage: 'Ubuntu 24.04.3 LTS',
          kernelVersion: '6.8.0-88-generic',
        },
      },
    };
  }

  private seedPod(pod: Pod, node: FakeNode, hostNetwork: boolean): Pod {
    const stored = this.put({ apiVersion: 'v1', kind: 'Pod', ...pod } as Pod) as Pod;
    this.runtime.set(keyOf(stored), { started: true, logs: '', previousLogs: '' });
    this.markRunning(stored, node, hostNetwork ? node.internalIP : this.allocatePodIp(node.name));
    // The node controller marks the pods of a node whose kubelet went silent not ready (MarkPodsNotReady).
    if (node.kubelet === 'stopped') stored.status!.conditions = readyConditions(false);
    return stored;
  }

  private crashLoop(pod: Pod, container: string, restarts: number): void {
    pod.status!.conditions = readyConditions(false);
    pod.status!.containerStatuses = [
      {
        name: container,
        ready: false,
        restartCount: restarts,
        state: {
          waiting: {
            reason: 'CrashLoopBackOff',
            message: `back-off 5m0s restarting failed container=${container} pod=${pod.metadata.name}`,
          },
        },
        lastState: { terminated: { exitCode: 1, reason: 'Error' } },
      },
    ];
  }

  // Store primitives

  private put<T extends KubeObject>(object: T): T {
    const meta = object.metadata;
    meta.uid ??= randomUUID();
    meta.creationTimestamp ??= new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    meta.resourceVersion = String(++this.resourceVersion);
    this.store.set(storeKey(object.kind!, meta.namespace, meta.name!), object);
    return object;
  }

  private remove(object: KubeObject): void {
    this.store.delete(storeKey(object.kind!, object.metadata.namespace, object.metadata.name!));
    this.runtime.get(keyOf(object))?.script?.stop();
    this.runtime.delete(keyOf(object));
  }

  private nodeSpec(name: string | undefined): FakeNode | undefined {
    return this.scenario.nodes.find((n) => n.name === name);
  }

  private allocatePodIp(nodeName: string): string {
    const index = this.scenario.nodes.findIndex((n) => n.name === nodeName);
    const next = (this.nextPodIp.get(nodeName) ?? 2) + 1;
    this.nextPodIp.set(nodeName, next);
    return `10.244.${index}.${next}`;
  }

  // HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.serving) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    const identity = socket.authorized && peer?.raw ? identityOf(peer.raw) : undefined;
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      contentType: req.headers['content-type'],
      user: identity?.user,
    });
    this.tick();
    try {
      if (!identity) throw new ApiFailure(401, 'Unauthorized', 'Unauthorized');
      if (!identity.groups.some((g) => adminGroups.includes(g))) {
        throw new ApiFailure(
          403,
          'Forbidden',
          `${describeTarget(url.pathname)} is forbidden: User "${identity.user}" cannot ${verbOf(req.method ?? 'GET', url.pathname)} resource`,
        );
      }
      const fault = this.faults.find(
        (f) =>
          f.method === (req.method ?? 'GET') && f.path.test(url.pathname) && f.hits < (f.times ?? Infinity),
      );
      if (fault) {
        fault.hits++;
        throw new ApiFailure(fault.code, fault.reason, fault.message);
      }
      const result = await this.route(req.method ?? 'GET', url, body, req.headers['content-type']);
      if (typeof result.body === 'string') {
        res.writeHead(result.status, { 'content-type': 'text/plain' });
        res.end(result.body);
      } else {
        res.writeHead(result.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result.body));
      }
    } catch (error) {
      const failure =
        error instanceof ApiFailure
          ? error
          : new ApiFailure(500, 'InternalError', `Internal error occurred: ${(error as Error).message}`);
      const status: Status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: failure.message,
        reason: failure.reason,
        code: failure.code,
      };
      if (failure.details) status.details = failure.details;
      res.writeHead(failure.code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(status));
    }
  }

  private async route(
    method: string,
    url: URL,
    body: unknown,
    contentType: string | undefined,
  ): Promise<{ status: number; body: unknown }> {
    if (url.pathname === '/version')
      return {
        status: 200,
        body: { major: '1', minor: '37', gitVersion: this.scenario.nodes[0]?.kubeletVersion ?? 'v1.37.0' },
      };
    const addonAnswer = this.addons.route(method, url.pathname);
    if (addonAnswer) return addonAnswer;
    const match = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))(?:\/(.*))?$/.exec(url.pathname);
    if (!match) throw new ApiFailure(404, 'NotFound', 'the server could not find the requested resource');
    const group = match[1] ?? match[2]!;
    if (match[3] === undefined && method === 'GET') return { status: 200, body: this.discovery(group) };
    const parts = (match[3] ?? '').split('/').map(decodeURIComponent);
    let namespace: string | undefined;
    if (parts[0] === 'namespaces' && parts.length >= 3) {
      namespace = parts[1];
      parts.splice(0, 2);
    }
    const [resource, name, subresource] = parts;
    const info = this.resources.get(`${group}/${resource}`);
    if (!info || parts.length > 3)
      throw new ApiFailure(404, 'NotFound', 'the server could not find the requested resource');
    if (namespace !== undefined && !info.namespaced)
      throw new ApiFailure(404, 'NotFound', 'the server could not find the requested resource');

    if (subresource === 'approval' && info.kind === 'CertificateSigningRequest' && method === 'PUT')
      return { status: 200, body: this.approval(name!, body) };
    if (subresource) {
      if (info.kind !== 'Pod')
        throw new ApiFailure(404, 'NotFound', 'the server could not find the requested resource');
      if (subresource === 'log' && method === 'GET')
        return { status: 200, body: this.podLogs(namespace!, name!, url.searchParams) };
      if (subresource === 'eviction' && method === 'POST') return this.evict(namespace!, name!, body);
      throw new ApiFailure(
        405,
        'MethodNotAllowed',
        `the server does not allow this method on the requested resource`,
      );
    }
    if (!name) {
      if (method === 'GET') return { status: 200, body: this.list(info, namespace, url.searchParams) };
      if (method === 'POST') return { status: 201, body: this.create(info, namespace, body) };
      throw new ApiFailure(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    }
    const existing = this.store.get(storeKey(info.kind, namespace, name));
    if (!existing && method === 'PATCH' && isApply(contentType)) {
      if (!info.namespaced || namespace !== undefined)
        return this.applyCreate(info, namespace, name, body, url.searchParams);
    }
    if (!existing) throw notFound(`${resource}`, name);
    switch (method) {
      case 'GET':
        return { status: 200, body: existing };
      case 'DELETE':
        return { status: 200, body: this.delete(existing, body) };
      case 'PATCH':
        return {
          status: 200,
          body: isApply(contentType)
            ? this.serverSideApply(info, existing, body, url.searchParams)
            : this.patch(existing, body, contentType),
        };
      default:
        throw new ApiFailure(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
    }
  }

  private list(info: ResourceInfo, namespace: string | undefined, params: URLSearchParams) {
    const labelSelector = params.get('labelSelector') ?? '';
    const fieldSelector = params.get('fieldSelector') ?? '';
    const items = [...this.store.values()]
      .filter((o) => o.kind === info.kind && (namespace === undefined || o.metadata.namespace === namespace))
      .filter((o) => matchesLabels(o.metadata.labels ?? {}, labelSelector) && matchesFields(o, fieldSelector))
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
      );
    return {
      apiVersion: info.apiVersion,
      kind: `${info.kind}List`,
      metadata: { resourceVersion: String(this.resourceVersion) },
      items,
    };
  }

  private create(info: ResourceInfo, namespace: string | undefined, body: unknown): KubeObject {
    const object = structuredClone(body) as KubeObject;
    if (typeof object !== 'object' || object === null || typeof object.metadata !== 'object') {
      throw new ApiFailure(400, 'BadRequest', 'the object provided is unrecognized or has no metadata');
    }
    if (object.kind !== undefined && object.kind !== info.kind) {
      throw new ApiFailure(
        400,
        'BadRequest',
        `the API version in the data (${object.apiVersion}) does not match the expected API version (${info.apiVersion}) or kind ${object.kind} is not ${info.kind}`,
      );
    }
    object.kind = info.kind;
    object.apiVersion = info.apiVersion;
    const meta = object.metadata;
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    const invalid = (field: string, message: string) =>
      new ApiFailure(422, 'Invalid', `${info.kind} "${meta.name ?? ''}" is invalid: ${field}: ${message}`, {
        name: meta.name,
        kind: info.kind.toLowerCase() + 's',
        causes: [{ reason: 'FieldValueInvalid', message, field }],
      });
    if (!meta.name) throw invalid('metadata.name', 'Required value: name or generateName is required');
    // RBAC objects need only be valid path segments (system:node-proxier, metallb-system:controller).
    const pathSegmentName = info.apiVersion.startsWith('rbac.authorization.k8s.io/');
    const validName = pathSegmentName
      ? !/[/%]/.test(meta.name) && meta.name !== '.' && meta.name !== '..'
      : dns1123.test(meta.name);
    if (!validName || meta.name.length > 253)
      throw invalid(
        'metadata.name',
        `Invalid value: "${meta.name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`,
      );
    if (info.namespaced) {
      if (meta.namespace !== undefined && meta.namespace !== namespace) {
        throw new ApiFailure(
          400,
          'BadRequest',
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      meta.namespace = namespace;
      const ns = this.store.get(storeKey('Namespace', undefined, namespace!));
      if (!ns) throw notFound('namespaces', namespace!);
      if (ns.metadata.deletionTimestamp) {
        throw new ApiFailure(
          403,
          'Forbidden',
          `${info.kind.toLowerCase()}s "${meta.name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        );
      }
    }
    if (this.store.has(storeKey(info.kind, meta.namespace, meta.name))) {
      throw new ApiFailure(
        409,
        'AlreadyExists',
        `${info.kind.toLowerCase()}s "${meta.name}" already exists`,
        { name: meta.name, kind: `${info.kind.toLowerCase()}s` },
      );
    }
    for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp']) delete meta[key];

    switch (info.kind) {
      case 'Pod': {
        const pod = object as Pod;
        if (!pod.spec?.containers?.length) throw invalid('spec.containers', 'Required value');
        for (const c of pod.spec.containers)
          if (!c.image) throw invalid(`spec.containers[${c.name}].image`, 'Required value');
        pod.status = { phase: 'Pending', conditions: [] };
        this.put(pod);
        this.runtime.set(keyOf(pod), { started: false, logs: '', previousLogs: '' });
        this.schedule(pod);
        return pod;
      }
      case 'Service': {
        const service = object as Service;
        service.spec ??= {};
        service.spec.type ??= 'ClusterIP';
        if (!service.spec.ports?.length) throw invalid('spec.ports', 'Required value');
        service.spec.clusterIP ??= `10.96.${100 + Math.floor(this.nextServiceIp / 250)}.${(this.nextServiceIp++ % 250) + 1}`;
        this.defaultServicePorts(service);
        return this.put(service);
      }
      case 'Secret': {
        const secret = object as KubeObject & {
          data?: Record<string, string>;
          stringData?: Record<string, string>;
        };
        if (secret.stringData) {
          secret.data = {
            ...(secret.data ?? {}),
            ...Object.fromEntries(
              Object.entries(secret.stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
            ),
          };
          delete secret.stringData;
        }
        return this.put(secret);
      }
      case 'Node': {
        // A kubelet registering again (a rebuilt node) asks for a new serving certificate too.
        const fake = this.nodeSpec(meta.name);
        if (this.scenario.serverTLSBootstrap && fake && fake.kubelet !== 'stopped')
          // In the background, as a kubelet does; a failure to make the request shows as no CSR at all.
          void this.fileServingCsr(fake).catch((error: unknown) =>
            process.stderr.write(`fake API: no serving CSR for ${fake.name}: ${String(error)}\n`),
          );
        return this.put(object);
      }
      case 'Namespace':
        object.status = { phase: 'Active' };
        meta.labels = { ...(meta.labels ?? {}), 'kubernetes.io/metadata.name': meta.name };
        return this.put(object);
      case 'DaemonSet': {
        meta.generation = 1;
        const ds = this.put(object);
        this.controlled.add(keyOf(ds));
        this.runDaemonSet(ds);
        return ds;
      }
      case 'Deployment':
        meta.generation = 1;
        this.controlled.add(keyOf(object));
        return this.put(object);
      case 'CustomResourceDefinition':
        this.registerCrd(object);
        return this.put(object);
      default:
        return this.put(object);
    }
  }

  private delete(object: KubeObject, body: unknown): KubeObject | Status {
    const grace = (body as { gracePeriodSeconds?: number } | undefined)?.gracePeriodSeconds;
    if (object.kind === 'Pod') return this.deletePod(object as Pod, grace);
    if (object.kind === 'Namespace') {
      if (!object.metadata.deletionTimestamp) {
        object.metadata.deletionTimestamp = new Date().toISOString();
        object.status = { phase: 'Terminating' };
        this.put(object);
      }
      return object;
    }
    this.remove(object);
    if (object.kind === 'CustomResourceDefinition') this.unregisterCrd(object);
    if (object.kind === 'DaemonSet') {
      for (const pod of this.objects<Pod>('pods', object.metadata.namespace)) {
        if (pod.metadata.ownerReferences?.some((o) => o.uid === object.metadata.uid))
          this.deletePod(pod, undefined);
      }
    }
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      details: { name: object.metadata.name!, kind: `${object.kind!.toLowerCase()}s` },
      code: 200,
    };
  }

  /** Graceful deletion marks the pod and the kubelet removes it later; grace 0 (force) removes it now. */
  private deletePod(pod: Pod, gracePeriodSeconds: number | undefined): Pod {
    if (gracePeriodSeconds === 0) {
      this.remove(pod);
      return pod;
    }
    if (!pod.metadata.deletionTimestamp) {
      const grace =
        gracePeriodSeconds ?? (pod.spec?.terminationGracePeriodSeconds as number | undefined) ?? 30;
      pod.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString();
      pod.metadata.deletionGracePeriodSeconds = grace;
      const runtime = this.runtime.get(keyOf(pod));
      if (runtime) runtime.removeAt = Date.now() + this.podTerminationMs;
      runtime?.script?.stop(); // the kubelet stops the containers of a pod being deleted
      this.put(pod);
    }
    return pod;
  }

  private patch(object: KubeObject, body: unknown, contentType: string | undefined): KubeObject {
    const type = (contentType ?? '').split(';')[0];
    if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
      throw new ApiFailure(
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`,
      );
    }
    if (typeof body !== 'object' || body === null)
      throw new ApiFailure(400, 'BadRequest', 'patch body must be a JSON object');
    const patched = mergePatch(object, body) as KubeObject;
    patched.metadata.name = object.metadata.name;
    patched.metadata.namespace = object.metadata.namespace;
    if (canonical(patched.spec) !== canonical(object.spec) && typeof object.metadata.generation === 'number')
      patched.metadata.generation = object.metadata.generation + 1;
    return this.put(patched);
  }

  private evict(namespace: string, name: string, body: unknown): { status: number; body: Status } {
    const eviction = body as { apiVersion?: string; kind?: string; metadata?: { name?: string } } | undefined;
    if (eviction?.kind !== 'Eviction' || eviction.apiVersion !== 'policy/v1') {
      throw new ApiFailure(400, 'BadRequest', 'expected a policy/v1 Eviction body');
    }
    if (eviction.metadata?.name !== name)
      throw new ApiFailure(400, 'BadRequest', `name in URL does not match name in Eviction object`);
    const pod = this.store.get(storeKey('Pod', namespace, name)) as Pod | undefined;
    if (!pod) throw notFound('pods', name);
    this.deletePod(pod, undefined);
    return {
      status: 201,
      body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 },
    };
  }

  private podLogs(namespace: string, name: string, params: URLSearchParams): string {
    const pod = this.store.get(storeKey('Pod', namespace, name)) as Pod | undefined;
    if (!pod) throw notFound('pods', name);
    const container = params.get('container') ?? pod.spec?.containers[0]?.name ?? '';
    if (!pod.spec?.containers.some((c) => c.name === container)) {
      throw new ApiFailure(400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
    }
    const runtime = this.runtime.get(keyOf(pod));
    if (!runtime?.started)
      throw new ApiFailure(
        400,
        'BadRequest',
        `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`,
      );
    const node = this.nodeSpec(pod.spec?.nodeName);
    if (node?.kubelet === 'stopped') {
      // The API server proxies log requests to the kubelet, which does not answer.
      throw new ApiFailure(
        500,
        'InternalError',
        `Get "https://${node.internalIP}:10250/containerLogs/${namespace}/${name}/${container}": dial tcp ${node.internalIP}:10250: connect: connection refused`,
      );
    }
    let text = params.get('previous') === 'true' ? runtime.previousLogs : runtime.logs;
    const tail = params.get('tailLines');
    if (tail)
      text = text
        .split('\n')
        .filter(Boolean)
        .slice(-Number(tail))
        .map((l) => `${l}\n`)
        .join('');
    return text;
  }

  // Any resource: discovery, server-side apply, CRDs, certificate requests

  private resourceByName(resource: string): ResourceInfo {
    const info = [...this.resources.entries()].find(([key]) => key.endsWith(`/${resource}`))?.[1];
    if (!info) throw new Error(`unknown resource ${resource}`);
    return info;
  }

  /** GET /api/v1 or /apis/<group>/<version>: the APIResourceList clients map kinds to paths with. */
  private discovery(groupVersion: string) {
    const served = [...this.resources.entries()].filter(([key]) => key.startsWith(`${groupVersion}/`));
    if (served.length === 0)
      throw new ApiFailure(404, 'NotFound', 'the server could not find the requested resource');
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion,
      resources: served.map(([key, info]) => ({
        name: key.slice(groupVersion.length + 1),
        singularName: info.kind.toLowerCase(),
        namespaced: info.namespaced,
        kind: info.kind,
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'],
      })),
    };
  }

  private applyRequestChecks(
    info: ResourceInfo,
    name: string,
    body: unknown,
    params: URLSearchParams,
  ): KubeObject {
    if (!params.get('fieldManager'))
      throw new ApiFailure(400, 'BadRequest', 'PATCH /apply requests must specify a fieldManager');
    const object = body as KubeObject;
    if (typeof object !== 'object' || object === null || typeof object.metadata !== 'object')
      throw new ApiFailure(400, 'BadRequest', 'the object provided is unrecognized or has no metadata');
    if (object.apiVersion !== info.apiVersion || object.kind !== info.kind)
      throw new ApiFailure(
        400,
        'BadRequest',
        `the API version in the data (${object.apiVersion}) or kind (${object.kind}) does not match ${info.apiVersion} ${info.kind}`,
      );
    if (object.metadata.name !== name)
      throw new ApiFailure(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    return object;
  }

  private managedFields(params: URLSearchParams, info: ResourceInfo) {
    return [
      {
        manager: params.get('fieldManager')!,
        operation: 'Apply',
        apiVersion: info.apiVersion,
        time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      },
    ];
  }

  /** Server-side apply of an object that does not exist yet: a create, recorded under the field manager. */
  private applyCreate(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    body: unknown,
    params: URLSearchParams,
  ): { status: number; body: KubeObject } {
    const object = structuredClone(this.applyRequestChecks(info, name, body, params));
    delete object.status; // a status subresource: the main resource's writes do not set it
    object.metadata.managedFields = this.managedFields(params, info);
    return { status: 201, body: this.create(info, namespace, object) };
  }

  /**
   * Server-side apply onto an existing object: the applied fields are merged in (maps field by field,
   * lists whole), recorded under the field manager. Applying what is already there changes nothing: the
   * resourceVersion stays, as on a real API server.
   */
  private serverSideApply(
    info: ResourceInfo,
    existing: KubeObject,
    body: unknown,
    params: URLSearchParams,
  ): KubeObject {
    const applied = this.applyRequestChecks(info, existing.metadata.name!, body, params);
    // status is a subresource: an apply to the object leaves it as its controller wrote it.
    const { metadata: appliedMeta, status: _status, ...appliedRest } = structuredClone(applied);
    for (const key of [
      'uid',
      'resourceVersion',
      'creationTimestamp',
      'managedFields',
      'generation',
      'namespace',
    ])
      delete appliedMeta[key];
    const merged = applyMerge(existing, { ...appliedRest, metadata: appliedMeta }) as KubeObject;
    if (info.kind === 'Service') {
      // Ports are a list merged by port and protocol: each keeps what the server set (nodePort, defaults).
      const before = (existing as Service).spec?.ports ?? [];
      for (const port of (merged as Service).spec?.ports ?? []) {
        const old = before.find(
          (p) => p.port === port.port && (p.protocol ?? 'TCP') === (port.protocol ?? 'TCP'),
        );
        if (old?.nodePort !== undefined) port.nodePort ??= old.nodePort;
      }
      this.defaultServicePorts(merged as Service);
    }
    const manager = params.get('fieldManager')!;
    const others = ((existing.metadata.managedFields as { manager: string }[] | undefined) ?? []).filter(
      (m) => m.manager !== manager,
    );
    const managers = [...others, ...this.managedFields(params, info)];
    const bare = (o: KubeObject) =>
      canonical({ ...o, metadata: { ...o.metadata, managedFields: undefined } });
    if (
      bare(merged) === bare(existing) &&
      others.length + 1 === (existing.metadata.managedFields as unknown[] | undefined)?.length
    )
      return existing;
    merged.metadata.managedFields = managers;
    if (
      canonical(merged.spec) !== canonical(existing.spec) &&
      typeof existing.metadata.generation === 'number'
    )
      merged.metadata.generation = existing.metadata.generation + 1;
    if (info.kind === 'CustomResourceDefinition') this.registerCrd(merged);
    return this.put(merged);
  }

  /** The API server's defaults for a Service's ports (on create, and on an apply that rewrites them). */
  private defaultServicePorts(service: Service): void {
    for (const port of service.spec?.ports ?? []) {
      port.protocol ??= 'TCP';
      port.targetPort ??= port.port;
      if (service.spec!.type === 'NodePort' || service.spec!.type === 'LoadBalancer')
        port.nodePort ??= this.nextNodePort++;
    }
  }

  /** An Established CRD: its kinds are served from now on, under each served version. */
  private registerCrd(crd: KubeObject): void {
    const spec = crd.spec as {
      group: string;
      names: { plural: string; kind: string };
      scope: string;
      versions: { name: string; served: boolean }[];
    };
    for (const version of spec.versions.filter((v) => v.served))
      this.resources.set(`${spec.group}/${version.name}/${spec.names.plural}`, {
        kind: spec.names.kind,
        apiVersion: `${spec.group}/${version.name}`,
        namespaced: spec.scope === 'Namespaced',
      });
    crd.status = {
      acceptedNames: spec.names,
      conditions: [
        { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts' },
        { type: 'Established', status: 'True', reason: 'InitialNamesAccepted' },
      ],
    };
  }

  /** A deleted CRD takes its kinds and all their objects with it. */
  private unregisterCrd(crd: KubeObject): void {
    const spec = crd.spec as { group: string; names: { kind: string } };
    for (const [key, info] of this.resources)
      if (info.kind === spec.names.kind && info.apiVersion.startsWith(`${spec.group}/`))
        this.resources.delete(key);
    for (const object of [...this.store.values()])
      if (object.kind === spec.names.kind && object.apiVersion?.startsWith(`${spec.group}/`))
        this.remove(object);
  }

  /** PUT .../certificatesigningrequests/<name>/approval: the approver's conditions (Approved or Denied). */
  private approval(name: string, body: unknown): KubeObject {
    const csr = this.store.get(storeKey('CertificateSigningRequest', undefined, name));
    if (!csr) throw notFound('certificatesigningrequests', name);
    const sent = body as {
      metadata?: { name?: string };
      status?: { conditions?: { type: string; status: string }[] };
    };
    if (sent?.metadata?.name !== name)
      throw new ApiFailure(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    const conditions = sent.status?.conditions ?? [];
    const known = ['Approved', 'Denied', 'Failed'];
    const bad = conditions.find(
      (c) => !known.includes(c.type) || !['True', 'False', 'Unknown'].includes(c.status),
    );
    if (bad)
      throw new ApiFailure(
        422,
        'Invalid',
        `CertificateSigningRequest.certificates.k8s.io "${name}" is invalid: status.conditions: Unsupported value: "${bad.type}"`,
      );
    const now = new Date().toISOString();
    csr.status = {
      ...(csr.status as object),
      conditions: conditions.map((c) => ({ lastUpdateTime: now, lastTransitionTime: now, ...c })),
    };
    return this.put(csr);
  }

  /** Each node's kubelet asks for its serving certificate (serverTLSBootstrap): a pending kubelet-serving CSR. */
  private async fileServingCsrs(): Promise<void> {
    for (const node of this.scenario.nodes) {
      if (node.kubelet === 'stopped') continue;
      await this.fileServingCsr(node);
    }
  }

  private async fileServingCsr(node: FakeNode): Promise<void> {
    const names = node.servingCertNames ?? { dnsNames: [node.name], ipAddresses: [node.internalIP] };
    const pem = await createKubeletServingRequest(node.name, names);
    this.put({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name: `csr-${randomUUID().slice(0, 5)}` },
      spec: {
        request: Buffer.from(pem).toString('base64'),
        signerName: 'kubernetes.io/kubelet-serving',
        username: `system:node:${node.name}`,
        groups: ['system:nodes', 'system:authenticated'],
        usages: ['digital signature', 'server auth'],
      },
      status: {},
    });
  }

  /**
   * The Deployment and DaemonSet controllers' status for workloads created through the API: available
   * once a node runs their pods, never for those the scenario stalls (an image that cannot be pulled).
   */
  private updateWorkloads(): void {
    const anyNodeUp = this.scenario.nodes.some((n) => n.ready !== false && n.kubelet !== 'stopped');
    for (const key of this.controlled) {
      const workload = this.store.get(key);
      if (!workload) {
        this.controlled.delete(key);
        continue;
      }
      const stalled = this.isStalled(workload);
      const generation = (workload.metadata.generation as number | undefined) ?? 1;
      let status: Record<string, unknown>;
      if (workload.kind === 'Deployment') {
        const replicas = ((workload.spec as { replicas?: number } | undefined)?.replicas ?? 1) as number;
        const available = !stalled && anyNodeUp ? replicas : 0;
        status = {
          observedGeneration: generation,
          replicas,
          updatedReplicas: replicas,
          readyReplicas: available,
          availableReplicas: available,
          conditions: [
            available >= replicas
              ? { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' }
              : { type: 'Available', status: 'False', reason: 'MinimumReplicasUnavailable' },
          ],
        };
      } else {
        const pods = this.objects<Pod>('pods', workload.metadata.namespace).filter((p) =>
          p.metadata.ownerReferences?.some((o) => o.uid === workload.metadata.uid),
        );
        const ready = pods.filter(isReady).length;
        status = {
          observedGeneration: generation,
          desiredNumberScheduled: pods.length,
          currentNumberScheduled: pods.length,
          updatedNumberScheduled: pods.length,
          numberReady: ready,
          numberAvailable: ready,
        };
      }
      if (canonical(status) !== canonical(workload.status)) {
        workload.status = status;
        this.put(workload);
      }
    }
  }

  private isStalled(workload: KubeObject): boolean {
    return (this.scenario.stalledWorkloads ?? []).includes(
      `${workload.metadata.namespace}/${workload.metadata.name}`,
    );
  }

  // Controllers

  private tick(): void {
    const now = Date.now();
    this.updateWorkloads();
    for (const ns of this.objects('namespaces')) {
      if (!ns.metadata.deletionTimestamp) continue;
      const contents = [...this.store.values()].filter((o) => o.metadata.namespace === ns.metadata.name);
      for (const object of contents) {
        if (object.kind === 'Pod') this.deletePod(object as Pod, undefined);
        else this.remove(object);
      }
      if (![...this.store.values()].some((o) => o.metadata.namespace === ns.metadata.name)) this.remove(ns);
    }
    for (const pod of this.objects<Pod>('pods')) {
      const runtime = this.runtime.get(keyOf(pod));
      if (pod.metadata.deletionTimestamp) {
        const stuck = this.scenario.stuckNamespaces.includes(pod.metadata.namespace!);
        if (!stuck && runtime?.removeAt !== undefined && now >= runtime.removeAt) this.remove(pod);
        continue;
      }
      if (!pod.spec?.nodeName) this.schedule(pod);
      else if (runtime && !runtime.started) this.startPod(pod, runtime);
    }
    this.addons.tick();
  }

  private schedule(pod: Pod): void {
    if (pod.spec!.nodeName) return;
    const nodes = this.objects<Node>('nodes');
    const eligible = nodes.filter((node) => schedulable(node, pod));
    const chosen = eligible[0];
    if (!chosen) {
      const reasons = nodes.map((n) => unschedulableReason(n, pod)).filter(Boolean);
      pod.status!.conditions = [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message: `0/${nodes.length} nodes are available: ${reasons.join(', ')}.`,
        },
      ];
      return;
    }
    pod.spec!.nodeName = chosen.metadata.name!;
    pod.status!.conditions = [{ type: 'PodScheduled', status: 'True' }];
    this.put(pod);
  }

  private startPod(pod: Pod, runtime: PodRuntime): void {
    const node = this.nodeSpec(pod.spec!.nodeName);
    if (!node || node.ready === false || node.kubelet === 'stopped') return; // no kubelet to start it
    const owner = pod.metadata.ownerReferences?.[0];
    const stalled =
      owner && this.isStalled({ metadata: { namespace: pod.metadata.namespace, name: owner.name } });
    if (stalled) {
      if (pod.status?.containerStatuses) return;
      const container = pod.spec!.containers[0]!;
      pod.status = {
        phase: 'Pending',
        conditions: readyConditions(false),
        containerStatuses: [
          {
            name: container.name,
            ready: false,
            restartCount: 0,
            image: container.image,
            state: {
              waiting: {
                reason: 'ImagePullBackOff',
                message: `Back-off pulling image "${container.image}"`,
              },
            },
          },
        ],
      };
      this.put(pod);
      return;
    }
    if (!this.addons.volumesReady(pod)) return; // its claims are not bound yet: ContainerCreating
    runtime.started = true;
    const podIp = pod.spec!.hostNetwork ? node.internalIP : this.allocatePodIp(node.name);
    const container = pod.spec!.containers[0]!;
    const script =
      container.command?.[0] === '/bin/sh' && container.command[1] === '-c'
        ? (container.command[2] ?? container.args?.[0])
        : undefined;
    this.markRunning(pod, node, podIp);
    if (script === undefined) return;
    pod.status!.conditions = readyConditions(false);
    pod.status!.containerStatuses![0]!.ready = false;
    const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const deadlineSeconds = pod.spec!.activeDeadlineSeconds;
    const stall = (this.scriptRuns.get(node.name) ?? 0) < (node.stalledScriptRuns ?? 0);
    this.scriptRuns.set(node.name, (this.scriptRuns.get(node.name) ?? 0) + 1);
    const run = (async () => {
      const handle = await startContainerScript({
        stubsDir: this.stubsDir,
        script,
        env,
        network: this.networkView(node),
        clockOffsetSeconds: node.clockOffsetSeconds ?? 0,
        terminationMessagePath: container.terminationMessagePath ?? '/dev/termination-log',
        mounts: this.addons.mounts(pod),
        ...(typeof deadlineSeconds === 'number' ? { deadlineMs: deadlineSeconds * 1000 } : {}),
        stall,
      });
      runtime.script = handle;
      if (this.runtime.get(keyOf(pod)) !== runtime || pod.metadata.deletionTimestamp) handle.stop(); // deleted while starting
      const result = await handle.result;
      runtime.script = undefined;
      runtime.logs = result.stdout;
      const current = this.store.get(keyOf(pod)) as Pod | undefined;
      if (!current) return;
      const message =
        result.terminationMessage ||
        (container.terminationMessagePolicy === 'FallbackToLogsOnError' && result.exitCode !== 0
          ? result.stdout.slice(-2048)
          : '');
      current.status!.phase = result.exitCode === 0 ? 'Succeeded' : 'Failed';
      if (result.killed === 'deadline') {
        current.status!.reason = 'DeadlineExceeded';
        current.status!.message = 'Pod was active on the node longer than the specified deadline';
      }
      current.status!.conditions = readyConditions(false);
      const finishedAt = new Date().toISOString();
      current.status!.containerStatuses = [
        {
          name: container.name,
          ready: false,
          restartCount: 0,
          image: container.image,
          state: {
            terminated: {
              exitCode: result.exitCode,
              reason: result.exitCode === 0 ? 'Completed' : 'Error',
              ...(message ? { message } : {}),
              finishedAt,
            },
          },
        },
      ];
      this.put(current);
    })();
    const tracked = run.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  private markRunning(pod: Pod, node: FakeNode, podIp: string): void {
    pod.spec!.nodeName = node.name;
    pod.status = {
      phase: 'Running',
      hostIP: node.internalIP,
      podIP: podIp,
      podIPs: [{ ip: podIp }],
      startTime: new Date().toISOString(),
      conditions: readyConditions(true),
      containerStatuses: pod.spec!.containers.map((c) => ({
        name: c.name,
        ready: true,
        restartCount: 0,
        image: c.image,
        state: { running: { startedAt: new Date().toISOString() } },
      })),
    };
    this.put(pod);
  }

  private runDaemonSet(ds: KubeObject): void {
    const template = (
      ds.spec as { template: { metadata?: { labels?: Record<string, string> }; spec: Pod['spec'] } }
    ).template;
    for (const node of this.objects<Node>('nodes')) {
      const pod: Pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${ds.metadata.name}-${randomUUID().slice(0, 5)}`,
          namespace: ds.metadata.namespace,
          labels: { ...(template.metadata?.labels ?? {}) },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'DaemonSet',
              name: ds.metadata.name!,
              uid: ds.metadata.uid!,
              controller: true,
            },
          ],
        },
        spec: { ...structuredClone(template.spec!), nodeName: node.metadata.name! },
        status: { phase: 'Pending' },
      };
      if (!tolerates(node.spec?.taints ?? [], pod.spec!.tolerations ?? [])) continue;
      this.put(pod);
      this.runtime.set(keyOf(pod), { started: false, logs: '', previousLogs: '' });
    }
  }

  // The simulated network, as seen from one node (what the fake kubelet's stubs answer).

  /** Whether pod traffic between pods on these two nodes gets through the overlay. */
  private podPathWorks(from: string, to: string): boolean {
    if (from === to) return true;
    if (this.scenario.crossNodePodTraffic !== 'ok') return false;
    return !this.scenario.droppedPodPaths.some(
      ([a, b]) => (a === from && b === to) || (a === to && b === from),
    );
  }

  /**
   * A new connection to a Service through kube-proxy on node `via`: kube-proxy picks one ready
   * backend at random (iptables statistic / nftables numgen), so with some backends unreachable
   * a single request passes or fails by luck, as on a real cluster. Returns the backend that
   * answers, or undefined for no answer.
   */
  private serviceAnswer(via: string, backends: Pod[]): Pod | undefined {
    if (this.scenario.serviceTraffic !== 'ok' || backends.length === 0) return undefined;
    const chosen = backends[randomInt(backends.length)]!;
    return this.podPathWorks(via, chosen.spec!.nodeName!) ? chosen : undefined;
  }

  private networkView(from: FakeNode): NetworkView {
    const offsetOf = (nodeName: string | undefined) => this.nodeSpec(nodeName)?.clockOffsetSeconds ?? 0;
    const answer = (backend: Pod) => ({
      outcome: 'ok' as const,
      clockOffsetSeconds: offsetOf(backend.spec!.nodeName),
      body: backend.metadata.name!,
    });
    const pods = this.objects<Pod>('pods');
    const services = this.objects<Service>('services');
    const backendsOf = (service: Service) => {
      const selector = service.spec?.selector;
      if (!selector) return [];
      return pods.filter(
        (p) =>
          p.metadata.namespace === service.metadata.namespace &&
          !p.metadata.deletionTimestamp &&
          Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
          isReady(p),
      );
    };
    const view: NetworkView = {
      dnsReachable: false,
      names: new Map(),
      dnsDomain: this.scenario.dnsDomain,
      upstreamReachable: this.scenario.dnsUpstream === 'reachable',
      tcp: new Map(),
    };
    for (const service of services) {
      const { name, namespace } = service.metadata;
      const backends = backendsOf(service);
      if (namespace === 'kube-system' && name === 'kube-dns')
        view.dnsReachable = this.serviceAnswer(from.name, backends) !== undefined;
      for (const dnsName of [
        `${name}.${namespace}`,
        `${name}.${namespace}.svc`,
        `${name}.${namespace}.svc.${this.scenario.dnsDomain}`,
      ])
        view.names.set(dnsName, service.spec!.clusterIP!);
      for (const port of service.spec?.ports ?? []) {
        const backend = this.serviceAnswer(from.name, backends);
        if (backend) view.tcp.set(`${service.spec!.clusterIP}:${port.port}`, answer(backend));
        // A LoadBalancer address: kube-proxy on the node takes it like the ClusterIP (no ARP inside the cluster).
        const lbBackend = ingressOf(service) && this.serviceAnswer(from.name, backends);
        if (lbBackend) view.tcp.set(`${ingressOf(service)}:${port.port}`, answer(lbBackend));
        if (!port.nodePort) continue;
        // The NodePort of every node: the host network carries the connection to that node, whose kube-proxy picks a backend.
        for (const node of this.scenario.nodes) {
          if (node.ready === false || node.nodePortsBlocked) continue;
          const viaNode = this.serviceAnswer(node.name, backends);
          if (viaNode) view.tcp.set(`${node.internalIP}:${port.nodePort}`, answer(viaNode));
        }
      }
    }
    if (view.upstreamReachable)
      for (const [name, address] of Object.entries(this.scenario.externalNames))
        view.names.set(name, address);
    for (const pod of pods) {
      const ip = pod.status?.podIP;
      if (!ip || pod.spec?.hostNetwork || pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp)
        continue;
      if (!this.podPathWorks(from.name, pod.spec!.nodeName!)) continue;
      const ports = pod.spec!.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort));
      for (const port of ports)
        view.tcp.set(`${ip}:${port}`, isReady(pod) ? answer(pod) : { outcome: 'refused' });
    }
    return view;
  }
}

// Helpers

function isApply(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0] === 'application/apply-patch+yaml';
}

function storeKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}

function keyOf(object: KubeObject): string {
  return storeKey(object.kind!, object.metadata.namespace, object.metadata.name!);
}

function identityOf(raw: Buffer): { user: string; groups: string[] } {
  const lines = new X509Certificate(raw).subject.split('\n');
  return {
    user: lines.find((l) => l.startsWith('CN='))?.slice(3) ?? '',
    groups: lines.filter((l) => l.startsWith('O=')).map((l) => l.slice(2)),
  };
}

function describeTarget(path: string): string {
  return path.split('/').filter(Boolean).slice(-1)[0] ?? path;
}

function verbOf(method: string, path: string): string {
  const collection = !/\/[^/]+\/[^/]+$/.test(path.replace(/^\/api\/v1|^\/apis\/[^/]+\/[^/]+/, ''));
  return (
    (
      {
        GET: collection ? 'list' : 'get',
        POST: 'create',
        DELETE: 'delete',
        PATCH: 'patch',
        PUT: 'update',
      } as Record<string, string>
    )[method] ?? method.toLowerCase()
  );
}

function serviceObject(
  namespace: string,
  name: string,
  clusterIP: string,
  ports: { name: string; port: number; targetPort?: number; protocol?: string }[],
  selector: Record<string, string> | undefined,
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
      ...(selector ? { selector } : {}),
    },
  };
}

function readyConditions(ready: boolean) {
  const status = ready ? ('True' as const) : ('False' as const);
  return [
    { type: 'PodScheduled', status: 'True' as const },
    { type: 'Initialized', status: 'True' as const },
    { type: 'ContainersReady', status },
    { type: 'Ready', status },
  ];
}

function isReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

function tolerates(taints: Taint[], tolerations: Toleration[]): boolean {
  return taints
    .filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
    .every((taint) =>
      tolerations.some(
        (tol) =>
          (tol.effect === undefined || tol.effect === '' || tol.effect === taint.effect) &&
          (tol.operator === 'Exists'
            ? tol.key === undefined || tol.key === '' || tol.key === taint.key
            : tol.key === taint.key && (tol.value ?? '') === (taint.value ?? '')),
      ),
    );
}

function schedulable(node: Node, pod: Pod): boolean {
  return unschedulableReason(node, pod) === undefined;
}

function unschedulableReason(node: Node, pod: Pod): string | undefined {
  const selector = pod.spec?.nodeSelector ?? {};
  if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v))
    return "1 node(s) didn't match Pod's node affinity/selector";
  if (node.spec?.unschedulable) return '1 node(s) were unschedulable';
  const untolerated = (node.spec?.taints ?? []).find(
    (t) =>
      (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !tolerates([t], pod.spec?.tolerations ?? []),
  );
  if (untolerated) return `1 node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ''}}`;
  return undefined;
}

/** Label selector subset: "a=b", "a==b", "a!=b", "a" (exists), "!a", comma-separated. */
function matchesLabels(labels: Record<string, string>, selector: string): boolean {
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      let m: RegExpExecArray | null;
      if ((m = /^([^!=]+)!=(.*)$/.exec(term))) return labels[m[1]!] !== m[2];
      if ((m = /^([^!=]+)==?(.*)$/.exec(term))) return labels[m[1]!] === m[2];
      if (term.startsWith('!')) return !(term.slice(1) in labels);
      return term in labels;
    });
}

function matchesFields(object: KubeObject, selector: string): boolean {
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
      if (!m) throw new ApiFailure(400, 'BadRequest', `invalid field selector: ${term}`);
      const [, field, op, value] = m;
      const supported = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase'];
      if (!supported.includes(field!))
        throw new ApiFailure(400, 'BadRequest', `field label not supported: ${field}`);
      const actual =
        field!
          .split('.')
          .reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], object) ?? '';
      return op === '!=' ? actual !== value : actual === value;
    });
}

/** Server-side apply's merge, simplified: maps merge field by field, lists and scalars are replaced whole. */
function applyMerge(target: unknown, applied: unknown): unknown {
  if (typeof applied !== 'object' || applied === null || Array.isArray(applied))
    return structuredClone(applied);
  const result: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(applied)) {
    if (value === undefined) continue;
    result[key] = applyMerge(result[key], value);
  }
  return result;
}

/** JSON with object keys sorted (undefined dropped): equal values give equal text. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** RFC 7386 JSON merge patch (null deletes). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
