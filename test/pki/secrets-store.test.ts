import { execFileSync } from 'node:child_process';
import { tempDir } from '../support/temp-dir.js';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { KubestationError } from '../../src/errors.js';
import { createClusterCa, discoveryHash } from '../../src/pki/certificates.js';
import { generateBootstrapToken } from '../../src/pki/bootstrap-token.js';
import {
  clusterSecretPaths,
  loadOrCreateClusterSecrets,
  mintBootstrapToken,
  readRecordedBootstrapToken,
} from '../../src/pki/secrets-store.js';

const input = (stateDir: string) => ({
  stateDir,
  clusterName: 'kubestation',
  apiEndpoint: '172.100.100.2:6443',
});
const freshStateDir = () => tempDir('kubestation-state-');

async function expectError(promise: Promise<unknown>): Promise<KubestationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KubestationError);
  return error as KubestationError;
}

describe('clusterSecretPaths', () => {
  it('joins Windows state folders with backslashes', () => {
    const paths = clusterSecretPaths('C:\\Users\\kim\\kubestation\\state', path.win32);
    expect(paths.dir).toBe('C:\\Users\\kim\\kubestation\\state\\pki');
    expect(paths.caKey).toBe('C:\\Users\\kim\\kubestation\\state\\pki\\ca.key');
    expect(paths.adminKubeconfig).toBe('C:\\Users\\kim\\kubestation\\state\\pki\\admin.kubeconfig');
    expect(clusterSecretPaths('D:/lab/state/', path.win32).bootstrapToken).toBe(
      'D:\\lab\\state\\pki\\bootstrap-token',
    );
  });
});

describe('loadOrCreateClusterSecrets', () => {
  it('creates the whole set once, owner-only, and reuses it on the next run', async () => {
    const stateDir = freshStateDir();
    const first = await loadOrCreateClusterSecrets(input(stateDir));
    const paths = clusterSecretPaths(stateDir);
    expect(first.created.sort()).toEqual(
      [
        paths.adminCert,
        paths.adminKey,
        paths.adminKubeconfig,
        paths.bootstrapToken,
        paths.bootstrapTokenIssued,
        paths.caCert,
        paths.caKey,
      ].sort(),
    );
    expect(first.bootstrapToken.token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect(first.caCertHash).toBe(discoveryHash(first.ca.certPem));
    if (process.platform !== 'win32') {
      expect(statSync(paths.dir).mode & 0o777).toBe(0o700);
      for (const file of [
        paths.caKey,
        paths.caCert,
        paths.bootstrapToken,
        paths.adminKey,
        paths.adminCert,
        paths.adminKubeconfig,
      ]) {
        expect(statSync(file).mode & 0o777, file).toBe(0o600);
      }
    }
    expect(readdirSync(paths.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);

    const second = await loadOrCreateClusterSecrets(input(stateDir));
    expect(second.created).toEqual([]);
    expect(second.ca).toEqual(first.ca);
    expect(second.bootstrapToken).toEqual(first.bootstrapToken);
    expect(second.admin).toEqual(first.admin);
  });

  it('writes a kubeconfig for the admin identity that points at the API endpoint and chains to the CA', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    const config = yaml.load(readFileSync(secrets.paths.adminKubeconfig, 'utf8')) as any;
    expect(config.clusters[0].cluster.server).toBe('https://172.100.100.2:6443');
    const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    expect(decode(config.clusters[0].cluster['certificate-authority-data'])).toBe(secrets.ca.certPem);
    const clientCert = decode(config.users[0].user['client-certificate-data']);
    const subject = execFileSync('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], {
      input: clientCert,
      encoding: 'utf8',
    });
    expect(subject.trim()).toBe('subject=O=kubeadm:cluster-admins,CN=kubernetes-admin');
    expect(config['current-context']).toBe(config.contexts[0].name);

    // A changed API endpoint rewrites only the derived kubeconfig.
    const moved = await loadOrCreateClusterSecrets({ ...input(stateDir), apiEndpoint: '172.100.100.9:6443' });
    expect(moved.created).toEqual([secrets.paths.adminKubeconfig]);
    expect(moved.ca).toEqual(secrets.ca);
    expect(readFileSync(secrets.paths.adminKubeconfig, 'utf8')).toContain('https://172.100.100.9:6443');
  });

  it('refuses a CA key without its certificate, naming the file, and changes nothing', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    rmSync(secrets.paths.caCert);
    const before = readFileSync(secrets.paths.caKey, 'utf8');
    const error = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(error.code).toBe('PKI_INCOMPLETE');
    expect(error.message).toContain(secrets.paths.caCert);
    expect(error.fix).toContain(secrets.paths.dir);
    expect(readFileSync(secrets.paths.caKey, 'utf8')).toBe(before);
    expect(existsSync(secrets.paths.caCert)).toBe(false);
    // Secrets never appear in what the user sees.
    expect(`${error.message} ${error.fix}`).not.toContain(secrets.bootstrapToken.secret);
    expect(`${error.message} ${error.fix}`).not.toContain('PRIVATE KEY');
  });

  it('refuses a token or admin cert left from a lost CA', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    rmSync(secrets.paths.caCert);
    rmSync(secrets.paths.caKey);
    const error = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(error.code).toBe('PKI_INCOMPLETE');
    expect(error.message).toMatch(/ca\.crt and .*ca\.key is missing/);
    expect(existsSync(secrets.paths.caCert)).toBe(false);
  });

  it('refuses a CA certificate that does not match its key', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    const other = await createClusterCa();
    writeFileSync(secrets.paths.caCert, other.certPem);
    const error = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(error.code).toBe('PKI_CORRUPT');
    expect(error.message).toBe(
      `${secrets.paths.caCert} does not belong to the key in ${secrets.paths.caKey}`,
    );
  });

  it('refuses garbage in ca.crt and a malformed token file', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    const goodCert = readFileSync(secrets.paths.caCert, 'utf8');
    writeFileSync(secrets.paths.caCert, 'not a certificate');
    expect((await expectError(loadOrCreateClusterSecrets(input(stateDir)))).message).toBe(
      `${secrets.paths.caCert} is not a PEM certificate`,
    );
    writeFileSync(secrets.paths.caCert, goodCert);
    writeFileSync(secrets.paths.bootstrapToken, 'ABC.def\n');
    const tokenError = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(tokenError.message).toContain(secrets.paths.bootstrapToken);
    expect(tokenError.message).not.toContain('ABC.def');
  });

  it('refuses an admin certificate from another CA and tells how to reissue it; deleting both reissues', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    const foreign = await loadOrCreateClusterSecrets(input(freshStateDir()));
    writeFileSync(secrets.paths.adminCert, foreign.admin.certPem);
    writeFileSync(secrets.paths.adminKey, foreign.admin.keyPem);
    const error = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(error.message).toBe(
      `${secrets.paths.adminCert} was not issued by the cluster CA in ${secrets.paths.caCert}`,
    );
    expect(error.fix).toContain(`delete ${secrets.paths.adminCert} and ${secrets.paths.adminKey}`);
    rmSync(secrets.paths.adminCert);
    rmSync(secrets.paths.adminKey);
    const reissued = await loadOrCreateClusterSecrets(input(stateDir));
    expect(reissued.created).toEqual(
      expect.arrayContaining([secrets.paths.adminCert, secrets.paths.adminKey]),
    );
    expect(reissued.ca).toEqual(secrets.ca);
    expect(reissued.bootstrapToken).toEqual(secrets.bootstrapToken);
  });

  it('refuses a missing token when the CA exists', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    rmSync(secrets.paths.bootstrapToken);
    const error = await expectError(loadOrCreateClusterSecrets(input(stateDir)));
    expect(error.message).toContain(`${secrets.paths.bootstrapToken} is missing`);
  });
});

