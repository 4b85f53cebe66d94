/**
 * A stand-in for Workstation's `vmrun` that works on the vmrest simulator's
 * VMs, so snapshot code runs a real program as it does on Windows.
 *
 * `VmrunSimulator.start(vmrest, installFolder)` writes an executable `vmrun`
 * into `installFolder` (point vmware.installFolder there) and a
 * `vmrun-simulator.json` beside it naming a control endpoint on 127.0.0.1.
 * The program forwards its argv there and prints what comes back, with the
 * exit code. The snapshot logic lives here, on the host side, so a Windows
 * wrapper (vmrun.exe under Wine) can forward to the same endpoint.
 *
 * What it does to a VM, as vmrun does on Workstation:
 * - `snapshot <vmx> <name>`: records the snapshot in `<vm>.vmsd` (uid,
 *   displayName, createTimeHigh/Low, parent, current) and writes
 *   `<vm>-Snapshot<uid>.vmsn` holding the .vmx and disk descriptors as they
 *   are; a VM that is not powered off also gets `<vm>-Snapshot<uid>.vmem`
 *   (a memory snapshot).
 * - `revertToSnapshot <vmx> <name>`: puts the .vmx and disk descriptors back,
 *   makes the snapshot current; the VM is left powered off, or suspended
 *   after a memory snapshot (resumed by the next power-on), or running
 *   (`memoryRevertLeaves`): which of the two the real vmrun does is unverified.
 * - `listSnapshots <vmx>`: `Total snapshots: N` and the names.
 * - `deleteSnapshot <vmx> <name>`: removes it from the .vmsd and its files.
 * - `clone <vmx> <dest.vmx> full|linked [-snapshot=<name>] [-cloneName=<name>]`:
 *   full copies the VM folder (its current state); linked writes a new VM
 *   folder holding the .vmx of the snapshot and, per disk, a delta descriptor
 *   `<dest>-cl1.vmdk` naming the parent disk (parentFileNameHint, parentCID)
 *   with the parent's size, and records the clone in the parent's .vmsd
 *   (`snapshotN.numClones`, `snapshotN.cloneK`). Simulator choices
 *   (unverified): linked without -snapshot uses the current snapshot and fails
 *   when there is none; the message for a missing snapshot; the .vmsd clone
 *   keys; a vmrun-made clone is not in vmrest's list until POST
 *   /vms/registration; an existing destination .vmx is refused.
 * Failures print `Error: ...` and exit 255, as vmrun does (messages for a
 * missing or ambiguous name are unverified). With no arguments it prints a
 * usage text headed by `vmrun version ...`; on Linux a `vmware` stand-in
 * beside it answers `-v` with a Workstation 17.6.3 banner.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { snapshotCreateTime, vmrunFileName, vmsdPath } from '../src/template/vmrun.js';
import { VmxFile } from '../src/vmx/vmx-file.js';
import { cloneVmFolder, freshBiosUuid } from './vmrest-sim-vmx.js';
import type { VmrestSimulator } from './vmrest-simulator.js';

export interface VmrunCall {
  args: string[];
  exitCode: number;
  stdout: string;
  /**
   * How long the stand-in's own process took to start and send the call (ms). A real vmrun.exe starts in
   * a fraction of that, and its whole run is inside the modelled clone time, so the bench leaves it out
   * of kubestation's own cost.
   */
  standInStartMs?: number;
}

export interface VmrunFault {
  command: 'snapshot' | 'revertToSnapshot' | 'listSnapshots' | 'deleteSnapshot' | 'clone';
  /** Only calls on this VM (its .vmx file name without extension, e.g. "k8s-worker1"); default any. */
  vm?: string;
  /** How many matching calls fail; default 1. */
  times?: number;
  message?: string;
}

const CONFIG_FILE = 'vmrun-simulator.json';

