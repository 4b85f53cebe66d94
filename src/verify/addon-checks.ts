/**
 * verify's add-on checks (issue 23 §3): each add-on proved from where the
 * user stands, in verify's own namespace (one namespace delete removes it
 * all, the provisioned volume with its claim):
 *
 *   loadBalancer  Service verify-lb (type LoadBalancer over the test server pods) gets an address
 *                 from the pool; this PC GETs http://<address>/hostname and gets a test pod's
 *                 name; the probe pod on every node GETs it too (probe check "loadbalancer")
 *   storage       PVC verify-storage on the default StorageClass binds; pod verify-storage-write
 *                 writes a token to it, pod verify-storage-read (on the volume's node) reads it back
 *   metrics       GET /apis/metrics.k8s.io/v1beta1/nodes lists every node of the spec
 *   gateway       HTTPRoute verify-route (host verify.kubestation.test) on Gateway kubestation
 *                 answers from this PC at addons.gateway.address with that Host header
 *
 * A failure names the add-on and the cause its evidence isolates, in this order:
 *
 *   add-on        evidence                                               cause named
 *   ------------  -----------------------------------------------------  ---------------------------------
 *   loadBalancer  no address; AllocationFailed event or every pool        pool exhausted (who holds it)
 *                 address held by a Service
 *                 no address; MetalLB controller pod not running         MetalLB controller not running
 *                 address; no TCP answer from the PC, speakers down      MetalLB speaker not running
 *                 address; no TCP answer from the PC                     no ARP answer seen from the PC
 *                                                                        (ens37 / the PC's VMnet1 adapter)
 *   storage       claim Pending; no StorageClass marked default          no default StorageClass
 *                 claim Pending; local-path-provisioner pod not running  provisioner not running
 *   metrics       nodes missing; their kubelet-serving CSRs pending      CSR not approved
 *                 API not served; metrics-server pod not running         metrics-server not running
 *   gateway       Gateway kubestation not Programmed (+ the Service      Gateway not programmed (address
 *                 holding its address, when one does)                    taken by that Service)
 *                 no TCP answer from the PC                              as for loadBalancer
 *
 * An add-on turned off in cluster.yaml is reported as off; a check that
 * could not run fails as not run.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterSpec } from '../config/model.js';
import { inRange, ipToInt } from '../config/ipv4.js';
import type { KubeClient } from '../kube/client.js';
import { KubeApiError, KubeNotFoundError } from '../kube/errors.js';
import type { Condition, KubeObject, Pod, Service } from '../kube/types.js';
import { findCondition } from '../kube/types.js';
import { COMMAND_PREFIX } from '../command-hint.js';
import { podHealth } from './cluster-checks.js';
import type { Findings } from './findings.js';
import { getFromPc, type FromPcOutcome } from './from-pc.js';
import type { ProbeOutcome } from './data-path-checks.js';
import type { ProbeCheck } from './probe-script.js';
import type { Problem } from './report.js';
import { servicePort, serverPort } from './workload.js';

/** Names the add-ons' manifests give (addons/… and src/addons/render.ts). */
export const ADDON_NAMES = {
  metallbNamespace: 'metallb-system',
  pool: 'kubestation',
  storageNamespace: 'local-path-storage',
  storageClass: 'local-path',
  gatewayNamespace: 'kubestation-gateway',
  gateway: 'kubestation',
} as const;

export const lbServiceName = 'verify-lb';
export const claimName = 'verify-storage';
export const writerPodName = 'verify-storage-write';
export const readerPodName = 'verify-storage-read';
export const routeName = 'verify-route';
export const routeHostname = 'verify.kubestation.test';
const dataPath = '/data';
const dataEnv = 'KSV_DATA';

const group = 'addons' as const;
const gatewayApi = '/apis/gateway.networking.k8s.io/v1';
const labels = {
  'app.kubernetes.io/managed-by': 'kubestation',
  'app.kubernetes.io/part-of': 'kubestation-verify',
};
const serverSelector = {
  'app.kubernetes.io/name': 'verify-server',
  'app.kubernetes.io/part-of': 'kubestation-verify',
};
const controlPlaneToleration = {
  key: 'node-role.kubernetes.io/control-plane',
  operator: 'Exists' as const,
  effect: 'NoSchedule',
};

// The test objects (pure).

export function lbService(spec: ClusterSpec): Service {
  return {
    metadata: { name: lbServiceName, labels: { ...labels } },
    spec: {
      type: spec.addons.loadBalancer.enabled ? 'LoadBalancer' : 'ClusterIP',
      selector: { ...serverSelector },
      ports: [{ name: 'http', port: servicePort, targetPort: serverPort, protocol: 'TCP' }],
    },
  };
}

export function storageClaim(): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: claimName, labels: { ...labels } },
    // No storageClassName: the claim must bind through the default StorageClass, as a tutorial's would.
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } },
  };
}

