/**
 * A vmrest (VMware Workstation REST API) stand-in: a real HTTP(S) server on
 * 127.0.0.1 that keeps VMs as real .vmx files in a temporary "default VM
 * folder" and is as strict as vmrest is observed to be (see
 * src/vmrest/vmrest-api.yaml and the notes it follows): Basic auth, the
 * vendor media type, the bare-word power body, nat/hostonly + vmnet rejected
 * (code 121), 409/107 for changes to a powered-on VM, code 106 until the
 * guest's Tools report, new NICs without a MAC until the next power-on, and
 * a power-on that "hangs" on Workstation's serial-file question.
 *
 * Used by orchestration tests and by `--simulate` demos. Tests can inject
 * faults per operation and call count (status codes, delays, dropped
 * connections, hangs), restart the server with its state kept, model
 * latencies, and see every exchange (without credentials) via the log or
 * the `onExchange` hook.
 *
 * Where the real vmrest's behaviour is unknown, the choice made here is
 * marked "unverified" next to the code.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { VmrestOperationId } from '../src/vmrest/client.js';
import type { components } from '../src/vmrest/vmrest-api.generated.js';
import { VmxFile } from '../src/vmx/vmx-file.js';
import {
  addNic,
  assignGeneratedMacs,
  cloneVmFolder,
  exists,
  missingPowerOnFiles,
  nicSlots,
  readNic,
  readNics,
  readVmx,
  serialFilePath,
  writeNicNetwork,
  writeVmx,
  type VmxNic,
} from './vmrest-sim-vmx.js';
import { localHostPaths, type HostPaths } from './host-paths.js';

type PowerState = components['schemas']['PowerState'];
type Vmnet = components['schemas']['Vmnet'];
type NicIpStack = components['schemas']['NicIpStack'];

export const VMREST_MEDIA_TYPE = 'application/vnd.vmware.vmw.rest-v1+json';

/** Error codes in vmrest's `{Code, Message}` bodies. */
export const SimulatedCode = {
  invalidParameter: 100,
  notYetAvailable: 106,
  busyOrPoweredOn: 107,
  redundantParameter: 121,
  /** Used here for Workstation failures (power-on errors, auth); the real code is unverified. */
  operationFailed: 1,
} as const;

/** A guest NIC's addresses as Tools would report them ("192.168.5.11/24"). */
export interface GuestNicAddresses {
  mac: string;
  ip: string[];
}

/** What a test or demo sees of a VM when its guest boots (and later). */
export interface SimulatedGuest {
  readonly id: string;
  /** The .vmx file name without extension (clones: the clone name). */
  readonly name: string;
  /** The .vmx file on this machine. */
  readonly vmxPath: string;
  /** The local file a path in the .vmx names (a host path, or relative to the VM folder). */
  resolveVmxPath(value: string): string;
  /** serial0's file (serial0.fileType = "file"), resolved against the VM folder; undefined without one. */
  readonly serialFile: string | undefined;
  /** MACs of the present NICs at boot, in ethernetN order. */
  readonly macs: string[];
  /** The .vmx as it is now. */
  readVmx(): Promise<VmxFile>;
  /** Appends to the serial console file (as the guest writing to ttyS0). */
  writeSerial(text: string): Promise<void>;
  /** The guest powers itself off (e.g. `poweroff` at the end of a build). */
  powerOff(): void;
  /** Replaces the addresses Tools report for this guest. */
  setAddresses(addresses: GuestNicAddresses[]): void;
}

export type FaultAction =
  | { kind: 'status'; status: number; code?: number; message?: string }
  | { kind: 'delay'; ms: number }
  /** Destroys the socket: the client sees a reset / closed connection and no reply. */
  | { kind: 'drop' }
  /** Never answers (until the simulator closes or restarts). */
  | { kind: 'hang' };

export type FaultSpec = FaultAction & {
  operation: VmrestOperationId;
  /** Which call to `operation` (counted from injection, 1-based) first hits the fault. Default 1. */
  onCall?: number;
  /** How many consecutive calls are hit. Default 1; Infinity for every call. */
  times?: number;
  /**
   * "before" (default): the operation does not happen. "after": it happens,
   * then the reply is replaced by the fault (a clone that succeeded but whose
   * reply was lost). Delays always come before.
   */
  when?: 'before' | 'after';
};

/** One request the simulator handled. Never holds the Authorization header. */
export interface SimulatorExchange {
  operation: VmrestOperationId | undefined;
  method: string;
  /** Path below /api, e.g. /vms/ID/power. */
  path: string;
  /** Path parameters of the matched route. */
  params: Record<string, string>;
  accept: string | undefined;
  contentType: string | undefined;
  /** The raw request body ('' for none). */
  requestBody: string;
  /** Undefined when no reply was sent (drop, hang). */
  status: number | undefined;
  responseContentType: string | undefined;
  /** Parsed JSON reply (undefined for 204 / no reply). */
  responseBody: unknown;
  fault: FaultAction['kind'] | undefined;
}

