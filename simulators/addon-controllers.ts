/**
 * The add-ons of issue 23 as the fake API server plays them: what verify's
 * add-on checks and `status` read, and a broken variant of each
 * (kube-api-scenarios.ts). The fake calls in from a few places: populate
 * (the installed add-ons' objects and pods), tick (the controllers), route
 * (the metrics API), startPod (a pod waits for its claim; its volume is a
 * folder per node) and its close.
 *
 *   MetalLB                 allocates Service type LoadBalancer addresses from IPAddressPool
 *                           metallb-system/kubestation (honouring metallb.io/loadBalancerIPs, keeping
 *                           an address a Service already has; AllocationFailed events when it cannot)
 *   local-path-provisioner  binds a claim once a pod using it is scheduled (WaitForFirstConsumer): a
 *                           PV on that node, whose folder is a temporary folder per node here; deletes
 *                           the PV when its claim goes
 *   metrics-server          GET /apis/metrics.k8s.io/v1beta1/nodes: the nodes whose kubelet-serving
 *                           CSR is approved (503 when none is, as when its APIService is unavailable)
 *   NGINX Gateway Fabric    a Gateway gets a LoadBalancer Service "<gateway>-<class>", as NGF 2 names it (annotations from
 *                           spec.infrastructure), Programmed once that has an address; HTTPRoutes on
 *                           a programmed Gateway are Accepted
 *
 * The PC's side of VMnet1 is an HTTP CONNECT proxy on 127.0.0.1
 * (`hostOnlyProxy`, verify's KUBESTATION_HOST_ONLY_PROXY): a tunnel to a
 * LoadBalancer address answers as the Service would (a backend pod's name,
 * like agnhost's /hostname), the Gateway's address routes by Host header;
 * an address nobody announces (or noArpAnswer) gets no answer at all.
 */
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo, Socket } from 'node:net';
import type { KubeObject, Pod, Service } from '../src/kube/types.js';
import type { AddonScenario, FakeNode, KubeApiScenario } from './kube-api-scenarios.js';

/** Kinds the fake serves for the add-on checks beside its own (PVCs, PVs, StorageClasses and CSRs are built in). */
export const addonResources = {
  'metallb.io/v1beta1/ipaddresspools': {
    kind: 'IPAddressPool',
    apiVersion: 'metallb.io/v1beta1',
    namespaced: true,
  },
  'metallb.io/v1beta1/l2advertisements': {
    kind: 'L2Advertisement',
    apiVersion: 'metallb.io/v1beta1',
    namespaced: true,
  },
  'gateway.networking.k8s.io/v1/gatewayclasses': {
    kind: 'GatewayClass',
    apiVersion: 'gateway.networking.k8s.io/v1',
    namespaced: false,
  },
  'gateway.networking.k8s.io/v1/gateways': {
    kind: 'Gateway',
    apiVersion: 'gateway.networking.k8s.io/v1',
    namespaced: true,
  },
  'gateway.networking.k8s.io/v1/httproutes': {
    kind: 'HTTPRoute',
    apiVersion: 'gateway.networking.k8s.io/v1',
    namespaced: true,
  },
} as const;

/** What the controllers need of the fake API server's store. */
export interface AddonStore {
  readonly scenario: KubeApiScenario;
  objects<T extends KubeObject = KubeObject>(resource: string, namespace?: string): T[];
  get<T extends KubeObject = KubeObject>(
    resource: string,
    namespace: string | undefined,
    name: string,
  ): T | undefined;
  put<T extends KubeObject>(object: T): T;
  remove(object: KubeObject): void;
  /** A running pod as the kubelet left it (crashLoop: CrashLoopBackOff instead of ready). */
  seedPod(pod: Pod, node: FakeNode, options: { hostNetwork: boolean; crashLoop?: boolean }): Pod;
}

const addonLabels = (addon: string) => ({
  'app.kubernetes.io/managed-by': 'kubestation',
  'kubestation.io/addon': addon,
});
const nginxController = 'gateway.nginx.org/nginx-gateway-controller';
const ipToInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0;
const intToIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');

