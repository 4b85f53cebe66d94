import { existsSync } from 'node:fs';
import { readFile, writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sameHostPath } from '../../src/vmrest/host-paths.js';
import {
  VmrestAuthError,
  VmrestDeadlineError,
  VmrestForbiddenError,
  VmrestNotRunningError,
  VmrestPowerStateConflictError,
  VmrestRequestError,
  VmrestVmNotFoundError,
} from '../../src/vmrest/errors.js';
import { VmrestClient } from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import type { SimulatedGuest } from '../../simulators/vmrest-simulator.js';
import { type Harness, harnessPerTest } from './harness.js';

const startHarness = harnessPerTest();
// The current test's harness.
let h = undefined as unknown as Harness;

async function vmxOf(vmxPath: string): Promise<VmxFile> {
  return VmxFile.parse(await readFile(vmxPath, 'utf8'));
}

async function cloneMaster(): Promise<{ id: string; vmxPath: string }> {
  const info = await h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
  return { id: info.id, vmxPath: path.join(h.vmFolder, 'k8s-master', 'k8s-master.vmx') };
}

describe('VMs: list, find, clone, register, update, delete', () => {
  it('lists the registered template and finds it by name and by .vmx path', async () => {
    h = await startHarness();
    const vms = await h.client.listVms();
    expect(vms).toEqual([{ id: h.templateId, path: h.templatePath }]);
    expect((await h.client.findVm({ name: 'UBUNTU-2404-template' }))?.id).toBe(h.templateId);
    expect((await h.client.findVm({ vmxPath: h.templatePath }))?.id).toBe(h.templateId);
    expect(await h.client.findVm({ name: 'k8s-master' })).toBeUndefined();
  });

  it('compares Windows .vmx paths case-insensitively and with either slash', () => {
    expect(
      sameHostPath(
        'C:\\Users\\Kim\\Documents\\Virtual Machines\\k8s-master\\k8s-master.vmx',
        'c:/users/kim/documents/virtual machines/K8S-MASTER/k8s-master.vmx',
      ),
    ).toBe(true);
    expect(sameHostPath('C:\\VMs\\a\\a.vmx', 'C:\\VMs\\b\\a.vmx')).toBe(false);
    expect(sameHostPath('/tmp/A/a.vmx', '/tmp/a/a.vmx')).toBe(false);
  });

  it('clones into <default VM folder>/<name>/<name>.vmx with a new identity and no generated MAC', async () => {
    h = await startHarness();
    const info = await h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
    expect(info).toMatchObject({ cpu: { processors: 2 }, memory: 2048 });
    const vmxPath = path.join(h.vmFolder, 'k8s-master', 'k8s-master.vmx');
    const vmx = await vmxOf(vmxPath);
    expect(vmx.get('displayName')).toBe('k8s-master');
    expect(vmx.get('uuid.bios')).not.toBe('56 4d 00 11 22 33 44 55-66 77 88 99 aa bb cc dd');
    expect(vmx.has('ethernet0.generatedAddress')).toBe(false);
    expect(vmx.get('ethernet0.pciSlotNumber')).toBe('33');
    expect(existsSync(path.join(h.vmFolder, 'k8s-master', 'ubuntu-2404-template.vmdk'))).toBe(true);
    expect(existsSync(path.join(h.vmFolder, 'k8s-master', 'ubuntu-2404-template.vmx'))).toBe(false);
    expect((await h.client.findVm({ name: 'k8s-master' }))?.path).toBe(vmxPath);
  });

  it('refuses a clone from an unknown parent (404), a running parent (409) and an existing folder (409)', async () => {
    h = await startHarness();
    await expect(h.client.cloneVm({ name: 'x', parentId: 'NOPE' })).rejects.toBeInstanceOf(
      VmrestVmNotFoundError,
    );
    await cloneMaster();
    await expect(h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId })).rejects.toThrow(
      /already exists/,
    );
    await h.client.setPowerState(h.templateId, 'on');
    const error = await h.client
      .cloneVm({ name: 'k8s-worker1', parentId: h.templateId })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestPowerStateConflictError);
    expect((error as Error).message).toMatch(/ubuntu-2404-template.*poweredOn/);
  });

  it('registers a .vmx and refuses a path that does not exist', async () => {
    h = await startHarness();
    const { vmxPath, id } = await cloneMaster();
    const registered = await h.client.registerVm({ name: 'k8s-master', path: vmxPath });
    expect(registered).toEqual({ id, path: vmxPath });
    const missing = path.join(h.dir, 'none', 'none.vmx');
    await expect(h.client.registerVm({ name: 'none', path: missing })).rejects.toThrow(/404.*not found/);
  });

  it('sets CPUs and memory in the .vmx, refuses while powered on (409 names the state) and bad memory (400)', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    expect(await h.client.updateVm(id, { processors: 4, memory: 4096 })).toEqual({
      id,
      cpu: { processors: 4 },
      memory: 4096,
    });
    expect((await vmxOf(vmxPath)).get('numvcpus')).toBe('4');
    expect(await h.client.getVm(id)).toEqual({ id, cpu: { processors: 4 }, memory: 4096 });
    await expect(h.client.updateVm(id, { memory: 4097 })).rejects.toThrow(/invalid: memory/);
    await h.client.setPowerState(id, 'on');
    const conflict = await h.client.updateVm(id, { processors: 2 }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(VmrestPowerStateConflictError);
    expect((conflict as VmrestPowerStateConflictError).powerState).toBe('poweredOn');
    expect((conflict as Error).message).toMatch(/k8s-master.*is poweredOn.*409/);
  });

  it('reads and writes .vmx keys through /params (powered off only)', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    await h.client.setParam(id, 'guestinfo.kubestation.node', 'k8s-master');
    expect(await h.client.getParam(id, 'guestinfo.kubestation.node')).toBe('k8s-master');
    expect((await vmxOf(vmxPath)).get('guestinfo.kubestation.node')).toBe('k8s-master');
    expect(await h.client.getParam(id, 'memsize')).toBe('2048');
    await h.client.setPowerState(id, 'on');
    await expect(h.client.setParam(id, 'memsize', '1024')).rejects.toBeInstanceOf(
      VmrestPowerStateConflictError,
    );
  });

  it('applies concurrent .vmx changes to one VM one at a time (none lost)', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.client.setParam(id, `guestinfo.k${i}`, String(i))),
    );
    const vmx = await vmxOf(vmxPath);
    expect(Array.from({ length: 12 }, (_, i) => vmx.get(`guestinfo.k${i}`))).toEqual(
      Array.from({ length: 12 }, (_, i) => String(i)),
    );
  });

  it('deletes a powered-off VM with its files; refuses while on; 404 names the VM', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    await h.client.listVms();
    await h.client.setPowerState(id, 'on');
    await expect(h.client.deleteVm(id)).rejects.toBeInstanceOf(VmrestPowerStateConflictError);
    await h.client.setPowerState(id, 'off');
    await h.client.deleteVm(id);
    expect(existsSync(path.dirname(vmxPath))).toBe(false);
    const gone = await h.client.getVm(id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(VmrestVmNotFoundError);
    expect((gone as Error).message).toContain(id);
  });
});

