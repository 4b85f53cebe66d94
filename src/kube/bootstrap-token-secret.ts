/**
 * A kubeadm bootstrap token as the Secret the API server's bootstrap
 * authenticator reads (k/k cluster-bootstrap/token/api): used to let a
 * rebuilt worker join with a freshly minted token.
 */
import type { BootstrapToken } from '../pki/bootstrap-token.js';
import { KubeConflictError } from './errors.js';
import type { KubeClient } from './client.js';
import type { Secret } from './types.js';

/** The group kubeadm's RBAC bindings (node bootstrapper, CSR auto-approval) are made for. */
export const kubeadmNodeBootstrapGroup = 'system:bootstrappers:kubeadm:default-node-token';

export interface BootstrapTokenSecretOptions {
  /** undefined = never expires (kubeadm ttl 0). */
  expiresAt?: Date;
  description?: string;
}

/** Parses a kubeadm/Go duration such as "720h", "24h30m", "90s" or "0" into milliseconds. */
export function parseKubeadmDuration(text: string): number {
  if (text === '0') return 0;
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!match || text === '')
    throw new RangeError(`not a duration: "${text}" (expected e.g. 720h, 24h30m, 0)`);
  const [, h = '0', m = '0', s = '0'] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1000;
}

/** When a token minted now with kubeadm `ttl` (e.g. spec.kubernetes.bootstrapTokenTtl) expires; undefined for "0" (never). */
export function tokenExpiry(ttl: string, now: Date = new Date()): Date | undefined {
  const ms = parseKubeadmDuration(ttl);
  return ms === 0 ? undefined : new Date(now.getTime() + ms);
}

/** RFC 3339 UTC without fractional seconds, the form kubeadm writes. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function bootstrapTokenSecret(
  token: BootstrapToken,
  options: BootstrapTokenSecretOptions = {},
): Secret {
  const stringData: Record<string, string> = {
    'token-id': token.id,
    'token-secret': token.secret,
    'usage-bootstrap-authentication': 'true',
    'usage-bootstrap-signing': 'true',
    'auth-extra-groups': kubeadmNodeBootstrapGroup,
    description: options.description ?? 'kubestation join token',
  };
  if (options.expiresAt) stringData.expiration = rfc3339(options.expiresAt);
  const data = Object.fromEntries(
    Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
  );
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: `bootstrap-token-${token.id}`,
      namespace: 'kube-system',
      labels: { 'app.kubernetes.io/managed-by': 'kubestation' },
    },
    type: 'bootstrap.kubernetes.io/token',
    data,
  };
}

/**
 * Creates the token's Secret in kube-system. If a Secret with the same id
 * already exists (a retried call) it is left as it is.
 */
export async function createBootstrapTokenSecret(
  client: KubeClient,
  token: BootstrapToken,
  options: BootstrapTokenSecretOptions = {},
): Promise<'created' | 'exists'> {
  try {
    await client.createSecret('kube-system', bootstrapTokenSecret(token, options));
    return 'created';
  } catch (error) {
    if (error instanceof KubeConflictError) return 'exists';
    throw error;
  }
}
