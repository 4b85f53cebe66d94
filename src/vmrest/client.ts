/**
 * The one way kubestation talks to VMware Workstation: a typed client for
 * the vmrest calls in vmrest-api.yaml. It sends vmrest's vendor media type on
 * every call, times every call out, retries only calls that are safe to
 * repeat (and only for 5xx, broken connections and timeouts), never repeats
 * a clone without first checking whether it happened, and turns every
 * failure into a VmrestError that says what to do.
 */
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { Agent, buildConnector, request } from 'undici';
import { resolveVmrestCredentials, type PromptFunction, VmrestCredentials } from './credentials.js';
import {
  VmrestAuthError,
  VmrestCloneUncertainError,
  VmrestCode,
  VmrestConnectionError,
  VmrestDeadlineError,
  VmrestError,
  type VmrestErrorDetails,
  VmrestForbiddenError,
  VmrestMediaTypeError,
  VmrestNotRunningError,
  VmrestNotYetAvailableError,
  VmrestPowerStateConflictError,
  VmrestRequestError,
  VmrestTimeoutError,
  VmrestTlsPinError,
  VmrestVmNotFoundError,
  formatMs,
} from './errors.js';
import type { components, operations } from './vmrest-api.generated.js';

type Schemas = components['schemas'];
export type VmSummary = Schemas['VmSummary'];
export type VmInformation = Schemas['VmInformation'];
export type VmParameters = Schemas['VmParameters'];
export type PowerOperation = Schemas['PowerOperation'];
export type PowerState = Schemas['PowerState'];
export type Nic = Schemas['Nic'];
export type NicType = Schemas['NicType'];
export type NicParameters = Schemas['NicParameters'];
export type NicIpStack = Schemas['NicIpStack'];
export type Vmnet = Schemas['Vmnet'];
/** The operationIds of vmrest-api.yaml: names for calls in logs, faults and timeouts. */
export type VmrestOperationId = keyof operations;

export const VMREST_MEDIA_TYPE = 'application/vnd.vmware.vmw.rest-v1+json';
export const DEFAULT_VMREST_URL = 'http://127.0.0.1:8697/api';

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

export interface VmrestTimeouts {
  /** Any call not listed below. */
  defaultMs: number;
  cloneMs: number;
  /**
   * How long to keep re-listing for a clone whose outcome is unknown (no reply,
   * or vmrest says its folder exists): vmrest lists a clone only once the copy
   * is done. Default: cloneMs, at most 60 s.
   */
  cloneSettleMs?: number;
  powerMs: number;
  deleteMs: number;
}

export interface VmrestClientOptions {
  credentials: VmrestCredentials;
  /** Default http://127.0.0.1:8697/api. */
  baseUrl?: string | undefined;
  /** SHA-256 fingerprint of vmrest's (self-signed) certificate; hex with or without colons. Only for https. */
  certSha256?: string | undefined;
  timeouts?: Partial<VmrestTimeouts> | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** Default poll interval for waitForPowerState / getIp / getNicIps. */
  pollIntervalMs?: number | undefined;
  /** Called after every HTTP exchange (including failed tries). */
  onRequest?: ((entry: VmrestRequestLogEntry) => void) | undefined;
}

export interface CloneOptions {
  /** The clone's folder (<default VM folder>/<name>) where the caller knows it: named in errors. */
  folder?: string | undefined;
  /**
   * The folder, if it exists, holds this caller's own earlier clone (e.g. of a run that was
   * killed): when vmrest refuses because it exists, wait for that clone and return it.
   */
  resume?: boolean | undefined;
}

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number | undefined;
}

const defaultTimeouts: VmrestTimeouts = { defaultMs: 30_000, cloneMs: 15 * 60_000, powerMs: 5 * 60_000, deleteMs: 5 * 60_000 };
const defaultRetry: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4_000, maxTotalMs: 60_000 };

const targetStateOf: Record<PowerOperation, PowerState> = {
  on: 'poweredOn',
  off: 'poweredOff',
  shutdown: 'poweredOff',
  suspend: 'suspended',
  pause: 'paused',
  unpause: 'poweredOn',
};

