/**
 * The real NodeShell: Windows' own OpenSSH client (or `ssh` on the PATH) with
 * the lab's ssh_config, as a user would type `ssh -F .kubestation\ssh_config
 * <node>`. BatchMode: never a password or host-key prompt; the script goes in
 * on standard input, so no quoting crosses the Windows command line.
 * KUBESTATION_SSH names another ssh program (tests use a stand-in).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { NodeShell } from './node-logs.js';

export const NODE_SHELL_TIMEOUT_MS = 60_000;
const NODE_SHELL_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

export function sshProgram(env: NodeJS.ProcessEnv, platform: NodeJS.Platform = process.platform): string {
  if (env.KUBESTATION_SSH) return env.KUBESTATION_SSH;
  if (platform === 'win32') {
    const openssh = path.win32.join(
      env.SystemRoot || env.SYSTEMROOT || 'C:\\Windows',
      'System32',
      'OpenSSH',
      'ssh.exe',
    );
    if (existsSync(openssh)) return openssh;
  }
  return 'ssh';
}

export function sshNodeShell(sshConfig: string, env: NodeJS.ProcessEnv): NodeShell {
  const program = sshProgram(env);
  return {
    async run(node, script) {
      const { execa } = await import('execa');
      const result = await execa(
        program,
        ['-F', sshConfig, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=5', node, 'sh', '-s'],
        {
          input: script,
          reject: false,
          timeout: NODE_SHELL_TIMEOUT_MS,
          maxBuffer: NODE_SHELL_MAX_OUTPUT_BYTES,
          windowsHide: true,
          env,
          extendEnv: false,
        },
      );
      return {
        exitCode: result.exitCode,
        stdout: String(result.stdout ?? ''),
        stderr: String(result.stderr ?? ''),
        timedOut: result.timedOut === true,
      };
    },
  };
}
