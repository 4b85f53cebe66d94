/**
 * The join token a worker joins the running cluster with: one rebuild-node
 * rebuilds, or one build-vms adds.
 *
 * A worker can only join with a token the control plane knows. kubeadm init
 * registers the recorded token (<stateDir>/pki/bootstrap-token) with the
 * spec's TTL; later tokens are registered by creating their bootstrap-token
 * Secret through the API. The store records when each token was issued (or,
 * in state folders from before that record, the token file's time); the
 * token was registered then or later with kubernetes.bootstrapTokenTtl, so
 * issue time + TTL is the earliest it can expire (a safe estimate).
 */
import { KubestationError } from '../errors.js';
import { createBootstrapTokenSecret, tokenExpiry, type KubeClient } from '../kube/index.js';
import {
  clusterSecretPaths,
  generateBootstrapToken,
  mintBootstrapToken,
  readRecordedBootstrapToken,
  type BootstrapToken,
} from '../pki/index.js';
import type { ClusterSpec } from '../config/model.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export interface StoredToken {
  token: BootstrapToken;
  /** When the token was issued (the token was registered then or later). */
  recordedAt: Date;
  /** Earliest possible expiry; undefined when the TTL is 0 (never expires). */
  expiresAt: Date | undefined;
  expired: boolean;
}

/** The recorded token and its estimated expiry; undefined when there is no readable token file. */
export async function readStoredToken(
  spec: ClusterSpec,
  now: Date = new Date(),
): Promise<StoredToken | undefined> {
  const recorded = await readRecordedBootstrapToken(spec.stateDir);
  if (!recorded) return undefined;
  const expiresAt = tokenExpiry(spec.kubernetes.bootstrapTokenTtl, recorded.issuedAt);
  return {
    token: recorded.token,
    recordedAt: recorded.issuedAt,
    expiresAt,
    expired: expiresAt !== undefined && expiresAt.getTime() <= now.getTime(),
  };
}

/**
 * A fresh token registered through the API (its bootstrap-token Secret in
 * kube-system, expiring after the spec's TTL), then recorded in the store
 * so the next seed carries it. It is recorded only once the Secret exists:
 * the store never holds a token the cluster does not know.
 */
export async function mintTokenThroughApi(
  spec: ClusterSpec,
  client: KubeClient,
  now: Date = new Date(),
): Promise<BootstrapToken> {
  const token = generateBootstrapToken();
  const expiresAt = tokenExpiry(spec.kubernetes.bootstrapTokenTtl, now);
  await createBootstrapTokenSecret(client, token, {
    ...(expiresAt ? { expiresAt } : {}),
    description: `kubestation join token for cluster ${spec.name}`,
  });
  return mintBootstrapToken(spec.stateDir, token, now);
}

/** What a worker would be given the token for: rebuild-node, or build-vms adding it to the running cluster. */
export type TokenUse =
  | { code: 'REBUILD_NO_VALID_TOKEN'; verb: 'rebuild'; command: 'rebuild-node' }
  | { code: 'JOIN_NO_VALID_TOKEN'; verb: 'add'; command: 'build-vms' };
export const REBUILD_TOKEN_USE: TokenUse = {
  code: 'REBUILD_NO_VALID_TOKEN',
  verb: 'rebuild',
  command: 'rebuild-node',
};
export const ADD_TOKEN_USE: TokenUse = { code: 'JOIN_NO_VALID_TOKEN', verb: 'add', command: 'build-vms' };

/** The error when a worker would be built with a token the control plane no longer accepts. */
export function tokenUnusableError(
  spec: ClusterSpec,
  node: string,
  apiReason: string,
  stored: StoredToken | undefined,
  use: TokenUse = REBUILD_TOKEN_USE,
): KubestationError {
  const state = stored
    ? `the recorded join token expired (at the latest on ${stored.expiresAt?.toISOString()}, ${spec.kubernetes.bootstrapTokenTtl} after ${stored.recordedAt.toISOString()})`
    : `there is no readable join token in ${clusterSecretPaths(spec.stateDir).bootstrapToken}`;
  return new KubestationError(
    use.code,
    `cannot ${use.verb} "${node}": the Kubernetes API server does not answer (${apiReason}), so no new join token can be registered, and ${state}. The worker could not join; nothing was changed`,
    {
      fix: `make the API server reachable (power on "${spec.controlPlane.name}", check this PC's address on ${spec.networks.hostOnly.vmnet}) and run ${use.command} again: it registers a fresh token. If the control plane itself is broken, rebuild it with \`${COMMAND_PREFIX} rebuild-node ${spec.controlPlane.name} --force\` (re-creates the cluster)`,
    },
  );
}