/** The Workstation the stand-ins claim to be: a 17.x release, whose vmrest 1.3.1 the simulators follow. */
export const SIMULATED_WORKSTATION_VERSION = '17.6.3';
const SIMULATED_BUILD = '24583834';
export const SIMULATED_VMRUN_VERSION = '1.17.0';
const SIMULATED_VMRUN_USAGE = `\nvmrun version ${SIMULATED_VMRUN_VERSION} build-${SIMULATED_BUILD}\n\nUsage: vmrun [AUTHENTICATION-FLAGS] COMMAND [PARAMETERS]\n`;

/** The stand-in program: forwards argv to the control endpoint named in the config beside it. */
function standInProgram(): string {
  return `#!${process.execPath}
// kubestation test stand-in for VMware's vmrun: forwards its arguments to simulators/vmrun-simulator.ts.
const { readFileSync } = require('node:fs');
const path = require('node:path');
const config = JSON.parse(readFileSync(path.join(__dirname, ${JSON.stringify(CONFIG_FILE)}), 'utf8'));
fetch(config.url, { method: 'POST', headers: { authorization: 'Bearer ' + config.token }, body: JSON.stringify({ args: process.argv.slice(2), startMs: performance.now() }) })
  .then((r) => r.json())
  .then((reply) => { process.stdout.write(reply.stdout); process.exitCode = reply.exitCode; })
  .catch((error) => { process.stdout.write('Error: cannot reach the vmrun simulator: ' + error.message + '\\n'); process.exitCode = 255; });
`;
}

class VmrunError extends Error {}

interface SnapshotEntry {
  index: number;
  uid: number;
  displayName: string;
  filename: string;
}

function snapshotsIn(vmsd: VmxFile): SnapshotEntry[] {
  const entries: SnapshotEntry[] = [];
  for (const [key, value] of vmsd.entries()) {
    const m = /^snapshot(\d+)\.displayName$/.exec(key);
    if (!m) continue;
    const index = Number(m[1]);
    entries.push({
      index,
      uid: Number(vmsd.get(`snapshot${index}.uid`)),
      displayName: value,
      filename: vmsd.get(`snapshot${index}.filename`) ?? '',
    });
  }
  return entries.sort((a, b) => a.index - b.index);
}

/** Disk descriptors the .vmx names (the simulator's disks are small text descriptors). */
function diskFiles(vmx: VmxFile): string[] {
  return vmx
    .entries()
    .filter(
      ([key, value]) =>
        /^(scsi|sata|nvme|ide)\d+:\d+\.fileName$/i.test(key) && value.toLowerCase().endsWith('.vmdk'),
    )
    .map(([, value]) => value);
}

