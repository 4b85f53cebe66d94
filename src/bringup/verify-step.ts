/**
 * build-vms' last step: src/verify's verifyCluster through the cluster's API
 * server with the admin kubeconfig (nodes, system pods, DNS, pod/Service/
 * NodePort traffic, clocks). A cluster that fails it is not "ready": the
 * build stops with ClusterVerifyError, which carries the whole report.
 */
import { KubestationError } from '../errors.js';
import { KubeClient } from '../kube/client.js';
import { clusterSecretPaths } from '../pki/index.js';
import type { ClusterSpec } from '../config/model.js';
import type { VerifyReport } from '../verify/report.js';
import { DEFAULT_VERIFY_TIMEOUTS, verifyCluster, type VerifyOptions } from '../verify/verify-cluster.js';
import { BuildInterruptedError } from './apply.js';
import type { ClusterVerifier } from './ports.js';
import { COMMAND_PREFIX } from '../command-hint.js';

/** The cluster was built but verify found it not working; `report` says what failed and how to fix it. */
export class ClusterVerifyError extends KubestationError {
  constructor(readonly report: VerifyReport) {
    const failed = report.results.filter((r) => r.verdict === 'fail').length;
    const causes = report.problems.map((p) => p.cause);
    const fixes = report.problems.map((p, i) => (report.problems.length > 1 ? `(${i + 1}) ${p.fix}` : p.fix));
    super(
      'VERIFY_FAILED',
      `the VMs of cluster ${report.cluster} are built but the cluster does not work: ${failed} of ${report.results.length} verify checks failed` +
        (causes.length > 0 ? ` — ${causes.join('; ')}` : ''),
      {
        fix: `${fixes.length > 0 ? `${fixes.join(' ')}; then ` : ''}check again with \`${COMMAND_PREFIX} verify\` (or run build-vms again: it changes nothing and verifies)`,
      },
    );
  }
}

export interface ApiVerifierOptions {
  /** API server URL instead of the kubeconfig's (the simulator; KUBESTATION_API_SERVER). */
  server?: string | undefined;
  /** Kubeconfig to use; default `<stateDir>/pki/admin.kubeconfig`. */
  kubeconfig?: string | undefined;
  /** Passed to verifyCluster (timeouts, poll interval, image). */
  verify?: Omit<VerifyOptions, 'signal' | 'handleSigint' | 'log'>;
}

/**
 * verify's waits for its test pods (image pull, probes), stretched by the same
 * factor as the stage deadlines (--deadline-scale): a host slow enough to need
 * longer stages also pulls and starts pods slower. Cleanup keeps its bounds.
 */
export function scaledVerifyTimeouts(deadlineScale: number): NonNullable<VerifyOptions['timeouts']> {
  return {
    serversReadyMs: DEFAULT_VERIFY_TIMEOUTS.serversReadyMs * deadlineScale,
    probesMs: DEFAULT_VERIFY_TIMEOUTS.probesMs * deadlineScale,
  };
}

/** A ClusterVerifier running verifyCluster; Ctrl-C is the caller's (the build's signal), not verify's own handler. */
export function apiVerifier(options: ApiVerifierOptions = {}): ClusterVerifier {
  return async (spec: ClusterSpec, context = {}) => {
    const kubeconfig = options.kubeconfig ?? clusterSecretPaths(spec.stateDir).adminKubeconfig;
    const client = await KubeClient.fromKubeconfig(
      kubeconfig,
      options.server ? { server: options.server } : {},
    );
    let report: VerifyReport;
    try {
      report = await verifyCluster(spec, client, {
        ...options.verify,
        handleSigint: false,
        ...(context.signal ? { signal: context.signal } : {}),
        ...(context.log ? { log: context.log } : {}),
      });
    } finally {
      await client.close();
    }
    if (report.interrupted) throw new BuildInterruptedError();
    if (!report.ok) throw new ClusterVerifyError(report);
    const warned = report.results.filter((r) => r.verdict === 'warn').length;
    return {
      summary: `verify passed: ${report.results.length} checks${warned ? `, ${warned} warnings` : ''}`,
      report,
    };
  };
}
