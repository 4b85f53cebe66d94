import { PassThrough } from 'node:stream';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { VmrestClient } from '../../src/vmrest/client.js';
import { resolveVmrestCredentials, terminalPrompt, VmrestCredentials } from '../../src/vmrest/credentials.js';

const PASSWORD = 'Zq8#vL2!pR9x';

describe('vmrest credentials', () => {
  it('come from VMREST_USERNAME / VMREST_PASSWORD without asking', async () => {
    const asked: string[] = [];
    const creds = await resolveVmrestCredentials({
      env: { VMREST_USERNAME: 'kube-admin', VMREST_PASSWORD: PASSWORD },
      prompt: async (q) => {
        asked.push(q);
        return '';
      },
    });
    expect(asked).toEqual([]);
    expect(creds.authorizationHeader()).toBe(
      `Basic ${Buffer.from(`kube-admin:${PASSWORD}`).toString('base64')}`,
    );
  });

  it('ask for what is missing, the password as a secret', async () => {
    const asked: Array<[string, boolean]> = [];
    const creds = await resolveVmrestCredentials({
      env: {},
      prompt: async (q, { secret }) => {
        asked.push([q, secret]);
        return secret ? PASSWORD : 'kube-admin\n';
      },
    });
    expect(asked).toEqual([
      ['vmrest username: ', false],
      ['vmrest password: ', true],
    ]);
    expect(creds.username).toBe('kube-admin');
  });

  it('without a prompt, missing values are an error naming the variables', async () => {
    await expect(resolveVmrestCredentials({ env: { VMREST_USERNAME: 'kube-admin' } })).rejects.toThrow(
      '(VMREST_PASSWORD is empty and there is no terminal to ask)',
    );
    await expect(resolveVmrestCredentials({ env: {} })).rejects.toThrow(
      '(VMREST_USERNAME and VMREST_PASSWORD are empty and there is no terminal to ask)',
    );
  });

  it('never show the password when printed, inspected or serialised', () => {
    const creds = new VmrestCredentials('kube-admin', PASSWORD);
    for (const text of [
      String(creds),
      inspect(creds, { showHidden: true, depth: 5 }),
      JSON.stringify(creds),
      JSON.stringify({ creds }),
    ]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(creds.authorizationHeader().slice(6));
    }
  });

  it('terminal prompt: the password is read in raw mode and not echoed', async () => {
    const input = Object.assign(new PassThrough(), {
      isTTY: true,
      rawModes: [] as boolean[],
    }) as PassThrough & { isTTY: boolean; rawModes: boolean[]; setRawMode(m: boolean): void };
    input.setRawMode = (m: boolean) => void input.rawModes.push(m);
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d) => (shown += d));
    const prompt = terminalPrompt(input as unknown as NodeJS.ReadStream, output);
    const answer = prompt('vmrest password: ', { secret: true });
    input.write(`${PASSWORD}x\u007f\r`);
    expect(await answer).toBe(PASSWORD);
    expect(input.rawModes).toEqual([true, false]);
    expect(shown).toBe('vmrest password: \n');
  });

  it('a vmrest URL with credentials in it is refused without repeating them', () => {
    const creds = new VmrestCredentials('kube-admin', PASSWORD);
    const error = (() => {
      try {
        new VmrestClient({
          baseUrl: `http://kube-admin:${encodeURIComponent(PASSWORD)}@127.0.0.1:8697/api`,
          credentials: creds,
        });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/must not contain a username or password/);
    expect(error?.message).not.toContain(encodeURIComponent(PASSWORD));
    expect(() => new VmrestClient({ baseUrl: 'ftp://127.0.0.1/api', credentials: creds })).toThrow(
      /not http/,
    );
  });
});