/** A pod with the claim mounted at /data running `script`; the reader goes to the writer's node (local volumes). */
export function storagePod(name: string, image: string, script: string, node?: string): Pod {
  return {
    metadata: { name, labels: { ...labels, 'app.kubernetes.io/name': 'verify-storage' } },
    spec: {
      ...(node ? { nodeSelector: { 'kubernetes.io/hostname': node } } : {}),
      tolerations: [controlPlaneToleration],
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      activeDeadlineSeconds: 120,
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
      containers: [
        {
          name: 'storage',
          image,
          command: ['/bin/sh', '-c', script],
          env: [
            { name: dataEnv, value: dataPath },
            { name: 'KSV_RESULT_FILE', value: '/dev/termination-log' },
          ],
          volumeMounts: [{ name: 'data', mountPath: dataPath }],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
}

export const writeScript = (token: string) =>
  `printf '%s\\n' '${token}' > "$${dataEnv}/verify.txt" && sync && echo wrote`;
export const readScript = `v=$(cat "$${dataEnv}/verify.txt") && printf '%s' "$v" > "$KSV_RESULT_FILE" && echo "$v"`;

export function httpRoute(): KubeObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: routeName, labels: { ...labels } },
    spec: {
      parentRefs: [
        {
          group: 'gateway.networking.k8s.io',
          kind: 'Gateway',
          namespace: ADDON_NAMES.gatewayNamespace,
          name: ADDON_NAMES.gateway,
        },
      ],
      hostnames: [routeHostname],
      rules: [{ backendRefs: [{ name: lbServiceName, port: servicePort }] }],
    },
  };
}

// Evidence helpers.

const poolSize = (spec: ClusterSpec) =>
  ipToInt(spec.addons.loadBalancer.pool.end) - ipToInt(spec.addons.loadBalancer.pool.start) + 1;
const inPool = (spec: ClusterSpec, address: string) =>
  inRange(address, spec.addons.loadBalancer.pool.start, spec.addons.loadBalancer.pool.end);
const ingressOf = (service: Service): string | undefined =>
  (service.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0]?.ip;

interface Event extends KubeObject {
  involvedObject?: { kind?: string; name?: string };
  reason?: string;
  message?: string;
  type?: string;
}

async function optional<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof KubeApiError) return undefined;
    throw error;
  }
}

/** Pods of a namespace that are not running and ready, as "name: state"; undefined when it has no pods. */
async function unhealthyPods(client: KubeClient, namespace: string, labelSelector?: string) {
  const pods = await optional(() => client.listPods(namespace, labelSelector ? { labelSelector } : {}));
  if (!pods || pods.length === 0) return undefined;
  return pods
    .filter((p) => !p.metadata.deletionTimestamp && !podHealth(p).healthy)
    .map((p) => `${p.metadata.name}: ${podHealth(p).detail}`);
}

const notInstalledFix = (what: string) =>
  `run \`${COMMAND_PREFIX} build-vms\` again: it applies the add-ons (${what}) and changes nothing else on a built lab`;

export interface AddonCheckOptions {
  spec: ClusterSpec;
  client: KubeClient;
  namespace: string;
  image: string;
  findings: Findings;
  log: (line: string) => void;
  signal: AbortSignal;
  intervalMs: number;
  /** Each add-on's wait (address, claim bound, volume written and read, metrics, route answering). */
  waitMs: number;
  /** One HTTP request from this PC. */
  fromPcMs: number;
  /** KUBESTATION_HOST_ONLY_PROXY: the CONNECT proxy standing in for VMnet1 (tests). */
  hostOnlyProxy: string | undefined;
}

/**
 * The add-on checks of one verify run: `start` creates the test objects beside
 * the test servers, `loadBalancerAddress` waits for the address (the probes
 * then try it from every node), `finish` runs the rest and reports every row.
 */
export class AddonChecks {
  private readonly token = `ksv-${randomBytes(6).toString('hex')}`;
  private readonly notCreated = new Map<string, string>();
  private address: string | undefined;
  private addressProblem: { detail: string; problem: Problem } | undefined;

  private constructor(private readonly o: AddonCheckOptions) {}

  private get addons() {
    return this.o.spec.addons;
  }

  /** No test workload (no node is Ready): the checks that need one report `reason` as why they did not run. */
  static withoutWorkload(options: AddonCheckOptions, reason: string): AddonChecks {
    const checks = new AddonChecks(options);
    for (const what of ['service', 'claim', 'writer', 'route']) checks.notCreated.set(what, reason);
    return checks;
  }

