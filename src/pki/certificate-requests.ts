/**
 * PKCS#10 certificate requests (CSRs), read with @peculiar/x509: node:crypto
 * parses certificates but not requests. kubestation reads the kubelets'
 * serving-certificate requests to approve only the names and addresses a
 * node may claim; the fake API's kubelets make them the same way.
 */
import { webcrypto } from 'node:crypto';
import { loadX509 } from './certificates.js';

/** What a request asks for: its subject and the names (SANs) a certificate from it would hold. */
export interface CertificateRequestFacts {
  /** The subject's common name (a kubelet's: system:node:<node>). */
  commonName: string | undefined;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Any other kind of name (e-mail, URI, ...): a kubelet asks for none. */
  otherNames: string[];
}

/** Parses a PEM "CERTIFICATE REQUEST" and checks its signature; throws for anything else. */
export async function readCertificateRequest(pem: string): Promise<CertificateRequestFacts> {
  const x509 = await loadX509();
  const request = new x509.Pkcs10CertificateRequest(pem);
  if (!(await request.verify())) throw new Error('the request is not signed by its own key');
  const subject = request.subjectName.toJSON();
  const values = (type: string): string[] =>
    subject.flatMap((rdn) => (rdn[type] ?? []).map((v) => String(v)));
  const facts: CertificateRequestFacts = {
    commonName: values('CN')[0],
    organizations: values('O'),
    dnsNames: [],
    ipAddresses: [],
    otherNames: [],
  };
  const san = request.getExtension('2.5.29.17');
  if (san) {
    for (const name of new x509.SubjectAlternativeNameExtension(san.rawData).names.items) {
      if (name.type === 'dns') facts.dnsNames.push(name.value);
      else if (name.type === 'ip') facts.ipAddresses.push(name.value);
      else facts.otherNames.push(`${name.type}:${name.value}`);
    }
  }
  return facts;
}

/** A request as a kubelet files it for its serving certificate: ECDSA P-256, CN=system:node:<node>, O=system:nodes. */
export async function createKubeletServingRequest(
  node: string,
  names: { dnsNames: string[]; ipAddresses: string[] },
): Promise<string> {
  const x509 = await loadX509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, false, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [`system:node:${node}`] }, { O: ['system:nodes'] }],
    keys: keys as unknown as Parameters<typeof x509.Pkcs10CertificateRequestGenerator.create>[0]['keys'],
    signingAlgorithm: algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  return request.toString('pem');
}
