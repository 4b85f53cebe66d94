/**
 * The cluster's long-lived secrets in `<stateDir>/pki/`: generated once,
 * reused on every later run. A partial or inconsistent set (a key without
 * its certificate, a certificate that does not match its key, an admin cert
 * from another CA) is an error naming the file — never silently replaced,
 * because VMs already built trust the existing CA and token.
 *
 *   ca.crt, ca.key          cluster CA, handed to kubeadm on the control plane
 *   bootstrap-token         "<id>.<secret>" workers join with
 *   bootstrap-token.issued.json  when that token was issued (its id and a time; no secret)
 *   admin.crt, admin.key    host's identity: CN=kubernetes-admin, O=kubeadm:cluster-admins
 *   admin.kubeconfig        derived from the above; rewritten when the API endpoint changes
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KubestationError } from '../errors.js';
import { type BootstrapToken, generateBootstrapToken, parseBootstrapToken } from './bootstrap-token.js';
import {
  type CertificateAndKey,
  certificateMatchesKey,
  createClusterCa,
  discoveryHash,
  inspectCertificate,
  isIssuedBy,
  issueClientCertificate,
} from './certificates.js';
import { renderKubeconfig } from './kubeconfig.js';
import { ensureSecretDir, writeSecretFileAtomic } from './secret-files.js';

export const adminIdentity = {
  commonName: 'kubernetes-admin',
  organizations: ['kubeadm:cluster-admins'],
} as const;
const adminValidityDays = 5 * 365;

export interface ClusterSecretPaths {
  dir: string;
  caCert: string;
  caKey: string;
  bootstrapToken: string;
  /** When the recorded token was issued, with its id (never the secret part); see readRecordedBootstrapToken. */
  bootstrapTokenIssued: string;
  adminCert: string;
  adminKey: string;
  adminKubeconfig: string;
}

/** Where the secrets live. Pure; pass `path.win32` to get Windows paths on any platform. */
export function clusterSecretPaths(stateDir: string, pathApi: path.PlatformPath = path): ClusterSecretPaths {
  const dir = pathApi.join(stateDir, 'pki');
  return {
    dir,
    caCert: pathApi.join(dir, 'ca.crt'),
    caKey: pathApi.join(dir, 'ca.key'),
    bootstrapToken: pathApi.join(dir, 'bootstrap-token'),
    bootstrapTokenIssued: pathApi.join(dir, 'bootstrap-token.issued.json'),
    adminCert: pathApi.join(dir, 'admin.crt'),
    adminKey: pathApi.join(dir, 'admin.key'),
    adminKubeconfig: pathApi.join(dir, 'admin.kubeconfig'),
  };
}

export interface ClusterSecretsInput {
  stateDir: string;
  clusterName: string;
  /** "host:port" of the API server, e.g. "172.100.100.2:6443". */
  apiEndpoint: string;
}

export interface ClusterSecrets {
  paths: ClusterSecretPaths;
  ca: CertificateAndKey;
  /** "sha256:…" pin for JoinConfiguration.discovery.bootstrapToken.caCertHashes. */
  caCertHash: string;
  bootstrapToken: BootstrapToken;
  admin: CertificateAndKey;
  /** Files created by this call (empty when everything was reused). */
  created: string[];
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KubestationError('PKI_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, {
      fix: `check that your user can read ${file}`,
    });
  }
}

const startOverFix = (paths: ClusterSecretPaths): string =>
  `restore the missing or damaged files from a backup; if no VM has been built with these secrets yet, delete the folder ${paths.dir} and run again to generate a new set`;

function corrupt(file: string, what: string, paths: ClusterSecretPaths): KubestationError {
  return new KubestationError('PKI_CORRUPT', `${file} ${what}`, { fix: startOverFix(paths) });
}

function checkCertificate(file: string, pem: string, paths: ClusterSecretPaths, now: Date) {
  let facts;
  try {
    facts = inspectCertificate(pem);
  } catch {
    throw corrupt(file, 'is not a PEM certificate', paths);
  }
  if (facts.notAfter <= now) {
    throw new KubestationError('PKI_EXPIRED', `${file} expired on ${facts.notAfter.toISOString()}`, {
      fix: startOverFix(paths),
    });
  }
  return facts;
}

function checkPair(
  certFile: string,
  keyFile: string,
  pair: CertificateAndKey,
  paths: ClusterSecretPaths,
): void {
  let matches: boolean;
  try {
    matches = certificateMatchesKey(pair.certPem, pair.keyPem);
  } catch {
    throw corrupt(keyFile, 'is not a PEM private key', paths);
  }
  if (!matches) throw corrupt(certFile, `does not belong to the key in ${keyFile}`, paths);
}

