import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubestationError } from '../../src/errors.js';
import { extractOvaDisk, parseOvfDisk } from '../../src/template/ova.js';
import {
  candidateInstallFolders,
  convertDiskArgs,
  findWorkstationInstallFolder,
  growDiskArgs,
  runVdiskmanager,
} from '../../src/template/vdiskmanager.js';
import {
  DISK_NAME,
  fakeDisk,
  makeCloudImageOva,
  makeOva,
  ovfFor,
  writeVdiskmanagerStandIn,
} from './fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ks-disk-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OVF descriptor', () => {
  it('finds the disk file and its capacity in bytes', () => {
    expect(parseOvfDisk(ovfFor('ubuntu-noble-24.04-cloudimg.vmdk', 10))).toEqual({
      fileName: 'ubuntu-noble-24.04-cloudimg.vmdk',
      capacityBytes: 10 * 2 ** 30,
    });
    const plain =
      '<Envelope><References><File href="d.vmdk" id="f1"/></References><DiskSection><Disk capacity="52428800" fileRef="f1" diskId="d"/></DiskSection></Envelope>';
    expect(parseOvfDisk(plain)).toEqual({ fileName: 'd.vmdk', capacityBytes: 52428800 });
  });

  it('fails when no disk references a file', () => {
    expect(() => parseOvfDisk('<Envelope><References/></Envelope>')).toThrow(/lists no disk/);
  });
});

describe('extractOvaDisk', () => {
  it('streams the disk the descriptor names to a file and nothing else', async () => {
    const { ova, disk } = await makeCloudImageOva(300 * 1024);
    const ovaPath = path.join(dir, 'image.ova');
    await writeFile(ovaPath, ova);
    const out = path.join(dir, 'work');
    const extracted = await extractOvaDisk(ovaPath, out);
    expect(extracted).toEqual({
      fileName: DISK_NAME,
      capacityBytes: 3.5 * 2 ** 30,
      path: path.join(out, DISK_NAME),
    });
    expect((await readFile(extracted.path)).equals(disk)).toBe(true);
    expect(await readdir(out)).toEqual([DISK_NAME]);
  });

  it('copes with the disk stored before the descriptor, and drops other disks', async () => {
    const disk = fakeDisk(70_000, 7);
    const ova = await makeOva([
      { name: 'spare.vmdk', body: fakeDisk(5000, 3) },
      { name: DISK_NAME, body: disk },
      { name: 'x.mf', body: 'SHA256(x)= 00' },
      { name: 'x.ovf', body: ovfFor(DISK_NAME, 3) },
    ]);
    const ovaPath = path.join(dir, 'odd.ova');
    await writeFile(ovaPath, ova);
    const extracted = await extractOvaDisk(ovaPath, path.join(dir, 'w'));
    expect((await readFile(extracted.path)).equals(disk)).toBe(true);
    expect(await readdir(path.join(dir, 'w'))).toEqual([DISK_NAME]);
  });

  it('rejects a file that is not a tar, and an OVA missing its disk', async () => {
    const notTar = path.join(dir, 'bad.ova');
    await writeFile(notTar, 'this is an HTML error page, not a tar archive '.repeat(30));
    await expect(extractOvaDisk(notTar, path.join(dir, 'w1'))).rejects.toMatchObject({
      code: expect.stringMatching(/^OVA_/),
    });
    const noDisk = path.join(dir, 'nodisk.ova');
    await writeFile(noDisk, await makeOva([{ name: 'x.ovf', body: ovfFor('missing.vmdk', 3) }]));
    const error = (await extractOvaDisk(noDisk, path.join(dir, 'w2')).catch(
      (e: unknown) => e,
    )) as KubestationError;
    expect(error.code).toBe('OVA_NO_DISK');
    expect(error.message).toContain('missing.vmdk');
  });
});

