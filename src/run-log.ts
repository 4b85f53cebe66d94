/**
 * Each command's last run, kept in the state folder for the support bundle:
 * `<stateDir>/logs/<command>.log`, the run before it as
 * `<command>.previous.log`. What the command printed (stdout and stderr in the
 * order written, the last RUN_LOG_LIMIT_BYTES of it), with a header naming
 * the command, its arguments, when it ran, how long, and its exit code.
 *
 * - Only into a state folder that already exists: no command creates the
 *   state folder just to log (a lab never built has none).
 * - The logs folder is owner-only (src/pki/secret-files.ts), and the text is
 *   redacted as a bundle is (src/support/redact.ts) before it is written.
 * - A log that cannot be written never changes the command's outcome.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DEFAULT_STATE_DIR } from './config/defaults.js';

export const RUN_LOG_LIMIT_BYTES = 1024 * 1024;

/** Collects what a command writes (bounded to the last RUN_LOG_LIMIT_BYTES). */
export class RunRecorder {
  #chunks: string[] = [];
  #bytes = 0;

  record(chunk: unknown): void {
    const text =
      typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
    this.#chunks.push(text);
    this.#bytes += Buffer.byteLength(text);
    while (this.#bytes > RUN_LOG_LIMIT_BYTES && this.#chunks.length > 1) {
      this.#bytes -= Buffer.byteLength(this.#chunks.shift()!);
    }
  }

  /** A stream that writes through to `target` and records what passes. */
  tee<T extends NodeJS.WritableStream>(target: T): T {
    return new Proxy(target, {
      get: (object, property, receiver) => {
        if (property !== 'write') return Reflect.get(object, property, receiver) as unknown;
        return (chunk: unknown, ...rest: unknown[]) => {
          this.record(chunk);
          return (object.write as (...args: unknown[]) => boolean).call(object, chunk, ...rest);
        };
      },
    });
  }

  text(): string {
    return this.#chunks.join('');
  }
}

/** The --cluster value in argv (`--cluster X` or `--cluster=X`), if any. */
function clusterFlag(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--cluster') return argv[i + 1];
    if (arg.startsWith('--cluster=')) return arg.slice('--cluster='.length);
  }
  return undefined;
}

/**
 * The state folder the command's cluster.yaml names, read without validating
 * the file (a log is written for a refused file too); undefined when there is
 * no such file or it names no folder kubestation could use.
 */
export async function runLogStateDir(
  argv: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  // Loaded here, after the command ran: cli.ts stays light for commands that never read a spec.
  const { clusterFilePath } = await import('./config/load.js');
  const file = clusterFilePath(cwd, clusterFlag(argv), env);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined; // no cluster.yaml: no state folder to log into
  }
  const { load } = await import('js-yaml');
  let stateDir: unknown;
  try {
    stateDir = (load(text) as { stateDir?: unknown } | null)?.stateDir ?? DEFAULT_STATE_DIR;
  } catch {
    return undefined; // unparsable: validate reports it; nothing to log into
  }
  return typeof stateDir === 'string' ? path.resolve(path.dirname(file), stateDir) : undefined;
}

export interface RunLogEntry {
  command: string;
  argv: readonly string[];
  startedAt: Date;
  finishedAt: Date;
  exitCode: number;
  output: string;
}

export function formatRunLog(entry: RunLogEntry, kubestationVersion: string): string {
  const seconds = ((entry.finishedAt.getTime() - entry.startedAt.getTime()) / 1000).toFixed(1);
  return [
    `kubestation ${kubestationVersion} ${[entry.command, ...entry.argv].join(' ')}`,
    `started ${entry.startedAt.toISOString()}, took ${seconds} s, exit code ${entry.exitCode}`,
    `node ${process.version} on ${process.platform}`,
    '',
    entry.output,
  ].join('\n');
}

/** Writes the run's log into `<stateDir>/logs/`, moving the last one aside; does nothing without a state folder. */
export async function writeRunLog(
  stateDir: string,
  entry: RunLogEntry,
  env: NodeJS.ProcessEnv,
  kubestationVersion: string,
): Promise<void> {
  if (!existsSync(stateDir)) return;
  const [{ ensureSecretDir }, { redactText }, { stateDirSecrets }] = await Promise.all([
    import('./pki/secret-files.js'),
    import('./support/redact.js'),
    import('./support/known-secrets.js'),
  ]);
  const dir = path.join(stateDir, 'logs');
  await ensureSecretDir(dir);
  const file = path.join(dir, `${entry.command}.log`);
  if (existsSync(file)) await rename(file, path.join(dir, `${entry.command}.previous.log`));
  const text = redactText(formatRunLog(entry, kubestationVersion), await stateDirSecrets(stateDir, env));
  await writeFile(file, text, { mode: 0o600 });
}