describe('NICs', () => {
  it('lists, adds (custom + vmnet, MAC empty until power-on), updates and deletes adapters', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    expect(await h.client.listNics(id)).toEqual([{ index: 1, type: 'nat', vmnet: 'vmnet8', macAddress: '' }]);
    const added = await h.client.addNic(id, { type: 'custom', vmnet: 'vmnet1' });
    expect(added).toEqual({ index: 2, type: 'custom', vmnet: 'vmnet1', macAddress: '' });
    expect((await vmxOf(vmxPath)).get('ethernet1.vnet')).toBe('VMnet1');
    expect(await h.client.updateNic(id, 1, { type: 'custom', vmnet: 'vmnet8' })).toMatchObject({
      index: 1,
      type: 'custom',
      vmnet: 'vmnet8',
    });
    await h.client.setPowerState(id, 'on');
    const nics = await h.client.listNics(id);
    expect(nics.map((n) => n.macAddress)).toEqual([
      expect.stringMatching(/^00:0c:29(:[0-9a-f]{2}){3}$/),
      expect.stringMatching(/^00:0c:29/),
    ]);
    await expect(h.client.deleteNic(id, 2)).rejects.toBeInstanceOf(VmrestPowerStateConflictError);
    await expect(h.client.addNic(id, { type: 'custom', vmnet: 'vmnet1' })).rejects.toBeInstanceOf(
      VmrestPowerStateConflictError,
    );
    await expect(h.client.updateNic(id, 2, { type: 'custom', vmnet: 'vmnet8' })).rejects.toBeInstanceOf(
      VmrestPowerStateConflictError,
    );
    await h.client.setPowerState(id, 'off');
    await h.client.deleteNic(id, 2);
    expect((await h.client.listNics(id)).map((n) => n.index)).toEqual([1]);
    expect((await vmxOf(vmxPath)).has('ethernet1.present')).toBe(false);
  });

  it('rejects nat/hostonly together with a vmnet (code 121), an unknown vmnet and an unknown index', async () => {
    h = await startHarness();
    const { id } = await cloneMaster();
    const redundant = await h.client
      .addNic(id, { type: 'hostonly', vmnet: 'vmnet1' })
      .catch((e: unknown) => e);
    expect(redundant).toBeInstanceOf(VmrestRequestError);
    expect(redundant).toMatchObject({ vmrestCode: 121, status: 400 });
    await expect(h.client.addNic(id, { type: 'custom', vmnet: 'vmnet42' })).rejects.toThrow(/invalid: vmnet/);
    await expect(h.client.updateNic(id, 7, { type: 'custom', vmnet: 'vmnet8' })).rejects.toThrow(
      /NIC 7 of VM/,
    );
  });
});