interface Call {
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

interface Reply {
  status: number;
  body: unknown;
}

/** `value` with ':' kept (MACs) and everything else path-escaped. */
function segment(value: string | number): string {
  return encodeURIComponent(String(value)).replace(/%3A/gi, ':');
}

/** Lower-case hex without separators. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[^0-9a-f]/gi, '').toLowerCase();
}

/** Compares host paths the way the host does: Windows paths case-insensitively, with either slash. */
export function sameHostPath(a: string, b: string): boolean {
  return hostPathKey(a) === hostPathKey(b);
}

function isWindowsPath(p: string): boolean {
  return /^[a-zA-Z]:[\\/]/.test(p) || p.startsWith('\\\\') || p.includes('\\');
}

function hostPathKey(p: string): string {
  return isWindowsPath(p) ? path.win32.normalize(p).toLowerCase() : path.posix.normalize(p);
}

/** The VM name a clone gets: the .vmx file name without extension (clones land in <name>/<name>.vmx). */
export function vmNameFromVmxPath(vmxPath: string): string {
  return path.win32.basename(vmxPath).replace(/\.vmx$/i, '');
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
export function parseVmrestErrorBody(body: unknown): { code: number | undefined; message: string | undefined } {
  if (typeof body !== 'object' || body === null) return { code: undefined, message: typeof body === 'string' && body ? body : undefined };
  const b = body as Record<string, unknown>;
  const code = typeof b.Code === 'number' ? b.Code : typeof b.code === 'number' ? b.code : undefined;
  const message = typeof b.Message === 'string' ? b.Message : typeof b.message === 'string' ? b.message : undefined;
  return { code, message };
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The base URL, refused when it is not http(s) or carries credentials (they belong in VMREST_USERNAME/VMREST_PASSWORD). */
function parseVmrestUrl(text: string): URL {
  const invalid = (why: string): VmrestError =>
    new VmrestError('VMREST_URL_INVALID', `the vmrest URL ${why}`, 'set vmware.vmrestUrl in cluster.yaml or VMREST_URL to e.g. http://127.0.0.1:8697/api (credentials go in VMREST_USERNAME / VMREST_PASSWORD)', {
      call: 'configuration',
    });
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('is not a URL');
  }
  if (url.username || url.password) throw invalid(`for ${url.host} must not contain a username or password`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${url.href} is not http:// or https://`);
  return url;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function isRetryable(error: unknown): boolean {
  if (error instanceof VmrestTimeoutError || error instanceof VmrestConnectionError) return true;
  return error instanceof VmrestRequestError && error.status !== undefined && error.status >= 500;
}

export class VmrestClient {
  readonly baseUrl: string;
  readonly #credentials: VmrestCredentials;
  readonly #dispatcher: Agent;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #timeouts: VmrestTimeouts;
  readonly #retry: RetryPolicy;
  readonly #pollIntervalMs: number;
  readonly #onRequest: ((entry: VmrestRequestLogEntry) => void) | undefined;
  readonly #certSha256: string | undefined;
  /** id → .vmx path, from every listing/registration: lets errors name the VM. */
  readonly #knownPaths = new Map<string, string>();
  /** id → name for clones (vmrest's clone reply has no path). */
  readonly #knownNames = new Map<string, string>();

  constructor(options: VmrestClientOptions) {
    const url = parseVmrestUrl(options.baseUrl ?? DEFAULT_VMREST_URL);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#credentials = options.credentials;
    this.#timeouts = { ...defaultTimeouts, ...definedOnly(options.timeouts) };
    this.#retry = { ...defaultRetry, ...definedOnly(options.retry) };
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#onRequest = options.onRequest;
    this.#certSha256 = options.certSha256 ? normalizeFingerprint(options.certSha256) : undefined;
    this.#dispatcher = new Agent({
      keepAliveTimeout: 4_000,
      ...(this.#certSha256 ? { connect: pinnedConnector(this.#certSha256) } : {}),
    });
  }

  [inspect.custom](): string {
    return `VmrestClient(${this.baseUrl}, user ${this.#credentials.username})`;
  }

  toJSON(): { baseUrl: string; username: string } {
    return { baseUrl: this.baseUrl, username: this.#credentials.username };
  }

  /** Closes idle connections. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  // ---- VMs ----------------------------------------------------------------

  async listVms(): Promise<VmSummary[]> {
    const reply = await this.#send({ operation: 'listVms', method: 'GET', template: '/vms', path: '/vms', idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    const vms = reply.body as VmSummary[];
    for (const vm of vms) this.#knownPaths.set(vm.id, vm.path);
    return vms;
  }

  /**
   * The VM whose .vmx path is `vmxPath` (compared as the host compares paths),
   * or whose .vmx file is named `<name>.vmx` (how clones are named).
   */
  async findVm(query: { name?: string; vmxPath?: string }): Promise<VmSummary | undefined> {
    const vms = await this.listVms();
    if (query.vmxPath !== undefined) return vms.find((vm) => sameHostPath(vm.path, query.vmxPath!));
    if (query.name !== undefined) {
      const wanted = query.name.toLowerCase();
      return vms.find((vm) => vmNameFromVmxPath(vm.path).toLowerCase() === wanted);
    }
    return undefined;
  }

  async getVm(id: string): Promise<VmInformation> {
    const reply = await this.#send({ operation: 'getVm', method: 'GET', template: '/vms/{id}', path: `/vms/${segment(id)}`, vmId: id, idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    return reply.body as VmInformation;
  }

  /**
   * Full clone of a powered-off VM into Workstation's default VM folder as
   * <name>/<name>.vmx. A clone is never sent twice blindly: when the outcome is
   * uncertain the VM list is checked first; an existing clone is returned, and
   * only a clone known not to exist is retried. Without any reply (timeout,
   * broken connection) vmrest may still be copying, and lists the clone only
   * when the copy is done, so the list is re-read for up to cloneSettleMs
   * before a retry. A refusal because the folder exists (409 with the template
   * powered off: a copy still running, or a leftover) is waited out the same
   * way when the copy may be ours (a retry, or `options.resume`); a VM that
   * never appears ends in VmrestCloneUncertainError naming the folder.
   */
  async cloneVm(params: { name: string; parentId: string }, options: CloneOptions = {}): Promise<VmInformation> {
    const call: Call = {
      operation: 'cloneVm',
      method: 'POST',
      template: '/vms',
      path: '/vms',
      body: { name: params.name, parentId: params.parentId },
      vmId: params.parentId,
      idempotent: false,
      timeoutMs: this.#timeouts.cloneMs,
    };
    const adopt = async (vm: VmSummary): Promise<VmInformation> => {
      this.#knownNames.set(vm.id, params.name);
      return this.getVm(vm.id);
    };
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      let uncertainty: VmrestError;
      try {
        const reply = await this.#exchange(call, attempt);
        const info = reply.body as VmInformation;
        this.#knownNames.set(info.id, params.name);
        return info;
      } catch (error) {
        if (error instanceof VmrestPowerStateConflictError && error.powerState === 'poweredOff') {
          // The template is fine, so the destination folder is taken: by our own copy still running
          // (an earlier try of this call, or of this caller: options.resume), or by something else.
          const details = { call: 'POST /vms', status: error.status, vmrestCode: error.vmrestCode, vmrestMessage: error.vmrestMessage, cause: error };
          if (attempt === 1 && !options.resume) {
            throw new VmrestError(
              'VMREST_CLONE_FOLDER_EXISTS',
              `vmrest refused to clone "${params.name}" (409${error.vmrestMessage ? `: ${error.vmrestMessage}` : ''}): with the template powered off, this means the folder ${options.folder ?? `"${params.name}" in Workstation's default VM folder`} already exists`,
              `if that folder holds a VM you want to keep, give the new VM another name; if it is a leftover, delete ${options.folder ?? 'it'} and run the command again`,
              details,
            );
          }
          const appeared = await this.#awaitClone(params.name, this.#cloneSettleMs(), options.folder);
          if (appeared) return adopt(appeared);
          throw new VmrestCloneUncertainError(params.name, details, {
            folder: options.folder,
            seen: `vmrest says its folder exists (${error.vmrestMessage ?? '409'}) but no VM "${params.name}" was listed within ${formatMs(this.#cloneSettleMs())}`,
          });
        }
        if (!isRetryable(error)) throw error;
        uncertainty = error as VmrestError;
      }
      // A 5xx reply means vmrest answered: one look settles it. No reply: the copy may still be running.
      const noReply = uncertainty instanceof VmrestTimeoutError || uncertainty instanceof VmrestConnectionError;
      const existing = await this.#awaitClone(params.name, noReply ? this.#cloneSettleMs() : 0, options.folder);
      if (existing) return adopt(existing);
      const delay = this.#backoff(attempt);
      if (attempt >= this.#retry.attempts || Date.now() - started + delay > this.#retry.maxTotalMs) throw uncertainty;
      await sleep(delay);
    }
  }

  #cloneSettleMs(): number {
    return this.#timeouts.cloneSettleMs ?? Math.min(60_000, this.#timeouts.cloneMs);
  }

  /** Lists until a VM named `name` shows up or `waitMs` passes (at least one look); a failed listing leaves the clone uncertain. */
  async #awaitClone(name: string, waitMs: number, folder: string | undefined): Promise<VmSummary | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      let found: VmSummary | undefined;
      try {
        found = await this.findVm({ name });
      } catch (listError) {
        throw new VmrestCloneUncertainError(name, { call: 'POST /vms', cause: listError }, { folder });
      }
      if (found || Date.now() >= deadline) return found;
      await sleep(Math.min(this.#pollIntervalMs, Math.max(0, deadline - Date.now())));
    }
  }

  /** Adds a .vmx to the Workstation library (a clone is not shown in the UI until registered). */
  async registerVm(params: { name: string; path: string }): Promise<VmSummary> {
    const reply = await this.#send({
      operation: 'registerVm',
      method: 'POST',
      template: '/vms/registration',
      path: '/vms/registration',
      body: { name: params.name, path: params.path },
      idempotent: false,
      timeoutMs: this.#timeouts.defaultMs,
    });
    const vm = reply.body as VmSummary;
    this.#knownPaths.set(vm.id, vm.path);
    return vm;
  }

  /** Sets CPU count and/or memory (MB). The VM must be powered off. */
  async updateVm(id: string, params: VmParameters): Promise<VmInformation> {
    const reply = await this.#send({ operation: 'updateVm', method: 'PUT', template: '/vms/{id}', path: `/vms/${segment(id)}`, body: params, vmId: id, idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    return reply.body as VmInformation;
  }

  /** Deletes the VM and its files. The VM must be powered off. A VM already gone after a retried delete counts as deleted. */
  async deleteVm(id: string): Promise<void> {
    const call: Call = { operation: 'deleteVm', method: 'DELETE', template: '/vms/{id}', path: `/vms/${segment(id)}`, vmId: id, idempotent: true, timeoutMs: this.#timeouts.deleteMs };
    let tries = 0;
    try {
      await this.#send(call, () => tries++);
    } catch (error) {
      if (tries > 1 && error instanceof VmrestVmNotFoundError) return;
      throw error;
    } finally {
      this.#knownPaths.delete(id);
    }
  }

  /** One .vmx key through vmrest (empty string when vmrest reports no value). */
  async getParam(id: string, name: string): Promise<string> {
    const reply = await this.#send({
      operation: 'getVmParam',
      method: 'GET',
      template: '/vms/{id}/params/{name}',
      path: `/vms/${segment(id)}/params/${segment(name)}`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return (reply.body as Schemas['ConfigParam']).value;
  }

  /** Writes one .vmx key through vmrest. Keep to powered-off VMs. */
  async setParam(id: string, name: string, value: string): Promise<void> {
    await this.#send({ operation: 'setVmParam', method: 'PUT', template: '/vms/{id}/params', path: `/vms/${segment(id)}/params`, body: { name, value }, vmId: id, idempotent: true, timeoutMs: this.#timeouts.defaultMs });
  }

  // ---- NICs ---------------------------------------------------------------

  async listNics(id: string): Promise<Nic[]> {
    const reply = await this.#send({ operation: 'listNics', method: 'GET', template: '/vms/{id}/nic', path: `/vms/${segment(id)}/nic`, vmId: id, idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    return (reply.body as Schemas['NicList']).nics;
  }

  /** Adds an adapter. Use type "custom" with an explicit vmnet; its MAC reads empty until the next power-on. Not retried (not idempotent). */
  async addNic(id: string, params: NicParameters): Promise<Nic> {
    const reply = await this.#send({ operation: 'addNic', method: 'POST', template: '/vms/{id}/nic', path: `/vms/${segment(id)}/nic`, body: params, vmId: id, idempotent: false, timeoutMs: this.#timeouts.defaultMs });
    return reply.body as Nic;
  }

  async updateNic(id: string, index: number, params: NicParameters): Promise<Nic> {
    const reply = await this.#send({
      operation: 'updateNic',
      method: 'PUT',
      template: '/vms/{id}/nic/{index}',
      path: `/vms/${segment(id)}/nic/${segment(index)}`,
      body: params,
      vmId: id,
      nicIndex: index,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return reply.body as Nic;
  }

  /** Removes an adapter (VM powered off). Not retried: indexes shift after a delete. */
  async deleteNic(id: string, index: number): Promise<void> {
    await this.#send({ operation: 'deleteNic', method: 'DELETE', template: '/vms/{id}/nic/{index}', path: `/vms/${segment(id)}/nic/${segment(index)}`, vmId: id, nicIndex: index, idempotent: false, timeoutMs: this.#timeouts.defaultMs });
  }

  // ---- power --------------------------------------------------------------

  async getPowerState(id: string): Promise<PowerState> {
    const reply = await this.#send({ operation: 'getPowerState', method: 'GET', template: '/vms/{id}/power', path: `/vms/${segment(id)}/power`, vmId: id, idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    return (reply.body as Schemas['PowerStateReply']).power_state;
  }

  /**
   * Sends the power operation as the bare word vmrest expects. Retries (after
   * an uncertain outcome) first read the power state and stop if the VM is
   * already where the operation leads.
   */
  async setPowerState(id: string, operation: PowerOperation): Promise<PowerState> {
    const call: Call = {
      operation: 'setPowerState',
      method: 'PUT',
      template: '/vms/{id}/power',
      path: `/vms/${segment(id)}/power`,
      rawBody: operation,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.powerMs,
    };
    const target = targetStateOf[operation];
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.#exchange(call, attempt);
        return (reply.body as Schemas['PowerStateReply']).power_state;
      } catch (error) {
        const delay = this.#backoff(attempt);
        if (!isRetryable(error) || attempt >= this.#retry.attempts || Date.now() - started + delay > this.#retry.maxTotalMs) throw error;
        await sleep(delay);
        const now = await this.getPowerState(id).catch(() => undefined);
        if (now === target) return now;
      }
    }
  }

  /** Polls the power state until it is `state`; VmrestDeadlineError after `timeoutMs`. */
  async waitForPowerState(id: string, state: PowerState, options: PollOptions): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    let last: PowerState | undefined;
    for (;;) {
      last = await this.getPowerState(id);
      if (last === state) return;
      if (Date.now() >= deadline) break;
      await sleep(Math.min(options.intervalMs ?? this.#pollIntervalMs, Math.max(0, deadline - Date.now())));
    }
    throw new VmrestDeadlineError(
      `VM ${this.#label(id)} did not reach ${state} within ${formatMs(options.timeoutMs)} (it is ${last})`,
      state === 'poweredOff'
        ? 'the guest did not shut down; look at its serial console log, or power it off in Workstation'
        : 'look at the VM in Workstation: it may be waiting on a question dialog',
      { call: 'GET /vms/{id}/power' },
    );
  }

  // ---- guest addresses ----------------------------------------------------

  /** The one address VMware Tools report, polling through "not yet available" (code 106) until the deadline. */
  async getIp(id: string, options: PollOptions): Promise<string> {
    const reply = await this.#pollUntilAvailable(id, options, {
      operation: 'getIp',
      method: 'GET',
      template: '/vms/{id}/ip',
      path: `/vms/${segment(id)}/ip`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return (reply.body as Schemas['IpReply']).ip;
  }

  /** Each guest NIC's MAC and addresses ("a.b.c.d/prefix"), polling through code 106 until the deadline. */
  async getNicIps(id: string, options: PollOptions): Promise<NicIpStack[]> {
    const reply = await this.#pollUntilAvailable(id, options, {
      operation: 'getNicIps',
      method: 'GET',
      template: '/vms/{id}/nicips',
      path: `/vms/${segment(id)}/nicips`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return (reply.body as Schemas['NicIpStackAll']).nics;
  }

  // ---- host networks ------------------------------------------------------

  async listVmnets(): Promise<Vmnet[]> {
    const reply = await this.#send({ operation: 'listVmnets', method: 'GET', template: '/vmnet', path: '/vmnet', idempotent: true, timeoutMs: this.#timeouts.defaultMs });
    return (reply.body as Schemas['VmnetList']).vmnets;
  }

  /** DHCP reservation mac → ip on `vmnet` (e.g. "vmnet8"); needs vmrest started as Administrator. */
  async setMacToIp(vmnet: string, mac: string, ip: string): Promise<void> {
    await this.#send({
      operation: 'setMacToIp',
      method: 'PUT',
      template: '/vmnet/{vmnet}/mactoip/{mac}',
      path: `/vmnet/${segment(vmnet)}/mactoip/${segment(mac)}`,
      body: { IP: ip },
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
  }

  // ---- machinery ----------------------------------------------------------

  #label(id: string): string {
    const known = this.#knownPaths.get(id);
    if (known) return `"${vmNameFromVmxPath(known)}" (id ${id}, ${known})`;
    const name = this.#knownNames.get(id);
    return name ? `"${name}" (id ${id})` : `with id "${id}"`;
  }

  #backoff(attempt: number): number {
    const exponential = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.round(exponential * (0.5 + Math.random() * 0.5));
  }