function missingPartner(present: string, missing: string, paths: ClusterSecretPaths): KubestationError {
  return new KubestationError('PKI_INCOMPLETE', `${present} exists but ${missing} is missing`, {
    fix: startOverFix(paths),
  });
}

/**
 * Loads the cluster's secrets, generating whatever a first run needs. Safe
 * to call on every command: a complete, consistent set is returned as is.
 */
export async function loadOrCreateClusterSecrets(
  input: ClusterSecretsInput,
  now: Date = new Date(),
): Promise<ClusterSecrets> {
  const paths = clusterSecretPaths(input.stateDir);
  const [caCertPem, caKeyPem, tokenText, adminCertPem, adminKeyPem] = await Promise.all(
    [paths.caCert, paths.caKey, paths.bootstrapToken, paths.adminCert, paths.adminKey].map(readOptional),
  );
  const created: string[] = [];
  await ensureSecretDir(paths.dir);

  let ca: CertificateAndKey;
  if (caCertPem === undefined && caKeyPem === undefined) {
    // A CA is only generated into an empty set: a token or admin cert without it belongs to a lost CA.
    const orphan = [
      [paths.bootstrapToken, tokenText],
      [paths.adminCert, adminCertPem],
      [paths.adminKey, adminKeyPem],
    ].find(([, text]) => text !== undefined);
    if (orphan) throw missingPartner(orphan[0]!, `${paths.caCert} and ${paths.caKey}`, paths);
    ca = await createClusterCa({ now });
    await writeSecretFileAtomic(paths.caKey, ca.keyPem);
    await writeSecretFileAtomic(paths.caCert, ca.certPem);
    created.push(paths.caKey, paths.caCert);
  } else if (caCertPem === undefined) {
    throw missingPartner(paths.caKey, paths.caCert, paths);
  } else if (caKeyPem === undefined) {
    throw missingPartner(paths.caCert, paths.caKey, paths);
  } else {
    ca = { certPem: caCertPem, keyPem: caKeyPem };
    if (!checkCertificate(paths.caCert, caCertPem, paths, now).isCa)
      throw corrupt(paths.caCert, 'is not a CA certificate', paths);
    checkPair(paths.caCert, paths.caKey, ca, paths);
  }

  let bootstrapToken: BootstrapToken;
  if (tokenText === undefined) {
    if (created.length === 0) {
      throw new KubestationError(
        'PKI_INCOMPLETE',
        `${paths.bootstrapToken} is missing but the cluster CA already exists`,
        {
          fix: `restore ${paths.bootstrapToken} from a backup; if the cluster is already running, rebuilding a node mints and records a new token`,
        },
      );
    }
    bootstrapToken = generateBootstrapToken();
    await recordBootstrapToken(paths, bootstrapToken, now);
    created.push(paths.bootstrapToken, paths.bootstrapTokenIssued);
  } else {
    const parsed = parseBootstrapToken(tokenText);
    if (!parsed)
      throw corrupt(
        paths.bootstrapToken,
        'does not hold a bootstrap token of the form <6 chars>.<16 chars> ([a-z0-9])',
        paths,
      );
    bootstrapToken = parsed;
  }

  let admin: CertificateAndKey;
  if (adminCertPem === undefined && adminKeyPem === undefined) {
    // Issued by our own CA, so creating it later (e.g. after the user deleted both files) is safe.
    admin = await issueClientCertificate(ca, {
      ...adminIdentity,
      organizations: [...adminIdentity.organizations],
      validityDays: adminValidityDays,
      now,
    });
    await writeSecretFileAtomic(paths.adminKey, admin.keyPem);
    await writeSecretFileAtomic(paths.adminCert, admin.certPem);
    created.push(paths.adminKey, paths.adminCert);
  } else if (adminCertPem === undefined) {
    throw missingPartner(paths.adminKey, paths.adminCert, paths);
  } else if (adminKeyPem === undefined) {
    throw missingPartner(paths.adminCert, paths.adminKey, paths);
  } else {
    admin = { certPem: adminCertPem, keyPem: adminKeyPem };
    const adminFix = `delete ${paths.adminCert} and ${paths.adminKey} and run again: a new admin certificate is issued from the cluster CA`;
    try {
      checkCertificate(paths.adminCert, adminCertPem, paths, now);
      checkPair(paths.adminCert, paths.adminKey, admin, paths);
    } catch (error) {
      if (error instanceof KubestationError)
        throw new KubestationError(error.code, error.message, { fix: adminFix });
      throw error;
    }
    if (!isIssuedBy(adminCertPem, caCertPem!)) {
      throw new KubestationError(
        'PKI_CORRUPT',
        `${paths.adminCert} was not issued by the cluster CA in ${paths.caCert}`,
        { fix: adminFix },
      );
    }
  }

  const kubeconfig = renderKubeconfig({
    clusterName: input.clusterName,
    server: `https://${input.apiEndpoint}`,
    caCertPem: ca.certPem,
    userName: adminIdentity.commonName,
    clientCertPem: admin.certPem,
    clientKeyPem: admin.keyPem,
  });
  if ((await readOptional(paths.adminKubeconfig)) !== kubeconfig) {
    await writeSecretFileAtomic(paths.adminKubeconfig, kubeconfig);
    created.push(paths.adminKubeconfig);
  }

  return { paths, ca, caCertHash: discoveryHash(ca.certPem), bootstrapToken, admin, created };
}