  /** Creates the test objects of every add-on that is on (a refusal is kept as the reason its check could not run). */
  static async start(options: AddonCheckOptions): Promise<AddonChecks> {
    const checks = new AddonChecks(options);
    const { client, namespace, image } = options;
    const a = options.spec.addons;
    const create = async (what: string, make: () => Promise<unknown>) => {
      try {
        await make();
      } catch (error) {
        if (!(error instanceof KubeApiError)) throw error;
        checks.notCreated.set(
          what,
          error instanceof KubeNotFoundError ? 'its API is not served' : error.message,
        );
      }
    };
    if (a.loadBalancer.enabled || a.gateway.enabled)
      await create('service', () => client.createService(namespace, lbService(options.spec)));
    if (a.storage.enabled) {
      await create('claim', () =>
        client.request('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
          body: storageClaim(),
        }),
      );
      await create('writer', () =>
        client.createPod(namespace, storagePod(writerPodName, image, writeScript(checks.token))),
      );
    }
    if (a.gateway.enabled)
      await create('route', () =>
        client.request('POST', `${gatewayApi}/namespaces/${namespace}/httproutes`, { body: httpRoute() }),
      );
    return checks;
  }

  private async waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + this.o.waitMs;
    for (;;) {
      this.o.signal.throwIfAborted();
      const value = await read();
      if (done(value) || Date.now() >= deadline) return value;
      await sleep(Math.min(this.o.intervalMs, Math.max(0, deadline - Date.now())), undefined, {
        signal: this.o.signal,
      });
    }
  }

  /** The test Service's LoadBalancer address, once MetalLB gave one (bounded; an allocation failure ends the wait). */
  async loadBalancerAddress(): Promise<string | undefined> {
    if (!this.addons.loadBalancer.enabled || this.notCreated.has('service')) return undefined;
    this.o.log('waiting for a LoadBalancer address from the pool');
    const { client, namespace } = this.o;
    const allocationFailed = (events: Event[]) =>
      events.find(
        (e) =>
          e.involvedObject?.name === lbServiceName &&
          /AllocationFailed/.test(e.reason ?? '') &&
          e.type !== 'Normal',
      );
    const seen = await this.waitFor(
      async () => ({
        service: await client.getService(namespace, lbServiceName),
        events:
          (await optional(() =>
            client
              .request<{ items: Event[] }>('GET', `/api/v1/namespaces/${namespace}/events`)
              .then((l) => l.items),
          )) ?? [],
      }),
      ({ service, events }) => ingressOf(service) !== undefined || allocationFailed(events) !== undefined,
    );
    const address = ingressOf(seen.service);
    if (address) {
      this.address = address;
      return address;
    }
    this.addressProblem = await this.diagnosePending(allocationFailed(seen.events));
    return undefined;
  }

  private async diagnosePending(failed: Event | undefined): Promise<{ detail: string; problem: Problem }> {
    const { spec, client } = this.o;
    const { start, end } = spec.addons.loadBalancer.pool;
    const seconds = Math.round(this.o.waitMs / 1000);
    const holders = (
      (await optional(() => client.request<{ items: Service[] }>('GET', '/api/v1/services'))) ?? {
        items: [],
      }
    ).items
      .map((s) => ({ name: `${s.metadata.namespace}/${s.metadata.name}`, address: ingressOf(s) }))
      .filter((s): s is { name: string; address: string } => !!s.address && inPool(spec, s.address));
    const pending = `pending: no address${failed ? ` (${failed.reason}: ${failed.message})` : ` within ${seconds} s`}`;
    if ((failed && /no available IPs/i.test(failed.message ?? '')) || holders.length >= poolSize(spec)) {
      const list = holders
        .slice(0, 5)
        .map((h) => `${h.name} -> ${h.address}`)
        .join(', ');
      return {
        detail: pending,
        problem: {
          id: 'addon:loadBalancer:pool-exhausted',
          cause: `loadBalancer (MetalLB): the pool ${start}-${end} is exhausted: all ${poolSize(spec)} addresses are held by Services (${list}${holders.length > 5 ? `, and ${holders.length - 5} more` : ''}), so a new LoadBalancer Service stays <pending>`,
          fix: `delete a LoadBalancer Service you no longer need (\`kubectl get services -A\` lists each with its EXTERNAL-IP), or widen addons.loadBalancer.pool in cluster.yaml (inside ${spec.networks.hostOnly.subnet.cidr}, below the DHCP range) and run \`${COMMAND_PREFIX} build-vms\``,
        },
      };
    }
    const controller = await unhealthyPods(client, ADDON_NAMES.metallbNamespace);
    if (controller === undefined)
      return {
        detail: pending,
        problem: {
          id: 'addon:loadBalancer:not-installed',
          cause: `loadBalancer (MetalLB): no MetalLB pods in namespace ${ADDON_NAMES.metallbNamespace}: the add-on is not installed`,
          fix: notInstalledFix('MetalLB'),
        },
      };
    if (controller.length > 0)
      return {
        detail: pending,
        problem: {
          id: 'addon:loadBalancer:not-running',
          cause: `loadBalancer (MetalLB) is not running: ${controller.join('; ')}`,
          fix: `\`kubectl -n ${ADDON_NAMES.metallbNamespace} describe pods\` and \`kubectl -n ${ADDON_NAMES.metallbNamespace} logs deploy/controller\` say why; \`${COMMAND_PREFIX} build-vms\` re-applies it`,
        },
      };
    return {
      detail: pending,
      problem: {
        id: 'addon:loadBalancer:pending',
        cause: `loadBalancer (MetalLB): the test Service got no address within ${seconds} s${failed ? ` (${failed.reason}: ${failed.message})` : ', and MetalLB recorded no reason'}`,
        fix: `\`kubectl -n ${ADDON_NAMES.metallbNamespace} get ipaddresspools,l2advertisements\` must list ${ADDON_NAMES.pool} with ${start}-${end}; \`kubectl -n ${ADDON_NAMES.metallbNamespace} logs deploy/controller\` says why; \`${COMMAND_PREFIX} build-vms\` re-applies it`,
      },
    };
  }

  /** The check the probe on every node adds: the LoadBalancer address through kube-proxy from inside the cluster. */
  probeChecks(): ProbeCheck[] {
    return this.address
      ? [
          {
            check: 'loadbalancer',
            target: this.address,
            url: `http://${this.address}:${servicePort}/hostname`,
          },
        ]
      : [];
  }

  /** Runs what is left (from the PC, the volume, metrics, the route) and reports every add-on's rows. */
  async finish(input: {
    probes: Map<string, ProbeOutcome>;
    serverPods: string[];
    /** Why no test server answers (no node Ready, none ready): the checks that need one cannot run. */
    noServers: string | undefined;
    /** Nodes that are not Ready, with the problem that explains it: they have no metrics to wait for. */
    nodeCauses: Map<string, Problem>;
  }): Promise<void> {
    const lb = this.addons.loadBalancer.enabled
      ? await this.checkLoadBalancer(input)
      : (this.off('loadBalancer'), undefined);
    if (this.addons.storage.enabled) await this.checkStorage();
    else this.off('storage');
    if (this.addons.metrics.enabled) await this.checkMetrics(input.nodeCauses);
    else this.off('metrics');
    if (this.addons.gateway.enabled) await this.checkGateway(input, lb);
    else this.off('gateway');
  }

  private off(name: keyof ClusterSpec['addons']): void {
    this.o.findings.add({
      group,
      check: name,
      node: '',
      verdict: 'off',
      detail: `turned off in cluster.yaml (addons.${name}.enabled: false): not checked`,
    });
  }

  private notRun(check: string, detail: string, problem: Problem, node = ''): void {
    this.o.findings.add({ group, check, node, verdict: 'fail', detail, notRun: true }, problem);
  }

  private fromPc(address: string, hostHeader?: string): Promise<FromPcOutcome> {
    return getFromPc({
      address,
      port: servicePort,
      path: '/hostname',
      ...(hostHeader ? { hostHeader } : {}),
      timeoutMs: this.o.fromPcMs,
      proxy: this.o.hostOnlyProxy,
      signal: this.o.signal,
    });
  }

  /** GETs from the PC until a test pod answers (HTTP 200 with its name) or the wait ends; the last outcome. */
  private async untilAnswered(address: string, serverPods: string[], hostHeader?: string) {
    const deadline = Date.now() + this.o.waitMs;
    let silent = 0;
    for (;;) {
      const outcome = await this.fromPc(address, hostHeader);
      const answered =
        outcome.kind === 'answered' && outcome.status === 200 && serverPods.includes(outcome.body.trim());
      if (answered || Date.now() >= deadline) return outcome;
      // No TCP answer at all is tried once more (MetalLB announces a new address within a second), not
      // until the deadline: ARP that does not answer twice does not start later.
      if (outcome.kind === 'no-answer' && ++silent >= 2) return outcome;
      await sleep(Math.min(this.o.intervalMs, Math.max(0, deadline - Date.now())), undefined, {
        signal: this.o.signal,
      });
    }
  }

  private async checkLoadBalancer(input: {
    probes: Map<string, ProbeOutcome>;
    serverPods: string[];
    noServers: string | undefined;
  }): Promise<FromPcOutcome | undefined> {
    const { spec, findings } = this.o;
    const notCreated = this.notCreated.get('service');
    if (notCreated) {
      this.notRun('loadBalancer address', `the test Service could not be created: ${notCreated}`, {
        id: 'addon:loadBalancer:create',
        cause: `loadBalancer: verify could not create its test Service: ${notCreated}`,
        fix: 'see the detail; run verify again',
      });
      return undefined;
    }
    if (!this.address) {
      const { detail, problem } = this.addressProblem ?? {
        detail: 'not waited for: no test server pod is ready',
        problem: this.noServerProblem(input.noServers),
      };
      findings.add({ group, check: 'loadBalancer address', node: '', verdict: 'fail', detail }, problem);
      this.notRun('loadBalancer from PC', 'did not run: the Service has no address', problem);
      return undefined;
    }
    const address = this.address;
    const fromPool = inPool(spec, address);
    findings.add(
      {
        group,
        check: 'loadBalancer address',
        node: '',
        target: address,
        verdict: fromPool ? 'pass' : 'fail',
        detail: fromPool
          ? `${address} from the pool ${spec.addons.loadBalancer.pool.start}-${spec.addons.loadBalancer.pool.end}`
          : `${address} is outside the pool ${spec.addons.loadBalancer.pool.start}-${spec.addons.loadBalancer.pool.end}`,
      },
      {
        id: 'addon:loadBalancer:outside-pool',
        cause: `loadBalancer: the test Service got ${address}, outside addons.loadBalancer.pool: another LoadBalancer implementation hands out addresses`,
        fix: `\`kubectl get ipaddresspools -A\` and the controllers in the cluster: only MetalLB's pool ${ADDON_NAMES.pool} should serve it`,
      },
    );
    if (input.noServers) {
      this.notRun(
        'loadBalancer from PC',
        `did not run: ${input.noServers}`,
        this.noServerProblem(input.noServers),
      );
      return undefined;
    }
    this.o.log(`connecting from this PC to http://${address}/ (the LoadBalancer address)`);
    const outcome = await this.untilAnswered(address, input.serverPods);
    const inCluster = [...input.probes.values()]
      .map((p) => p.lines.find((l) => l.check === 'loadbalancer' && l.target === address)?.ok)
      .filter((ok): ok is boolean => ok !== undefined);
    const answered =
      outcome.kind === 'answered' && outcome.status === 200 && input.serverPods.includes(outcome.body.trim());
    findings.add(
      {
        group,
        check: 'loadBalancer from PC',
        node: '',
        target: address,
        verdict: answered ? 'pass' : 'fail',
        detail: answered
          ? `http://${address}/ answered ${(outcome as { body: string }).body.trim()}`
          : describe(outcome),
      },
      answered
        ? undefined
        : inCluster.length > 0 && !inCluster.includes(true) && outcome.kind !== 'answered'
          ? (this.dataPathCause([...input.probes.keys()][0] ?? '') ?? {
              id: 'addon:loadBalancer:not-forwarded',
              cause: `loadBalancer: ${address} answers neither this PC nor any pod: the Service is not forwarded to its backends`,
              fix: 'check the kube-proxy rows under System pods and the service rows under Data path (the same forwarding)',
            })
          : await this.fromPcProblem(address, outcome, inCluster.includes(true)),
    );
    for (const [node, probe] of input.probes) {
      const line = probe.lines.find((l) => l.check === 'loadbalancer' && l.target === address);
      if (!line) continue; // not run: the probe's own rows say why
      findings.add(
        {
          group,
          check: 'loadBalancer from pod',
          node,
          target: address,
          verdict: line.ok ? 'pass' : 'fail',
          detail: line.ok ? `answered (${line.detail[0] ?? 'http'})` : (line.detail[0] ?? 'failed'),
        },
        this.dataPathCause(node) ?? {
          id: `addon:loadBalancer:in-cluster:${node}`,
          cause: `loadBalancer: pods on ${node} do not reach the LoadBalancer address ${address}: kube-proxy on ${node} does not forward it`,
          fix: `check the kube-proxy pod on ${node} under System pods and the service rows under Data path (the same forwarding)`,
        },
      );
    }
    return outcome;
  }

  /**
   * The cause the data-path rows of `node` already name (a Service or pod path failing from there): kube-proxy
   * sends the LoadBalancer address the same way, to a backend chosen at random.
   */
  private dataPathCause(node: string): Problem | undefined {
    const { findings } = this.o;
    const row = findings.results.find(
      (r) =>
        r.group === 'data-path' &&
        r.node === node &&
        (r.check === 'service' || r.check === 'pod-to-pod') &&
        r.verdict === 'fail' &&
        r.problem,
    );
    return row ? findings.problems.find((p) => p.id === row.problem) : undefined;
  }

  private noServerProblem(why: string | undefined): Problem {
    return {
      id: 'addon:no-test-server',
      cause: `the add-on checks that need a test pod's answer could not run: ${why ?? 'no test server pod is ready'}`,
      fix: 'fix what the Nodes and Data path rows name first; the add-on checks run once a test server pod is ready',
    };
  }

  /** Why the PC gets no (right) answer from an address the cluster gave. */
  private async fromPcProblem(
    address: string,
    outcome: FromPcOutcome,
    answersInside: boolean,
  ): Promise<Problem> {
    const { spec, client } = this.o;
    const hostOnly = spec.networks.hostOnly;
    if (outcome.kind === 'answered')
      return {
        id: `addon:from-pc:wrong-answer:${address}`,
        cause: `${address} answers this PC with HTTP ${outcome.status}, not with a test pod's name: another machine on ${hostOnly.vmnet} may use this address`,
        fix: `\`arp -a -N ${hostOnly.hostAddress}\` on the PC shows which MAC answers for ${address}; keep addons.loadBalancer.pool free of addresses other machines use`,
      };
    const speakers = await unhealthyPods(client, ADDON_NAMES.metallbNamespace, 'component=speaker');
    if (speakers && speakers.length > 0)
      return {
        id: 'addon:loadBalancer:speaker',
        cause: `loadBalancer (MetalLB): its speakers, which answer ARP for the addresses, are not running (${speakers.join('; ')}), so the PC gets no answer from ${address}`,
        fix: `\`kubectl -n ${ADDON_NAMES.metallbNamespace} logs -l component=speaker\` says why; \`${COMMAND_PREFIX} build-vms\` re-applies MetalLB`,
      };
    if (outcome.kind === 'refused')
      return {
        id: `addon:from-pc:refused:${address}`,
        cause: `a node answers ARP for ${address} but refuses port ${servicePort}: kube-proxy on the announcing node does not forward the LoadBalancer address`,
        fix: 'check the kube-proxy rows under System pods; `kubectl -n metallb-system logs -l component=speaker` names the announcing node',
      };
    return {
      id: 'addon:loadBalancer:no-arp',
      cause: `loadBalancer (MetalLB): this PC gets no answer from ${address} (${outcome.detail})${answersInside ? ' although the address answers inside the cluster' : ''}: no ARP answer seen from the PC on ${hostOnly.vmnet}: MetalLB announces it on the wrong interface, or the PC's ${hostOnly.vmnet} adapter is down or re-addressed`,
      fix: `on the PC, \`Get-NetIPAddress -InterfaceAlias 'VMware Network Adapter ${hostOnly.vmnet.replace(/^vmnet/i, 'VMnet')}'\` must show ${hostOnly.hostAddress} (re-enable the adapter in ncpa.cpl, or run \`${COMMAND_PREFIX} doctor\`); MetalLB must announce on ens37, the host-only NIC: \`kubectl -n ${ADDON_NAMES.metallbNamespace} get l2advertisement ${ADDON_NAMES.pool} -o yaml\` lists interfaces: [ens37] (\`${COMMAND_PREFIX} build-vms\` re-applies it); then \`arp -a -N ${hostOnly.hostAddress}\` lists ${address}`,
    };
  }

  private async checkStorage(): Promise<void> {
    const { client, namespace, findings, image } = this.o;
    const notCreated = this.notCreated.get('claim') ?? this.notCreated.get('writer');
    const createProblem = (why: string): Problem => ({
      id: 'addon:storage:create',
      cause: `storage: verify could not create its test claim or pod: ${why}`,
      fix: 'see the detail; run verify again',
    });
    if (notCreated) {
      this.notRun('storage claim', `not created: ${notCreated}`, createProblem(notCreated));
      this.notRun('storage write-read', 'did not run: no claim', createProblem(notCreated));
      return;
    }
    this.o.log('waiting for the test volume to bind and a pod to write to it');
    const claimPath = `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claimName}`;
    const finished = (p: Pod | undefined) =>
      p?.status?.phase === 'Succeeded' || p?.status?.phase === 'Failed';
    const seen = await this.waitFor(
      async () => ({
        claim: await client.request<KubeObject>('GET', claimPath),
        writer: await optional(() => client.getPod(namespace, writerPodName)),
      }),
      ({ claim, writer }) => phaseOf(claim) === 'Bound' && finished(writer),
    );
    const bound = phaseOf(seen.claim) === 'Bound';
    const volume = (seen.claim.spec as { volumeName?: string; storageClassName?: string } | undefined) ?? {};
    const node = seen.writer?.spec?.nodeName;
    if (!bound) {
      const problem = await this.claimProblem();
      findings.add(
        {
          group,
          check: 'storage claim',
          node: '',
          verdict: 'fail',
          detail: `${phaseOf(seen.claim) ?? 'Pending'}: ${problem.detail}`,
        },
        problem.problem,
      );
      this.notRun('storage write-read', 'did not run: the claim is not bound', problem.problem);
      return;
    }
    findings.add({
      group,
      check: 'storage claim',
      node: '',
      verdict: 'pass',
      detail: `Bound to ${volume.volumeName ?? 'a volume'} (StorageClass ${volume.storageClassName ?? '?'})`,
    });
    const volumeProblem = (detail: string): Problem => ({
      id: 'addon:storage:data',
      cause: `storage (local-path-provisioner): the volume bound but ${detail}`,
      fix: `\`kubectl -n ${ADDON_NAMES.storageNamespace} logs deploy/local-path-provisioner\` and, on ${node ?? 'the node'}, the folder under /opt/local-path-provisioner must be writable`,
    });
    if (seen.writer?.status?.phase !== 'Succeeded') {
      const detail = `the writer pod did not finish: ${seen.writer ? podHealth(seen.writer).detail : 'gone'}${terminationText(seen.writer)}`;
      findings.add(
        { group, check: 'storage write-read', node: node ?? '', verdict: 'fail', detail },
        volumeProblem(`a pod could not write to it (${detail})`),
      );
      return;
    }
    await client.createPod(namespace, storagePod(readerPodName, image, readScript, node));
    const reader = await this.waitFor(
      () => optional(() => client.getPod(namespace, readerPodName)),
      finished,
    );
    const read = reader?.status?.containerStatuses?.[0]?.state?.terminated?.message?.trim();
    const ok = reader?.status?.phase === 'Succeeded' && read === this.token;
    const detail = ok
      ? 'a second pod read back what the first wrote'
      : !finished(reader)
        ? `the reader pod did not finish within ${Math.round(this.o.waitMs / 1000)} s: ${reader ? podHealth(reader).detail : 'gone'}`
        : `the reader pod read ${read ? JSON.stringify(read.slice(0, 40)) : 'nothing'} instead of what was written${terminationText(reader)}`;
    findings.add(
      { group, check: 'storage write-read', node: node ?? '', verdict: ok ? 'pass' : 'fail', detail },
      volumeProblem(`what one pod wrote was not there for the next (${detail})`),
    );
  }

  private async claimProblem(): Promise<{ detail: string; problem: Problem }> {
    const { client, namespace } = this.o;
    const seconds = Math.round(this.o.waitMs / 1000);
    const classes =
      (
        await optional(() =>
          client.request<{ items: KubeObject[] }>('GET', '/apis/storage.k8s.io/v1/storageclasses'),
        )
      )?.items ?? [];
    const isDefault = (c: KubeObject) =>
      c.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true';
    const events =
      (
        await optional(() =>
          client.request<{ items: Event[] }>('GET', `/api/v1/namespaces/${namespace}/events`),
        )
      )?.items.filter((e) => e.involvedObject?.name === claimName) ?? [];
    const lastEvent = events.at(-1);
    const eventText = lastEvent
      ? `${lastEvent.reason}: ${lastEvent.message}`
      : `not bound within ${seconds} s`;
    if (!classes.some(isDefault))
      return {
        detail: 'no default StorageClass',
        problem: {
          id: 'addon:storage:no-default-class',
          cause: `storage: no StorageClass is marked default (${classes.length ? classes.map((c) => c.metadata.name).join(', ') : 'none exists'}), so a claim without storageClassName stays Pending`,
          fix: `${notInstalledFix(`local-path-provisioner and its StorageClass ${ADDON_NAMES.storageClass}, marked default`)}; \`kubectl get storageclass\` shows "(default)" beside it`,
        },
      };
    const provisioner = await unhealthyPods(client, ADDON_NAMES.storageNamespace);
    if (provisioner === undefined || provisioner.length > 0)
      return {
        detail: eventText,
        problem: {
          id: 'addon:storage:provisioner',
          cause: `storage (local-path-provisioner): the provisioner is not running (${provisioner === undefined ? `no pod in namespace ${ADDON_NAMES.storageNamespace}` : provisioner.join('; ')}), so claims stay Pending`,
          fix: `\`kubectl -n ${ADDON_NAMES.storageNamespace} describe pods\` and \`kubectl -n ${ADDON_NAMES.storageNamespace} logs deploy/local-path-provisioner\` say why; \`${COMMAND_PREFIX} build-vms\` re-applies it`,
        },
      };
    return {
      detail: eventText,
      problem: {
        id: 'addon:storage:pending',
        cause: `storage: the test claim was not bound within ${seconds} s although the provisioner runs (${eventText})`,
        fix: `\`kubectl -n ${namespace} describe pvc ${claimName}\` during verify, and \`kubectl -n ${ADDON_NAMES.storageNamespace} logs deploy/local-path-provisioner\``,
      },
    };
  }

  private async checkMetrics(nodeCauses: Map<string, Problem>): Promise<void> {
    const { spec, client, findings } = this.o;
    this.o.log('reading node metrics (metrics.k8s.io)');
    for (const [node, cause] of nodeCauses)
      this.notRun(
        'metrics node',
        'not run: the node is not Ready (a kubelet that is down has no metrics)',
        cause,
        node,
      );
    const wanted = spec.nodes.map((n) => n.name).filter((n) => !nodeCauses.has(n));
    let apiError: string | undefined;
    const items = await this.waitFor(
      async () => {
        try {
          const list = await client.request<{ items: NodeMetrics[] }>(
            'GET',
            '/apis/metrics.k8s.io/v1beta1/nodes',
          );
          apiError = undefined;
          return list.items;
        } catch (error) {
          if (!(error instanceof KubeApiError)) throw error;
          apiError =
            error instanceof KubeNotFoundError
              ? 'the metrics API (metrics.k8s.io) is not served'
              : `the metrics API answers: ${error.message}`;
          return [] as NodeMetrics[];
        }
      },
      (list) => wanted.every((n) => list.some((m) => m.metadata.name === n)),
    );
    const missing = wanted.filter((n) => !items.some((m) => m.metadata.name === n));
    const problem = missing.length ? await this.metricsProblem(missing, apiError) : undefined;
    for (const node of wanted) {
      const m = items.find((x) => x.metadata.name === node);
      findings.add(
        {
          group,
          check: 'metrics node',
          node,
          verdict: m ? 'pass' : 'fail',
          detail: m
            ? `cpu ${m.usage?.cpu ?? '?'}, memory ${m.usage?.memory ?? '?'}`
            : (apiError ?? 'not reported by metrics.k8s.io'),
        },
        problem,
      );
    }
  }

  private async metricsProblem(missing: string[], apiError: string | undefined): Promise<Problem> {
    const { client } = this.o;
    const csrs =
      (
        await optional(() =>
          client.request<{ items: Csr[] }>('GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests'),
        )
      )?.items ?? [];
    const pending = csrs.filter(
      (c) =>
        c.spec?.signerName === 'kubernetes.io/kubelet-serving' &&
        !c.status?.conditions?.some((x) => x.type === 'Approved' || x.type === 'Denied'),
    );
    const nodeOf = (c: Csr) => c.spec?.username?.replace(/^system:node:/, '') ?? '?';
    const server = await unhealthyPods(client, 'kube-system', 'k8s-app=metrics-server');
    if (server === undefined)
      return {
        id: 'addon:metrics:not-running',
        cause: `metrics (metrics-server) is not installed: no metrics-server pod in kube-system${apiError ? ` (${apiError})` : ''}`,
        fix: notInstalledFix('metrics-server'),
      };
    const pendingFor = pending.filter((c) => missing.includes(nodeOf(c)) || apiError !== undefined);
    if (pendingFor.length > 0)
      return {
        id: 'addon:metrics:csr',
        cause: `metrics (metrics-server): the kubelet serving certificates are not approved (pending: ${pendingFor.map((c) => `${c.metadata.name} for ${nodeOf(c)}`).join(', ')}), so metrics-server cannot scrape ${missing.join(', ')} (it checks the kubelets' certificates; never --kubelet-insecure-tls)`,
        fix: `run \`${COMMAND_PREFIX} build-vms\` again: it approves kubelet-serving CSRs whose node name and addresses match cluster.yaml; or check one with \`kubectl get csr\` and approve it with \`kubectl certificate approve <name>\``,
      };
    if (server.length > 0)
      return {
        id: 'addon:metrics:not-running',
        cause: `metrics (metrics-server) is not running (${server.join('; ')})${apiError ? `: ${apiError}` : ''}`,
        fix: `\`kubectl -n kube-system logs deploy/metrics-server\` says why; ${notInstalledFix('metrics-server')}`,
      };
    return {
      id: 'addon:metrics:missing',
      cause: `metrics (metrics-server): ${apiError ?? `no metrics for ${missing.join(', ')} within ${Math.round(this.o.waitMs / 1000)} s`}`,
      fix: '`kubectl -n kube-system logs deploy/metrics-server` names the kubelet it cannot scrape; it reports a node about 15 s after it can',
    };
  }

  private async checkGateway(
    input: { serverPods: string[]; noServers: string | undefined },
    lbFromPc: FromPcOutcome | undefined,
  ): Promise<void> {
    const { spec, client, findings, namespace } = this.o;
    const address = spec.addons.gateway.address;
    const where = `${ADDON_NAMES.gatewayNamespace}/${ADDON_NAMES.gateway}`;
    this.o.log(`checking Gateway ${where}`);
    const gatewayPath = `${gatewayApi}/namespaces/${ADDON_NAMES.gatewayNamespace}/gateways/${ADDON_NAMES.gateway}`;
    const gateway = await this.waitFor(
      () => optional(() => client.request<Gateway>('GET', gatewayPath)),
      (g) => findCondition(g?.status?.conditions, 'Programmed')?.status === 'True',
    );
    const programmed = findCondition(gateway?.status?.conditions, 'Programmed');
    const addresses = gateway?.status?.addresses?.map((a) => a.value) ?? [];
    if (!gateway || programmed?.status !== 'True') {
      const problem = gateway
        ? await this.notProgrammedProblem(programmed)
        : {
            id: 'addon:gateway:not-installed',
            cause: `gateway (NGINX Gateway Fabric): there is no Gateway ${where}`,
            fix: notInstalledFix('NGINX Gateway Fabric and its Gateway'),
          };
      findings.add(
        {
          group,
          check: 'gateway programmed',
          node: '',
          target: where,
          verdict: 'fail',
          detail: gateway
            ? `Programmed ${programmed?.status ?? 'not reported'}${programmed?.reason ? ` (${programmed.reason}: ${programmed.message ?? ''})` : ''}`
            : 'no such Gateway',
        },
        problem,
      );
      this.notRun('gateway route from PC', 'did not run: the Gateway is not programmed', problem);
      return;
    }
    findings.add(
      {
        group,
        check: 'gateway programmed',
        node: '',
        target: where,
        verdict: addresses.includes(address) ? 'pass' : 'fail',
        detail: `Programmed, address ${addresses.join(', ') || 'none'}`,
      },
      {
        id: 'addon:gateway:address',
        cause: `gateway: Gateway ${where} has ${addresses.join(', ') || 'no address'}, not addons.gateway.address ${address}`,
        fix: `\`${COMMAND_PREFIX} build-vms\` re-applies the Gateway with its address; \`kubectl get services -A\` shows whether another Service holds ${address}`,
      },
    );
    const notCreated = this.notCreated.get('route');
    if (notCreated) {
      this.notRun('gateway route from PC', `the test HTTPRoute could not be created: ${notCreated}`, {
        id: 'addon:gateway:route-create',
        cause: `gateway: verify could not create its test HTTPRoute: ${notCreated}`,
        fix: notInstalledFix('the Gateway API CRDs'),
      });
      return;
    }
    if (input.noServers) {
      this.notRun(
        'gateway route from PC',
        `did not run: ${input.noServers}`,
        this.noServerProblem(input.noServers),
      );
      return;
    }
    const route = await this.waitFor(
      () => client.request<Route>('GET', `${gatewayApi}/namespaces/${namespace}/httproutes/${routeName}`),
      (r) => routeAccepted(r)?.status === 'True',
    );
    const accepted = routeAccepted(route);
    if (accepted?.status !== 'True') {
      findings.add(
        {
          group,
          check: 'gateway route from PC',
          node: '',
          target: routeHostname,
          verdict: 'fail',
          detail: `HTTPRoute not accepted: ${accepted ? `${accepted.reason}: ${accepted.message ?? ''}` : 'no status from the Gateway controller'}`,
        },
        {
          id: 'addon:gateway:route',
          cause: `gateway (NGINX Gateway Fabric): the Gateway ${where} did not accept the test HTTPRoute${accepted ? ` (${accepted.reason})` : ': its controller did not answer'}`,
          fix: `\`kubectl -n nginx-gateway logs deploy/nginx-gateway\` says why; its listener must allow routes from every namespace (\`${COMMAND_PREFIX} build-vms\` re-applies it)`,
        },
      );
      return;
    }
    this.o.log(`connecting from this PC to http://${address}/ with Host ${routeHostname} (the Gateway)`);
    const outcome = await this.untilAnswered(address, input.serverPods, routeHostname);
    const answered =
      outcome.kind === 'answered' && outcome.status === 200 && input.serverPods.includes(outcome.body.trim());
    findings.add(
      {
        group,
        check: 'gateway route from PC',
        node: '',
        target: routeHostname,
        verdict: answered ? 'pass' : 'fail',
        detail: answered
          ? `http://${routeHostname}/ at ${address} answered ${(outcome as { body: string }).body.trim()}`
          : describe(outcome),
      },
      answered
        ? undefined
        : outcome.kind === 'answered'
          ? {
              id: 'addon:gateway:answer',
              cause: `gateway (NGINX Gateway Fabric): ${address} answers HTTP ${outcome.status} for ${routeHostname} instead of the test pod: the route is accepted but not served`,
              fix: '`kubectl -n nginx-gateway logs deploy/nginx-gateway` and the data plane pod in namespace kubestation-gateway say why',
            }
          : await this.fromPcProblem(address, outcome, lbFromPc?.kind === 'answered'),
    );
  }

  private async notProgrammedProblem(programmed: Condition | undefined): Promise<Problem> {
    const { spec, client } = this.o;
    const address = spec.addons.gateway.address;
    const holder = (
      (await optional(() => client.request<{ items: Service[] }>('GET', '/api/v1/services')))?.items ?? []
    ).find((s) => ingressOf(s) === address && s.metadata.namespace !== ADDON_NAMES.gatewayNamespace);
    const why = programmed
      ? `${programmed.reason ?? 'False'}${programmed.message ? `: ${programmed.message}` : ''}`
      : 'no Programmed condition';
    if (holder)
      return {
        id: 'addon:gateway:not-programmed',
        cause: `gateway (NGINX Gateway Fabric): Gateway ${ADDON_NAMES.gateway} is not programmed (${why}): its address ${address} (addons.gateway.address) is taken by Service ${holder.metadata.namespace}/${holder.metadata.name}`,
        fix: `give Service ${holder.metadata.namespace}/${holder.metadata.name} another address (delete it, or remove its metallb.io/loadBalancerIPs annotation), or set addons.gateway.address to a free pool address and run \`${COMMAND_PREFIX} build-vms\``,
      };
    const controller = await unhealthyPods(client, 'nginx-gateway');
    return {
      id: 'addon:gateway:not-programmed',
      cause: `gateway (NGINX Gateway Fabric): Gateway ${ADDON_NAMES.gateway} is not programmed (${why})${controller?.length ? `; its controller is not running (${controller.join('; ')})` : ''}`,
      fix: `\`kubectl -n ${ADDON_NAMES.gatewayNamespace} describe gateway ${ADDON_NAMES.gateway}\` and \`kubectl -n nginx-gateway logs deploy/nginx-gateway\` say why; \`${COMMAND_PREFIX} build-vms\` re-applies it`,
    };
  }
}

