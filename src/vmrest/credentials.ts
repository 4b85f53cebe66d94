/**
 * vmrest's Basic-auth credentials. The password lives in a private field and
 * is only ever turned into an Authorization header value; printing,
 * inspecting or JSON-serialising the object shows the username only.
 */
import { inspect } from 'node:util';
import { KubestationError } from '../errors.js';

export class VmrestCredentials {
  readonly username: string;
  readonly #password: string;

  constructor(username: string, password: string) {
    this.username = username;
    this.#password = password;
  }

  /** The `Authorization` header value. Never log it. */
  authorizationHeader(): string {
    return `Basic ${Buffer.from(`${this.username}:${this.#password}`, 'utf8').toString('base64')}`;
  }

  /** Strings that must never appear in output (the password and the header made from it). */
  secrets(): string[] {
    const header = this.authorizationHeader();
    return [this.#password, header, header.slice('Basic '.length)].filter((s) => s.length > 0);
  }

  toJSON(): { username: string; password: string } {
    return { username: this.username, password: '<redacted>' };
  }

  toString(): string {
    return `VmrestCredentials(${this.username})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Asks the user one question; `secret` means do not echo the answer. */
export type PromptFunction = (question: string, options: { secret: boolean }) => Promise<string>;

export interface ResolveCredentialsOptions {
  env: NodeJS.ProcessEnv;
  /** Asked for whatever the environment does not provide; without it, missing values are an error. */
  prompt?: PromptFunction | undefined;
}

/** VMREST_USERNAME / VMREST_PASSWORD, else the prompt. */
export async function resolveVmrestCredentials(
  options: ResolveCredentialsOptions,
): Promise<VmrestCredentials> {
  let username = options.env.VMREST_USERNAME ?? '';
  let password = options.env.VMREST_PASSWORD ?? '';
  if ((!username || !password) && options.prompt) {
    if (!username) username = (await options.prompt('vmrest username: ', { secret: false })).trim();
    if (!password) password = await options.prompt('vmrest password: ', { secret: true });
  }
  if (!username || !password) {
    const missing = [!username && 'VMREST_USERNAME', !password && 'VMREST_PASSWORD'].filter(Boolean);
    const empty = `${missing.join(' and ')} ${missing.length === 1 ? 'is' : 'are'} empty`;
    throw new KubestationError(
      'VMREST_CREDENTIALS_MISSING',
      `vmrest credentials are not set (${empty} and there is no terminal to ask)`,
      {
        fix: 'set VMREST_USERNAME and VMREST_PASSWORD to the credentials given to `.\\vmrest.exe -C`, or run kubestation in a terminal to be asked',
      },
    );
  }
  return new VmrestCredentials(username, password);
}

/**
 * A prompt on a terminal: the question goes to `output`, the answer is read
 * from `input`; for secrets on a TTY, raw mode is used and nothing is echoed.
 */
export function terminalPrompt(
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): PromptFunction {
  return (question, { secret }) =>
    new Promise<string>((resolve, reject) => {
      output.write(question);
      const raw = secret && input.isTTY === true;
      if (raw) input.setRawMode(true);
      input.setEncoding('utf8');
      input.resume();
      let answer = '';
      const finish = (error?: Error): void => {
        input.off('data', onData);
        input.off('end', onEnd);
        if (raw) input.setRawMode(false);
        input.pause();
        if (secret) output.write('\n');
        if (error) reject(error);
        else resolve(answer);
      };
      const onEnd = (): void => finish();
      const onData = (chunk: string): void => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') return finish();
          if (ch === '\u0003')
            return finish(
              new KubestationError(
                'VMREST_PROMPT_CANCELLED',
                'cancelled while asking for vmrest credentials',
              ),
            );
          if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
          else answer += ch;
        }
      };
      input.on('data', onData);
      input.on('end', onEnd);
    });
}