  async #pollUntilAvailable(id: string, options: PollOptions, call: Call): Promise<Reply> {
    const deadline = Date.now() + options.timeoutMs;
    let lastError: VmrestNotYetAvailableError | undefined;
    for (;;) {
      try {
        // A call near the deadline still gets a fair timeout: the deadline bounds polling, not one reply.
        return await this.#send({ ...call, timeoutMs: Math.min(call.timeoutMs, Math.max(1_000, deadline - Date.now())) });
      } catch (error) {
        if (!(error instanceof VmrestNotYetAvailableError)) throw error;
        lastError = error;
      }
      if (Date.now() >= deadline) break;
      await sleep(Math.min(options.intervalMs ?? this.#pollIntervalMs, Math.max(0, deadline - Date.now())));
    }
    throw new VmrestDeadlineError(
      `VMware Tools in VM ${this.#label(id)} reported no IP address within ${formatMs(options.timeoutMs)} (${call.method} ${call.template} kept answering code 106)`,
      'check that the guest booted (its serial console log), that open-vm-tools runs in it, and that the VM is not waiting on a question dialog in Workstation',
      { call: `${call.method} ${call.template}`, vmrestCode: VmrestCode.notYetAvailable, cause: lastError },
    );
  }

  /** One call with retries when it is idempotent. `onTry` counts tries. */
  async #send(call: Call, onTry?: () => void): Promise<Reply> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      onTry?.();
      try {
        return await this.#exchange(call, attempt);
      } catch (error) {
        const delay = this.#backoff(attempt);
        if (!call.idempotent || !isRetryable(error) || attempt >= this.#retry.attempts || Date.now() - started + delay > this.#retry.maxTotalMs) throw error;
        await sleep(delay);
      }
    }
  }