interface NodeMetrics extends KubeObject {
  usage?: { cpu?: string; memory?: string };
}
interface Csr extends KubeObject {
  spec?: { signerName?: string; username?: string };
  status?: { conditions?: Condition[] };
}
interface Gateway extends KubeObject {
  status?: { conditions?: Condition[]; addresses?: { type?: string; value: string }[] };
}
interface Route extends KubeObject {
  status?: { parents?: { parentRef?: { name?: string }; conditions?: Condition[] }[] };
}

const routeAccepted = (route: Route | undefined) =>
  findCondition(
    route?.status?.parents?.find((p) => p.parentRef?.name === ADDON_NAMES.gateway)?.conditions,
    'Accepted',
  );

const phaseOf = (object: KubeObject | undefined) => (object?.status as { phase?: string } | undefined)?.phase;

function terminationText(pod: Pod | undefined): string {
  const message = pod?.status?.containerStatuses?.[0]?.state?.terminated?.message?.trim();
  return message ? `; it said: ${message.slice(0, 200)}` : '';
}

function describe(outcome: FromPcOutcome): string {
  switch (outcome.kind) {
    case 'answered':
      return `answered HTTP ${outcome.status}${outcome.body ? ` "${outcome.body.trim().slice(0, 60)}"` : ''}, not a test pod's name`;
    case 'no-answer':
      return `no answer (${outcome.detail})`;
    case 'refused':
      return 'connection refused';
    case 'error':
      return outcome.detail;
  }
}
