import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyNode, type ApplyContext } from '../../src/bringup/apply.js';
import { checkHostOnlyDhcpRange, PreflightError } from '../../src/bringup/preflight.js';
import { dhcpSubnetBlocks, vmnetDhcpConfigFile } from '../../src/workstation/vmnet-dhcp.js';
import { writeVmnetDhcpConf } from '../../simulators/workstation-preferences.js';
import { labSpec } from '../cloudinit/fixtures.js';
import type { Vmnet } from '../../src/vmrest/client.js';
import { BuildStateStore, readBuildState } from '../../src/bringup/state.js';
import { BAKE_ISO_FILE } from '../../src/template/golden.js';
import { templateVmxPath } from '../../src/template/state.js';
import { SEED_CDROM } from '../../src/template/vmx.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { startTestLab, type TestLab } from './lab.js';

let lab: TestLab | undefined;
afterEach(async () => {
  await lab?.dispose();
  lab = undefined;
});

async function preflightError(l: TestLab): Promise<PreflightError> {
  const error = await l.build().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PreflightError);
  return error as PreflightError;
}

function nothingCreated(l: TestLab): void {
  expect(l.nodeVms()).toEqual([]);
  expect(l.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  for (const n of l.spec.nodes) expect(existsSync(path.join(l.clonesFolder, n.name))).toBe(false);
}

describe('preflight', () => {
  it('reports a wrong vmnet subnet and a missing template together, with the exact fix, and creates nothing', async () => {
    lab = await startTestLab({
      noTemplate: true,
      vmnets: [
        { name: 'vmnet1', type: 'hostOnly', dhcp: 'true', subnet: '192.168.80.0', mask: '255.255.255.0' },
        { name: 'vmnet8', type: 'nat', dhcp: 'true', subnet: '192.168.5.0', mask: '255.255.255.0' },
      ],
    });
    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.code)).toEqual(['VMNET_MISMATCH', 'TEMPLATE_NOT_BUILT']);
    const vmnet = error.problems[0]!;
    expect(vmnet.message).toBe(
      'vmnet1 is hostOnly on 192.168.80.0/255.255.255.0, but networks.hostOnly in cluster.yaml needs host-only on 172.100.100.0/255.255.255.0',
    );
    expect(vmnet.fix).toContain('Virtual Network Editor');
    expect(vmnet.fix).toContain('\n        .\\vnetlib64.exe -- set vnet vmnet1 addr 172.100.100.0\n');
    expect(vmnet.fix).toContain('\n        .\\vnetlib64.exe -- set vnet vmnet1 mask 255.255.255.0\n');
    expect(error.problems[1]!.message).toContain(
      `The template VM ${lab.spec.vmware.template.name} has not been built`,
    );
    expect(error.problems[1]!.fix).toContain('.\\kubestation build-template');
    expect(error.message).toContain('nothing was created or changed');
    nothingCreated(lab);
  });

  it('reports a template that is powered on, together with the other problems', async () => {
    lab = await startTestLab({
      vmnets: [{ name: 'vmnet8', type: 'nat', dhcp: 'true', subnet: '192.168.5.0', mask: '255.255.255.0' }],
    });
    const template = lab.vmrest.vms()[0]!;
    await lab.client.setPowerState(template.id, 'on');
    lab.requests.length = 0;
    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.code)).toEqual(['VMNET_MISSING', 'TEMPLATE_NOT_POWERED_OFF']);
    expect(error.problems[1]!.message).toBe(
      `The template VM ${lab.spec.vmware.template.name} is poweredOn; Workstation clones only powered-off VMs.`,
    );
    expect(error.problems[1]!.fix).toContain(`Shut down ${lab.spec.vmware.template.name}`);
    nothingCreated(lab);
  });

  it('refuses a template whose golden bake was interrupted (bake ISO still attached)', async () => {
    lab = await startTestLab();
    const vmxPath = templateVmxPath(lab.spec);
    const vmx = VmxFile.parse(await readFile(vmxPath, 'utf8'));
    vmx.set(`${SEED_CDROM}.fileName`, path.join(path.dirname(vmxPath), BAKE_ISO_FILE));
    await writeFile(vmxPath, vmx.toString());
    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.code)).toEqual(['TEMPLATE_BAKE_INTERRUPTED']);
    expect(error.problems[0]!.message).toContain('a bake was interrupted');
    expect(error.problems[0]!.fix).toContain('.\\kubestation build-template');
    expect(error.message).toContain('nothing was created or changed');
    nothingCreated(lab);
  });

  it('reports a NAT network of the wrong type', async () => {
    lab = await startTestLab({
      vmnets: [
        { name: 'vmnet1', type: 'hostOnly', dhcp: 'true', subnet: '172.100.100.0', mask: '255.255.255.0' },
        { name: 'vmnet8', type: 'hostOnly', dhcp: 'true', subnet: '192.168.5.0', mask: '255.255.255.0' },
      ],
    });
    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.message)).toEqual([
      'vmnet8 is hostOnly on 192.168.5.0/255.255.255.0, but networks.nat in cluster.yaml needs NAT on 192.168.5.0/255.255.255.0',
    ]);
    expect(error.problems[0]!.fix).toContain('update nat vmnet8');
    nothingCreated(lab);
  });

  it('refuses a foreign VM using a node name, and a stray folder where a clone would land', async () => {
    lab = await startTestLab();
    // A VM the user made by hand, named like a node, in the library.
    const foreign = path.join(lab.dir, 'elsewhere', 'k8s-worker1', 'k8s-worker1.vmx');
    await mkdir(path.dirname(foreign), { recursive: true });
    await writeFile(foreign, '.encoding = "UTF-8"\ndisplayName = "k8s-worker1"\n');
    await lab.client.registerVm({ name: 'k8s-worker1', path: foreign });
    // Another kubestation cluster's VM named like the control plane.
    const other = path.join(lab.dir, 'other', 'k8s-master', 'k8s-master.vmx');
    await mkdir(path.dirname(other), { recursive: true });
    await writeFile(
      other,
      '.encoding = "UTF-8"\nkubestation.cluster = "other-lab"\nkubestation.node = "k8s-master"\n',
    );
    await lab.client.registerVm({ name: 'k8s-master', path: other });
    // A leftover folder (no VM) where worker2's clone would go.
    await mkdir(path.join(lab.clonesFolder, 'k8s-worker2'), { recursive: true });
    lab.requests.length = 0;

    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.code)).toEqual(['VM_NAME_TAKEN', 'VM_NAME_TAKEN', 'VM_FOLDER_TAKEN']);
    expect(error.problems[0]!.message).toContain('belongs to kubestation cluster "other-lab"');
    expect(error.problems[1]!.message).toContain(
      `${foreign} already uses that name and belongs to no kubestation marker`,
    );
    expect(lab.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(lab.vmrest.vms()).toHaveLength(3); // template + the two foreign VMs, untouched
  });

  it("after a completed build, a user's own unmarked VM with a node's name is foreign: reported, never changed or adopted", async () => {
    lab = await startTestLab();
    expect((await lab.build()).status).toBe('ready');
    const state = await readBuildState(lab.spec.stateDir, lab.spec.name);
    for (const n of lab.spec.nodes) expect(state.nodes[n.name]?.cloneStartedAt).toBeUndefined();
    // The user deletes our worker VM and makes their own with the same name, in the same folder.
    const ours = lab.nodeVms().find((vm) => path.basename(vm.vmxPath) === 'k8s-worker1.vmx')!;
    await lab.client.setPowerState(ours.id, 'off');
    await lab.client.deleteVm(ours.id);
    await mkdir(path.dirname(ours.vmxPath), { recursive: true });
    const userVmx = '.encoding = "UTF-8"\ndisplayName = "k8s-worker1"\nmemsize = "1024"\n';
    await writeFile(ours.vmxPath, userVmx);
    await lab.client.registerVm({ name: 'k8s-worker1', path: ours.vmxPath });
    const userVm = lab.nodeVms().find((vm) => vm.vmxPath === ours.vmxPath)!;
    lab.requests.length = 0;

    const error = await preflightError(lab);
    expect(error.problems.map((p) => p.code)).toEqual(['VM_NAME_TAKEN']);
    expect(error.problems[0]!.message).toBe(
      `node "k8s-worker1": the VM ${ours.vmxPath} already uses that name and belongs to no kubestation marker (not created by kubestation)`,
    );
    expect(lab.requests.filter((r) => r.method !== 'GET')).toEqual([]);

    // Apply on its own (no preflight) refuses it too: the clone step does not adopt it.
    const store = await BuildStateStore.open(lab.spec.stateDir, lab.spec.name);
    const template = lab.vmrest
      .vms()
      .find((vm) => path.basename(vm.vmxPath) === `${lab!.spec.vmware.template.name}.vmx`)!;
    const ctx: ApplyContext = {
      ...lab.deps(),
      spec: lab.spec,
      store,
      templateId: template.id,
      signal: new AbortController().signal,
    };
    const worker = lab.spec.nodes.find((n) => n.name === 'k8s-worker1')!;
    const refused = await applyNode(ctx, worker, ['clone']).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'VM_NAME_TAKEN' });
    expect(await readFile(ours.vmxPath, 'utf8')).toBe(userVmx);
    expect(lab.vmrest.vms().find((vm) => vm.id === userVm.id)?.power).toBe('poweredOff');
    expect(lab.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('reports too little disk space for the clones', async () => {
    lab = await startTestLab();
    const error = await lab.build({}, { freeBytes: async () => 10 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    expect((error as PreflightError).problems.map((p) => p.code)).toEqual(['DISK_SPACE']);
    nothingCreated(lab);
  });

  it('reports vmrest not running and wrong credentials', async () => {
    lab = await startTestLab();
    const wrong = lab.newClient({
      credentials: new (await import('../../src/vmrest/credentials.js')).VmrestCredentials(
        'nobody',
        'Wrong-pass1!',
      ),
    });
    const auth = (await lab.build({}, { vmrest: wrong }).catch((e: unknown) => e)) as PreflightError;
    expect(auth.problems.map((p) => p.code)).toEqual(['VMREST_AUTH']);
    await lab.vmrest.close();
    const down = (await lab.build().catch((e: unknown) => e)) as PreflightError;
    expect(down.problems.map((p) => p.code)).toEqual(['VMREST_NOT_RUNNING']);
    expect(down.problems[0]!.fix).toContain('vmrest.exe');
  });

  it("refuses a host-only DHCP range the host's vmnetdhcp.conf contradicts, naming both, and creates nothing", async () => {
    lab = await startTestLab();
    const file = path.join(path.dirname(lab.clonesFolder), 'changed', 'vmnetdhcp.conf');
    await writeVmnetDhcpConf(file, [
      { ...lab.spec.networks.hostOnly, dhcpRange: { start: '172.100.100.100', end: '172.100.100.254' } },
    ]);
    const error = await lab.build({}, { vmnetDhcpConfig: file }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreflightError);
    const [problem, ...rest] = (error as PreflightError).problems;
    expect(rest).toEqual([]);
    expect(problem).toEqual({
      code: 'HOST_DHCP_RANGE_MISMATCH',
      message: `vmnet1's DHCP service hands out 172.100.100.100–172.100.100.254 (${file}), but networks.hostOnly.dhcpRange in cluster.yaml says 172.100.100.128–172.100.100.254: the LoadBalancer pool and the node addresses were checked against a range the host does not use`,
      fix: expect.stringContaining(
        'set networks.hostOnly.dhcpRange to start: 172.100.100.100, end: 172.100.100.254 in cluster.yaml',
      ),
    });
    expect(problem!.fix).toContain('Virtual Network Editor');
    nothingCreated(lab);
  });

  it('says the DHCP range was not compared when the host does not tell (no file), and compares it when it does', async () => {
    lab = await startTestLab();
    const warnings = () =>
      lab!.events.flatMap((e) => (e.type === 'warning' && /DHCP range/.test(e.message) ? [e.message] : []));
    await lab.build({ dryRun: true });
    expect(warnings()).toEqual([]); // the simulated host's vmnetdhcp.conf holds the declared range
    const missing = path.join(path.dirname(lab.clonesFolder), 'no-such', 'vmnetdhcp.conf');
    await lab.build({ dryRun: true }, { vmnetDhcpConfig: missing });
    expect(warnings()).toEqual([
      `vmnet1's DHCP range was not compared with the host's: ${missing} could not be read (ENOENT). cluster.yaml's networks.hostOnly.dhcpRange 172.100.100.128–172.100.100.254 is taken as it is (validate kept the LoadBalancer pool and the node addresses out of it); check it in Workstation's Virtual Network Editor (VMnet1 > DHCP Settings)`,
    ]);
  });
});

describe("Workstation's DHCP settings file", () => {
  // As Workstation 17 writes C:\ProgramData\VMware\vmnetdhcp.conf (CRLF), VMnet1's range moved by the user.
  const sample = [
    '# Configuration file for VMware port of ISC 2.0 release running on',
    '# Windows.',
    'allow unknown-clients;',
    'default-lease-time 1800;                # default is 30 minutes',
    'max-lease-time 7200;                    # default is 2 hours',
    '',
    '# Virtual ethernet segment 1',
    '# Added at 09/11/25 10:01:30',
    'subnet 172.100.100.0 netmask 255.255.255.0 {',
    "range 172.100.100.150 172.100.100.200;            # default allows up to 125 VM's",
    'option broadcast-address 172.100.100.255;',
    'option domain-name-servers 172.100.100.1;',
    'option domain-name "localdomain";',
    '}',
    'host VMnet1 {',
    '    hardware ethernet 00:50:56:C0:00:01;',
    '    fixed-address 172.100.100.1;',
    '}',
    '# Virtual ethernet segment 8',
    'subnet 192.168.5.0 netmask 255.255.255.0 {',
    '# range 192.168.5.10 192.168.5.20; (commented out)',
    'range 192.168.5.128 192.168.5.254;',
    '}',
    '# End',
  ].join('\r\n');

  it('gives each subnet block its range, ignoring comments', () => {
    expect(dhcpSubnetBlocks(sample)).toEqual([
      {
        network: '172.100.100.0',
        netmask: '255.255.255.0',
        range: { start: '172.100.100.150', end: '172.100.100.200' },
      },
      {
        network: '192.168.5.0',
        netmask: '255.255.255.0',
        range: { start: '192.168.5.128', end: '192.168.5.254' },
      },
    ]);
  });

  it('is found under ProgramData on Windows and per vmnet on Linux', () => {
    expect(vmnetDhcpConfigFile({ ProgramData: 'C:\\ProgramData' }, 'win32', 'vmnet1')).toBe(
      'C:\\ProgramData\\VMware\\vmnetdhcp.conf',
    );
    expect(vmnetDhcpConfigFile({}, 'win32', 'vmnet1')).toBeUndefined();
    expect(vmnetDhcpConfigFile({}, 'linux', 'vmnet1')).toBe('/etc/vmware/vmnet1/dhcpd/dhcpd.conf');
  });

  it('compares the range cluster.yaml declares, and skips a network vmrest reports without DHCP', async () => {
    const spec = labSpec();
    const read = async () => sample;
    expect(
      (await checkHostOnlyDhcpRange(spec, 'vmnetdhcp.conf', undefined, read)).problem?.message,
    ).toContain('hands out 172.100.100.150–172.100.100.200');
    const noDhcp: Vmnet[] = [
      { name: 'vmnet1', type: 'hostOnly', dhcp: 'false', subnet: '172.100.100.0', mask: '255.255.255.0' },
    ];
    expect(await checkHostOnlyDhcpRange(spec, 'vmnetdhcp.conf', noDhcp, read)).toEqual({});
    expect((await checkHostOnlyDhcpRange(spec, undefined, undefined, read)).warning).toContain(
      'the environment names no ProgramData folder',
    );
  });
});
