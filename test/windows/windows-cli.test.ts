/**
 * kubestation as a Windows user runs it: the compiled CLI as a win32 process
 * (Windows node.exe under Wine, pinned in windows-node.ts), in a folder whose path has a space
 * and non-ASCII letters, with Workstation's tools in
 * `C:\Program Files (x86)\VMware\VMware Workstation` (stand-ins) and
 * Workstation's default VM folder read from %APPDATA%\VMware\preferences.ini.
 * VMware and Kubernetes are the simulators, as Linux processes on 127.0.0.1,
 * the vmrest simulator speaking what vmrest on Windows speaks (drive-letter
 * paths, backslashes, case-insensitive). See test/windows/README.md.
 */
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeVmnetDhcpConf, writeWorkstationPreferences } from '../../simulators/workstation-preferences.js';
import { parseClusterSpec } from '../../src/config/load.js';
import { VmxFile } from '../../src/vmx/vmx-file.js';
import { copyShipped, installProductionDependencies } from '../support/production-copy.js';
import { prepareWineRig, repoRoot, WORKSTATION_FOLDER, type CliRun, type WineRig } from './wine-rig.js';

const NODES = ['k8s-master', 'k8s-worker1', 'k8s-worker2'];
/** A Linux path where a Windows one belongs ("/tmp/...", "/root/..."), anywhere in a text. */
const POSIX_LEAK = /(^|[\s"'(=:,[])\/(tmp|root|var|work|home|usr)\//m;
const isWindowsPath = (p: string): boolean => /^[A-Za-z]:\\/.test(p) && !p.includes('/');

let rig: WineRig;
let base: string;
/** The lab folder: local path and the Windows path the CLI sees (Z:\...\김 철수\lab). */
let labLocal: string;
let labHost: string;
let vmFolderHost: string;
let vmFolderLocal: string;
let bootLog: string;
/** A clone of kubestation (production install) where a user keeps it: a space, Korean letters, parentheses. */
let cloneLocal: string;
let cloneHost: string;
/** The same wrapper beside a bin.js that prints its arguments as JSON and exits with --exit-code=N. */
let echoLocal: string;
let served: { child: ResultPromise; env: Record<string, string> } | undefined;

function expectNoPosixPaths(run: CliRun): void {
  expect(run.stdout).not.toMatch(POSIX_LEAK);
  expect(run.stderr).not.toMatch(POSIX_LEAK);
}

async function cli(args: string[]): Promise<CliRun> {
  return rig.runCli(args, { cwd: labLocal, env: served?.env ?? {} });
}

/** `cmd /c kubestation.cmd <args>` in the clone, as a user types `.\\kubestation <args>` there. */
async function wrapper(args: string[], cwd = cloneLocal, cmdSwitches: string[] = []): Promise<CliRun> {
  return rig.runCmd('kubestation.cmd', args, { cwd, env: served?.env ?? {}, cmdSwitches });
}

async function standinCalls(): Promise<Array<{ tool: string; args: string[]; platform: string }>> {
  return (await readFile(rig.standinLog, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { tool: string; args: string[]; platform: string });
}

beforeAll(async () => {
  rig = await prepareWineRig();
  base = await mkdtemp(path.join(os.tmpdir(), 'kubestation-windows-'));
  labLocal = path.join(base, '김 철수', 'lab');
  await mkdir(labLocal, { recursive: true });
  // Full clones: the Windows vmrun stand-in does not implement `clone` yet (simulators/README.md).
  await writeFile(
    path.join(labLocal, 'cluster.yaml'),
    (await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8')).replace(
      '  # cloneMode: linked',
      '  cloneMode: full\n  # cloneMode: linked',
    ),
  );
  labHost = rig.host.toHost(labLocal);
  // Workstation's default VM folder, moved by the user (Edit > Preferences > Workspace) to a folder with spaces and parentheses.
  vmFolderHost = `C:\\VMs (kubestation tier)\\${randomBytes(4).toString('hex')}\\Virtual Machines`;
  vmFolderLocal = rig.host.toLocal(vmFolderHost);
  await mkdir(vmFolderLocal, { recursive: true });
  await writeWorkstationPreferences({ APPDATA: rig.appData }, vmFolderHost, {
    platform: 'win32',
    localPath: (p) => rig.host.toLocal(p),
  });
  // Workstation's DHCP settings (C:\ProgramData\VMware\vmnetdhcp.conf; Wine's %ProgramData% is C:\ProgramData),
  // holding the ranges cluster.yaml declares: preflight reads and compares them instead of warning.
  const declared = parseClusterSpec(await readFile(path.join(labLocal, 'cluster.yaml'), 'utf8'), {
    sourcePath: path.join(labLocal, 'cluster.yaml'),
  });
  await writeVmnetDhcpConf(rig.host.toLocal('C:\\ProgramData\\VMware\\vmnetdhcp.conf'), [
    declared.networks.hostOnly,
    declared.networks.nat,
  ]);
  bootLog = path.join(base, 'boots.jsonl');

  cloneLocal = path.join(base, '김 철수', 'kubestation (x86)');
  await copyShipped(cloneLocal, { dist: path.join(repoRoot, 'dist') });
  await installProductionDependencies(cloneLocal);
  cloneHost = rig.host.toHost(cloneLocal);
  echoLocal = path.join(base, '김 철수', 'echo (args)');
  await mkdir(path.join(echoLocal, 'dist', 'src'), { recursive: true });
  await copyFile(path.join(repoRoot, 'kubestation.cmd'), path.join(echoLocal, 'kubestation.cmd'));
  await writeFile(
    path.join(echoLocal, 'dist', 'src', 'bin.js'),
    [
      'const args = process.argv.slice(2);',
      'process.stdout.write(JSON.stringify({ script: process.argv[1], args }));',
      "const exit = args.find((a) => a.startsWith('--exit-code='));",
      "process.exitCode = exit ? Number(exit.slice('--exit-code='.length)) : 0;",
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  if (served) {
    served.child.kill('SIGTERM');
    await served.child.catch(() => undefined);
  }
  if (vmFolderLocal) await rm(path.dirname(vmFolderLocal), { recursive: true, force: true });
  if (base) await rm(base, { recursive: true, force: true });
  await rig?.dispose();
});

describe.sequential('kubestation as a win32 program (Windows Node under Wine)', () => {
  it('runs as win32 from a folder with a space and non-ASCII letters', async () => {
    expect(labHost).toMatch(/^Z:\\.*\\김 철수\\lab$/);
    const validate = await cli(['validate']);
    expect(validate.stderr).toBe('');
    expect(validate.code).toBe(0);
    expect(validate.stdout).toContain('k8s-master');
    expectNoPosixPaths(validate);
  });

  it('seed-isos writes and prints Windows paths only, and the ISOs are byte-identical to the Linux run on the same folder', async () => {
    const windows = await cli(['seed-isos', '--json']);
    expect(windows.stderr).toBe('');
    expect(windows.code).toBe(0);
    expectNoPosixPaths(windows);
    const report = JSON.parse(windows.stdout) as {
      stateDir: string;
      created: string[];
      sshPrivateKey: string;
      nodes: Array<{
        node: string;
        dir: string;
        files: Array<{ path: string; sha256: string }>;
        iso: { path: string; sha256: string; changed: boolean };
      }>;
    };
    expect(report.stateDir).toBe(`${labHost}\\.kubestation`);
    const printed = [
      report.sshPrivateKey,
      ...report.created,
      ...report.nodes.flatMap((n) => [n.dir, n.iso.path, ...n.files.map((f) => f.path)]),
    ];
    for (const p of printed) {
      expect(isWindowsPath(p), p).toBe(true);
      expect(p.startsWith(`${labHost}\\.kubestation\\`), p).toBe(true);
    }
    expect(report.created.map((p) => path.win32.basename(p))).toEqual(
      expect.arrayContaining(['ca.key', 'admin.key', 'bootstrap-token', 'id_ed25519']),
    );
    expect(report.nodes.map((n) => n.iso.path)).toEqual(
      NODES.map((n) => `${labHost}\\.kubestation\\${n}\\seed.iso`),
    );

    // The human form prints the same Windows paths.
    const human = await cli(['seed-isos']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`k8s-worker1: ${labHost}\\.kubestation\\k8s-worker1\\seed.iso`);
    expectNoPosixPaths(human);

    // Linux node on the same state folder renders the same bytes: nothing changes, same digests.
    const linux = await execa(
      process.execPath,
      [path.join(repoRoot, 'dist', 'src', 'bin.js'), 'seed-isos', '--json'],
      { cwd: labLocal, reject: false },
    );
    expect(linux.exitCode, linux.stderr).toBe(0);
    const linuxReport = JSON.parse(linux.stdout) as typeof report;
    for (const node of linuxReport.nodes) {
      const win = report.nodes.find((n) => n.node === node.node)!;
      expect(node.iso.changed).toBe(false);
      expect(node.iso.sha256).toBe(win.iso.sha256);
      expect(node.files.map((f) => f.sha256)).toEqual(win.files.map((f) => f.sha256));
    }
  });

  it('kubestation.cmd (cmd /c) passes every argument untouched, with =, quotes, spaces and Korean letters, and returns the exit code', async () => {
    const args = [
      'build-vms',
      '--concurrency=1',
      '--cluster',
      `${labHost}\\cluster.yaml`,
      'a=b=c',
      '--name=two words',
      'say "hi"',
      'C:\\Program Files (x86)\\VMware',
      '김 철수',
      'wow!',
    ];
    // Also with delayed expansion on (cmd /v:on, or a user's registry default), which would eat the "!".
    for (const switches of [[], ['/v:on']]) {
      const ok = await wrapper(args, echoLocal, switches);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      const echoed = JSON.parse(ok.stdout) as { script: string; args: string[] };
      expect(echoed.args, switches.join(' ')).toEqual(args);
      // %~dp0: bin.js beside the wrapper, whose folder has a space, Korean letters and parentheses.
      expect(echoed.script).toBe(`${rig.host.toHost(echoLocal)}\\dist\\src\\bin.js`);
    }

    for (const code of [1, 3, 130]) {
      const failed = await wrapper(['validate', `--exit-code=${code}`], echoLocal);
      expect(failed.code).toBe(code);
      expect((JSON.parse(failed.stdout) as { args: string[] }).args).toEqual([
        'validate',
        `--exit-code=${code}`,
      ]);
    }
  });

  it('kubestation.cmd validate --json, seed-isos --node and --cluster "<path with a space>" work from the clone', async () => {
    expect(cloneHost).toMatch(/^Z:\\.*\\김 철수\\kubestation \(x86\)$/);
    const validate = await wrapper(['validate', '--json']);
    expect(validate.stderr).toBe('');
    expect(validate.code).toBe(0);
    expect(JSON.parse(validate.stdout)).toMatchObject({ valid: true, file: `${cloneHost}\\cluster.yaml` });

    const other = await wrapper(['validate', '--cluster', `${labHost}\\cluster.yaml`, '--json']);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout)).toMatchObject({
      valid: true,
      file: `${labHost}\\cluster.yaml`,
      summary: { stateDir: `${labHost}\\.kubestation` },
    });

    const missing = await wrapper(['validate', '--cluster', `${cloneHost}\\no such.yaml`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout + missing.stderr).toContain(`${cloneHost}\\no such.yaml does not exist`);

    const seed = await wrapper(['seed-isos', '--node', 'k8s-worker1']);
    expect(seed.stderr).toBe('');
    expect(seed.code).toBe(0);
    expect(seed.stdout).toContain(`k8s-worker1: ${cloneHost}\\.kubestation\\k8s-worker1\\seed.iso`);
    expectNoPosixPaths(seed);
    expect(existsSync(path.join(cloneLocal, '.kubestation', 'k8s-worker1', 'seed.iso'))).toBe(true);
    for (const node of ['k8s-master', 'k8s-worker2'])
      expect(existsSync(path.join(cloneLocal, '.kubestation', node)), node).toBe(false);
  });

  it('starts the simulators (Linux processes on 127.0.0.1) in Windows-host mode', async () => {
    const options = {
      cluster: path.join(labLocal, 'cluster.yaml'),
      vmFolder: vmFolderLocal,
      windowsDrives: { c: path.join(rig.prefix, 'drive_c'), z: '/' },
      bootLog,
      templateDiskGiB: 40,
    };
    const child = execa(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'simulators', 'serve.ts'), JSON.stringify(options)],
      { cwd: repoRoot, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', reject: false },
    );
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout! }).once('line', resolve);
      void child.then((r) => reject(new Error(`serve.ts exited with ${r.exitCode}`)));
    });
    const urls = JSON.parse(line) as {
      vmrestUrl: string;
      kubeApiUrl: string;
      hostOnlyProxy: string;
      username: string;
      password: string;
    };
    expect(new URL(urls.vmrestUrl).hostname).toBe('127.0.0.1');
    expect(new URL(urls.kubeApiUrl).hostname).toBe('127.0.0.1');
    // The win32 child has no loopback guard: verify's requests to LoadBalancer addresses must go to the
    // simulators' VMnet1 stand-in, never to 172.100.100.x itself.
    expect(urls.hostOnlyProxy).toMatch(/^127\.0\.0\.1:\d+$/);
    served = {
      child,
      env: {
        VMREST_URL: urls.vmrestUrl,
        VMREST_USERNAME: urls.username,
        VMREST_PASSWORD: urls.password,
        KUBESTATION_API_SERVER: urls.kubeApiUrl,
        KUBESTATION_HOST_ONLY_PROXY: urls.hostOnlyProxy,
      },
    };
  });

  it('kubestation.cmd build-vms --dry-run --concurrency=1 plans against the simulators; --concurrency=65 is refused by name', async () => {
    // The lab's cluster.yaml (its state folder holds the simulated template), named by a quoted path with a space.
    const plan = await wrapper([
      'build-vms',
      '--dry-run',
      '--concurrency=1',
      '--cluster',
      `${labHost}\\cluster.yaml`,
      '--json',
    ]);
    const events = plan.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1), plan.stderr).toMatchObject({ type: 'result', status: 'dry-run' });
    expect(plan.code).toBe(0);
    expectNoPosixPaths(plan);

    const refused = await wrapper([
      'build-vms',
      '--dry-run',
      '--concurrency=65',
      '--cluster',
      `${labHost}\\cluster.yaml`,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain(
      '--concurrency must be a whole number from 1 to 64, got "65"',
    );
  });

  it('build-vms clones into the default VM folder from preferences.ini and writes Windows paths into every .vmx', async () => {
    const run = await cli(['build-vms', '--json']);
    const events = run.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1), run.stderr).toMatchObject({ type: 'result', status: 'ready' });
    expect(run.code).toBe(0);
    expectNoPosixPaths(run);
    expect(JSON.stringify(events)).not.toContain('default VM folder is unknown');
    // The free-space check looked at the folder Workstation's preferences name (on C:); its only remark may be that one.
    for (const warning of events.filter((e) => e.type === 'warning'))
      expect(String(warning.message)).toContain(`but ${vmFolderHost} has `);
    expect(run.stdout).not.toContain(served!.env.VMREST_PASSWORD);

    // State records the VMs where Workstation put them: Windows paths in the preferences' folder.
    const state = JSON.parse(await readFile(path.join(labLocal, '.kubestation', 'state.json'), 'utf8')) as {
      nodes: Record<string, { vmxPath: string }>;
    };
    for (const node of NODES)
      expect(state.nodes[node]!.vmxPath).toBe(`${vmFolderHost}\\${node}\\${node}.vmx`);
    expect((await readdir(vmFolderLocal)).sort()).toEqual(NODES);

    // Every .vmx key kubestation wrote that names a file holds a Windows path: as each guest booted...
    const boots = (await readFile(bootLog, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { name: string; vmxPath: string; vmx: Record<string, string> });
    expect(boots.map((b) => b.name).sort()).toEqual(NODES);
    for (const boot of boots) {
      const seedKey = Object.keys(boot.vmx).find(
        (k) => /\.fileName$/i.test(k) && /seed\.iso$/i.test(boot.vmx[k]!),
      );
      expect(seedKey, `${boot.name}: no seed ISO attached`).toBeDefined();
      expect(boot.vmx[seedKey!]).toBe(`${labHost}\\.kubestation\\${boot.name}\\seed.iso`);
      expect(boot.vmx['serial0.fileName']).toBe(`${labHost}\\.kubestation\\${boot.name}\\serial.log`);
      for (const [key, value] of Object.entries(boot.vmx)) {
        if (/filename$/i.test(key) && /[\\/]/.test(value))
          expect(isWindowsPath(value), `${boot.name} ${key} = ${value}`).toBe(true);
        expect(value, `${boot.name} ${key}`).not.toMatch(POSIX_LEAK);
      }
    }
    // ...and as they are now (the disk's file name is relative to the VM folder, as Workstation writes it).
    for (const node of NODES) {
      const vmx = VmxFile.parse(await readFile(rig.host.toLocal(state.nodes[node]!.vmxPath), 'utf8'));
      for (const [key, value] of vmx.entries()) {
        if (/filename$/i.test(key) && /[\\/]/.test(value))
          expect(isWindowsPath(value), `${node} ${key} = ${value}`).toBe(true);
        expect(value, `${node} ${key}`).not.toMatch(POSIX_LEAK);
      }
    }

    // vmware-vdiskmanager.exe from Workstation's folder grew each disk, called with the Windows path of the disk.
    const grows = (await standinCalls()).filter((c) => c.tool === 'vmware-vdiskmanager');
    expect(grows.map((c) => c.platform)).toEqual(['win32', 'win32', 'win32']);
    expect(grows.map((c) => c.args).sort()).toEqual(
      NODES.map((n) => ['-x', '100GB', `${vmFolderHost}\\${n}\\kubestation-noble-template.vmdk`]).sort(),
    );
    expect(existsSync(path.join(rig.host.toLocal(WORKSTATION_FOLDER), 'vmware-vdiskmanager.exe'))).toBe(true);
  });

  it('status --json shows the VMs by their Windows paths', async () => {
    const run = await cli(['status', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expectNoPosixPaths(run);
    const text = run.stdout;
    for (const node of NODES)
      expect(text).toContain(JSON.stringify(`${vmFolderHost}\\${node}\\${node}.vmx`).slice(1, -1));
  });

  it('doctor finds nothing wrong', async () => {
    const run = await cli(['doctor']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expectNoPosixPaths(run);
  });

  it('rebuild-node k8s-worker1 re-clones only that node, into the same Windows folder', async () => {
    const before = (await standinCalls()).length;
    const run = await cli(['rebuild-node', 'k8s-worker1']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expectNoPosixPaths(run);
    const calls = (await standinCalls()).slice(before);
    expect(calls.map((c) => c.args)).toEqual([
      ['-x', '100GB', `${vmFolderHost}\\k8s-worker1\\kubestation-noble-template.vmdk`],
    ]);
    const state = JSON.parse(await readFile(path.join(labLocal, '.kubestation', 'state.json'), 'utf8')) as {
      nodes: Record<string, { vmxPath: string }>;
    };
    expect(state.nodes['k8s-worker1']!.vmxPath).toBe(`${vmFolderHost}\\k8s-worker1\\k8s-worker1.vmx`);
  });

  it('destroy --yes deletes the VMs and their folders', async () => {
    const run = await cli(['destroy', '--yes']);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expectNoPosixPaths(run);
    for (const node of NODES) expect(run.stdout).toContain(node);
    expect(await readdir(vmFolderLocal)).toEqual([]);
  });
});
