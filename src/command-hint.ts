/**
 * How every message and help text names a kubestation command for the user
 * to run: the repository-root wrapper (kubestation.cmd for PowerShell and
 * cmd, kubestation for POSIX shells), typed from the kubestation folder. One
 * form everywhere, so a fix can be pasted as shown; never a bare
 * `kubestation`, which only works after `npm install -g`.
 */
export const COMMAND_PREFIX = '.\\kubestation';

/** `commandHint('up')` → `.\kubestation up`. */
export function commandHint(commandLine: string): string {
  return `${COMMAND_PREFIX} ${commandLine}`;
}

/** A path or value as one argument in PowerShell and cmd: double-quoted when it holds a space or a shell character. */
export function shellWord(value: string): string {
  return /^[\w.:\\/+=@-]+$/.test(value) ? value : `"${value}"`;
}
