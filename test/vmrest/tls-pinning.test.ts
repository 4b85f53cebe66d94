/**
 * vmrest over HTTPS with its self-signed certificate: trusted by pinning the
 * certificate's SHA-256 fingerprint on the client's own connections only.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createVmrestClient } from '../../src/vmrest/client.js';
import { VmrestTlsPinError, VmrestError } from '../../src/vmrest/errors.js';
import { type Harness, harnessPerTest, USERNAME, PASSWORD } from './harness.js';

let tls: { cert: string; key: string; fingerprint: string };
let otherFingerprint: string;
const startHarness = harnessPerTest();
let h = undefined as unknown as Harness;

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=vmrest',
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

beforeAll(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kubestation-tls-'));
  try {
    const served = selfSigned(dir, 'vmrest');
    tls = { ...served, fingerprint: new X509Certificate(served.cert).fingerprint256 };
    otherFingerprint = new X509Certificate(selfSigned(dir, 'other').cert).fingerprint256;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

afterAll(() => {
  expect(process.env.NODE_TLS_REJECT_UNAUTHORIZED).toBeUndefined();
});

describe('HTTPS with a pinned certificate fingerprint', () => {
  it('talks to vmrest when the fingerprint matches (colon-separated upper case or bare lower-case hex)', async () => {
    h = await startHarness({ sim: { tls: { cert: tls.cert, key: tls.key } } });
    expect(h.sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/api$/);
    const pinned = h.makeClient({ certSha256: tls.fingerprint });
    expect(await pinned.listVms()).toHaveLength(1);
    const bare = h.makeClient({ certSha256: tls.fingerprint.replace(/:/g, '').toLowerCase() });
    expect(await bare.listVms()).toHaveLength(1);
  });

  it('refuses a server whose certificate does not match, before sending credentials', async () => {
    h = await startHarness({ sim: { tls: { cert: tls.cert, key: tls.key } } });
    const wrong = h.makeClient({ certSha256: otherFingerprint });
    const error = await wrong.listVms().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestTlsPinError);
    expect((error as Error).message).toContain(tls.fingerprint.replace(/:/g, '').toLowerCase());
    expect((error as VmrestTlsPinError).fix).toMatch(/VMREST_CERT_SHA256/);
    expect(h.sim.requestLog).toHaveLength(0);
  });

  it('without a pin, the self-signed certificate is rejected as usual (TLS checks stay on)', async () => {
    h = await startHarness({ sim: { tls: { cert: tls.cert, key: tls.key } } });
    const unpinned = h.makeClient({ retry: { attempts: 1 } });
    const error = await unpinned.listVms().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestError);
    expect((error as VmrestError).code).toBe('VMREST_TLS');
    // A pinned client elsewhere in the process changes nothing for other HTTPS clients.
    await h.makeClient({ certSha256: tls.fingerprint }).listVms();
    await expect(request(`${h.sim.url}/vms`)).rejects.toThrow(/self[- ]signed/i);
  });

  it('refuses VMREST_URL in clear text to another machine before any request, naming why and the fix', async () => {
    const error = await createVmrestClient({
      env: {
        VMREST_URL: 'http://192.168.1.20:8697/api',
        VMREST_USERNAME: USERNAME,
        VMREST_PASSWORD: PASSWORD,
      },
      vmrestUrl: 'http://127.0.0.1:8697/api',
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VmrestError);
    expect((error as VmrestError).code).toBe('VMREST_URL_CLEAR_TEXT');
    expect((error as VmrestError).message).toContain('unencrypted across the network to 192.168.1.20');
    expect((error as VmrestError).fix).toContain('use https://192.168.1.20:8697/api');
    expect(JSON.stringify(error) + String(error)).not.toContain(PASSWORD);
  });

  it('refuses a certificate pin with an http:// URL: it would pin nothing', async () => {
    h = await startHarness();
    const error = await createVmrestClient({
      env: {
        VMREST_URL: h.sim.url,
        VMREST_CERT_SHA256: tls.fingerprint,
        VMREST_USERNAME: USERNAME,
        VMREST_PASSWORD: PASSWORD,
      },
    }).catch((e: unknown) => e);
    expect(h.sim.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    expect(error).toBeInstanceOf(VmrestError);
    expect((error as VmrestError).code).toBe('VMREST_PIN_WITHOUT_TLS');
    expect((error as VmrestError).message).toContain(
      'a certificate pin on a connection without TLS pins nothing',
    );
    expect((error as VmrestError).fix).toContain('Remove-Item Env:VMREST_CERT_SHA256');
    expect(h.sim.requestLog).toHaveLength(0);
  });

  it('takes the fingerprint and URL from VMREST_CERT_SHA256 / VMREST_URL over the spec value', async () => {
    h = await startHarness({ sim: { tls: { cert: tls.cert, key: tls.key } } });
    const client = await createVmrestClient({
      env: {
        VMREST_URL: h.sim.url,
        VMREST_CERT_SHA256: tls.fingerprint,
        VMREST_USERNAME: USERNAME,
        VMREST_PASSWORD: PASSWORD,
      },
      vmrestUrl: 'http://127.0.0.1:1/api',
      certSha256: otherFingerprint,
    });
    try {
      expect(client.baseUrl).toBe(h.sim.url);
      expect(await client.listVms()).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});
