/**
 * The vmrest password (and the Authorization header made from it) never
 * appears in an error, a fix, a log line, the simulator's request log or an
 * inspected client — across every kind of failure the client reports.
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../src/errors.js';
import { VmrestClient } from '../../src/vmrest/client.js';
import { VmrestCredentials } from '../../src/vmrest/credentials.js';
import { type Harness, harnessPerTest, PASSWORD, USERNAME } from './harness.js';

const startHarness = harnessPerTest();
let h = undefined as unknown as Harness;

describe('no secrets in output', () => {
  it('errors, logs, the simulator log and the client itself never carry the password', async () => {
    h = await startHarness({
      client: { timeouts: { defaultMs: 500, cloneMs: 500, powerMs: 500, deleteMs: 500 } },
    });
    const creds = new VmrestCredentials(USERNAME, PASSWORD);
    const secrets = creds.secrets();
    const logLines: string[] = [];
    const client = h.makeClient({ onRequest: (e) => logLines.push(JSON.stringify(e)) });
    const errors: unknown[] = [];
    const attempt = async (p: Promise<unknown>): Promise<void> => {
      await p.catch((e: unknown) => errors.push(e));
    };
    const id = (await client.cloneVm({ name: 'k8s-master', parentId: h.templateId })).id;
    await attempt(client.getVm('NO-SUCH-VM')); // 404
    await client.setPowerState(id, 'on');
    await attempt(client.updateVm(id, { processors: 8 })); // 409
    await attempt(client.addNic(id, { type: 'nat', vmnet: 'vmnet8' })); // 400 / 121
    h.sim.injectFault({ operation: 'listVms', kind: 'hang', times: Infinity });
    await attempt(client.listVms()); // timeout
    h.sim.clearFaults();
    h.sim.injectFault({ operation: 'listNics', kind: 'drop', times: Infinity });
    await attempt(client.listNics(id)); // connection lost
    h.sim.injectFault({ operation: 'getVm', kind: 'status', status: 500, message: 'boom', times: Infinity });
    await attempt(client.getVm(id)); // 5xx
    await attempt(h.makeClient({ credentials: new VmrestCredentials(USERNAME, `${PASSWORD}x`) }).listVms()); // 401
    const port = h.sim.port;
    await h.sim.close();
    const down = new VmrestClient({
      baseUrl: `http://127.0.0.1:${port}/api`,
      credentials: creds,
      retry: { attempts: 1 },
    });
    await attempt(down.listVms()); // refused
    await down.close();

    expect(errors).toHaveLength(8);
    const outputs = [
      ...errors.flatMap((e) => [
        describeError(e),
        String(e),
        inspect(e, { depth: 10, showHidden: true }),
        JSON.stringify(e),
      ]),
      ...logLines,
      JSON.stringify(h.sim.requestLog),
      inspect(client, { depth: 10, showHidden: true }),
      JSON.stringify(client),
      inspect(creds, { depth: 10, showHidden: true }),
    ];
    for (const text of outputs) {
      for (const secret of [...secrets, `${PASSWORD}x`]) expect(text).not.toContain(secret);
    }
    expect(logLines.length).toBeGreaterThan(10);
  });
});