export const ingressOf = (service: Service): string | undefined =>
  (service.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0]?.ip;

const conditionsTrue = (types: string[], status: 'True' | 'False', reason?: string, message?: string) =>
  types.map((type) => ({
    type,
    status,
    reason: reason ?? type,
    ...(message ? { message } : {}),
    lastTransitionTime: new Date().toISOString(),
  }));

export class AddonControllers {
  /** "127.0.0.1:port" of the CONNECT proxy playing VMnet1 as the PC sees it. */
  hostOnlyProxy = '';
  private server: http.Server | undefined;
  private readonly inner: http.Server;
  private readonly tunnels = new WeakMap<Socket, { address: string; port: number }>();
  private readonly held = new Set<Socket>();
  private volumesRoot = '';
  private readonly reportedFailures = new Set<string>();

  constructor(private readonly store: AddonStore) {
    this.inner = http.createServer((req, res) => this.answer(req, res));
  }

  private get addons(): AddonScenario | undefined {
    return this.store.scenario.addons;
  }

  async start(): Promise<void> {
    this.volumesRoot = await mkdtemp(path.join(tmpdir(), 'kubestation-fake-volumes-'));
    const server = http.createServer((_req, res) => res.writeHead(405).end());
    server.on('connect', (req, socket: Socket) => this.tunnel(req.url ?? '', socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.hostOnlyProxy = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.held) socket.destroy();
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
    if (this.volumesRoot) await rm(this.volumesRoot, { recursive: true, force: true });
  }

  // The installed add-ons, as build-vms leaves them.

  populate(): void {
    const a = this.addons;
    if (!a) return;
    const nodes = this.store.scenario.nodes;
    const worker = nodes.find((n) => n.role === 'worker') ?? nodes[0]!;
    const namespace = (name: string, addon: string) =>
      this.store.put({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...addonLabels(addon) } },
        status: { phase: 'Active' },
      });
    const pod = (
      ns: string,
      name: string,
      labels: Record<string, string>,
      node: FakeNode,
      crashLoop = false,
    ) =>
      this.store.seedPod(
        {
          metadata: { name, namespace: ns, labels },
          spec: {
            nodeName: node.name,
            containers: [{ name: name.split('-')[0]!, image: `example/${name}` }],
          },
        },
        node,
        { hostNetwork: false, crashLoop },
      );
    if (a.installed.loadBalancer) {
      namespace('metallb-system', 'loadBalancer');
      pod(
        'metallb-system',
        'controller-5f7b8c9d4-x2k9p',
        { app: 'metallb', component: 'controller' },
        worker,
      );
      for (const node of nodes) {
        const speaker = pod(
          'metallb-system',
          `speaker-${node.name.replace(/[^a-z0-9]/g, '').slice(-5)}`,
          { app: 'metallb', component: 'speaker' },
          node,
        );
        speaker.spec!.hostNetwork = true;
      }
      this.store.put({
        apiVersion: 'metallb.io/v1beta1',
        kind: 'IPAddressPool',
        metadata: { name: 'kubestation', namespace: 'metallb-system', labels: addonLabels('loadBalancer') },
        spec: { addresses: [`${a.pool.start}-${a.pool.end}`] },
      });
      this.store.put({
        apiVersion: 'metallb.io/v1beta1',
        kind: 'L2Advertisement',
        metadata: { name: 'kubestation', namespace: 'metallb-system', labels: addonLabels('loadBalancer') },
        spec: { ipAddressPools: ['kubestation'], interfaces: ['ens37'] },
      });
    }
    if (a.installed.storage) {
      namespace('local-path-storage', 'storage');
      pod(
        'local-path-storage',
        'local-path-provisioner-7d4b6f8c9-mx4qz',
        { app: 'local-path-provisioner' },
        worker,
        a.provisionerStopped,
      );
      this.store.put({
        apiVersion: 'storage.k8s.io/v1',
        kind: 'StorageClass',
        metadata: {
          name: 'local-path',
          labels: addonLabels('storage'),
          annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
        },
        provisioner: 'rancher.io/local-path',
        reclaimPolicy: 'Delete',
        volumeBindingMode: 'WaitForFirstConsumer',
      });
    }
    if (a.installed.metrics) {
      pod('kube-system', 'metrics-server-6d94bc8694-q7n2c', { 'k8s-app': 'metrics-server' }, worker);
      nodes.forEach((node, index) =>
        this.store.put({
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { name: `csr-${(index + 10).toString(36)}${node.name.length}q8`, labels: {} },
          spec: {
            signerName: 'kubernetes.io/kubelet-serving',
            username: `system:node:${node.name}`,
            groups: ['system:nodes', 'system:authenticated'],
            usages: ['digital signature', 'server auth'],
            request: '',
          },
          status: a.csrPending
            ? {}
            : {
                conditions: conditionsTrue(
                  ['Approved'],
                  'True',
                  'KubestationApprove',
                  'node name and addresses match cluster.yaml',
                ),
                certificate: 'LS0tLS1CRUdJTg==',
              },
        }),
      );
    }
    if (a.installed.gateway) {
      namespace('nginx-gateway', 'gateway');
      namespace('kubestation-gateway', 'gateway');
      pod(
        'nginx-gateway',
        'nginx-gateway-5d4f9b7c8-h2w7t',
        { 'app.kubernetes.io/name': 'nginx-gateway' },
        worker,
      );
      this.store.put({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'GatewayClass',
        metadata: { name: 'kubestation', labels: addonLabels('gateway') },
        spec: { controllerName: nginxController },
        status: { conditions: conditionsTrue(['Accepted'], 'True') },
      });
      this.store.put({
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'Gateway',
        metadata: { name: 'kubestation', namespace: 'kubestation-gateway', labels: addonLabels('gateway') },
        spec: {
          gatewayClassName: 'kubestation',
          listeners: [
            { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
          ],
          infrastructure: { annotations: { 'metallb.io/loadBalancerIPs': a.gatewayAddress } },
        },
      });
    }
    for (const [key, address] of Object.entries(a.userServices ?? {})) {
      const [ns, name] = key.split('/') as [string, string];
      this.store.put({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns },
        spec: {
          type: 'LoadBalancer',
          clusterIP: `10.96.200.${Number(address.split('.')[3])}`,
          selector: { app: name },
          ports: [
            {
              name: 'http',
              port: 80,
              targetPort: 8080,
              protocol: 'TCP',
              nodePort: 31000 + (ipToInt(address) % 1000),
            },
          ],
        },
        status: { loadBalancer: { ingress: [{ ip: address, ipMode: 'VIP' }] } },
      });
    }
  }

  // Controllers.

  tick(): void {
    if (!this.addons) return;
    this.runGateways();
    this.allocateAddresses();
    this.runRoutes();
    this.releaseVolumes();
    this.markMetricsServer();
  }

  private poolAddresses(): string[] {
    const pool = this.store.get('ipaddresspools', 'metallb-system', 'kubestation') as
      (KubeObject & { spec?: { addresses?: string[] } }) | undefined;
    const addresses: string[] = [];
    for (const range of pool?.spec?.addresses ?? []) {
      const [from, to] = range.includes('-')
        ? range.split('-')
        : [range.replace(/\/32$/, ''), range.replace(/\/32$/, '')];
      for (let n = ipToInt(from!.trim()); n <= ipToInt(to!.trim()); n++) addresses.push(intToIp(n));
    }
    return addresses;
  }

  private metallbRunning(): boolean {
    return this.store
      .objects<Pod>('pods', 'metallb-system')
      .some((p) => p.metadata.labels?.component === 'controller' && p.status?.phase === 'Running');
  }

  /** MetalLB's controller: an address for every LoadBalancer Service without one; one it has is kept. */
  private allocateAddresses(): void {
    if (!this.metallbRunning()) return;
    const pool = this.poolAddresses();
    if (pool.length === 0) return;
    const services = this.store.objects<Service>('services');
    const used = new Set(services.map(ingressOf).filter(Boolean));
    for (const service of services) {
      if (service.spec?.type !== 'LoadBalancer' || ingressOf(service) || service.metadata.deletionTimestamp)
        continue;
      const key = `${service.metadata.namespace}/${service.metadata.name}`;
      const requested = service.metadata.annotations?.['metallb.io/loadBalancerIPs'];
      let address: string | undefined;
      let failure: string | undefined;
      if (requested) {
        if (!pool.includes(requested)) failure = `["${requested}"] is not allowed in config`;
        else if (used.has(requested))
          failure = `can't change sharing key for "${key}", address also in use by another service`;
        else address = requested;
      } else {
        address = pool.find((a) => !used.has(a));
        if (!address) failure = 'no available IPs';
      }
      if (address) {
        used.add(address);
        service.status = { loadBalancer: { ingress: [{ ip: address, ipMode: 'VIP' }] } };
        this.store.put(service);
        this.event(service, 'Normal', 'IPAllocated', `Assigned IP ["${address}"]`);
      } else if (!this.reportedFailures.has(key)) {
        this.reportedFailures.add(key);
        this.event(service, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${failure}`);
      }
    }
  }

  private event(object: KubeObject, type: string, reason: string, message: string): void {
    const namespace = object.metadata.namespace ?? 'default';
    if (!this.store.get('namespaces', undefined, namespace)) return;
    this.store.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${object.metadata.name}.${Date.now().toString(16)}${Math.random().toString(16).slice(2, 6)}`,
        namespace,
      },
      involvedObject: { kind: object.kind, name: object.metadata.name, namespace },
      type,
      reason,
      message,
      source: {
        component:
          reason === 'AllocationFailed' || reason === 'IPAllocated'
            ? 'metallb-controller'
            : 'kubestation-sim',
      },
    });
  }

  /** NGINX Gateway Fabric: each Gateway's LoadBalancer Service, and Programmed once that has an address. */
  private runGateways(): void {
    for (const gateway of this.store.objects('gateways')) {
      const ns = gateway.metadata.namespace!;
      const serviceName = dataPlaneService(gateway);
      // Found by its selector: a Service made before the Gateway changed class keeps serving it.
      let service = this.store.objects<Service>('services', ns).find((svc) => servesGateway(svc, gateway));
      if (!service) {
        const annotations = (gateway.spec as { infrastructure?: { annotations?: Record<string, string> } })
          .infrastructure?.annotations;
        service = this.store.put<Service>({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: {
            name: serviceName,
            namespace: ns,
            ...(annotations ? { annotations: { ...annotations } } : {}),
          },
          spec: {
            type: 'LoadBalancer',
            clusterIP: `10.96.250.${(this.store.objects('gateways').indexOf(gateway) % 250) + 1}`,
            selector: { 'gateway.networking.k8s.io/gateway-name': gateway.metadata.name! },
            ports: [{ name: 'http', port: 80, targetPort: 80, protocol: 'TCP', nodePort: 31080 }],
          },
        });
      }
      const address = ingressOf(service);
      const status = gateway.status as { conditions?: { type: string; status: string }[] } | undefined;
      const programmed = status?.conditions?.find((c) => c.type === 'Programmed')?.status === 'True';
      if (address && !programmed) {
        gateway.status = {
          addresses: [{ type: 'IPAddress', value: address }],
          conditions: conditionsTrue(['Accepted', 'Programmed'], 'True'),
        };
        this.store.put(gateway);
      } else if (!address && !status?.conditions) {
        gateway.status = {
          conditions: [
            ...conditionsTrue(['Accepted'], 'True'),
            ...conditionsTrue(
              ['Programmed'],
              'False',
              'AddressNotAssigned',
              'No addresses have been assigned to the Gateway',
            ),
          ],
        };
        this.store.put(gateway);
      }
    }
  }

  private programmedGateway(namespace: string, name: string): KubeObject | undefined {
    const gateway = this.store.get('gateways', namespace, name);
    const conditions = (gateway?.status as { conditions?: { type: string; status: string }[] } | undefined)
      ?.conditions;
    return conditions?.some((c) => c.type === 'Programmed' && c.status === 'True') ? gateway : undefined;
  }

  /** HTTPRoutes whose parent Gateway is programmed are Accepted (once). */
  private runRoutes(): void {
    if (!this.store.objects('pods', 'nginx-gateway').some((p) => (p as Pod).status?.phase === 'Running'))
      return;
    for (const route of this.store.objects('httproutes')) {
      if (route.status) continue;
      const refs = (route.spec as { parentRefs?: { name: string; namespace?: string }[] }).parentRefs ?? [];
      const parents = refs
        .filter((ref) => this.programmedGateway(ref.namespace ?? route.metadata.namespace!, ref.name))
        .map((ref) => ({
          parentRef: ref,
          controllerName: nginxController,
          conditions: conditionsTrue(['Accepted', 'ResolvedRefs'], 'True'),
        }));
      if (parents.length === 0) continue;
      route.status = { parents };
      this.store.put(route);
    }
  }

  // Volumes (local-path-provisioner, and the kubelet's side of it).

  private provisionerRunning(): boolean {
    return this.store
      .objects<Pod>('pods', 'local-path-storage')
      .some((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  }

  /** Whether every claim the pod mounts is bound; binds them first when the provisioner can (WaitForFirstConsumer). */
  volumesReady(pod: Pod): boolean {
    for (const claimName of claimsOf(pod)) {
      const claim = this.store.get('persistentvolumeclaims', pod.metadata.namespace, claimName);
      if (!claim) return false;
      if ((claim.status as { phase?: string } | undefined)?.phase === 'Bound') continue;
      if (!this.bind(claim, pod.spec!.nodeName!)) return false;
    }
    return true;
  }

  private bind(claim: KubeObject, node: string): boolean {
    const spec = claim.spec as { storageClassName?: string; volumeName?: string };
    const className =
      spec.storageClassName ??
      this.store
        .objects('storageclasses')
        .find((c) => c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true')
        ?.metadata.name;
    const storageClass = className ? this.store.get('storageclasses', undefined, className) : undefined;
    if (!storageClass) return false; // no class: the claim stays Pending, as on a real cluster
    if (!this.provisionerRunning()) {
      const key = `pvc/${claim.metadata.namespace}/${claim.metadata.name}`;
      if (!this.reportedFailures.has(key)) {
        this.reportedFailures.add(key);
        this.event(
          claim,
          'Normal',
          'ExternalProvisioning',
          `Waiting for a volume to be created either by the external provisioner 'rancher.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that your external provisioner is running and correctly registered.`,
        );
      }
      return false;
    }
    const name = `pvc-${claim.metadata.uid}`;
    this.store.put({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' } },
      spec: {
        capacity: (claim.spec as { resources?: { requests?: unknown } }).resources?.requests,
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: className,
        hostPath: {
          path: `/opt/local-path-provisioner/${name}_${claim.metadata.namespace}_${claim.metadata.name}`,
          type: 'DirectoryOrCreate',
        },
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [
              { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
            ],
          },
        },
        claimRef: {
          kind: 'PersistentVolumeClaim',
          namespace: claim.metadata.namespace,
          name: claim.metadata.name,
          uid: claim.metadata.uid,
        },
      },
      status: { phase: 'Bound' },
    });
    claim.spec = { ...spec, storageClassName: className, volumeName: name };
    claim.status = { phase: 'Bound', accessModes: ['ReadWriteOnce'] };
    this.store.put(claim);
    return true;
  }

  /** The folder on this machine standing in for each mount path of the pod's claims (one folder per node and volume). */
  mounts(pod: Pod): Record<string, string> {
    const mounts: Record<string, string> = {};
    const volumes = (pod.spec?.volumes ?? []) as {
      name: string;
      persistentVolumeClaim?: { claimName: string };
    }[];
    for (const container of pod.spec?.containers ?? [])
      for (const mount of (container.volumeMounts ?? []) as { name: string; mountPath: string }[]) {
        const claimName = volumes.find((v) => v.name === mount.name)?.persistentVolumeClaim?.claimName;
        const claim =
          claimName && this.store.get('persistentvolumeclaims', pod.metadata.namespace, claimName);
        const volume = claim ? (claim.spec as { volumeName?: string }).volumeName : undefined;
        if (!volume) continue;
        const dir = path.join(this.volumesRoot, pod.spec!.nodeName!, volume);
        mkdirSync(dir, { recursive: true });
        mounts[mount.mountPath] = dir;
      }
    return mounts;
  }

  /** reclaimPolicy Delete: a volume whose claim is gone goes too (with its folder). */
  private releaseVolumes(): void {
    for (const pv of this.store.objects('persistentvolumes')) {
      const ref = (pv.spec as { claimRef?: { namespace: string; name: string } }).claimRef;
      if (!ref || this.store.get('persistentvolumeclaims', ref.namespace, ref.name)) continue;
      this.store.remove(pv);
      const affinity = JSON.stringify(pv.spec);
      for (const node of this.store.scenario.nodes)
        if (affinity.includes(`"${node.name}"`))
          void rm(path.join(this.volumesRoot, node.name, pv.metadata.name!), {
            recursive: true,
            force: true,
          });
    }
  }

  // metrics-server.

  private scrapeable(): FakeNode[] {
    const approved = new Set(
      this.store
        .objects('certificatesigningrequests')
        .filter((c) =>
          (c.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some(
            (x) => x.type === 'Approved' && x.status === 'True',
          ),
        )
        .map((c) => (c.spec as { username?: string }).username?.replace(/^system:node:/, '')),
    );
    return this.store.scenario.nodes.filter(
      (n) => approved.has(n.name) && n.ready !== false && n.kubelet !== 'stopped',
    );
  }

  /** metrics-server's readiness follows whether it can scrape any kubelet. */
  private markMetricsServer(): void {
    const ready = this.scrapeable().length > 0;
    for (const pod of this.store.objects<Pod>('pods', 'kube-system')) {
      if (pod.metadata.labels?.['k8s-app'] !== 'metrics-server' || pod.status?.phase !== 'Running') continue;
      const current = pod.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (current === ready) continue;
      for (const c of pod.status.conditions ?? [])
        if (c.type === 'Ready' || c.type === 'ContainersReady') c.status = ready ? 'True' : 'False';
      for (const s of pod.status.containerStatuses ?? []) s.ready = ready;
      this.store.put(pod);
    }
  }

  /** The aggregated metrics API; undefined for every other path. */
  route(method: string, pathname: string): { status: number; body: unknown } | undefined {
    if (!pathname.startsWith('/apis/metrics.k8s.io/')) return undefined;
    const installed = this.store
      .objects<Pod>('pods', 'kube-system')
      .some((p) => p.metadata.labels?.['k8s-app'] === 'metrics-server');
    if (!installed || method !== 'GET' || pathname !== '/apis/metrics.k8s.io/v1beta1/nodes')
      return { status: 404, body: notFoundStatus() };
    const nodes = this.scrapeable();
    if (nodes.length === 0)
      return {
        status: 503,
        body: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          reason: 'ServiceUnavailable',
          code: 503,
          message: 'the server is currently unable to handle the request',
        },
      };
    const timestamp = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      status: 200,
      body: {
        kind: 'NodeMetricsList',
        apiVersion: 'metrics.k8s.io/v1beta1',
        metadata: {},
        items: nodes.map((n, i) => ({
          metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
          timestamp,
          window: '20.05s',
          usage: { cpu: `${120 + 37 * i}m`, memory: `${1100 + 85 * i}Mi` },
        })),
      },
    };
  }

  // The PC's side of VMnet1.

  private tunnel(target: string, socket: Socket): void {
    const colon = target.lastIndexOf(':');
    const address = target.slice(0, colon);
    const port = Number(target.slice(colon + 1));
    const service = this.store
      .objects<Service>('services')
      .find((s) => ingressOf(s) === address && s.spec?.ports?.some((p) => p.port === port));
    // Every tunnel is ended when the simulator closes (they are no longer the server's connections).
    this.held.add(socket);
    socket.on('close', () => this.held.delete(socket));
    socket.on('error', () => socket.destroy());
    // Nobody answers ARP for the address: the PC's connection gets no answer at all.
    if (!service || this.addons?.noArpAnswer) return;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    this.tunnels.set(socket, { address, port });
    this.inner.emit('connection', socket);
  }

  private backendAnswer(service: Service): string | undefined {
    const selector = service.spec?.selector;
    if (!selector) return undefined;
    const ready = this.store
      .objects<Pod>('pods', service.metadata.namespace)
      .filter(
        (p) =>
          !p.metadata.deletionTimestamp &&
          Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v) &&
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
    return ready[Math.floor(Math.random() * ready.length)]?.metadata.name;
  }

  /** An HTTP request through a tunnel: the Service's backend answers its name; a Gateway's address routes by Host. */
  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const target = this.tunnels.get(req.socket as Socket);
    const service = target
      ? this.store.objects<Service>('services').find((s) => ingressOf(s) === target.address)
      : undefined;
    if (!service) return void res.writeHead(502).end();
    const gateway = this.store
      .objects('gateways', service.metadata.namespace)
      .find((g) => servesGateway(service, g));
    let backend: Service | undefined = service;
    if (gateway) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '');
      const route = this.store.objects('httproutes').find((r) => {
        const spec = r.spec as { hostnames?: string[]; parentRefs?: { name: string; namespace?: string }[] };
        const accepted = (r.status as { parents?: unknown[] } | undefined)?.parents?.length;
        return (
          accepted &&
          spec.parentRefs?.some(
            (p) =>
              p.name === gateway.metadata.name &&
              (p.namespace ?? r.metadata.namespace) === gateway.metadata.namespace,
          ) &&
          (spec.hostnames ?? [host]).includes(host)
        );
      });
      const ref = (route?.spec as { rules?: { backendRefs?: { name: string }[] }[] } | undefined)?.rules?.[0]
        ?.backendRefs?.[0];
      backend =
        route && ref ? this.store.get<Service>('services', route.metadata.namespace, ref.name) : undefined;
      if (!backend)
        return void res
          .writeHead(404, { 'content-type': 'text/html' })
          .end(
            '<html><body><center><h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>\n',
          );
    }
    const name = this.backendAnswer(backend);
    if (!name) return void res.writeHead(503).end('no endpoints\n');
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(name);
  }
}

/** NGINX Gateway Fabric 2 provisions a Gateway's data plane (Deployment and Service) as <gateway>-<class>. */
function dataPlaneService(gateway: KubeObject): string {
  return `${gateway.metadata.name}-${(gateway.spec as { gatewayClassName?: string }).gatewayClassName ?? 'nginx'}`;
}

const servesGateway = (service: Service, gateway: KubeObject) =>
  service.spec?.selector?.['gateway.networking.k8s.io/gateway-name'] === gateway.metadata.name;

function claimsOf(pod: Pod): string[] {
  return ((pod.spec?.volumes ?? []) as { persistentVolumeClaim?: { claimName: string } }[])
    .map((v) => v.persistentVolumeClaim?.claimName)
    .filter((c): c is string => !!c);
}

function notFoundStatus() {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    reason: 'NotFound',
    code: 404,
    message: 'the server could not find the requested resource',
  };
}
