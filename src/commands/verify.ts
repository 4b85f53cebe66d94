/**
 * `kubestation verify [--json] [--kubeconfig path] [--cluster file] [--image ref]`:
 * proves the cluster works through the Kubernetes API only (see src/verify).
 * Exit code 0 when every check passes, 1 when one fails, 130 on Ctrl-C.
 */
import type { CommandContext } from './context.js';
import { existsSync } from 'node:fs';
import { parseCommandArgs } from './args.js';
import { KubeClient } from '../kube/client.js';
import { clusterSecretPaths } from '../pki/secrets-store.js';
import { clusterFilePath, loadClusterSpec } from '../config/load.js';
import { renderReport } from '../verify/report.js';
import { verifyCluster } from '../verify/verify-cluster.js';
import { clusterNotStarted } from '../bringup/not-started.js';
import { refuseIfNeverBuilt } from '../bringup/lab-state.js';
import { scaledVerifyTimeouts } from '../bringup/verify-step.js';
import { KubestationError } from '../errors.js';
import { COMMAND_PREFIX } from '../command-hint.js';

const help = `usage: ${COMMAND_PREFIX} verify [--json] [--kubeconfig path] [--cluster cluster.yaml] [--image ref] [--deadline-scale x]

Checks the cluster from this PC through the Kubernetes API: nodes Ready with the
right addresses and versions, system pods healthy, and, with short-lived test pods
on every node, DNS, pod-to-pod traffic across nodes, a Service, NodePorts and
clocks. The test pods are always removed afterwards.

  --json              print the report as JSON (for tools)
  --kubeconfig path   default: <stateDir>/pki/admin.kubeconfig (its server is
                      replaced by KUBESTATION_API_SERVER when that is set)
  --cluster file      default: $KUBESTATION_CLUSTER or ./cluster.yaml
  --image ref         test image (default registry.k8s.io/e2e-test-images/agnhost:2.52)
  --deadline-scale x  multiply the time the test pods get (e.g. 2 on a slow host)
`;

export async function run(ctx: CommandContext): Promise<number> {
  const args = parseCommandArgs(ctx, {
    command: 'verify',
    help,
    options: {
      json: { type: 'boolean', default: false },
      kubeconfig: { type: 'string' },
      cluster: { type: 'string' },
      image: { type: 'string' },
      'deadline-scale': { type: 'string' },
    },
  });
  if (!args) return 0;
  const { values } = args;
  const deadlineScale = values['deadline-scale'] === undefined ? 1 : Number(values['deadline-scale']);
  if (!(deadlineScale > 0))
    throw new KubestationError(
      'BAD_OPTION',
      `--deadline-scale must be a positive number, got "${values['deadline-scale']}"`,
      { fix: 'e.g. --deadline-scale 2' },
    );
  const spec = await loadClusterSpec(clusterFilePath(ctx.cwd, values.cluster, ctx.env));
  if (values.kubeconfig === undefined) {
    // The state folder's kubeconfig belongs to a lab: none was ever built when nothing is recorded.
    await refuseIfNeverBuilt(spec, undefined);
  }
  if (values.kubeconfig === undefined && existsSync(clusterSecretPaths(spec.stateDir).adminKubeconfig)) {
    // The state folder's kubeconfig: ask its API server only once build-vms has started the control plane.
    const notStarted = await clusterNotStarted(spec);
    if (notStarted)
      throw new KubestationError('CLUSTER_NOT_STARTED', notStarted.reason, { fix: notStarted.fix });
  }
  const kubeconfig = values.kubeconfig ?? clusterSecretPaths(spec.stateDir).adminKubeconfig;
  // KUBESTATION_API_SERVER overrides the kubeconfig's server, as in status, doctor and build-vms.
  const client = await KubeClient.fromKubeconfig(kubeconfig, {
    server: ctx.env.KUBESTATION_API_SERVER || undefined,
  });
  try {
    const report = await verifyCluster(spec, client, {
      ...(values.image ? { image: values.image } : {}),
      timeouts: scaledVerifyTimeouts(deadlineScale),
      log: (line) => ctx.stderr.write(`verify: ${line}\n`),
    });
    ctx.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report));
    return report.interrupted ? 130 : report.ok ? 0 : 1;
  } finally {
    await client.close();
  }
}