export interface VmrestSimulatorOptions {
  /** Workstation's default VM folder (a local folder): clones land in <defaultVmFolder>/<name>/<name>.vmx. */
  defaultVmFolder: string;
  /**
   * How the simulated host names files (default: as this machine does). With windowsHostPaths the
   * simulator speaks what vmrest on Windows speaks: drive-letter paths with backslashes in GET /vms and
   * registration, compared without case, and host paths in the .vmx files resolved to local files.
   */
  hostPaths?: HostPaths;
  username: string;
  password: string;
  /** .vmx files in the library at start (e.g. the template VM). */
  registeredVmx?: string[];
  /** Time from power-on until the guest has booted: Tools report and onGuestBoot runs. Default 50 ms. */
  bootDelayMs?: number;
  /** Modelled latencies of slow operations (for benchmarks). */
  latencies?: { cloneMs?: number; powerOnMs?: number; powerOffMs?: number };
  /** Host networks; default vmnet0 bridged, vmnet1 host-only 172.100.100.0/24, vmnet8 NAT 192.168.5.0/24. */
  vmnets?: Vmnet[];
  /** Whether vmrest runs as Administrator (needed for MAC-to-IP reservations). Default true. */
  administrator?: boolean;
  /**
   * PUT /vms/{id}/params on a powered-on VM. Unverified how the real vmrest answers; a simulator choice
   * either way. 'refuse' (default): 409/107 as for any change to a running VM. 'accept': the value is
   * written to the .vmx as for a VM that is off.
   */
  paramsWhilePoweredOn?: 'refuse' | 'accept';
  /**
   * The NIC index vmrest gives ethernet0 (the nic endpoints). Unverified; the simulator's default is 1
   * (index N is ethernet<N-1>), 0 plays a vmrest that counts from 0.
   */
  nicIndexFrom?: 0 | 1;
  /** Called once a powered-on VM has booted. Errors are reported via onHookError. */
  onGuestBoot?: (guest: SimulatedGuest) => void | Promise<void>;
  onHookError?: (error: unknown) => void;
  /** Called after every exchange (also faults); tests validate these against the OpenAPI document. */
  onExchange?: (exchange: SimulatorExchange) => void;
  /**
   * Called whenever a VM's power state changes or its guest finishes booting
   * (`booted`: Tools report, the guest's services run). simulated-lab links
   * this to the fake Kubernetes API: a Node is Ready only while its VM runs.
   */
  onPowerChange?: (
    vm: { id: string; vmxPath: string },
    state: { power: PowerState; booted: boolean },
  ) => void;
  /** Serve HTTPS with this certificate (PEM). */
  tls?: { cert: string; key: string };
  /** Port to listen on; default 0 (ephemeral). The host is always 127.0.0.1. */
  port?: number;
}

interface SimVm {
  id: string;
  vmxPath: string;
  /** Name given at registration (library name); clones: the clone name. */
  libraryName: string;
  power: PowerState;
  toolsRunning: boolean;
  /** Set while Workstation waits on a question dialog (power state says on, guest does not run). */
  question: string | undefined;
  addresses: GuestNicAddresses[] | undefined;
  bootTimer: NodeJS.Timeout | undefined;
  /** A clone still being copied: not in the list yet. */
  cloning: boolean;
  /** How the guest answers a Tools shutdown request (see setGuestShutdown). */
  shutdown: GuestShutdown;
  /** False: the guest has no VMware Tools (open-vm-tools), so they never report after boot. */
  toolsInstalled: boolean;
  shutdownTimer: NodeJS.Timeout | undefined;
}

/**
 * How a guest answers `PUT /power shutdown`: at once (default), after a
 * while (vmrest replies at once with the VM still on; unverified whether the
 * real vmrest waits), or never (a hung guest; the VM stays on).
 */
export type GuestShutdown = { kind: 'prompt' } | { kind: 'slow'; afterMs: number } | { kind: 'ignore' };

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  operation: VmrestOperationId;
}

function route(method: string, template: string, operation: VmrestOperationId): Route {
  const names: string[] = [];
  const pattern = new RegExp(
    `^${template.replace(/\{(\w+)\}/g, (_, name: string) => {
      names.push(name);
      return '([^/]+)';
    })}$`,
  );
  return { method, pattern, names, operation };
}

const routes: Route[] = [
  route('GET', '/vms', 'listVms'),
  route('POST', '/vms', 'cloneVm'),
  route('POST', '/vms/registration', 'registerVm'),
  route('GET', '/vms/{id}', 'getVm'),
  route('PUT', '/vms/{id}', 'updateVm'),
  route('DELETE', '/vms/{id}', 'deleteVm'),
  route('GET', '/vms/{id}/params/{name}', 'getVmParam'),
  route('PUT', '/vms/{id}/params', 'setVmParam'),
  route('GET', '/vms/{id}/power', 'getPowerState'),
  route('PUT', '/vms/{id}/power', 'setPowerState'),
  route('GET', '/vms/{id}/nic', 'listNics'),
  route('POST', '/vms/{id}/nic', 'addNic'),
  route('PUT', '/vms/{id}/nic/{index}', 'updateNic'),
  route('DELETE', '/vms/{id}/nic/{index}', 'deleteNic'),
  route('GET', '/vms/{id}/ip', 'getIp'),
  route('GET', '/vms/{id}/nicips', 'getNicIps'),
  route('GET', '/vmnet', 'listVmnets'),
  route('PUT', '/vmnet/{vmnet}/mactoip/{mac}', 'setMacToIp'),
];

/** Operations that read-modify-write a VM's .vmx: run one at a time per VM, as Workstation does. */
const vmMutations = new Set<VmrestOperationId>([
  'updateVm',
  'setVmParam',
  'setPowerState',
  'addNic',
  'updateNic',
  'deleteNic',
  'deleteVm',
]);

const bodyOperations = new Set<VmrestOperationId>([
  'cloneVm',
  'registerVm',
  'updateVm',
  'setVmParam',
  'setPowerState',
  'addNic',
  'updateNic',
  'setMacToIp',
]);

