/**
 * Files only the current user may read (CA and admin keys, the join token,
 * the SSH private key, kubeconfigs, seeds). On Linux/macOS that is mode
 * 0600 given at creation. On Windows POSIX modes mean nothing: the file's
 * ACL is replaced — inherited entries removed, the current user granted full
 * control — with icacls, run without a shell, on the freshly created EMPTY
 * file, before any secret is written into it (see src/atomic-file.ts).
 * Windows' OpenSSH refuses a private key others can read, so this is also
 * what makes `ssh -F .kubestation\ssh_config` work outside the user profile.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { KubestationError } from './errors.js';

export interface OwnerOnlyAccess {
  /** POSIX mode to create the file with (undefined where modes mean nothing). */
  readonly createMode: number | undefined;
  /** Makes an existing, still empty file readable and writable by the current user only. */
  restrictFile(file: string): Promise<void>;
  /** Makes a folder, and everything later created in it, the current user's only. */
  restrictFolder(folder: string): Promise<void>;
}

export interface CommandLine {
  file: string;
  args: string[];
}

/** Runs a program without a shell; resolves to its exit code (undefined when it could not start) and output. */
export type CommandRunner = (
  command: CommandLine,
) => Promise<{ exitCode: number | undefined; output: string; startError?: string }>;

/** `DOMAIN\user` of the current Windows user (USERDOMAIN is the computer name for a local account, AzureAD for Entra ID). */
export function windowsAccount(
  env: NodeJS.ProcessEnv,
  fallbackUserName: () => string = () => os.userInfo().username,
): string {
  const user = env.USERNAME || fallbackUserName();
  if (!user)
    throw new KubestationError(
      'SECRET_ACL_FAILED',
      'cannot tell which Windows account runs kubestation: USERNAME is empty',
      { fix: 'run kubestation from a normal logged-in PowerShell or cmd window' },
    );
  return env.USERDOMAIN ? `${env.USERDOMAIN}\\${user}` : user;
}

/** icacls.exe from System32 (never whatever "icacls" the PATH finds first). */
export function icaclsPath(env: NodeJS.ProcessEnv): string {
  return path.win32.join(env.SystemRoot || env.SYSTEMROOT || 'C:\\Windows', 'System32', 'icacls.exe');
}

/**
 * `icacls <file> /inheritance:r /grant:r <DOMAIN\user>:F` — each an argv entry of its own, so names with
 * spaces or non-ASCII letters pass unsplit and unquoted by us (no shell; the runtime quotes for CreateProcess).
 * For a folder the grant is inherited by what is created inside it: `(OI)(CI)F`.
 */
export function icaclsOwnerOnlyCommand(
  target: string,
  account: string,
  env: NodeJS.ProcessEnv,
  kind: 'file' | 'folder' = 'file',
): CommandLine {
  return {
    file: icaclsPath(env),
    args: [target, '/inheritance:r', '/grant:r', `${account}:${kind === 'folder' ? '(OI)(CI)F' : 'F'}`],
  };
}

const execaRunner: CommandRunner = async ({ file, args }) => {
  // Loaded on first use: execa is dozens of modules, and most commands never change an ACL (start-up time).
  const { execa } = await import('execa');
  const result = await execa(file, args, { reject: false, windowsHide: true, stdin: 'ignore', all: true });
  return {
    exitCode: result.exitCode,
    output: (result.all ?? '').trim(),
    ...(result.exitCode === undefined ? { startError: result.originalMessage ?? result.shortMessage } : {}),
  };
};

/** Windows: icacls. `run` and `env` are injectable so the exact command lines are tested on any machine. */
export function windowsOwnerOnlyAccess(
  env: NodeJS.ProcessEnv = process.env,
  run: CommandRunner = execaRunner,
): OwnerOnlyAccess {
  const restrict = async (target: string, kind: 'file' | 'folder'): Promise<void> => {
    const account = windowsAccount(env);
    const command = icaclsOwnerOnlyCommand(target, account, env, kind);
    let result = await run(command);
    // A process that could not start at all (spawn UNKNOWN: an antivirus holding the file, Wine under load)
    // gets one more try before the command stops.
    if (result.exitCode === undefined) {
      await sleep(250);
      result = await run(command);
    }
    if (result.exitCode === 0) return;
    const why =
      result.exitCode === undefined
        ? `${command.file} could not start (${result.startError ?? 'unknown error'})`
        : `icacls exited with code ${result.exitCode}${result.output ? `: ${result.output}` : ''}`;
    throw new KubestationError(
      'SECRET_ACL_FAILED',
      `cannot make ${target} readable by ${account} only, so no secret was written into it: ${why}`,
      {
        fix: `keep the state folder (stateDir in cluster.yaml) on an NTFS drive your account may change permissions on, e.g. inside ${env.USERPROFILE || 'your user folder'} (FAT/exFAT drives and network shares without ACLs cannot protect keys), then run the command again`,
      },
    );
  };
  return {
    createMode: undefined,
    restrictFile: (file) => restrict(file, 'file'),
    restrictFolder: (folder) => restrict(folder, 'folder'),
  };
}

/** Linux/macOS: mode 0600 at creation (0700 for folders), nothing else to do. */
export const posixOwnerOnlyAccess: OwnerOnlyAccess = {
  createMode: 0o600,
  restrictFile: async () => undefined,
  restrictFolder: async () => undefined,
};

/** The host's way of keeping a file to its user. */
export function hostOwnerOnlyAccess(
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): OwnerOnlyAccess {
  return platform === 'win32' ? windowsOwnerOnlyAccess(env) : posixOwnerOnlyAccess;
}
