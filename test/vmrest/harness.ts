/**
 * A vmrest simulator with a template VM in a temporary folder, a client
 * pointed at it (short retry delays), and every exchange checked against
 * the OpenAPI document.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import {
  VmrestClient,
  type VmrestClientOptions,
  type VmrestRequestLogEntry,
} from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { VmrestSimulator, type VmrestSimulatorOptions } from '../../simulators/vmrest-simulator.js';
import { OpenApiExchangeValidator } from './openapi-validator.js';

export const USERNAME = 'kube-admin';
export const PASSWORD = 'Zq8#vL2!pR9x';

export const templateVmx = `.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "21"
displayName = "ubuntu-2404-template"
guestOS = "ubuntu-64"
numvcpus = "2"
memsize = "2048"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "ubuntu-2404-template.vmdk"
ethernet0.present = "TRUE"
ethernet0.connectionType = "nat"
ethernet0.virtualDev = "vmxnet3"
ethernet0.addressType = "generated"
ethernet0.generatedAddress = "00:0c:29:12:34:56"
ethernet0.generatedAddressOffset = "0"
ethernet0.pciSlotNumber = "33"
uuid.bios = "56 4d 00 11 22 33 44 55-66 77 88 99 aa bb cc dd"
tools.syncTime = "FALSE"
`;

export interface Harness {
  dir: string;
  vmFolder: string;
  templatePath: string;
  sim: VmrestSimulator;
  client: VmrestClient;
  validator: OpenApiExchangeValidator;
  clientLog: VmrestRequestLogEntry[];
  templateId: string;
  makeClient(overrides?: Partial<VmrestClientOptions>): VmrestClient;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    sim?: Partial<VmrestSimulatorOptions>;
    client?: Partial<VmrestClientOptions>;
    checkRequests?: boolean;
  } = {},
): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-vmrest-'));
  const templateFolder = path.join(dir, 'templates', 'ubuntu-2404-template');
  await mkdir(templateFolder, { recursive: true });
  const templatePath = path.join(templateFolder, 'ubuntu-2404-template.vmx');
  await writeFile(templatePath, templateVmx);
  await writeFile(path.join(templateFolder, 'ubuntu-2404-template.vmdk'), 'disk');
  const vmFolder = path.join(dir, 'Virtual Machines');
  const validator = new OpenApiExchangeValidator({ checkRequests: options.checkRequests ?? true });
  const sim = await VmrestSimulator.start({
    defaultVmFolder: vmFolder,
    username: USERNAME,
    password: PASSWORD,
    registeredVmx: [templatePath],
    bootDelayMs: 20,
    onExchange: (e) => validator.check(e),
    ...options.sim,
  });
  const clientLog: VmrestRequestLogEntry[] = [];
  const clients: VmrestClient[] = [];
  const makeClient = (overrides: Partial<VmrestClientOptions> = {}): VmrestClient => {
    const client = new VmrestClient({
      baseUrl: sim.url,
      credentials: new VmrestCredentials(USERNAME, PASSWORD),
      retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxTotalMs: 5_000 },
      timeouts: { defaultMs: 2_000, cloneMs: 2_000, powerMs: 2_000, deleteMs: 2_000 },
      pollIntervalMs: 10,
      onRequest: (e) => clientLog.push(e),
      ...options.client,
      ...overrides,
    });
    clients.push(client);
    return client;
  };
  const client = makeClient();
  const templateId = sim.vms()[0]!.id;
  return {
    dir,
    vmFolder,
    templatePath,
    sim,
    client,
    validator,
    clientLog,
    templateId,
    makeClient,
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test file: returns `start`, which starts a harness for the current
 * test; after each test it is closed and its exchanges must have matched the
 * OpenAPI document.
 */
export function harnessPerTest(): (options?: Parameters<typeof startHarness>[0]) => Promise<Harness> {
  let current: Harness | undefined;
  afterEach(async () => {
    if (!current) return;
    const { violations } = current.validator;
    await current.close();
    current = undefined;
    expect(violations).toEqual([]);
  });
  return async (options) => (current = await startHarness(options));
}
