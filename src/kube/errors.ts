/**
 * What can go wrong talking to the Kubernetes API, as errors a caller can
 * branch on (`instanceof`, `code`, `status`) and a user can act on (`fix`).
 * Messages name the call ("GET /api/v1/nodes") and, for 401/403, the
 * identity the server saw; never a key or token.
 */
import { KubestationError } from '../errors.js';
import type { KubeIdentity } from './kubeconfig.js';
import type { Status } from './types.js';

export interface KubeCallDetails {
  /** e.g. "GET /api/v1/nodes". */
  call: string;
  server: string;
  status?: number;
  apiStatus?: Status;
  cause?: unknown;
}

export class KubeApiError extends KubestationError {
  readonly call: string;
  readonly server: string;
  readonly status: number | undefined;
  /** The API's `reason` (NotFound, AlreadyExists, Conflict, Invalid, Forbidden…). */
  readonly reason: string | undefined;

  constructor(code: string, message: string, fix: string, details: KubeCallDetails) {
    super(code, message, { fix, cause: details.cause });
    this.name = new.target.name;
    this.call = details.call;
    this.server = details.server;
    this.status = details.status;
    this.reason = details.apiStatus?.reason;
  }
}

const describeIdentity = (identity: KubeIdentity) =>
  `user "${identity.user}"${identity.groups.length ? ` (groups ${identity.groups.join(', ')})` : ''}`;

/** No HTTP answer at all: refused, unreachable, DNS, connect timeout. */
export class KubeUnreachableError extends KubeApiError {
  constructor(details: KubeCallDetails, reason: string) {
    super(
      'KUBE_API_UNREACHABLE',
      `the Kubernetes API server at ${details.server} is not reachable (${details.call}: ${reason})`,
      'check that the control-plane VM is powered on and finished `kubeadm init` (see its serial log in the state folder), ' +
        'that this PC has an address on the host-only network (VMnet1), and that port 6443 is not blocked by a firewall on the VM',
      details,
    );
  }
}

/** TLS failed: the server's certificate is not from the kubeconfig's CA, or it refused our client certificate. */
export class KubeTlsError extends KubeApiError {
  constructor(details: KubeCallDetails, reason: string) {
    super(
      'KUBE_API_TLS',
      `TLS with the Kubernetes API server at ${details.server} failed (${details.call}: ${reason})`,
      'the cluster was probably built with a different CA than the one in this kubeconfig: use the kubeconfig from the same state folder that built the cluster (<stateDir>/pki/admin.kubeconfig)',
      details,
    );
  }
}

export class KubeUnauthorizedError extends KubeApiError {
  constructor(details: KubeCallDetails, identity: KubeIdentity) {
    super(
      'KUBE_API_UNAUTHORIZED',
      `the Kubernetes API server rejected the client certificate of ${describeIdentity(identity)} (${details.call}: 401 Unauthorized)`,
      'the certificate is expired or not signed by the cluster CA: delete <stateDir>/pki/admin.crt and admin.key and run again to reissue them from the CA',
      details,
    );
  }
}

export class KubeForbiddenError extends KubeApiError {
  constructor(details: KubeCallDetails, identity: KubeIdentity) {
    super(
      'KUBE_API_FORBIDDEN',
      `${describeIdentity(identity)} may not do this (${details.call}: 403 Forbidden${details.apiStatus?.message ? `: ${details.apiStatus.message}` : ''})`,
      identity.groups.includes('kubeadm:cluster-admins')
        ? 'kubeadm binds kubeadm:cluster-admins to cluster-admin during init; if init did not finish, that binding is missing: check the control plane serial log'
        : 'use the admin kubeconfig kubestation writes (O=kubeadm:cluster-admins), or grant this user the needed RBAC role',
      details,
    );
  }
}

export class KubeNotFoundError extends KubeApiError {
  constructor(details: KubeCallDetails) {
    super(
      'KUBE_NOT_FOUND',
      details.apiStatus?.message ?? `${details.call}: 404 Not Found`,
      'check the name; it may have been deleted already',
      details,
    );
  }
}

export class KubeConflictError extends KubeApiError {
  constructor(details: KubeCallDetails) {
    super(
      'KUBE_CONFLICT',
      details.apiStatus?.message ?? `${details.call}: 409 Conflict`,
      'the object already exists or changed meanwhile; run the command again',
      details,
    );
  }
}

export class KubeInvalidError extends KubeApiError {
  constructor(details: KubeCallDetails) {
    const causes = details.apiStatus?.details?.causes
      ?.map((c) => `${c.field ?? ''}: ${c.message ?? c.reason ?? ''}`)
      .join('; ');
    super(
      'KUBE_INVALID',
      `${details.call} was rejected as invalid: ${details.apiStatus?.message ?? '422 Unprocessable Entity'}${causes ? ` (${causes})` : ''}`,
      'this is a kubestation bug if it persists: please report it with this message',
      details,
    );
  }
}

/** Any other non-2xx answer. */
export class KubeHttpError extends KubeApiError {
  constructor(details: KubeCallDetails) {
    super(
      'KUBE_API_ERROR',
      `${details.call} failed with HTTP ${details.status}${details.apiStatus?.message ? `: ${details.apiStatus.message}` : ''}`,
      details.status !== undefined && details.status >= 500
        ? 'the API server or etcd is struggling: check the control-plane VM (memory, disk) and retry'
        : 'retry; if it persists, report it with this message',
      details,
    );
  }
}

/** A wait with a deadline ran out. */
export class KubeTimeoutError extends KubestationError {
  constructor(what: string, timeoutMs: number, lastState: string | undefined, fix: string) {
    super(
      'KUBE_TIMEOUT',
      `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastState ? ` (last seen: ${lastState})` : ''}`,
      { fix },
    );
    this.name = 'KubeTimeoutError';
  }
}