interface TokenIssueRecord {
  /** The token's public id: a record left beside another token (replaced by hand) is ignored. */
  tokenId: string;
  issuedAt: string;
}

/** Writes the token, then when it was issued (each atomically, owner-only). */
async function recordBootstrapToken(
  paths: ClusterSecretPaths,
  token: BootstrapToken,
  issuedAt: Date,
): Promise<void> {
  await writeSecretFileAtomic(paths.bootstrapToken, `${token.token}\n`);
  const record: TokenIssueRecord = { tokenId: token.id, issuedAt: issuedAt.toISOString() };
  await writeSecretFileAtomic(paths.bootstrapTokenIssued, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Records a bootstrap token as the cluster's join token, replacing the old
 * one: a fresh one by default (the control plane's kubeadm init registers
 * it), or `token`, already registered by the caller (its Secret created
 * through the API with src/kube `createBootstrapTokenSecret`) at `issuedAt`.
 */
export async function mintBootstrapToken(
  stateDir: string,
  token: BootstrapToken = generateBootstrapToken(),
  issuedAt: Date = new Date(),
): Promise<BootstrapToken> {
  const paths = clusterSecretPaths(stateDir);
  if ((await readOptional(paths.caCert)) === undefined) {
    throw new KubestationError(
      'PKI_MISSING',
      `no cluster CA at ${paths.caCert}, so there is no cluster to mint a join token for`,
      {
        fix: 'build the cluster first (its secrets are created on the first run)',
      },
    );
  }
  await recordBootstrapToken(paths, token, issuedAt);
  return token;
}

export interface RecordedBootstrapToken {
  token: BootstrapToken;
  /**
   * When it was issued. It is registered with the cluster then or later (kubeadm
   * init registers the recorded token when the control plane boots), so
   * issuedAt + TTL is the earliest it can expire.
   */
  issuedAt: Date;
  /** 'record': from bootstrap-token.issued.json; 'file-time': the token file's mtime (state folders from before the record, or a token replaced by hand). */
  issuedAtSource: 'record' | 'file-time';
}

/** The recorded join token and when it was issued; undefined when there is no readable token. */
export async function readRecordedBootstrapToken(
  stateDir: string,
): Promise<RecordedBootstrapToken | undefined> {
  const paths = clusterSecretPaths(stateDir);
  let text: string;
  let fileTime: Date;
  try {
    [text, fileTime] = await Promise.all([
      readFile(paths.bootstrapToken, 'utf8'),
      stat(paths.bootstrapToken).then((s) => s.mtime),
    ]);
  } catch {
    return undefined;
  }
  const token = parseBootstrapToken(text);
  if (!token) return undefined;
  // Without a readable record, the token file's time stands in, and issuedAtSource says so.
  const record = await readFile(paths.bootstrapTokenIssued, 'utf8')
    .then((json) => JSON.parse(json) as Partial<TokenIssueRecord>)
    .catch(() => undefined);
  const issuedAt =
    record?.tokenId === token.id && typeof record.issuedAt === 'string'
      ? new Date(record.issuedAt)
      : undefined;
  if (issuedAt && !Number.isNaN(issuedAt.getTime())) return { token, issuedAt, issuedAtSource: 'record' };
  return { token, issuedAt: fileTime, issuedAtSource: 'file-time' };
}
