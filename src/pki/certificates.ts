/**
 * The cluster's certificates, made with @peculiar/x509 on Node's WebCrypto.
 * kubeadm accepts a pre-made `ca.crt` + `ca.key` in its certificatesDir and
 * signs everything else with them; knowing the CA up front lets the host
 * pin it in join configs (discovery hash) and issue its own admin identity.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate as NodeX509,
} from 'node:crypto';
import type * as X509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

let x509Library: Promise<typeof X509> | undefined;

/**
 * @peculiar/x509 is loaded only when a certificate is made (a first run, a
 * rebuilt admin identity): it costs ~150 ms of start-up, and reading or
 * checking existing certificates needs only node:crypto.
 */
export function loadX509(): Promise<typeof X509> {
  x509Library ??= (async () => {
    // Its dependency injection (tsyringe) needs the Reflect metadata API loaded first.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return x509Library;
}

/** A certificate and its private key, both PEM (key is PKCS#8 "PRIVATE KEY"). */
export interface CertificateAndKey {
  certPem: string;
  keyPem: string;
}

const rsaSigning = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
const rsaKeyGen = { ...rsaSigning, publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
const dayMs = 24 * 60 * 60 * 1000;
/** Backdate notBefore so a guest whose clock is a little behind the host still accepts the cert. */
const clockSkewAllowanceMs = 5 * 60 * 1000;

function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER
  if (bytes[0] === 0) bytes[0] = 0x01; // keep the full length (no leading zero octet)
  return bytes.toString('hex');
}

async function generateRsaKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(rsaKeyGen, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(x509: typeof X509, key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PEM private key (PKCS#8, or PKCS#1 "RSA PRIVATE KEY") as a WebCrypto signing key. */
async function importSigningKey(keyPem: string): Promise<CryptoKey> {
  const pkcs8 = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', pkcs8, rsaSigning, false, ['sign']);
}

function validity(validityDays: number, now: Date, limit?: Date): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(validityDays) || validityDays <= 0)
    throw new RangeError(`validityDays must be positive, got ${validityDays}`);
  const notBefore = new Date(now.getTime() - clockSkewAllowanceMs);
  let notAfter = new Date(now.getTime() + validityDays * dayMs);
  if (limit && notAfter > limit) notAfter = limit; // a leaf never outlives its CA
  return { notBefore, notAfter };
}

export interface ClusterCaOptions {
  /** kubeadm names its CA "kubernetes". */
  commonName?: string;
  /** Default 3650 (10 years, as kubeadm). */
  validityDays?: number;
  now?: Date;
}

/** A self-signed RSA-2048 CA shaped like the one kubeadm would make. */
export async function createClusterCa(options: ClusterCaOptions = {}): Promise<CertificateAndKey> {
  const x509 = await loadX509();
  const keys = await generateRsaKeyPair();
  const { notBefore, notAfter } = validity(options.validityDays ?? 3650, options.now ?? new Date());
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [options.commonName ?? 'kubernetes'] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: rsaSigning,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(x509, keys.privateKey) };
}

interface LeafRequest {
  commonName: string;
  organizations?: string[];
  validityDays?: number;
  usage: 'client' | 'server';
  dnsNames?: string[];
  ipAddresses?: string[];
  now?: Date;
}

async function issueLeaf(ca: CertificateAndKey, request: LeafRequest): Promise<CertificateAndKey> {
  const x509 = await loadX509();
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importSigningKey(ca.keyPem);
  const keys = await generateRsaKeyPair();
  const { notBefore, notAfter } = validity(
    request.validityDays ?? 365,
    request.now ?? new Date(),
    caCert.notAfter,
  );
  const subject: X509.JsonName = [{ CN: [request.commonName] }];
  for (const organization of request.organizations ?? []) subject.push({ O: [organization] });
  const extensions: X509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([
      request.usage === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
    ]),
    await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
  ];
  const altNames: X509.JsonGeneralName[] = [
    ...(request.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: rsaSigning,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(x509, keys.privateKey) };
}

export interface ClientCertificateRequest {
  commonName: string;
  /** Become the certificate's O= values, i.e. Kubernetes groups. */
  organizations: string[];
  /** Default 365; never beyond the CA's own expiry. */
  validityDays?: number;
  now?: Date;
}

/** A client certificate (extKeyUsage clientAuth) signed by `ca`; CN = user, O = groups for the API server. */
export function issueClientCertificate(
  ca: CertificateAndKey,
  request: ClientCertificateRequest,
): Promise<CertificateAndKey> {
  return issueLeaf(ca, { ...request, usage: 'client' });
}

export interface ServerCertificateRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  validityDays?: number;
  now?: Date;
}

/** A TLS server certificate (extKeyUsage serverAuth) with the given subject alternative names. */
export function issueServerCertificate(
  ca: CertificateAndKey,
  request: ServerCertificateRequest,
): Promise<CertificateAndKey> {
  return issueLeaf(ca, { ...request, usage: 'server' });
}

/**
 * kubeadm's CA pin: "sha256:" + hex SHA-256 of the certificate's DER
 * SubjectPublicKeyInfo (k/k cmd/kubeadm/app/util/pubkeypin).
 */
export function discoveryHash(caCertPem: string): string {
  const spki = new NodeX509(caCertPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** Facts about a PEM certificate that the secrets store checks; throws if the text is not a certificate. */
export interface CertificateFacts {
  subject: string;
  isCa: boolean;
  notBefore: Date;
  notAfter: Date;
}

export function inspectCertificate(certPem: string): CertificateFacts {
  const cert = new NodeX509(certPem);
  return {
    subject: cert.subject,
    isCa: cert.ca,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
  };
}

/** True when `keyPem` is the private key belonging to the certificate. Throws if either does not parse. */
export function certificateMatchesKey(certPem: string, keyPem: string): boolean {
  const certSpki = new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const keySpki = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  return certSpki.equals(keySpki);
}

/** True when `certPem` was signed by the CA certificate `caCertPem`. */
export function isIssuedBy(certPem: string, caCertPem: string): boolean {
  const cert = new NodeX509(certPem);
  const ca = new NodeX509(caCertPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}
