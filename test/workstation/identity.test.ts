/**
 * Which Workstation this is: the version from the registry (Windows) or
 * `vmware -v` (Linux), the edition from the files (a free Pro install has no
 * license file), vmrun's version from its usage text, and doctor's verdict
 * against the releases kubestation knows. The last test runs the real probe
 * against the vmrun and vmware stand-ins.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/day2/doctor.js';
import {
  assessWorkstation,
  detectWorkstationIdentity,
  parseRegQueryValue,
  parseVmrunVersion,
  type WorkstationIdentity,
  type WorkstationProbe,
} from '../../src/workstation/identity.js';
import { hostWorkstationProbe } from '../../src/workstation/host-probe.js';
import {
  SIMULATED_VMRUN_VERSION,
  SIMULATED_WORKSTATION_VERSION,
  VmrunSimulator,
} from '../../simulators/vmrun-simulator.js';
import { startDay2Lab, type Day2Lab } from '../day2/lab.js';

const regOutput = (version: string) =>
  `\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMware Workstation\r\n    ProductVersion    REG_SZ    ${version}\r\n\r\n`;
const folder = 'C:\\Program Files (x86)\\VMware\\VMware Workstation';

function windowsProbe(
  files: string[],
  registry: Record<string, string>,
): WorkstationProbe & { runs: string[][] } {
  const runs: string[][] = [];
  return {
    runs,
    platform: 'win32',
    env: { SystemRoot: 'C:\\Windows' },
    installFolder: folder,
    exists: (file) => files.includes(path.win32.basename(file)),
    async run(file, args) {
      runs.push([file, ...args]);
      if (file.endsWith('reg.exe')) {
        const version = registry[args[1]!];
        return version ? { exitCode: 0, stdout: regOutput(version) } : { exitCode: 1, stdout: '' }; // reg.exe: "ERROR: The system was unable to find the specified registry key or value."
      }
      if (file.endsWith('vmrun.exe'))
        return { exitCode: 255, stdout: '\r\nvmrun version 1.17.0 build-24583834\r\n\r\nUsage: ...' };
      return { exitCode: undefined, stdout: '' };
    },
  };
}

const identity = (over: Partial<WorkstationIdentity>): WorkstationIdentity => ({
  version: '17.6.3',
  versionSource: 'test',
  edition: 'Workstation Pro',
  editionSource: 'test',
  vmrunVersion: '1.17.0',
  ...over,
});

describe('Workstation identity', () => {
  it('parses reg.exe and vmrun output', () => {
    expect(parseRegQueryValue(regOutput('17.6.3'), 'ProductVersion')).toBe('17.6.3');
    expect(parseRegQueryValue('\r\nHKEY_LOCAL_MACHINE\\X\r\n', 'ProductVersion')).toBeUndefined();
    expect(parseVmrunVersion('\nvmrun version 1.17.0 build-24583834\n')).toBe('1.17.0');
  });

  it('Windows: the version from the 32-bit registry view, else the 64-bit one; Pro from vmware.exe, with no license file involved', async () => {
    const probe = windowsProbe(['vmware.exe', 'vmplayer.exe', 'vmrun.exe'], {
      'HKLM\\SOFTWARE\\VMware, Inc.\\VMware Workstation': '17.6.3',
    });
    const found = await detectWorkstationIdentity(probe);
    expect(found).toMatchObject({
      version: '17.6.3',
      versionSource: 'HKLM\\SOFTWARE\\VMware, Inc.\\VMware Workstation\\ProductVersion',
      edition: 'Workstation Pro',
      vmrunVersion: '1.17.0',
    });
    // reg.exe from System32, never whatever the PATH finds; the WOW6432Node key first.
    expect(probe.runs[0]).toEqual([
      'C:\\Windows\\System32\\reg.exe',
      'query',
      'HKLM\\SOFTWARE\\WOW6432Node\\VMware, Inc.\\VMware Workstation',
      '/v',
      'ProductVersion',
    ]);
    expect(assessWorkstation(found)).toMatchObject({ status: 'ok', release: { name: '17.x' } });
  });

  it('warns, never refuses: Player, an unreadable version, a calendar release taken on trust, an unknown release', async () => {
    const player = await detectWorkstationIdentity(windowsProbe(['vmplayer.exe'], {}));
    expect(player.edition).toBe('Workstation Player');
    expect(player.version).toBeUndefined();
    expect(assessWorkstation(player)).toMatchObject({
      status: 'warn',
      why: expect.stringMatching(/no vmrest/),
    });
    expect(assessWorkstation(identity({ version: undefined, versionSource: 'nothing' }))).toMatchObject({
      status: 'warn',
      why: expect.stringMatching(/could not be read \(nothing\)/),
    });
    expect(assessWorkstation(identity({ version: '25.0.1' }))).toMatchObject({
      status: 'warn',
      release: { name: '25H2' },
      why: expect.stringMatching(/unverified/),
    });
    expect(assessWorkstation(identity({ version: '31.0.0' }))).toMatchObject({
      status: 'warn',
      why: expect.stringMatching(/not a release kubestation knows \(17\.x, 25H2, 26H1\)/),
    });
  });
});

describe('doctor shows the Workstation (stand-ins)', () => {
  let lab: Day2Lab | undefined;
  let vmrun: VmrunSimulator | undefined;
  afterEach(async () => {
    await vmrun?.close();
    await lab?.dispose();
    lab = vmrun = undefined;
  });

  it("reads the version from `vmware -v` and vmrun's usage, and names the release it knows", async () => {
    const l = (lab = await startDay2Lab({ build: false }));
    const installFolder = path.join(l.dir, 'VMware Workstation');
    vmrun = await VmrunSimulator.start(l.vmrest, installFolder);
    const spec = { ...l.spec, vmware: { ...l.spec.vmware, installFolder } };
    const report = await runDoctor(spec, {
      vmrest: l.client,
      kube: l.kubeAccess,
      workstation: () => detectWorkstationIdentity(hostWorkstationProbe(spec, {})),
    });
    const row = report.checks.find((c) => c.id === 'workstation');
    expect(row).toMatchObject({ status: 'ok' });
    expect(row?.detail).toContain(`Workstation Pro ${SIMULATED_WORKSTATION_VERSION}`);
    expect(row?.detail).toContain(`vmrun ${SIMULATED_VMRUN_VERSION}`);
    expect(vmrun.calls.some((c) => c.args.length === 0)).toBe(true);
  });
});