  /** One HTTP exchange, logged (before any follow-up call) and mapped to a typed error. */
  async #exchange(call: Call, attempt: number): Promise<Reply> {
    const started = performance.now();
    let reply: Reply;
    try {
      reply = await this.#http(call);
    } catch (error) {
      const typed = error instanceof VmrestError ? error : this.#transportError(call, error);
      this.#log(call, attempt, undefined, started, typed.code);
      throw typed;
    }
    this.#log(call, attempt, reply.status, started);
    if (reply.status >= 200 && reply.status < 300) return reply;
    throw await this.#replyError(call, reply);
  }

  #log(call: Call, attempt: number, status: number | undefined, started: number, errorCode?: string): void {
    if (!this.#onRequest) return;
    const entry: VmrestRequestLogEntry = { operation: call.operation, method: call.method, path: call.path, status, durationMs: Math.round(performance.now() - started), attempt };
    if (errorCode) entry.errorCode = errorCode;
    try {
      this.#onRequest(entry);
    } catch {
      // A logging hook must not change the outcome of a call.
    }
  }

  async #http(call: Call): Promise<Reply> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, call.timeoutMs);
    const headers: Record<string, string> = { accept: VMREST_MEDIA_TYPE, authorization: this.#credentials.authorizationHeader() };
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
      if (timedOut) throw new VmrestTimeoutError(call.timeoutMs, `vmrest call ${call.method} ${call.path}`, { call: `${call.method} ${call.template}`, cause: error });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #transportError(call: Call, error: unknown): VmrestError {
    const details: VmrestErrorDetails = { call: `${call.method} ${call.template}`, cause: sanitizeCause(error) };
    const pin = findPinMismatch(error);
    if (pin) return new VmrestTlsPinError(this.baseUrl, this.#certSha256 ?? '', pin.actual, details);
    const codes = errorCodes(error);
    if (codes.includes('ECONNREFUSED')) return new VmrestNotRunningError(this.baseUrl, details);
    const reason = codes.find((c) => c !== 'UND_ERR') ?? (error instanceof Error ? error.message : String(error));
    if (codes.some((c) => c.startsWith('ERR_TLS') || c.includes('CERT') || c === 'DEPTH_ZERO_SELF_SIGNED_CERT' || c === 'SELF_SIGNED_CERT_IN_CHAIN')) {
      return new VmrestError('VMREST_TLS', `the TLS connection to vmrest at ${this.baseUrl} failed (${reason})`, 'vmrest serves a self-signed certificate: pin it with VMREST_CERT_SHA256 (`openssl x509 -in cert.pem -noout -fingerprint -sha256`)', details);
    }
    return new VmrestConnectionError(this.baseUrl, reason, details);
  }

  async #replyError(call: Call, reply: Reply): Promise<VmrestError> {
    const { code, message } = parseVmrestErrorBody(reply.body);
    const details: VmrestErrorDetails = { call: `${call.method} ${call.template}`, status: reply.status, vmrestCode: code, vmrestMessage: message };
    if (reply.status === 409 && call.vmId !== undefined && !this.#knownPaths.has(call.vmId)) {
      // Error path only: one listing so the message can name the VM.
      await this.#exchange({ operation: 'listVms', method: 'GET', template: '/vms', path: '/vms', idempotent: true, timeoutMs: Math.min(call.timeoutMs, 10_000) }, 1)
        .then((r) => {
          for (const vm of r.body as VmSummary[]) this.#knownPaths.set(vm.id, vm.path);
        })
        .catch(() => undefined);
    }
    const label = call.vmId ? this.#label(call.vmId) : '';
    if (reply.status === 401) return new VmrestAuthError(details);
    if (reply.status === 403) return new VmrestForbiddenError(details);
    if (reply.status === 406 || reply.status === 415) return new VmrestMediaTypeError(details);
    if (code === VmrestCode.notYetAvailable) return new VmrestNotYetAvailableError(label, details);
    if (reply.status === 404 && call.nicIndex !== undefined) return new VmrestRequestError(`NIC ${call.nicIndex} of VM ${label}`, details);
    if (reply.status === 404 && call.vmId !== undefined) return new VmrestVmNotFoundError(call.vmId, label, details);
    if (reply.status === 409 && call.vmId !== undefined) {
      // Name the state that blocked the change; a failed read leaves it unnamed.
      const state = call.operation === 'getPowerState' ? undefined : await this.#exchange({ ...call, operation: 'getPowerState', method: 'GET', template: '/vms/{id}/power', path: `/vms/${segment(call.vmId)}/power`, body: undefined, rawBody: undefined, timeoutMs: Math.min(call.timeoutMs, 10_000) }, 1)
        .then((r) => (r.body as Schemas['PowerStateReply']).power_state)
        .catch(() => undefined);
      return new VmrestPowerStateConflictError(call.vmId, label, state, details);
    }
    return new VmrestRequestError(label, details);
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

export interface CreateVmrestClientOptions extends Omit<VmrestClientOptions, 'credentials' | 'baseUrl' | 'certSha256'> {
  env: NodeJS.ProcessEnv;
  /** `vmware.vmrestUrl` from the spec; VMREST_URL overrides it. */
  vmrestUrl?: string | undefined;
  /** Fingerprint option; VMREST_CERT_SHA256 overrides it. */
  certSha256?: string | undefined;
  /** Asked for credentials missing from VMREST_USERNAME / VMREST_PASSWORD. */
  prompt?: PromptFunction | undefined;
  /** Skip the environment/prompt entirely. */
  credentials?: VmrestCredentials | undefined;
}

/** A client configured the way the CLI configures it: env over spec over defaults. */
export async function createVmrestClient(options: CreateVmrestClientOptions): Promise<VmrestClient> {
  const { env, vmrestUrl, certSha256, prompt, credentials, ...rest } = options;
  return new VmrestClient({
    ...rest,
    baseUrl: env.VMREST_URL || vmrestUrl || DEFAULT_VMREST_URL,
    certSha256: env.VMREST_CERT_SHA256 || certSha256,
    credentials: credentials ?? (await resolveVmrestCredentials({ env, prompt })),
  });
}
