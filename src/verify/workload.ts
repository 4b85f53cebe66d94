/**
 * The short-lived test workload, as API objects (pure; verify-cluster.ts
 * creates and removes them). Everything lives in one namespace so a single
 * namespace delete removes it all:
 *
 *   verify-server-<node>  agnhost netexec (HTTP on 8080), one per node
 *   verify-web            NodePort Service over the server pods (it has a ClusterIP too)
 *   verify-probe-<node>   runs the probe script once, one per node
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
export const serviceName = 'verify-web';
export const serverPort = 8080;
export const servicePort = 80;

const managedBy = { 'app.kubernetes.io/managed-by': 'kubestation', 'app.kubernetes.io/part-of': 'kubestation-verify' };
const serverLabels = { ...managedBy, 'app.kubernetes.io/name': 'verify-server' };
const probeLabels = { ...managedBy, 'app.kubernetes.io/name': 'verify-probe' };

const controlPlaneToleration: Toleration = { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' };

/** Pod names from node names: lower case, [a-z0-9-], at most 63 characters. */
export function podNameFor(prefix: string, node: string): string {
  const safe = node.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '');
  return `${prefix}-${safe}`.slice(0, 63).replace(/-+$/, '');
}

export function verifyNamespace(name: string): Namespace {
  return { metadata: { name, labels: { ...managedBy } } };
}

export function serverPod(node: string, image: string): Pod {
  return {
    metadata: { name: podNameFor('verify-server', node), labels: { ...serverLabels, 'kubestation.io/node': podNameFor('n', node) } },
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

export function verifyService(): Service {
  return {
    metadata: { name: serviceName, labels: { ...managedBy } },
    spec: {
      type: 'NodePort',
      selector: { 'app.kubernetes.io/name': 'verify-server', 'app.kubernetes.io/part-of': 'kubestation-verify' },
      ports: [{ name: 'http', port: servicePort, targetPort: serverPort, protocol: 'TCP' }],
    },
  };
}

export function probePod(node: string, image: string, script: string): Pod {
  return {
    metadata: { name: podNameFor('verify-probe', node), labels: { ...probeLabels } },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node },
      tolerations: [controlPlaneToleration],
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 1,
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