describe('mintBootstrapToken', () => {
  it('records a new token that later loads return', async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir));
    const minted = await mintBootstrapToken(stateDir);
    expect(minted.token).not.toBe(secrets.bootstrapToken.token);
    expect((await loadOrCreateClusterSecrets(input(stateDir))).bootstrapToken).toEqual(minted);
  });

  it('needs an existing cluster CA', async () => {
    const error = await expectError(mintBootstrapToken(freshStateDir()));
    expect(error.code).toBe('PKI_MISSING');
  });

  it('records a token the caller already registered, with its issue time, owner-only and without the secret', async () => {
    const stateDir = freshStateDir();
    const created = new Date('2030-01-02T03:04:05.000Z');
    const secrets = await loadOrCreateClusterSecrets(input(stateDir), created);
    expect(await readRecordedBootstrapToken(stateDir)).toEqual({
      token: secrets.bootstrapToken,
      issuedAt: created,
      issuedAtSource: 'record',
    });

    const registered = generateBootstrapToken();
    const issuedAt = new Date('2030-02-03T04:05:06.000Z');
    expect(await mintBootstrapToken(stateDir, registered, issuedAt)).toEqual(registered);
    expect(await readRecordedBootstrapToken(stateDir)).toEqual({
      token: registered,
      issuedAt,
      issuedAtSource: 'record',
    });
    expect((await loadOrCreateClusterSecrets(input(stateDir))).bootstrapToken).toEqual(registered);
    const record = readFileSync(secrets.paths.bootstrapTokenIssued, 'utf8');
    expect(JSON.parse(record)).toEqual({ tokenId: registered.id, issuedAt: issuedAt.toISOString() });
    expect(record).not.toContain(registered.secret);
    if (process.platform !== 'win32')
      expect(statSync(secrets.paths.bootstrapTokenIssued).mode & 0o777).toBe(0o600);
    expect(readdirSync(secrets.paths.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it("falls back to the token file time when there is no issue record (older state folders) or it is another token's", async () => {
    const stateDir = freshStateDir();
    const secrets = await loadOrCreateClusterSecrets(input(stateDir), new Date('2030-01-02T03:04:05.000Z'));
    rmSync(secrets.paths.bootstrapTokenIssued);
    const fileTime = statSync(secrets.paths.bootstrapToken).mtime;
    expect(await readRecordedBootstrapToken(stateDir)).toEqual({
      token: secrets.bootstrapToken,
      issuedAt: fileTime,
      issuedAtSource: 'file-time',
    });

    // A token put in by hand: the record beside it names another token.
    await mintBootstrapToken(stateDir, generateBootstrapToken(), new Date('2030-03-01T00:00:00.000Z'));
    const byHand = generateBootstrapToken();
    writeFileSync(secrets.paths.bootstrapToken, `${byHand.token}\n`);
    const read = await readRecordedBootstrapToken(stateDir);
    expect(read).toMatchObject({ token: byHand, issuedAtSource: 'file-time' });
    expect(read!.issuedAt).toEqual(statSync(secrets.paths.bootstrapToken).mtime);
  });
});
