/**
 * vmrest's wire: one HTTP exchange with the vendor media type, Basic auth and
 * a timeout; TLS pinned to one certificate when vmrest serves HTTPS; bounded
 * retries for calls that are safe to repeat (only after 5xx, broken
 * connections and timeouts); every transport failure turned into a typed
 * VmrestError. What a reply *means* (which VM, which conflict) is the
 * client's business: it passes `describeReplyError` in.
 */
import type { TLSSocket } from 'node:tls';
import { Agent, buildConnector, request } from 'undici';
import type { VmrestCredentials } from './credentials.js';
import { assertPinHasTls } from './endpoint.js';
import {
  VmrestConnectionError,
  VmrestError,
  type VmrestErrorDetails,
  VmrestNotRunningError,
  VmrestRequestError,
  VmrestTimeoutError,
  VmrestTlsPinError,
} from './errors.js';
import type { operations } from './vmrest-api.generated.js';

export type VmrestOperationId = keyof operations;

export const VMREST_MEDIA_TYPE = 'application/vnd.vmware.vmw.rest-v1+json';

/** One finished HTTP exchange, as the request-log hook sees it. No headers, no bodies. */
export interface VmrestRequestLogEntry {
  operation: VmrestOperationId;
  method: string;
  /** The path below the base URL, e.g. /vms/4F2A/power. */
  path: string;
  /** HTTP status, or undefined when no reply came (timeout, broken connection). */
  status: number | undefined;
  durationMs: number;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  /** Error code (VmrestError.code) when the exchange failed. */
  errorCode?: string;
}

export interface RetryPolicy {
  /** Total tries including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** No retry starts after this much time since the first try. */
  maxTotalMs: number;
}

export interface VmrestCall {
  operation: VmrestOperationId;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path template for messages, e.g. /vms/{id}/power. */
  template: string;
  path: string;
  /** JSON value, or a bare word (power) sent as is. */
  body?: unknown;
  rawBody?: string;
  /** The VM the call is about, for 404/409 messages. */
  vmId?: string;
  /** The NIC the call is about: a 404 then means no such adapter. */
  nicIndex?: number;
  /** Safe to send again after an uncertain outcome. */
  idempotent: boolean;
  timeoutMs: number;
}

export interface VmrestReply {
  status: number;
  body: unknown;
}

/** Lower-case hex without separators. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[^0-9a-f]/gi, '').toLowerCase();
}

class PinMismatch extends Error {
  constructor(readonly actual: string | undefined) {
    super('vmrest certificate fingerprint mismatch');
  }
}

/** TLS connections that accept exactly one certificate: the one whose SHA-256 matches the pin. */
function pinnedConnector(fingerprint: string): buildConnector.connector {
  const expected = normalizeFingerprint(fingerprint);
  // Chain validation is replaced by the pin for this connector only; a
  // self-signed certificate has no chain to validate.
  const connect = buildConnector({ rejectUnauthorized: false });
  return (options, callback) => {
    connect(options, (error, socket) => {
      if (error || !socket) return callback(error ?? new Error('no socket'), null);
      if (options.protocol !== 'https:') return callback(null, socket);
      const cert = (socket as TLSSocket).getPeerCertificate();
      const actual = cert && cert.fingerprint256 ? normalizeFingerprint(cert.fingerprint256) : undefined;
      if (actual !== expected) {
        socket.destroy();
        return callback(new PinMismatch(actual), null);
      }
      callback(null, socket);
    });
  };
}

function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    if (current instanceof AggregateError) for (const e of current.errors) codes.push(...errorCodes(e));
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