describe('Workstation install folder', () => {
  const installed =
    (...files: string[]) =>
    (p: string) =>
      files.some((f) => f.toLowerCase() === p.toLowerCase());

  it('uses vmware.installFolder when it holds vmware-vdiskmanager.exe', () => {
    const folder = 'D:\\Apps\\VMware Workstation';
    expect(
      findWorkstationInstallFolder({
        configured: folder,
        platform: 'win32',
        env: {},
        exists: installed(`${folder}\\vmware-vdiskmanager.exe`),
      }),
    ).toBe(folder);
  });

  it('names vmware.installFolder when the configured folder lacks the tool', () => {
    const error = (() => {
      try {
        findWorkstationInstallFolder({
          configured: 'D:\\Nope',
          platform: 'win32',
          env: {},
          exists: () => false,
        });
      } catch (e) {
        return e as KubestationError;
      }
      return undefined;
    })();
    expect(error?.code).toBe('WORKSTATION_NOT_FOUND');
    expect(error?.message).toContain('vmware.installFolder');
    expect(error?.message).toContain('D:\\Nope');
  });

  it('searches Program Files (x86) first, then Program Files', () => {
    const env = { 'ProgramFiles(x86)': 'C:\\Program Files (x86)', ProgramFiles: 'C:\\Program Files' };
    expect(candidateInstallFolders('win32', env)).toEqual([
      'C:\\Program Files (x86)\\VMware\\VMware Workstation',
      'C:\\Program Files\\VMware\\VMware Workstation',
    ]);
    expect(
      findWorkstationInstallFolder({
        configured: undefined,
        platform: 'win32',
        env,
        exists: installed('C:\\Program Files\\VMware\\VMware Workstation\\vmware-vdiskmanager.exe'),
      }),
    ).toBe('C:\\Program Files\\VMware\\VMware Workstation');
    // Without the environment variables the usual paths are still tried.
    expect(
      findWorkstationInstallFolder({
        configured: undefined,
        platform: 'win32',
        env: {},
        exists: installed('C:\\Program Files (x86)\\VMware\\VMware Workstation\\vmware-vdiskmanager.exe'),
      }),
    ).toBe('C:\\Program Files (x86)\\VMware\\VMware Workstation');
  });

  it('says where to set the folder when Workstation is nowhere', () => {
    try {
      findWorkstationInstallFolder({
        configured: undefined,
        platform: 'win32',
        env: {},
        exists: () => false,
      });
      expect.unreachable();
    } catch (e) {
      const error = e as KubestationError;
      expect(error.message).toContain('C:\\Program Files (x86)\\VMware\\VMware Workstation');
      expect(error.fix).toContain('vmware.installFolder');
      expect(error.fix).toContain('cluster.yaml');
    }
  });
});

describe('vmware-vdiskmanager', () => {
  it('builds -r/-t 0 and -x NGB argument lists with Windows paths as single entries', () => {
    const src = 'C:\\Users\\Pista Kim\\lab state\\template\\work\\ubuntu-noble-24.04-cloudimg.vmdk';
    const dst = 'D:\\Virtual Machines\\kubestation noble\\kubestation-noble-template.vmdk';
    expect(convertDiskArgs(src, dst)).toEqual(['-r', src, '-t', '0', dst]);
    expect(growDiskArgs(dst, 100)).toEqual(['-x', '100GB', dst]);
    expect(() => growDiskArgs(dst, 0)).toThrow();
  });

  it('passes paths with spaces to the executable unsplit and unquoted (no shell)', async () => {
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'VMware Workstation'));
    const src = path.join(dir, 'work dir', 'cloud image.vmdk');
    const dst = path.join(dir, 'Virtual Machines', 'my template.vmdk');
    await mkdir(path.dirname(src), { recursive: true });
    await mkdir(path.dirname(dst), { recursive: true });
    await writeFile(src, 'stream-optimized');
    await runVdiskmanager(standIn.executable, convertDiskArgs(src, dst), 'convert');
    await runVdiskmanager(standIn.executable, growDiskArgs(dst, 40), 'grow');
    expect(await standIn.calls()).toEqual([
      ['-r', src, '-t', '0', dst],
      ['-x', '40GB', dst],
    ]);
    expect(existsSync(dst)).toBe(true);
  });

  it('reports a failing run with the tool output and a fix', async () => {
    const standIn = await writeVdiskmanagerStandIn(path.join(dir, 'vw'));
    await writeFile(path.join(dir, 'vw', 'fail'), '');
    const error = (await runVdiskmanager(standIn.executable, ['-x', '40GB', 'x.vmdk'], 'grow x.vmdk').catch(
      (e: unknown) => e,
    )) as KubestationError;
    expect(error.code).toBe('VDISKMANAGER_FAILED');
    expect(error.message).toContain('exited with code 1');
    expect(error.message).toContain('The file is locked');
    expect(error.fix).toMatch(/template/);
  });

  it('reports a missing executable', async () => {
    const error = (await runVdiskmanager(
      path.join(dir, 'absent', 'vmware-vdiskmanager'),
      ['-x', '1GB', 'a'],
      'grow',
    ).catch((e: unknown) => e)) as KubestationError;
    expect(error.code).toBe('VDISKMANAGER_FAILED');
    expect(error.message).toContain('could not start');
  });
});