const defaultVmnets: Vmnet[] = [
  { name: 'vmnet0', type: 'bridged', dhcp: 'false', subnet: '', mask: '' },
  { name: 'vmnet1', type: 'hostOnly', dhcp: 'true', subnet: '172.100.100.0', mask: '255.255.255.0' },
  { name: 'vmnet8', type: 'nat', dhcp: 'true', subnet: '192.168.5.0', mask: '255.255.255.0' },
];

const powerOperations = ['on', 'off', 'shutdown', 'suspend', 'pause', 'unpause'] as const;
type PowerOperation = (typeof powerOperations)[number];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}
function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
function isIpv4(ip: string): boolean {
  return (
    /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(ip) && ip.split('.').every((p) => Number(p) <= 255)
  );
}
function prefixLength(mask: string): number {
  return ipToInt(mask).toString(2).replace(/0+$/, '').length;
}

function vmId(): string {
  // vmrest ids are 32 opaque upper-case characters.
  return (
    randomBytes(20)
      .toString('base64')
      .replace(/[^A-Za-z0-9]/g, '')
      .toUpperCase()
      .slice(0, 24) + randomBytes(4).toString('hex').toUpperCase()
  );
}

export class VmrestSimulator {
  readonly options: VmrestSimulatorOptions;
  /** Every exchange so far, in order (no credentials). */
  readonly requestLog: SimulatorExchange[] = [];
  readonly #vms = new Map<string, SimVm>();
  readonly #reservations = new Map<string, Map<string, string>>();
  readonly #faults: Array<FaultSpec & { seen: number; hits: number }> = [];
  readonly #sockets = new Set<Socket>();
  readonly #vmLocks = new Map<string, Promise<unknown>>();
  #server: http.Server | https.Server | undefined;
  #port = 0;
  #closed = false;
  readonly #host: HostPaths;

  private constructor(options: VmrestSimulatorOptions) {
    this.options = options;
    this.#host = options.hostPaths ?? localHostPaths;
  }

