/**
 * The one way kubestation talks to VMware Workstation: a typed client for
 * the vmrest calls in vmrest-api.yaml, one method per endpoint. The wire
 * (media type, timeouts, TLS pin, retries of calls safe to repeat) is
 * transport.ts; this file knows what each call means: it never repeats a
 * clone without first checking whether it happened, polls through "not yet
 * available", and turns every failed reply into a VmrestError that names the
 * VM and says what to do.
 */
import { inspect } from 'node:util';
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
  VmrestNotYetAvailableError,
  VmrestPowerStateConflictError,
  VmrestRequestError,
  VmrestTimeoutError,
  VmrestVmNotFoundError,
  formatMs,
} from './errors.js';
import { sameHostPath, vmNameFromVmxPath } from './host-paths.js';
import {
  isRetryable,
  normalizeFingerprint,
  parseVmrestErrorBody,
  type RetryPolicy,
  sleep,
  type VmrestCall as Call,
  type VmrestReply as Reply,
  type VmrestRequestLogEntry,
  VmrestTransport,
} from './transport.js';
import { DEFAULT_VMREST_URL, parseVmrestUrl, vmrestEndpoint } from './endpoint.js';
import type { components } from './vmrest-api.generated.js';

export { DEFAULT_VMREST_URL } from './endpoint.js';
export {
  VMREST_MEDIA_TYPE,
  type RetryPolicy,
  type VmrestOperationId,
  type VmrestRequestLogEntry,
} from './transport.js';

type Schemas = components['schemas'];
export type VmSummary = Schemas['VmSummary'];
export type VmInformation = Schemas['VmInformation'];
export type VmParameters = Schemas['VmParameters'];
export type PowerOperation = Schemas['PowerOperation'];
export type PowerState = Schemas['PowerState'];
export type Nic = Schemas['Nic'];
export type NicParameters = Schemas['NicParameters'];
export type NicIpStack = Schemas['NicIpStack'];
export type Vmnet = Schemas['Vmnet'];

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

const defaultTimeouts: VmrestTimeouts = {
  defaultMs: 30_000,
  cloneMs: 15 * 60_000,
  powerMs: 5 * 60_000,
  deleteMs: 5 * 60_000,
};
const defaultRetry: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4_000, maxTotalMs: 60_000 };

const targetStateOf: Record<PowerOperation, PowerState> = {
  on: 'poweredOn',
  off: 'poweredOff',
  shutdown: 'poweredOff',
  suspend: 'suspended',
  pause: 'paused',
  unpause: 'poweredOn',
};

/** `value` with ':' kept (MACs) and everything else path-escaped. */
function segment(value: string | number): string {
  return encodeURIComponent(String(value)).replace(/%3A/gi, ':');
}