export class VmrunSimulator {
  readonly calls: VmrunCall[] = [];
  /** What revertToSnapshot leaves a VM reverted to a memory snapshot as (the real vmrun's choice is not documented). */
  memoryRevertLeaves: 'suspended' | 'poweredOn' = 'suspended';
  readonly #faults: Array<VmrunFault & { left: number }> = [];
  readonly #token = randomBytes(16).toString('hex');
  #server: http.Server | undefined;
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    readonly vmrest: VmrestSimulator,
    readonly installFolder: string,
  ) {}

  /** Writes the stand-in `vmrun` into `installFolder` and starts answering it. */
  static async start(vmrest: VmrestSimulator, installFolder: string): Promise<VmrunSimulator> {
    const sim = new VmrunSimulator(vmrest, installFolder);
    const server = http.createServer((req, res) => void sim.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    sim.#server = server;
    await mkdir(installFolder, { recursive: true });
    const program = path.join(installFolder, vmrunFileName(process.platform));
    await writeFile(program, standInProgram());
    await chmod(program, 0o755);
    if (process.platform !== 'win32') {
      // Workstation for Linux's `vmware -v`, which kubestation reads the version from there.
      const ui = path.join(installFolder, 'vmware');
      await writeFile(
        ui,
        `#!/bin/sh\necho "VMware Workstation ${SIMULATED_WORKSTATION_VERSION} build-${SIMULATED_BUILD}"\n`,
      );
      await chmod(ui, 0o755);
    }
    await writeFile(
      path.join(installFolder, CONFIG_FILE),
      JSON.stringify({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vmrun`,
        token: sim.#token,
      }),
    );
    return sim;
  }

  /** The next matching calls fail as vmrun fails (Error: ..., exit 255). */
  failNext(fault: VmrunFault): void {
    this.#faults.push({ ...fault, left: fault.times ?? 1 });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.headers.authorization !== `Bearer ${this.#token}`) {
      res.writeHead(401).end();
      return;
    }
    const { args, startMs } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      args: string[];
      startMs?: number;
    };
    const standIn = typeof startMs === 'number' ? { standInStartMs: startMs } : {};
    let reply: { stdout: string; exitCode: number };
    if (args.length === 0) {
      // No command: vmrun prints its usage, headed by its version, and exits non-zero (exit code: simulator choice).
      reply = { stdout: SIMULATED_VMRUN_USAGE, exitCode: 255 };
      this.calls.push({ args, ...reply, ...standIn });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      return;
    }
    try {
      // One command at a time: each reads and rewrites .vmsd files, which concurrent calls would clobber.
      const run = this.#queue.then(() => this.#run(args));
      this.#queue = run.then(
        () => undefined,
        () => undefined,
      );
      reply = { stdout: await run, exitCode: 0 };
    } catch (error) {
      if (!(error instanceof VmrunError)) throw error;
      reply = { stdout: `Error: ${error.message}\n`, exitCode: 255 };
    }
    this.calls.push({ args, ...reply, ...standIn });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  }

  async #run(args: string[]): Promise<string> {
    const [flag, hostType, command, vmx, name] = args;
    if (flag !== '-T' || hostType !== 'ws')
      throw new VmrunError('Unrecognized host type (this stand-in only knows -T ws)');
    if (!vmx) throw new VmrunError('Invalid argument: missing the path to the .vmx');
    const fault = this.#faults.find(
      (f) =>
        f.command === command && f.left > 0 && (f.vm === undefined || path.basename(vmx, '.vmx') === f.vm),
    );
    if (fault) {
      fault.left--;
      throw new VmrunError(fault.message ?? 'Insufficient permission to access the file');
    }
    let vmxText: string;
    try {
      vmxText = await readFile(vmx, 'utf8');
    } catch {
      throw new VmrunError(`Cannot open VM: ${vmx}, The virtual machine cannot be found`);
    }
    const needName = (): string => {
      if (!name) throw new VmrunError('Invalid argument: missing the snapshot name');
      return name;
    };
    switch (command) {
      case 'listSnapshots': {
        const names = snapshotsIn(await this.#readVmsd(vmx)).map((s) => s.displayName);
        return `Total snapshots: ${names.length}\n${names.map((n) => `${n}\n`).join('')}`;
      }
      case 'snapshot':
        await this.#snapshot(vmx, vmxText, needName());
        return '';
      case 'revertToSnapshot':
        await this.#revert(vmx, needName());
        return '';
      case 'deleteSnapshot':
        await this.#delete(vmx, needName());
        return '';
      case 'clone':
        await this.#clone(vmx, vmxText, args.slice(4));
        return '';
      default:
        throw new VmrunError(`Unrecognized command: ${command}`);
    }
  }

  async #readVmsd(vmx: string): Promise<VmxFile> {
    try {
      return VmxFile.parse(await readFile(vmsdPath(vmx), 'utf8'));
    } catch {
      return VmxFile.parse('.encoding = "UTF-8"\n');
    }
  }

  #find(vmsd: VmxFile, name: string): SnapshotEntry {
    // vmrun reads "a/b" as the path of a snapshot in the tree.
    const matches = snapshotsIn(vmsd).filter((s) => s.displayName === name);
    if (matches.length === 0) throw new VmrunError('A snapshot with the given name does not exist');
    if (matches.length > 1) throw new VmrunError('The name does not uniquely identify one snapshot');
    return matches[0]!;
  }

  async #snapshot(vmx: string, vmxText: string, name: string): Promise<void> {
    if (name.includes('/') || name.includes('\\')) throw new VmrunError('Invalid snapshot name');
    const vm = this.vmrest.vmByPath(vmx);
    const folder = path.dirname(vmx);
    const base = path.basename(vmx, '.vmx');
    const vmsd = await this.#readVmsd(vmx);
    const existing = snapshotsIn(vmsd);
    const uid = Number(vmsd.get('snapshot.lastUID') ?? '0') + 1;
    const index = existing.length === 0 ? 0 : Math.max(...existing.map((s) => s.index)) + 1;
    const filename = `${base}-Snapshot${uid}.vmsn`;
    const disks: Record<string, string> = {};
    for (const disk of diskFiles(VmxFile.parse(vmxText)))
      disks[disk] = await readFile(path.resolve(folder, disk), 'latin1');
    await writeFile(path.join(folder, filename), JSON.stringify({ vmx: vmxText, disks }));
    const memory = vm !== undefined && vm.power !== 'poweredOff';
    if (memory)
      await writeFile(
        path.join(folder, `${base}-Snapshot${uid}.vmem`),
        `memory image of ${base} (${vm.power})\n`,
      );
    const created = snapshotCreateTime(new Date());
    const p = `snapshot${index}.`;
    const parent = vmsd.get('snapshot.current');
    vmsd.set('snapshot.lastUID', String(uid));
    vmsd.set('snapshot.current', String(uid));
    vmsd.set(`${p}uid`, String(uid));
    vmsd.set(`${p}filename`, filename);
    if (parent) vmsd.set(`${p}parent`, parent);
    vmsd.set(`${p}displayName`, name);
    vmsd.set(`${p}createTimeHigh`, String(created.high));
    vmsd.set(`${p}createTimeLow`, String(created.low));
    vmsd.set(`${p}numDisks`, String(Object.keys(disks).length));
    vmsd.set('snapshot.numSnapshots', String(existing.length + 1));
    await writeFile(vmsdPath(vmx), vmsd.toString());
  }

  async #revert(vmx: string, name: string): Promise<void> {
    const vmsd = await this.#readVmsd(vmx);
    const entry = this.#find(vmsd, name);
    const folder = path.dirname(vmx);
    const saved = JSON.parse(await readFile(path.join(folder, entry.filename), 'utf8')) as {
      vmx: string;
      disks: Record<string, string>;
    };
    const vm = this.vmrest.vmByPath(vmx);
    // The running VM is stopped first (its current state is discarded).
    if (vm && vm.power !== 'poweredOff') await this.vmrest.setPowerOutside(vm.id, 'poweredOff');
    await writeFile(vmx, saved.vmx);
    for (const [disk, content] of Object.entries(saved.disks))
      await writeFile(path.resolve(folder, disk), content, 'latin1');
    vmsd.set('snapshot.current', String(entry.uid));
    await writeFile(vmsdPath(vmx), vmsd.toString());
    const memory = path.join(folder, entry.filename.replace(/\.vmsn$/, '.vmem'));
    const hasMemory = await readFile(memory).then(
      () => true,
      () => false,
    );
    if (vm && hasMemory) await this.vmrest.setPowerOutside(vm.id, this.memoryRevertLeaves);
  }

  async #clone(vmx: string, vmxText: string, rest: string[]): Promise<void> {
    const [dest, mode, ...options] = rest;
    if (!dest || !dest.toLowerCase().endsWith('.vmx'))
      throw new VmrunError('Invalid argument: the destination must be a .vmx path');
    if (mode !== 'linked' && mode !== 'full')
      throw new VmrunError('Invalid argument: the clone type must be full or linked');
    const option = (key: string): string | undefined =>
      options.find((o) => o.startsWith(`-${key}=`))?.slice(key.length + 2);
    const cloneName = option('cloneName') ?? path.basename(dest, '.vmx');
    const snapshotName = option('snapshot');
    const destFolder = path.dirname(dest);
    const base = path.basename(dest, '.vmx');
    try {
      await readFile(dest);
      throw new VmrunError(`The destination file already exists: ${dest}`);
    } catch (error) {
      if (error instanceof VmrunError) throw error;
    }
    const vmsd = await this.#readVmsd(vmx);
    let entry: SnapshotEntry | undefined;
    if (snapshotName !== undefined) entry = this.#find(vmsd, snapshotName);
    else if (mode === 'linked') {
      const current = vmsd.get('snapshot.current');
      entry = snapshotsIn(vmsd).find((s) => String(s.uid) === current);
      if (!entry) throw new VmrunError('The virtual machine has no snapshot to make a linked clone from');
    }
    const folder = path.dirname(vmx);
    const sourceVmx = entry
      ? (JSON.parse(await readFile(path.join(folder, entry.filename), 'utf8')) as { vmx: string }).vmx
      : vmxText;
    if (mode === 'full') {
      // The whole folder as it is now (simulator choice: a full clone of a named snapshot copies the current state).
      const copied = await cloneVmFolder(vmx, destFolder, base);
      const clone = VmxFile.parse(await readFile(copied, 'utf8'));
      clone.set('displayName', cloneName);
      await writeFile(copied, clone.toString());
      return;
    }
    await mkdir(destFolder, { recursive: true });
    const clone = VmxFile.parse(sourceVmx);
    for (const [key, value] of clone.entries()) {
      if (!/^(scsi|sata|nvme|ide)\d+:\d+\.fileName$/i.test(key) || !value.toLowerCase().endsWith('.vmdk'))
        continue;
      const parentDisk = path.resolve(folder, value);
      const parentText = await readFile(parentDisk, 'latin1');
      const parentCid = /^CID=(\w+)/m.exec(parentText)?.[1] ?? 'ffffffff';
      const sectors = [...parentText.matchAll(/^\s*(?:RW|RDONLY)\s+(\d+)\s+/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
      const delta = `${base}-cl1.vmdk`;
      await writeFile(
        path.join(destFolder, delta),
        `# Disk DescriptorFile\nversion=1\nCID=${randomBytes(4).toString('hex')}\nparentCID=${parentCid}\ncreateType="monolithicSparse"\nparentFileNameHint="${parentDisk}"\n\n# Extent description\nRW ${sectors} SPARSE "${base}-cl1-s001.vmdk"\n\nddb.adapterType = "lsilogic"\n`,
        'latin1',
      );
      await writeFile(path.join(destFolder, `${base}-cl1-s001.vmdk`), '');
      clone.set(key, delta);
    }
    clone.set('displayName', cloneName);
    clone.set('uuid.bios', freshBiosUuid());
    clone.set('uuid.location', freshBiosUuid());
    for (const [key] of clone.entries())
      if (/^ethernet\d+\.(generatedAddress|generatedAddressOffset)$/i.test(key)) clone.delete(key);
    await writeFile(dest, clone.toString());
    if (mode === 'linked' && entry) {
      const p = `snapshot${entry.index}.`;
      const count = Number(vmsd.get(`${p}numClones`) ?? '0');
      vmsd.set(`${p}clone${count}`, dest);
      vmsd.set(`${p}numClones`, String(count + 1));
      await writeFile(vmsdPath(vmx), vmsd.toString());
    }
  }

  async #delete(vmx: string, name: string): Promise<void> {
    const vmsd = await this.#readVmsd(vmx);
    const entry = this.#find(vmsd, name);
    const folder = path.dirname(vmx);
    const parent = vmsd.get(`snapshot${entry.index}.parent`);
    vmsd.deletePrefix(`snapshot${entry.index}.`);
    // Children of the deleted snapshot hang from its parent now; the current one moves up too.
    for (const s of snapshotsIn(vmsd)) {
      if (vmsd.get(`snapshot${s.index}.parent`) !== String(entry.uid)) continue;
      if (parent) vmsd.set(`snapshot${s.index}.parent`, parent);
      else vmsd.delete(`snapshot${s.index}.parent`);
    }
    if (vmsd.get('snapshot.current') === String(entry.uid)) {
      if (parent) vmsd.set('snapshot.current', parent);
      else vmsd.delete('snapshot.current');
    }
    vmsd.set('snapshot.numSnapshots', String(snapshotsIn(vmsd).length));
    await writeFile(vmsdPath(vmx), vmsd.toString());
    await rm(path.join(folder, entry.filename), { force: true });
    await rm(path.join(folder, entry.filename.replace(/\.vmsn$/, '.vmem')), { force: true });
  }
}
