/**
 * The short-lived test workload, as API objects (pure; verify-cluster.ts
 * creates and removes them). Everything lives in one namespace so a single
 * namespace delete removes it all:
 *
 *   verify-server-<node>  agnhost netexec (HTTP on 8080), one per node
 *   verify-<node>         a NodePort Service (it has a ClusterIP too) whose only backend is
 *                         verify-server-<node>
 *   verify-probe-<node>   runs the probe script, one per node (verify-probe<N>-<node> for
 *                         the N-th attempt when a probe had to be run again)
 *
 * Why one Service per backend: kube-proxy sends each new connection to a
 * backend chosen at random, so one request to a Service with several
 * backends proves only that SOME backend answered, and passes by luck when
 * another is unreachable. A Service per backend makes every request
 * deterministic: the ClusterIP of verify-<B> tried from node F proves
 * kube-proxy on F forwards to B; the NodePort of verify-<T> on T's address
 * proves T accepts NodePort connections (its firewall) and forwards them,
 * with the backend on T itself, so a broken overlay cannot make it fail.
 * The path a packet takes is the same kube-proxy path as for any Service.
 * (Session affinity cannot pick a backend, and a headless Service bypasses
 * kube-proxy, which is what is being tested.)
 *
 * Pods are pinned with a kubernetes.io/hostname nodeSelector (so the
 * scheduler and taints are exercised, unlike spec.nodeName) and tolerate the
 * control-plane taint so the control plane is tested too.
 */
import type { Namespace, Pod, Service, Toleration } from '../kube/types.js';
import { resultFileEnv } from './probe-script.js';

/** Pinned test image: Kubernetes' own e2e network test image (sh, dig, curl, netexec). */
export const defaultVerifyImage = 'registry.k8s.io/e2e-test-images/agnhost:2.52';
export const defaultVerifyNamespace = 'kubestation-verify';
export const serverPort = 8080;
export const servicePort = 80;

const managedBy = {
  'app.kubernetes.io/managed-by': 'kubestation',
  'app.kubernetes.io/part-of': 'kubestation-verify',
};
const serverLabels = { ...managedBy, 'app.kubernetes.io/name': 'verify-server' };
const probeLabels = { ...managedBy, 'app.kubernetes.io/name': 'verify-probe' };

const controlPlaneToleration: Toleration = {
  key: 'node-role.kubernetes.io/control-plane',
  operator: 'Exists',
  effect: 'NoSchedule',
};

/** Pod names from node names: lower case, [a-z0-9-], at most 63 characters. */
export function podNameFor(prefix: string, node: string): string {
  const safe = node
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${prefix}-${safe}`.slice(0, 63).replace(/-+$/, '');
}

export function verifyNamespace(name: string): Namespace {
  return { metadata: { name, labels: { ...managedBy } } };
}

const nodeLabel = 'kubestation.io/node';

/** The Service whose only backend is the test server on `node`. */
export const serviceNameFor = (node: string) => podNameFor('verify', node);

export function serverPod(node: string, image: string): Pod {
  return {
    metadata: {
      name: podNameFor('verify-server', node),
      labels: { ...serverLabels, [nodeLabel]: podNameFor('n', node) },
    },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      tolerations: [controlPlaneToleration],
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'server',
          image,
          args: ['netexec', `--http-port=${serverPort}`],
          ports: [{ containerPort: serverPort, name: 'http', protocol: 'TCP' }],
          readinessProbe: { tcpSocket: { port: serverPort }, periodSeconds: 2 },
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
}

export function nodeService(node: string): Service {
  return {
    metadata: { name: serviceNameFor(node), labels: { ...managedBy } },
    spec: {
      type: 'NodePort',
      selector: {
        'app.kubernetes.io/name': 'verify-server',
        'app.kubernetes.io/part-of': 'kubestation-verify',
        [nodeLabel]: podNameFor('n', node),
      },
      ports: [{ name: 'http', port: servicePort, targetPort: serverPort, protocol: 'TCP' }],
    },
  };
}

/** The probe pod of one attempt (1, 2, ...); the kubelet kills it after `activeDeadlineSeconds`. */
export function probePodName(node: string, attempt: number): string {
  return podNameFor(attempt === 1 ? 'verify-probe' : `verify-probe${attempt}`, node);
}

export function probePod(
  node: string,
  image: string,
  script: string,
  run: { attempt: number; activeDeadlineSeconds: number },
): Pod {
  return {
    metadata: { name: probePodName(node, run.attempt), labels: { ...probeLabels } },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      tolerations: [controlPlaneToleration],
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
      activeDeadlineSeconds: run.activeDeadlineSeconds,
      containers: [
        {
          name: 'probe',
          image,
          command: ['/bin/sh', '-c', script],
          env: [{ name: resultFileEnv, value: '/dev/termination-log' }],
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
}