function definedOnly<T extends object>(value: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class VmrestClient {
  readonly baseUrl: string;
  readonly #credentials: VmrestCredentials;
  readonly #transport: VmrestTransport;
  readonly #timeouts: VmrestTimeouts;
  readonly #pollIntervalMs: number;
  /** id → .vmx path, from every listing/registration: lets errors name the VM. */
  readonly #knownPaths = new Map<string, string>();
  /** id → name for clones (vmrest's clone reply has no path). */
  readonly #knownNames = new Map<string, string>();

  constructor(options: VmrestClientOptions) {
    this.#credentials = options.credentials;
    this.#timeouts = { ...defaultTimeouts, ...definedOnly(options.timeouts) };
    this.#pollIntervalMs = options.pollIntervalMs ?? 1_000;
    this.#transport = new VmrestTransport({
      baseUrl: parseVmrestUrl(options.baseUrl ?? DEFAULT_VMREST_URL),
      credentials: options.credentials,
      certSha256: options.certSha256 ? normalizeFingerprint(options.certSha256) : undefined,
      retry: { ...defaultRetry, ...definedOnly(options.retry) },
      onRequest: options.onRequest,
      describeReplyError: (call, reply) => this.#replyError(call, reply),
    });
    this.baseUrl = this.#transport.baseUrl;
  }

  [inspect.custom](): string {
    return `VmrestClient(${this.baseUrl}, user ${this.#credentials.username})`;
  }

  toJSON(): { baseUrl: string; username: string } {
    return { baseUrl: this.baseUrl, username: this.#credentials.username };
  }

  /** Closes idle connections. */
  async close(): Promise<void> {
    await this.#transport.close();
  }

  // ---- VMs ----------------------------------------------------------------

  async listVms(): Promise<VmSummary[]> {
    const reply = await this.#transport.send({
      operation: 'listVms',
      method: 'GET',
      template: '/vms',
      path: '/vms',
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
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
    const reply = await this.#transport.send({
      operation: 'getVm',
      method: 'GET',
      template: '/vms/{id}',
      path: `/vms/${segment(id)}`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
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
  async cloneVm(
    params: { name: string; parentId: string },
    options: CloneOptions = {},
  ): Promise<VmInformation> {
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
        const reply = await this.#transport.exchange(call, attempt);
        const info = reply.body as VmInformation;
        this.#knownNames.set(info.id, params.name);
        return info;
      } catch (error) {
        if (error instanceof VmrestPowerStateConflictError && error.powerState === 'poweredOff') {
          // The template is fine, so the destination folder is taken: by our own copy still running
          // (an earlier try of this call, or of this caller: options.resume), or by something else.
          const details = {
            call: 'POST /vms',
            status: error.status,
            vmrestCode: error.vmrestCode,
            vmrestMessage: error.vmrestMessage,
            cause: error,
          };
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
      const noReply =
        uncertainty instanceof VmrestTimeoutError || uncertainty instanceof VmrestConnectionError;
      const existing = await this.#awaitClone(
        params.name,
        noReply ? this.#cloneSettleMs() : 0,
        options.folder,
      );
      if (existing) return adopt(existing);
      const delay = this.#transport.backoff(attempt);
      if (!this.#transport.mayRetry(uncertainty, attempt, started, delay)) throw uncertainty;
      await sleep(delay);
    }
  }

  #cloneSettleMs(): number {
    return this.#timeouts.cloneSettleMs ?? Math.min(60_000, this.#timeouts.cloneMs);
  }

  /** Lists until a VM named `name` shows up or `waitMs` passes (at least one look); a failed listing leaves the clone uncertain. */
  async #awaitClone(
    name: string,
    waitMs: number,
    folder: string | undefined,
  ): Promise<VmSummary | undefined> {
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
    const reply = await this.#transport.send({
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
    const reply = await this.#transport.send({
      operation: 'updateVm',
      method: 'PUT',
      template: '/vms/{id}',
      path: `/vms/${segment(id)}`,
      body: params,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return reply.body as VmInformation;
  }

  /** Deletes the VM and its files. The VM must be powered off. A VM already gone after a retried delete counts as deleted. */
  async deleteVm(id: string): Promise<void> {
    const call: Call = {
      operation: 'deleteVm',
      method: 'DELETE',
      template: '/vms/{id}',
      path: `/vms/${segment(id)}`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.deleteMs,
    };
    let tries = 0;
    try {
      await this.#transport.send(call, () => tries++);
    } catch (error) {
      if (tries > 1 && error instanceof VmrestVmNotFoundError) return;
      throw error;
    } finally {
      this.#knownPaths.delete(id);
    }
  }

  /** One .vmx key through vmrest (empty string when vmrest reports no value). */
  async getParam(id: string, name: string): Promise<string> {
    const reply = await this.#transport.send({
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
    await this.#transport.send({
      operation: 'setVmParam',
      method: 'PUT',
      template: '/vms/{id}/params',
      path: `/vms/${segment(id)}/params`,
      body: { name, value },
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
  }

  // ---- NICs ---------------------------------------------------------------

  async listNics(id: string): Promise<Nic[]> {
    const reply = await this.#transport.send({
      operation: 'listNics',
      method: 'GET',
      template: '/vms/{id}/nic',
      path: `/vms/${segment(id)}/nic`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return (reply.body as Schemas['NicList']).nics;
  }

  /** Adds an adapter. Use type "custom" with an explicit vmnet; its MAC reads empty until the next power-on. Not retried (not idempotent). */
  async addNic(id: string, params: NicParameters): Promise<Nic> {
    const reply = await this.#transport.send({
      operation: 'addNic',
      method: 'POST',
      template: '/vms/{id}/nic',
      path: `/vms/${segment(id)}/nic`,
      body: params,
      vmId: id,
      idempotent: false,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return reply.body as Nic;
  }

  async updateNic(id: string, index: number, params: NicParameters): Promise<Nic> {
    const reply = await this.#transport.send({
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
    await this.#transport.send({
      operation: 'deleteNic',
      method: 'DELETE',
      template: '/vms/{id}/nic/{index}',
      path: `/vms/${segment(id)}/nic/${segment(index)}`,
      vmId: id,
      nicIndex: index,
      idempotent: false,
      timeoutMs: this.#timeouts.defaultMs,
    });
  }

  // ---- power --------------------------------------------------------------

  async getPowerState(id: string): Promise<PowerState> {
    const reply = await this.#transport.send({
      operation: 'getPowerState',
      method: 'GET',
      template: '/vms/{id}/power',
      path: `/vms/${segment(id)}/power`,
      vmId: id,
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
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
        const reply = await this.#transport.exchange(call, attempt);
        return (reply.body as Schemas['PowerStateReply']).power_state;
      } catch (error) {
        const delay = this.#transport.backoff(attempt);
        if (!this.#transport.mayRetry(error, attempt, started, delay)) throw error;
        await sleep(delay);
        // Only a shortcut (the change already happened); without an answer the call itself is retried.
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
    const reply = await this.#transport.send({
      operation: 'listVmnets',
      method: 'GET',
      template: '/vmnet',
      path: '/vmnet',
      idempotent: true,
      timeoutMs: this.#timeouts.defaultMs,
    });
    return (reply.body as Schemas['VmnetList']).vmnets;
  }

  /** DHCP reservation mac → ip on `vmnet` (e.g. "vmnet8"); needs vmrest started as Administrator. */
  async setMacToIp(vmnet: string, mac: string, ip: string): Promise<void> {
    await this.#transport.send({
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
  async #pollUntilAvailable(id: string, options: PollOptions, call: Call): Promise<Reply> {
    const deadline = Date.now() + options.timeoutMs;
    let lastError: VmrestNotYetAvailableError | undefined;
    for (;;) {
      try {
        // A call near the deadline still gets a fair timeout: the deadline bounds polling, not one reply.
        return await this.#transport.send({
          ...call,
          timeoutMs: Math.min(call.timeoutMs, Math.max(1_000, deadline - Date.now())),
        });
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
  async #replyError(call: Call, reply: Reply): Promise<VmrestError> {
    const { code, message } = parseVmrestErrorBody(reply.body);
    const details: VmrestErrorDetails = {
      call: `${call.method} ${call.template}`,
      status: reply.status,
      vmrestCode: code,
      vmrestMessage: message,
    };
    if (reply.status === 409 && call.vmId !== undefined && !this.#knownPaths.has(call.vmId)) {
      // Error path only: one listing so the message can name the VM (without it, the id names it).
      await this.#transport
        .exchange(
          {
            operation: 'listVms',
            method: 'GET',
            template: '/vms',
            path: '/vms',
            idempotent: true,
            timeoutMs: Math.min(call.timeoutMs, 10_000),
          },
          1,
        )
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
    if (reply.status === 404 && call.nicIndex !== undefined)
      return new VmrestRequestError(`NIC ${call.nicIndex} of VM ${label}`, details);
    if (reply.status === 404 && call.vmId !== undefined)
      return new VmrestVmNotFoundError(call.vmId, label, details);
    if (reply.status === 409 && call.vmId !== undefined) {
      // Name the state that blocked the change; a failed read leaves it unnamed.
      const state =
        call.operation === 'getPowerState'
          ? undefined
          : await this.#transport
              .exchange(
                {
                  ...call,
                  operation: 'getPowerState',
                  method: 'GET',
                  template: '/vms/{id}/power',
                  path: `/vms/${segment(call.vmId)}/power`,
                  body: undefined,
                  rawBody: undefined,
                  timeoutMs: Math.min(call.timeoutMs, 10_000),
                },
                1,
              )
              .then((r) => (r.body as Schemas['PowerStateReply']).power_state)
              .catch(() => undefined);
      return new VmrestPowerStateConflictError(call.vmId, label, state, details);
    }
    return new VmrestRequestError(label, details);
  }
}

export interface CreateVmrestClientOptions extends Omit<
  VmrestClientOptions,
  'credentials' | 'baseUrl' | 'certSha256'
> {
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
    ...vmrestEndpoint(env, vmrestUrl, certSha256),
    credentials: credentials ?? (await resolveVmrestCredentials({ env, prompt })),
  });
}