  /** The local file a .vmx value names: a host path, or relative to the VM's folder. */
  #vmxFile(vm: SimVm): (value: string) => string {
    const hostFolder = this.#host.api.dirname(this.#host.toHost(vm.vmxPath));
    return (value) => this.#host.toLocal(this.#host.api.resolve(hostFolder, value));
  }

  /** The host's name for a VM's .vmx (what GET /vms shows). */
  hostPath(local: string): string {
    return this.#host.toHost(local);
  }

  static async start(options: VmrestSimulatorOptions): Promise<VmrestSimulator> {
    const sim = new VmrestSimulator(options);
    await fs.mkdir(options.defaultVmFolder, { recursive: true });
    for (const vmx of options.registeredVmx ?? []) {
      if (!(await exists(vmx))) throw new Error(`simulator: registered VM ${vmx} does not exist`);
      sim.#addVm(path.resolve(vmx), path.basename(vmx, '.vmx'));
    }
    await sim.#listen(options.port ?? 0);
    return sim;
  }

  /** http(s)://127.0.0.1:<port>/api */
  get url(): string {
    return `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${this.#port}/api`;
  }

  get port(): number {
    return this.#port;
  }

  // ---- test controls --------------------------------------------------------

  injectFault(fault: FaultSpec): void {
    this.#faults.push({ ...fault, seen: 0, hits: 0 });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Calls the simulator handled for `operation` so far. */
  callCount(operation: VmrestOperationId): number {
    return this.requestLog.filter((e) => e.operation === operation).length;
  }

  /** Closes the server (dropping open connections, including hung ones) and listens again on the same port, state kept. */
  async restart(options: { downMs?: number } = {}): Promise<void> {
    await this.#stopListening();
    if (options.downMs) await sleep(options.downMs);
    await this.#listen(this.#port);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const vm of this.#vms.values()) clearTimeout(vm.bootTimer);
    await this.#stopListening();
  }

  /** VMs in the library (including ones still being cloned), for assertions. */
  vms(): Array<{
    id: string;
    vmxPath: string;
    power: PowerState;
    toolsRunning: boolean;
    question: string | undefined;
    cloning: boolean;
  }> {
    return [...this.#vms.values()].map((vm) => ({
      id: vm.id,
      vmxPath: vm.vmxPath,
      power: vm.power,
      toolsRunning: vm.toolsRunning,
      question: vm.question,
      cloning: vm.cloning,
    }));
  }

  /**
   * The question a powered-on VM is stuck on, if any (e.g. the serial file
   * already exists and msg.autoAnswer is not TRUE). The real Workstation shows
   * this dialog in its UI; through vmrest it is only visible as "poweredOn but
   * Tools never report" (GET /ip keeps answering code 106).
   */
  pendingQuestion(id: string): string | undefined {
    return this.#vms.get(id)?.question;
  }

  /** How the guest of VM `id` answers a Tools shutdown request from now on. */
  setGuestShutdown(id: string, behaviour: GuestShutdown): void {
    this.#vm(id).shutdown = behaviour;
  }

  /** Whether the guest of VM `id` has VMware Tools; without them Tools never report and a guest shutdown is refused. */
  setToolsInstalled(id: string, installed: boolean): void {
    const vm = this.#vm(id);
    vm.toolsInstalled = installed;
    if (!installed) vm.toolsRunning = false;
  }

  /** The VM registered with this .vmx (for the vmrun stand-in, which addresses VMs by path). */
  vmByPath(vmxPath: string): { id: string; vmxPath: string; power: PowerState } | undefined {
    const vm = [...this.#vms.values()].find(
      (v) => !v.cloning && path.resolve(v.vmxPath) === path.resolve(vmxPath),
    );
    return vm ? { id: vm.id, vmxPath: vm.vmxPath, power: vm.power } : undefined;
  }

  /**
   * A power change made outside vmrest (vmrun revertToSnapshot): the VM stops, is left suspended with its
   * memory image, or runs on from that image (resumed).
   */
  async setPowerOutside(id: string, state: 'poweredOff' | 'suspended' | 'poweredOn'): Promise<void> {
    const vm = this.#vm(id);
    this.#stop(vm, state === 'poweredOn' ? 'suspended' : state);
    if (state === 'poweredOn') await this.#powerOn(vm);
  }

  /** Current DHCP reservations of a vmnet (mac → ip). */
  macToIp(vmnet: string): Record<string, string> {
    return Object.fromEntries(this.#reservations.get(vmnet.toLowerCase()) ?? []);
  }

  // ---- HTTP plumbing --------------------------------------------------------

  async #listen(port: number): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      void this.#handle(req, res);
    };
    const server = this.options.tls
      ? https.createServer({ cert: this.options.tls.cert, key: this.options.tls.key }, handler)
      : http.createServer(handler);
    server.on(this.options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async #stopListening(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    server.closeAllConnections();
    await closed;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const apiPath =
      url.pathname.startsWith('/api/') || url.pathname === '/api'
        ? url.pathname.slice(4) || '/'
        : url.pathname;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const requestBody = Buffer.concat(chunks).toString('utf8');
    const matched = this.#match(req.method ?? 'GET', url.pathname.startsWith('/api/') ? apiPath : undefined);
    const exchange: SimulatorExchange = {
      operation: matched?.route.operation,
      method: req.method ?? 'GET',
      path: apiPath,
      params: matched?.params ?? {},
      accept: req.headers.accept,
      contentType: req.headers['content-type'],
      requestBody,
      status: undefined,
      responseContentType: undefined,
      responseBody: undefined,
      fault: undefined,
    };
    const finish = (): void => {
      this.requestLog.push(exchange);
      this.options.onExchange?.(exchange);
    };
    const reply = (status: number, body: unknown): void => {
      exchange.status = status;
      exchange.responseBody = body;
      if (body === undefined) {
        res.writeHead(status).end();
      } else {
        exchange.responseContentType = VMREST_MEDIA_TYPE;
        res.writeHead(status, { 'content-type': VMREST_MEDIA_TYPE }).end(JSON.stringify(body));
      }
      finish();
    };
    const fault = matched ? this.#takeFault(matched.route.operation) : undefined;
    if (fault) exchange.fault = fault.kind;
    if (fault?.kind === 'delay') await sleep(fault.ms);
    const applyFault = (): boolean => {
      if (!fault || fault.kind === 'delay') return false;
      if (fault.kind === 'status') {
        reply(fault.status, {
          Code: fault.code ?? 0,
          Message: fault.message ?? `injected fault ${fault.status}`,
        });
      } else if (fault.kind === 'drop') {
        req.socket.destroy();
        finish();
      } else {
        finish(); // hang: never answer; the socket is dropped on restart/close
      }
      return true;
    };
    if (fault && fault.when !== 'after' && applyFault()) return;
    let status: number;
    let body: unknown;
    try {
      const vmKey = matched && vmMutations.has(matched.route.operation) ? matched.params.id : undefined;
      const result = await this.#oneAtATime(vmKey, () => this.#dispatch(req, matched, requestBody));
      status = result.status;
      body = result.body;
    } catch (error) {
      if (error instanceof ApiError) {
        status = error.status;
        body = { Code: error.code, Message: error.message };
      } else {
        status = 500;
        body = {
          Code: SimulatedCode.operationFailed,
          Message: `simulator error: ${error instanceof Error ? error.message : String(error)}`,
        };
      }
    }
    if (fault && fault.when === 'after' && applyFault()) return;
    if (!res.destroyed) reply(status, body);
    else finish();
  }

  async #oneAtATime<T>(key: string | undefined, work: () => Promise<T>): Promise<T> {
    if (key === undefined) return work();
    const previous = this.#vmLocks.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    // The caller gets `run` and its failure; the lock only orders the next call after it.
    const settled = run.catch(() => undefined);
    this.#vmLocks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.#vmLocks.get(key) === settled) this.#vmLocks.delete(key);
    }
  }

  #match(
    method: string,
    apiPath: string | undefined,
  ): { route: Route; params: Record<string, string> } | undefined {
    if (apiPath === undefined) return undefined;
    for (const r of routes) {
      if (r.method !== method) continue;
      const m = r.pattern.exec(apiPath);
      if (!m) continue;
      const params: Record<string, string> = {};
      r.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      return { route: r, params };
    }
    return undefined;
  }

  #takeFault(operation: VmrestOperationId): (FaultAction & { when?: 'before' | 'after' }) | undefined {
    let hit: (FaultSpec & { seen: number; hits: number }) | undefined;
    for (const fault of this.#faults) {
      if (fault.operation !== operation) continue;
      fault.seen++;
      const first = fault.onCall ?? 1;
      const times = fault.times ?? 1;
      if (!hit && fault.seen >= first && fault.hits < times) {
        fault.hits++;
        hit = fault;
      }
    }
    return hit;
  }

  // ---- API semantics --------------------------------------------------------

  async #dispatch(
    req: http.IncomingMessage,
    matched: { route: Route; params: Record<string, string> } | undefined,
    rawBody: string,
  ): Promise<{ status: number; body?: unknown }> {
    // Order as vmrest: authentication, then media type, then routing.
    if (!this.#authorized(req.headers.authorization))
      throw new ApiError(401, SimulatedCode.operationFailed, 'Authentication failed');
    const accept = req.headers.accept ?? '';
    if (!accept.split(',').some((t) => t.trim().split(';')[0] === VMREST_MEDIA_TYPE)) {
      throw new ApiError(
        406,
        SimulatedCode.invalidParameter,
        `Content type was not supported: Accept must be ${VMREST_MEDIA_TYPE}`,
      );
    }
    if (!matched) throw new ApiError(404, SimulatedCode.invalidParameter, 'No such resource');
    const { operation } = matched.route;
    const p = matched.params;
    if (bodyOperations.has(operation)) {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (contentType === '')
        throw new ApiError(
          415,
          SimulatedCode.invalidParameter,
          `Unsupported media type: Content-Type must be ${VMREST_MEDIA_TYPE}`,
        );
      if (contentType !== VMREST_MEDIA_TYPE)
        throw new ApiError(
          406,
          SimulatedCode.invalidParameter,
          `Content type was not supported: ${contentType}`,
        );
    }
    const json = (): Record<string, unknown> => {
      try {
        const parsed: unknown = JSON.parse(rawBody);
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
          return parsed as Record<string, unknown>;
      } catch {
        // fall through
      }
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: body');
    };
    switch (operation) {
      case 'listVms':
        return {
          status: 200,
          body: [...this.#vms.values()]
            .filter((vm) => !vm.cloning)
            .map((vm) => ({ id: vm.id, path: this.#host.toHost(vm.vmxPath) })),
        };
      case 'cloneVm':
        return this.#clone(json());
      case 'registerVm':
        return this.#register(json());
      case 'getVm':
        return { status: 200, body: await this.#info(this.#vm(p.id!)) };
      case 'updateVm':
        return this.#update(this.#vm(p.id!), json());
      case 'deleteVm':
        return this.#delete(this.#vm(p.id!));
      case 'getVmParam': {
        const vm = this.#vm(p.id!);
        // Unverified: the real vmrest's reply for a key the .vmx lacks; modelled as an empty value.
        return {
          status: 200,
          body: { name: p.name!, value: (await readVmx(vm.vmxPath)).get(p.name!) ?? '' },
        };
      }
      case 'setVmParam':
        return this.#setParam(this.#vm(p.id!), json());
      case 'getPowerState':
        return { status: 200, body: { power_state: this.#vm(p.id!).power } };
      case 'setPowerState':
        return this.#power(this.#vm(p.id!), rawBody);
      case 'listNics': {
        const nics = readNics(await readVmx(this.#vm(p.id!).vmxPath)).map((n) => this.#nicReply(n));
        return { status: 200, body: { num: nics.length, nics } };
      }
      case 'addNic':
        return this.#addNic(this.#vm(p.id!), json());
      case 'updateNic':
        return this.#updateNic(this.#vm(p.id!), p.index!, json());
      case 'deleteNic':
        return this.#deleteNic(this.#vm(p.id!), p.index!);
      case 'getIp': {
        const addresses = await this.#guestAddresses(this.#vm(p.id!));
        const first = addresses.flatMap((a) => a.ip).find((ip) => isIpv4(ip.split('/')[0]!));
        if (!first) throw new ApiError(500, SimulatedCode.notYetAvailable, 'Unable to get the IP address');
        return { status: 200, body: { ip: first.split('/')[0] } };
      }
      case 'getNicIps': {
        const addresses = await this.#guestAddresses(this.#vm(p.id!));
        const nics: NicIpStack[] = addresses.map((a) => ({ mac: a.mac, ip: a.ip }));
        return { status: 200, body: { nics, routes: [] } };
      }
      case 'listVmnets':
        return { status: 200, body: { num: this.#vmnets().length, vmnets: this.#vmnets() } };
      case 'setMacToIp':
        return this.#setMacToIp(p.vmnet!, p.mac!, json());
    }
  }

  #authorized(header: string | undefined): boolean {
    const m = /^Basic\s+(.+)$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    return decoded === `${this.options.username}:${this.options.password}`;
  }

  #vmnets(): Vmnet[] {
    return this.options.vmnets ?? defaultVmnets;
  }

  #addVm(vmxPath: string, libraryName: string): SimVm {
    const vm: SimVm = {
      id: vmId(),
      vmxPath,
      libraryName,
      power: 'poweredOff',
      toolsRunning: false,
      question: undefined,
      addresses: undefined,
      bootTimer: undefined,
      cloning: false,
      shutdown: { kind: 'prompt' },
      toolsInstalled: true,
      shutdownTimer: undefined,
    };
    this.#vms.set(vm.id, vm);
    return vm;
  }

  #vm(id: string): SimVm {
    const vm = this.#vms.get(id);
    if (!vm || vm.cloning)
      throw new ApiError(404, SimulatedCode.invalidParameter, `The virtual machine is not found: ${id}`);
    return vm;
  }

  #requirePoweredOff(vm: SimVm): void {
    if (vm.power !== 'poweredOff')
      throw new ApiError(
        409,
        SimulatedCode.busyOrPoweredOn,
        'The device is busy or the virtual machine is powered on',
      );
  }

  async #info(vm: SimVm): Promise<{ id: string; cpu: { processors: number }; memory: number }> {
    const vmx = await readVmx(vm.vmxPath);
    return {
      id: vm.id,
      cpu: { processors: Number(vmx.get('numvcpus') ?? '1') },
      memory: Number(vmx.get('memsize') ?? '512'),
    };
  }

  async #clone(body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const { name, parentId } = body;
    if (typeof name !== 'string' || name === '' || /[\\/:*?"<>|]/.test(name))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: name');
    if (typeof parentId !== 'string' || parentId === '')
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: parentId');
    const parent = this.#vm(parentId);
    this.#requirePoweredOff(parent);
    // On Windows an existing folder that differs only in case is the same folder.
    const destination = this.#host.toLocal(
      this.#host.api.join(this.#host.toHost(this.options.defaultVmFolder), name),
    );
    // Workstation copies into the destination folder progressively, so it exists from the start of the
    // clone; the VM is listed only once the copy is done. Creating the folder is the atomic "is it free?"
    // check. Unverified: the real vmrest's reply when the destination exists; modelled as 409 (the
    // "resource state conflicts" reply vmrest's API description gives for POST /vms).
    try {
      await fs.mkdir(destination);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const copying = [...this.#vms.values()].some(
        (vm) => vm.cloning && path.dirname(vm.vmxPath) === destination,
      );
      const shown = this.#host.toHost(destination);
      throw new ApiError(
        409,
        SimulatedCode.busyOrPoweredOn,
        copying ? `A clone into ${shown} is in progress` : `The destination folder ${shown} already exists`,
      );
    }
    const vm = this.#addVm(path.join(destination, `${name}.vmx`), name);
    vm.cloning = true;
    try {
      await cloneVmFolder(parent.vmxPath, destination, name);
      if (this.options.latencies?.cloneMs) await sleep(this.options.latencies.cloneMs);
    } catch (error) {
      this.#vms.delete(vm.id);
      throw error;
    }
    // Done copying: from now on the clone is listed and usable.
    vm.cloning = false;
    return { status: 201, body: await this.#info(vm) };
  }

  async #register(body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const { name, path: vmxPath } = body;
    if (typeof name !== 'string' || name === '')
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: name');
    if (typeof vmxPath !== 'string' || !vmxPath.toLowerCase().endsWith('.vmx'))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: path');
    if (!this.#host.api.isAbsolute(vmxPath))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: path');
    const local = this.#host.toLocal(vmxPath);
    if (!(await exists(local)))
      throw new ApiError(404, SimulatedCode.invalidParameter, `The file is not found: ${vmxPath}`);
    // Unverified: registering a path already in the library; modelled as returning the existing entry.
    const known = [...this.#vms.values()].find((vm) =>
      this.#host.same(this.#host.toHost(vm.vmxPath), vmxPath),
    );
    const vm = known ?? this.#addVm(local, name);
    return { status: 201, body: { id: vm.id, path: this.#host.toHost(vm.vmxPath) } };
  }

  async #update(vm: SimVm, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const { processors, memory } = body;
    for (const key of Object.keys(body)) {
      if (key !== 'processors' && key !== 'memory')
        throw new ApiError(400, SimulatedCode.invalidParameter, `One of the parameters was invalid: ${key}`);
    }
    if (processors !== undefined && (!Number.isInteger(processors) || (processors as number) < 1))
      throw new ApiError(
        400,
        SimulatedCode.invalidParameter,
        'One of the parameters was invalid: processors',
      );
    // Workstation sizes memory in multiples of 4 MB.
    if (
      memory !== undefined &&
      (!Number.isInteger(memory) || (memory as number) < 4 || (memory as number) % 4 !== 0)
    )
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: memory');
    this.#requirePoweredOff(vm);
    const vmx = await readVmx(vm.vmxPath);
    if (processors !== undefined) vmx.set('numvcpus', String(processors));
    if (memory !== undefined) vmx.set('memsize', String(memory));
    await writeVmx(vm.vmxPath, vmx);
    return { status: 200, body: await this.#info(vm) };
  }

  async #delete(vm: SimVm): Promise<{ status: number }> {
    this.#requirePoweredOff(vm);
    this.#vms.delete(vm.id);
    await fs.rm(path.dirname(vm.vmxPath), { recursive: true, force: true });
    return { status: 204 };
  }

  async #setParam(vm: SimVm, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const { name, value } = body;
    if (typeof name !== 'string' || name === '' || /[\s="]/.test(name))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: name');
    if (typeof value !== 'string')
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: value');
    // Unverified: what the real vmrest does with arbitrary keys, and while the VM runs
    // (Workstation rewrites the .vmx from memory). Modelled: written to the file; while the VM runs,
    // refused (409) unless the options say to accept (paramsWhilePoweredOn).
    if (this.options.paramsWhilePoweredOn !== 'accept') this.#requirePoweredOff(vm);
    const vmx = await readVmx(vm.vmxPath);
    vmx.set(name, value);
    await writeVmx(vm.vmxPath, vmx);
    return { status: 200, body: { Code: 0, Message: 'The operation was successful' } };
  }

  async #power(vm: SimVm, rawBody: string): Promise<{ status: number; body: unknown }> {
    // The body is the bare word; a JSON string ("\"on\""), an object or padding is invalid.
    if (!(powerOperations as readonly string[]).includes(rawBody))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: operation');
    const op = rawBody as PowerOperation;
    const conflict = (): never => {
      throw new ApiError(
        409,
        SimulatedCode.busyOrPoweredOn,
        `The operation "${op}" is not allowed in the power state ${vm.power}`,
      );
    };
    switch (op) {
      case 'on':
        if (vm.power === 'poweredOn') break; // unverified: modelled as a no-op reply
        if (vm.power === 'paused') conflict();
        await this.#powerOn(vm);
        this.#notifyPower(vm);
        break;
      case 'off':
        if (this.options.latencies?.powerOffMs) await sleep(this.options.latencies.powerOffMs);
        this.#stop(vm, 'poweredOff');
        break;
      case 'shutdown':
        if (vm.power === 'poweredOff') break;
        // A guest shutdown needs Tools in the guest (unverified reply when they are missing).
        if (!vm.toolsRunning)
          throw new ApiError(
            500,
            SimulatedCode.operationFailed,
            'The operation is not supported: VMware Tools are not running in the guest',
          );
        if (this.options.latencies?.powerOffMs) await sleep(this.options.latencies.powerOffMs);
        if (vm.shutdown.kind === 'prompt') this.#stop(vm, 'poweredOff');
        else if (vm.shutdown.kind === 'slow' && !vm.shutdownTimer)
          vm.shutdownTimer = setTimeout(() => this.#stop(vm, 'poweredOff'), vm.shutdown.afterMs);
        break;
      case 'suspend':
        if (vm.power === 'suspended') break;
        if (vm.power !== 'poweredOn') conflict();
        this.#stop(vm, 'suspended');
        break;
      case 'pause':
        if (vm.power === 'paused') break;
        if (vm.power !== 'poweredOn') conflict();
        vm.power = 'paused';
        this.#notifyPower(vm);
        break;
      case 'unpause':
        if (vm.power !== 'paused') conflict();
        vm.power = 'poweredOn';
        this.#notifyPower(vm);
        break;
    }
    return { status: 200, body: { power_state: vm.power } };
  }

  #stop(vm: SimVm, state: PowerState): void {
    clearTimeout(vm.bootTimer);
    clearTimeout(vm.shutdownTimer);
    vm.bootTimer = undefined;
    vm.shutdownTimer = undefined;
    vm.power = state;
    vm.toolsRunning = false;
    vm.question = undefined;
    if (state === 'poweredOff') vm.addresses = undefined;
    this.#notifyPower(vm);
  }

  #notifyPower(vm: SimVm): void {
    this.options.onPowerChange?.(
      { id: vm.id, vmxPath: vm.vmxPath },
      {
        power: vm.power,
        booted: vm.power === 'poweredOn' && vm.bootTimer === undefined && vm.question === undefined,
      },
    );
  }

  async #powerOn(vm: SimVm): Promise<void> {
    const resuming = vm.power === 'suspended';
    const vmx = await readVmx(vm.vmxPath);
    const resolveFile = this.#vmxFile(vm);
    const [problem] = await missingPowerOnFiles(vmx, resolveFile);
    const shown = problem
      ? this.#host.api.resolve(this.#host.api.dirname(this.#host.toHost(vm.vmxPath)), problem.file)
      : '';
    if (problem?.kind === 'disk') {
      throw new ApiError(
        500,
        SimulatedCode.operationFailed,
        `Cannot open the disk '${shown}' or one of the snapshot disks it depends on. The system cannot find the file specified.`,
      );
    }
    if (problem?.kind === 'iso') {
      throw new ApiError(
        500,
        SimulatedCode.operationFailed,
        `Cannot connect the virtual device ${problem.device} because no corresponding device is available on the host. The file '${shown}' could not be found.`,
      );
    }
    if (this.options.latencies?.powerOnMs) await sleep(this.options.latencies.powerOnMs);
    // Workstation writes the .vmx at power-on: adapters added since the last one get their MAC now.
    if (assignGeneratedMacs(vmx)) await writeVmx(vm.vmxPath, vmx);
    vm.power = 'poweredOn';
    const serial = serialFilePath(vmx, resolveFile);
    if (!resuming && serial) {
      if ((await exists(serial)) && (vmx.get('msg.autoAnswer') ?? '').toUpperCase() !== 'TRUE') {
        // Workstation asks "replace or append?" and the VM waits on the dialog: power state is on, the guest never starts.
        vm.question = `The file "${this.#host.toHost(serial)}" used by serial0 already exists. Do you want to replace it or append to it?`;
        return;
      }
      // With msg.autoAnswer the default answer is taken (modelled as append; unverified which button is the default).
      await fs.appendFile(serial, '');
    }
    vm.bootTimer = setTimeout(() => void this.#boot(vm, !resuming), this.options.bootDelayMs ?? 50);
  }

  async #boot(vm: SimVm, freshBoot: boolean): Promise<void> {
    vm.bootTimer = undefined;
    if (this.#closed || vm.power !== 'poweredOn') return;
    vm.toolsRunning = vm.toolsInstalled;
    this.#notifyPower(vm);
    if (!freshBoot || !this.options.onGuestBoot) return;
    try {
      const vmx = await readVmx(vm.vmxPath);
      const resolveVmxPath = this.#vmxFile(vm);
      const serialFile = serialFilePath(vmx, resolveVmxPath);
      const guest: SimulatedGuest = {
        id: vm.id,
        name: path.basename(vm.vmxPath, '.vmx'),
        vmxPath: vm.vmxPath,
        resolveVmxPath,
        serialFile,
        macs: readNics(vmx).map((n) => n.macAddress),
        readVmx: () => readVmx(vm.vmxPath),
        writeSerial: async (text) => {
          if (!serialFile) throw new Error(`simulator: VM ${vm.vmxPath} has no file-backed serial0`);
          if (vm.power === 'poweredOn') await fs.appendFile(serialFile, text);
        },
        powerOff: () => {
          if (vm.power !== 'poweredOff') this.#stop(vm, 'poweredOff');
        },
        setAddresses: (addresses) => {
          vm.addresses = addresses;
        },
      };
      await this.options.onGuestBoot(guest);
    } catch (error) {
      this.options.onHookError?.(error);
    }
  }

  /** What Tools report: set by the guest hook, else per NIC its DHCP reservation or a fixed host in its subnet. */
  async #guestAddresses(vm: SimVm): Promise<GuestNicAddresses[]> {
    if (vm.power !== 'poweredOn' || !vm.toolsRunning) {
      throw new ApiError(
        500,
        SimulatedCode.notYetAvailable,
        'The VMware Tools are not running in the virtual machine; the information is not available yet',
      );
    }
    if (vm.addresses) return vm.addresses;
    const nics = readNics(await readVmx(vm.vmxPath));
    return nics.map((nic) => {
      const net = this.#vmnets().find((n) => n.name === nic.vmnet);
      if (!net || !net.subnet) return { mac: nic.macAddress, ip: [] };
      const reserved = this.#reservations.get(net.name)?.get(nic.macAddress);
      const ip = reserved ?? intToIp(ipToInt(net.subnet) + 100 + nic.index);
      return { mac: nic.macAddress, ip: [`${ip}/${prefixLength(net.mask)}`] };
    });
  }

  #nicParameters(body: Record<string, unknown>): { type: VmxNic['type']; vmnet: string } {
    const { type, vmnet } = body;
    if (typeof type !== 'string' || !['custom', 'bridged', 'nat', 'hostonly'].includes(type))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: type');
    if (vmnet !== undefined && typeof vmnet !== 'string')
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: vmnet');
    if (type !== 'custom' && vmnet)
      throw new ApiError(400, SimulatedCode.redundantParameter, 'Redundant parameter: vmnet');
    if (type === 'custom') {
      if (!vmnet || !this.#vmnets().some((n) => n.name === vmnet.toLowerCase()))
        throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: vmnet');
    }
    return { type: type as VmxNic['type'], vmnet: (vmnet ?? '').toLowerCase() };
  }

  async #addNic(vm: SimVm, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
    const { type, vmnet } = this.#nicParameters(body);
    this.#requirePoweredOff(vm);
    const vmx = await readVmx(vm.vmxPath);
    const slot = addNic(vmx, type, vmnet);
    await writeVmx(vm.vmxPath, vmx);
    return { status: 201, body: this.#nicReply(readNic(vmx, slot)) };
  }

  /** vmrest's index of the adapter in ethernet<slot> (nicIndexFrom). */
  #nicReply(nic: VmxNic): { index: number; type: VmxNic['type']; vmnet: string; macAddress: string } {
    return {
      index: nic.slot + (this.options.nicIndexFrom ?? 1),
      type: nic.type,
      vmnet: nic.vmnet,
      macAddress: nic.macAddress,
    };
  }

  #nicSlot(vmx: VmxFile, index: string): number {
    const slot = Number(index) - (this.options.nicIndexFrom ?? 1);
    if (!Number.isInteger(slot) || !nicSlots(vmx).includes(slot))
      throw new ApiError(404, SimulatedCode.invalidParameter, `No such network adapter: ${index}`);
    return slot;
  }

  async #updateNic(
    vm: SimVm,
    index: string,
    body: Record<string, unknown>,
  ): Promise<{ status: number; body: unknown }> {
    const { type, vmnet } = this.#nicParameters(body);
    const vmx = await readVmx(vm.vmxPath);
    const slot = this.#nicSlot(vmx, index);
    this.#requirePoweredOff(vm);
    writeNicNetwork(vmx, slot, type, vmnet);
    await writeVmx(vm.vmxPath, vmx);
    return { status: 200, body: this.#nicReply(readNic(vmx, slot)) };
  }

  async #deleteNic(vm: SimVm, index: string): Promise<{ status: number }> {
    const vmx = await readVmx(vm.vmxPath);
    const slot = this.#nicSlot(vmx, index);
    this.#requirePoweredOff(vm);
    vmx.deletePrefix(`ethernet${slot}.`);
    await writeVmx(vm.vmxPath, vmx);
    return { status: 204 };
  }

  #setMacToIp(
    vmnetName: string,
    mac: string,
    body: Record<string, unknown>,
  ): { status: number; body: unknown } {
    if (this.options.administrator === false)
      throw new ApiError(
        403,
        SimulatedCode.operationFailed,
        'Permission denied: vmrest must run as Administrator to change host networks',
      );
    const net = this.#vmnets().find((n) => n.name === vmnetName.toLowerCase());
    if (!net)
      throw new ApiError(404, SimulatedCode.invalidParameter, `No such virtual network: ${vmnetName}`);
    if (net.dhcp !== 'true')
      throw new ApiError(400, SimulatedCode.invalidParameter, `DHCP is not enabled on ${net.name}`);
    if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac))
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: mac');
    const ip = body.IP;
    if (typeof ip !== 'string')
      throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: IP');
    const table = this.#reservations.get(net.name) ?? new Map<string, string>();
    this.#reservations.set(net.name, table);
    if (ip === '') {
      table.delete(mac.toLowerCase());
    } else {
      const mask = ipToInt(net.mask);
      if (!isIpv4(ip) || (ipToInt(ip) & mask) >>> 0 !== (ipToInt(net.subnet) & mask) >>> 0)
        throw new ApiError(400, SimulatedCode.invalidParameter, 'One of the parameters was invalid: IP');
      table.set(mac.toLowerCase(), ip);
    }
    return { status: 200, body: { Code: 0, Message: 'The operation was successful' } };
  }
}