describe('power and guest', () => {
  it('follows the power state machine and rejects a body that is not the bare word', async () => {
    h = await startHarness({ checkRequests: false });
    const { id } = await cloneMaster();
    expect(await h.client.getPowerState(id)).toBe('poweredOff');
    expect(await h.client.setPowerState(id, 'on')).toBe('poweredOn');
    expect(await h.client.setPowerState(id, 'pause')).toBe('paused');
    await expect(h.client.setPowerState(id, 'suspend')).rejects.toBeInstanceOf(VmrestPowerStateConflictError);
    expect(await h.client.setPowerState(id, 'unpause')).toBe('poweredOn');
    expect(await h.client.setPowerState(id, 'suspend')).toBe('suspended');
    expect(await h.client.setPowerState(id, 'on')).toBe('poweredOn');
    expect(await h.client.setPowerState(id, 'off')).toBe('poweredOff');
    for (const body of ['"on"', '{"operation":"on"}', 'on\n', 'start']) {
      const res = await fetch(`${h.sim.url}/vms/${id}/power`, {
        method: 'PUT',
        headers: {
          authorization: new VmrestCredentials('kube-admin', 'Zq8#vL2!pR9x').authorizationHeader(),
          accept: 'application/vnd.vmware.vmw.rest-v1+json',
          'content-type': 'application/vnd.vmware.vmw.rest-v1+json',
        },
        body,
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        Code: 100,
        Message: 'One of the parameters was invalid: operation',
      });
    }
  });

  it('answers code 106 for the IP until the guest booted, then reports addresses (DHCP reservation respected)', async () => {
    h = await startHarness({ sim: { bootDelayMs: 150 } });
    const { id } = await cloneMaster();
    await h.client.addNic(id, { type: 'custom', vmnet: 'vmnet1' });
    await h.client.setPowerState(id, 'on');
    const macs = (await h.client.listNics(id)).map((n) => n.macAddress);
    await h.client.setMacToIp('vmnet1', macs[1]!, '172.100.100.2');
    const ip = await h.client.getIp(id, { timeoutMs: 3_000, intervalMs: 20 });
    expect(ip).toBe('192.168.5.101');
    expect(h.clientLog.some((e) => e.operation === 'getIp' && e.status === 500)).toBe(true);
    expect(await h.client.getNicIps(id, { timeoutMs: 1_000 })).toEqual([
      { mac: macs[0], ip: ['192.168.5.101/24'] },
      { mac: macs[1], ip: ['172.100.100.2/24'] },
    ]);
  });

  it('gives up polling for an IP at the deadline with a clear error', async () => {
    h = await startHarness();
    const { id } = await cloneMaster();
    const error = await h.client.getIp(id, { timeoutMs: 200, intervalMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestDeadlineError);
    expect((error as Error).message).toMatch(/no IP address within 200 ms/);
  });

  it('runs the guest hook at boot: serial lines land in serial0.fileName and the guest powers itself off', async () => {
    const booted: string[] = [];
    h = await startHarness({
      sim: {
        onGuestBoot: async (guest: SimulatedGuest) => {
          booted.push(guest.name);
          await guest.writeSerial('kubestation: kubeadm init done\n');
          guest.powerOff();
        },
      },
    });
    const { id, vmxPath } = await cloneMaster();
    await h.client.setParam(id, 'serial0.present', 'TRUE');
    await h.client.setParam(id, 'serial0.fileType', 'file');
    await h.client.setParam(id, 'serial0.fileName', 'serial.log');
    await h.client.setPowerState(id, 'on');
    await h.client.waitForPowerState(id, 'poweredOff', { timeoutMs: 3_000, intervalMs: 10 });
    expect(booted).toEqual(['k8s-master']);
    expect(await readFile(path.join(path.dirname(vmxPath), 'serial.log'), 'utf8')).toBe(
      'kubestation: kubeadm init done\n',
    );
  });

  it('hangs on the serial-file question when the file exists and msg.autoAnswer is not TRUE', async () => {
    let boots = 0;
    h = await startHarness({ sim: { onGuestBoot: () => void boots++ } });
    const { id, vmxPath } = await cloneMaster();
    for (const [k, v] of [
      ['serial0.present', 'TRUE'],
      ['serial0.fileType', 'file'],
      ['serial0.fileName', 'serial.log'],
    ] as const)
      await h.client.setParam(id, k, v);
    await writeFile(path.join(path.dirname(vmxPath), 'serial.log'), 'old run\n');
    expect(await h.client.setPowerState(id, 'on')).toBe('poweredOn');
    const stuck = await h.client.getIp(id, { timeoutMs: 250, intervalMs: 20 }).catch((e: unknown) => e);
    expect(stuck).toBeInstanceOf(VmrestDeadlineError);
    expect((stuck as VmrestDeadlineError).fix).toMatch(/question dialog/);
    expect(h.sim.pendingQuestion(id)).toMatch(/already exists.*replace it or append/);
    expect(boots).toBe(0);
    await h.client.setPowerState(id, 'off');
    await h.client.setParam(id, 'msg.autoAnswer', 'TRUE');
    await h.client.setPowerState(id, 'on');
    expect(await h.client.getIp(id, { timeoutMs: 2_000, intervalMs: 10 })).toMatch(/^192\.168\.5\./);
    expect(boots).toBe(1);
  });

  it('fails power-on like Workstation when the disk or a connected ISO is missing', async () => {
    h = await startHarness();
    const { id, vmxPath } = await cloneMaster();
    await h.client.setParam(id, 'sata0.present', 'TRUE');
    await h.client.setParam(id, 'sata0:1.present', 'TRUE');
    await h.client.setParam(id, 'sata0:1.deviceType', 'cdrom-image');
    await h.client.setParam(id, 'sata0:1.fileName', 'seed.iso');
    const iso = await h.client.setPowerState(id, 'on').catch((e: unknown) => e);
    expect(iso).toBeInstanceOf(VmrestRequestError);
    expect((iso as Error).message).toMatch(/sata0:1.*seed\.iso/);
    expect(await h.client.getPowerState(id)).toBe('poweredOff');
    await writeFile(path.join(path.dirname(vmxPath), 'seed.iso'), 'iso');
    await rm(path.join(path.dirname(vmxPath), 'ubuntu-2404-template.vmdk'));
    await expect(h.client.setPowerState(id, 'on')).rejects.toThrow(
      /Cannot open the disk '.*ubuntu-2404-template\.vmdk'/,
    );
  });
});

describe('host networks, auth, media type, not running', () => {
  it('lists vmnets and writes MAC-to-IP reservations; non-Administrator vmrest → 403 with the fix', async () => {
    h = await startHarness({ sim: { administrator: false } });
    const nets = await h.client.listVmnets();
    expect(nets.find((n) => n.name === 'vmnet8')).toEqual({
      name: 'vmnet8',
      type: 'nat',
      dhcp: 'true',
      subnet: '192.168.5.0',
      mask: '255.255.255.0',
    });
    const error = await h.client
      .setMacToIp('vmnet8', '00:50:56:00:00:11', '192.168.5.11')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestForbiddenError);
    expect((error as VmrestForbiddenError).fix).toMatch(/Administrator/);
  });

  it('stores reservations and rejects an address outside the vmnet', async () => {
    h = await startHarness();
    await h.client.setMacToIp('vmnet8', '00:50:56:00:00:11', '192.168.5.11');
    expect(h.sim.macToIp('vmnet8')).toEqual({ '00:50:56:00:00:11': '192.168.5.11' });
    await expect(h.client.setMacToIp('vmnet8', '00:50:56:00:00:12', '172.100.100.3')).rejects.toThrow(
      /invalid: IP/,
    );
    await h.client.setMacToIp('vmnet8', '00:50:56:00:00:11', '');
    expect(h.sim.macToIp('vmnet8')).toEqual({});
  });

  it('maps 401 to a credentials error that says vmrest -C', async () => {
    h = await startHarness();
    const wrong = h.makeClient({ credentials: new VmrestCredentials('kube-admin', 'Wrong#Pass1') });
    const error = await wrong.listVms().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestAuthError);
    expect((error as VmrestAuthError).fix).toMatch(/vmrest\.exe -C/);
    expect(h.sim.requestLog.at(-1)?.status).toBe(401);
  });

  it('enforces the vendor media type: 406 for another Accept or Content-Type, 415 without Content-Type', async () => {
    h = await startHarness({ checkRequests: false });
    const auth = new VmrestCredentials('kube-admin', 'Zq8#vL2!pR9x').authorizationHeader();
    expect(
      (await fetch(`${h.sim.url}/vms`, { headers: { authorization: auth, accept: 'application/json' } }))
        .status,
    ).toBe(406);
    const put = (headers: Record<string, string>) =>
      fetch(`${h.sim.url}/vms/${h.templateId}`, {
        method: 'PUT',
        headers: { authorization: auth, accept: 'application/vnd.vmware.vmw.rest-v1+json', ...headers },
        body: new TextEncoder().encode('{"processors":2}'),
      });
    expect((await put({ 'content-type': 'application/json' })).status).toBe(406);
    expect((await put({})).status).toBe(415);
    expect((await put({ 'content-type': 'application/vnd.vmware.vmw.rest-v1+json' })).status).toBe(200);
  });

  it('says vmrest is not running (and how to start it) when the port refuses connections', async () => {
    h = await startHarness();
    const port = h.sim.port;
    await h.sim.close();
    const client = new VmrestClient({
      baseUrl: `http://127.0.0.1:${port}/api`,
      credentials: new VmrestCredentials('kube-admin', 'Zq8#vL2!pR9x'),
      retry: { attempts: 1 },
    });
    const error = await client.listVms().catch((e: unknown) => e);
    await client.close();
    expect(error).toBeInstanceOf(VmrestNotRunningError);
    expect((error as VmrestNotRunningError).fix).toMatch(/vmrest\.exe.*-C/);
  });

  it('models clone and power-on latencies; a clone in progress is not listed yet', async () => {
    h = await startHarness({ sim: { latencies: { cloneMs: 300, powerOnMs: 150 } } });
    const started = Date.now();
    const cloning = h.client.cloneVm({ name: 'k8s-master', parentId: h.templateId });
    await new Promise((r) => setTimeout(r, 100));
    expect(await h.client.findVm({ name: 'k8s-master' })).toBeUndefined();
    const { id } = await cloning;
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const powering = Date.now();
    await h.client.setPowerState(id, 'on');
    expect(Date.now() - powering).toBeGreaterThanOrEqual(150);
  });

  it('reports each exchange to the request-log hook in call order', async () => {
    h = await startHarness();
    const { id } = await cloneMaster();
    await h.client.setPowerState(id, 'on');
    expect(h.clientLog.map((e) => `${e.method} ${e.operation} ${e.status}`)).toEqual([
      'POST cloneVm 201',
      'PUT setPowerState 200',
    ]);
    expect(h.clientLog[1]!.path).toBe(`/vms/${id}/power`);
  });
});