function findPinMismatch(error: unknown): PinMismatch | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof PinMismatch) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** `{Code, Message}` as vmrest sends it, or `{code, message}` as its API description says. */
export function parseVmrestErrorBody(body: unknown): {
  code: number | undefined;
  message: string | undefined;
} {
  if (typeof body !== 'object' || body === null)
    return { code: undefined, message: typeof body === 'string' && body ? body : undefined };
  const b = body as Record<string, unknown>;
  const code = typeof b.Code === 'number' ? b.Code : typeof b.code === 'number' ? b.code : undefined;
  const message =
    typeof b.Message === 'string' ? b.Message : typeof b.message === 'string' ? b.message : undefined;
  return { code, message };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function isRetryable(error: unknown): boolean {
  if (error instanceof VmrestTimeoutError || error instanceof VmrestConnectionError) return true;
  return error instanceof VmrestRequestError && error.status !== undefined && error.status >= 500;
}

export interface VmrestTransportOptions {
  /** Parsed with parseVmrestUrl. */
  baseUrl: URL;
  credentials: VmrestCredentials;
  /** Normalized SHA-256 fingerprint to pin (https only). */
  certSha256: string | undefined;
  retry: RetryPolicy;
  onRequest: ((entry: VmrestRequestLogEntry) => void) | undefined;
  /** The typed error for a non-2xx reply (may make its own exchanges to name the VM). */
  describeReplyError: (call: VmrestCall, reply: VmrestReply) => Promise<VmrestError>;
}

export class VmrestTransport {
  readonly baseUrl: string;
  readonly retry: RetryPolicy;
  readonly #credentials: VmrestCredentials;
  readonly #dispatcher: Agent;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #certSha256: string | undefined;
  readonly #onRequest: VmrestTransportOptions['onRequest'];
  readonly #describeReplyError: VmrestTransportOptions['describeReplyError'];

  constructor(options: VmrestTransportOptions) {
    assertPinHasTls(options.baseUrl, options.certSha256);
    this.baseUrl = options.baseUrl.href.replace(/\/+$/, '');
    this.#origin = options.baseUrl.origin;
    this.#basePath = options.baseUrl.pathname.replace(/\/+$/, '');
    this.#credentials = options.credentials;
    this.retry = options.retry;
    this.#certSha256 = options.certSha256;
    this.#onRequest = options.onRequest;
    this.#describeReplyError = options.describeReplyError;
    this.#dispatcher = new Agent({
      keepAliveTimeout: 4_000,
      ...(this.#certSha256 ? { connect: pinnedConnector(this.#certSha256) } : {}),
    });
  }

  /** Closes idle connections. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  /** Jittered exponential delay before try `attempt + 1`. */
  backoff(attempt: number): number {
    const exponential = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exponential * (0.5 + Math.random() * 0.5));
  }

  /** Whether another try may start after `attempt` failed with `error`, `delay` ms from now. */
  mayRetry(error: unknown, attempt: number, startedAt: number, delay: number): boolean {
    return (
      isRetryable(error) &&
      attempt < this.retry.attempts &&
      Date.now() - startedAt + delay <= this.retry.maxTotalMs
    );
  }

  /** One call with retries when it is idempotent. `onTry` counts tries. */
  async send(call: VmrestCall, onTry?: () => void): Promise<VmrestReply> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      onTry?.();
      try {
        return await this.exchange(call, attempt);
      } catch (error) {
        const delay = this.backoff(attempt);
        if (!call.idempotent || !this.mayRetry(error, attempt, started, delay)) throw error;
        await sleep(delay);
      }
    }
  }

  /** One HTTP exchange, logged (before any follow-up call) and mapped to a typed error. */
  async exchange(call: VmrestCall, attempt: number): Promise<VmrestReply> {
    const started = performance.now();
    let reply: VmrestReply;
    try {
      reply = await this.#http(call);
    } catch (error) {
      const typed = error instanceof VmrestError ? error : this.#transportError(call, error);
      this.#log(call, attempt, undefined, started, typed.code);
      throw typed;
    }
    this.#log(call, attempt, reply.status, started);
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw await this.#describeReplyError(call, reply);
  }

  #log(
    call: VmrestCall,
    attempt: number,
    status: number | undefined,
    started: number,
    errorCode?: string,
  ): void {
    if (!this.#onRequest) return;
    const entry: VmrestRequestLogEntry = {
      operation: call.operation,
      method: call.method,
      path: call.path,
      status,
      durationMs: Math.round(performance.now() - started),
      attempt,
    };
    if (errorCode) entry.errorCode = errorCode;
    try {
      this.#onRequest(entry);
    } catch {
      // A logging hook must not change the outcome of a call.
    }
  }

  async #http(call: VmrestCall): Promise<VmrestReply> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, call.timeoutMs);
    const headers: Record<string, string> = {
      accept: VMREST_MEDIA_TYPE,
      authorization: this.#credentials.authorizationHeader(),
    };
    let body: string | undefined;
    if (call.rawBody !== undefined) body = call.rawBody;
    else if (call.body !== undefined) body = JSON.stringify(call.body);
    if (body !== undefined) headers['content-type'] = VMREST_MEDIA_TYPE;
    try {
      const response = await request(`${this.#origin}${this.#basePath}${call.path}`, {
        method: call.method,
        headers,
        body,
        dispatcher: this.#dispatcher,
        signal: controller.signal,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const text = await response.body.text();
      let parsed: unknown = undefined;
      if (text.trim() !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
      }
      return { status: response.statusCode, body: parsed };
    } catch (error) {
      if (timedOut)
        throw new VmrestTimeoutError(call.timeoutMs, `vmrest call ${call.method} ${call.path}`, {
          call: `${call.method} ${call.template}`,
          cause: error,
        });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #transportError(call: VmrestCall, error: unknown): VmrestError {
    const details: VmrestErrorDetails = {
      call: `${call.method} ${call.template}`,
      cause: sanitizeCause(error),
    };
    const pin = findPinMismatch(error);
    if (pin) return new VmrestTlsPinError(this.baseUrl, this.#certSha256 ?? '', pin.actual, details);
    const codes = errorCodes(error);
    if (codes.includes('ECONNREFUSED')) return new VmrestNotRunningError(this.baseUrl, details);
    const reason =
      codes.find((c) => c !== 'UND_ERR') ?? (error instanceof Error ? error.message : String(error));
    if (
      codes.some(
        (c) =>
          c.startsWith('ERR_TLS') ||
          c.includes('CERT') ||
          c === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
          c === 'SELF_SIGNED_CERT_IN_CHAIN',
      )
    ) {
      return new VmrestError(
        'VMREST_TLS',
        `the TLS connection to vmrest at ${this.baseUrl} failed (${reason})`,
        'vmrest serves a self-signed certificate: pin it with VMREST_CERT_SHA256 (`openssl x509 -in cert.pem -noout -fingerprint -sha256`)',
        details,
      );
    }
    return new VmrestConnectionError(this.baseUrl, reason, details);
  }
}

/** Transport errors are kept as causes, reduced to name/code/message so nothing request-shaped (headers) travels with them. */
function sanitizeCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
  if (error.cause !== undefined) (copy as Error & { cause?: unknown }).cause = sanitizeCause(error.cause);
  return copy;
}
