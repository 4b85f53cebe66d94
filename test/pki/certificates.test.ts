import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateMatchesKey,
  createClusterCa,
  discoveryHash,
  isIssuedBy,
  issueClientCertificate,
  issueServerCertificate,
  type CertificateAndKey,
} from '../../src/pki/certificates.js';

const work = tempDir('kubestation-pki-');
const write = (name: string, text: string): string => {
  const file = path.join(work, name);
  writeFileSync(file, text);
  return file;
};
const openssl = (args: string[], input?: string): string =>
  execFileSync('openssl', args, { input, encoding: 'utf8' });

let ca: CertificateAndKey;
beforeAll(async () => {
  ca = await createClusterCa();
});

describe('createClusterCa', () => {
  it('makes a kubeadm-style CA that openssl reads: CN kubernetes, CA:TRUE critical, key usages critical, SKI, 10 years', () => {
    const text = openssl(['x509', '-in', write('ca.crt', ca.certPem), '-noout', '-text']);
    expect(text).toMatch(/Subject: CN\s?=\s?kubernetes\n/);
    expect(text).toMatch(/Issuer: CN\s?=\s?kubernetes\n/);
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('sha256WithRSAEncryption');
    const endDate = new Date(
      openssl(['x509', '-in', path.join(work, 'ca.crt'), '-noout', '-enddate'])
        .replace('notAfter=', '')
        .trim(),
    );
    const years = (endDate.getTime() - Date.now()) / (365.25 * 24 * 3600 * 1000);
    expect(years).toBeGreaterThan(9.9);
    expect(years).toBeLessThan(10.1);
    // The key is a PKCS#8 RSA key that openssl accepts and that belongs to the certificate.
    expect(openssl(['pkey', '-in', write('ca.key', ca.keyPem), '-noout', '-check'])).toMatch(/valid/i);
    expect(certificateMatchesKey(ca.certPem, ca.keyPem)).toBe(true);
  });

  it('is self-signed (openssl verifies it against itself)', () => {
    const file = write('ca-self.crt', ca.certPem);
    expect(openssl(['verify', '-CAfile', file, file])).toContain(': OK');
  });
});

describe('discoveryHash', () => {
  it('equals the pin openssl computes from the SubjectPublicKeyInfo', () => {
    const pub = execFileSync('openssl', ['x509', '-in', write('pin.crt', ca.certPem), '-pubkey', '-noout']);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const digest = execFileSync('openssl', ['dgst', '-sha256'], { input: der, encoding: 'utf8' });
    const hex = /([0-9a-f]{64})\s*$/.exec(digest)?.[1];
    expect(hex).toBeDefined();
    expect(discoveryHash(ca.certPem)).toBe(`sha256:${hex}`);
  });

  it('differs between CAs', async () => {
    const other = await createClusterCa();
    expect(discoveryHash(other.certPem)).not.toBe(discoveryHash(ca.certPem));
  });
});

describe('issued certificates', () => {
  it('client certificate carries CN and O (Kubernetes user and group), clientAuth, and chains to the CA', async () => {
    const admin = await issueClientCertificate(ca, {
      commonName: 'kubernetes-admin',
      organizations: ['kubeadm:cluster-admins'],
      validityDays: 30,
    });
    const file = write('admin.crt', admin.certPem);
    const subject = openssl(['x509', '-in', file, '-noout', '-subject', '-nameopt', 'RFC2253']);
    expect(subject.trim()).toBe('subject=O=kubeadm:cluster-admins,CN=kubernetes-admin');
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    expect(text).toContain('TLS Web Client Authentication');
    expect(text).toMatch(/CA:FALSE/);
    expect(
      openssl(['verify', '-CAfile', path.join(work, 'ca.crt'), '-purpose', 'sslclient', file]),
    ).toContain(': OK');
    expect(certificateMatchesKey(admin.certPem, admin.keyPem)).toBe(true);
    expect(certificateMatchesKey(admin.certPem, ca.keyPem)).toBe(false);
    expect(isIssuedBy(admin.certPem, ca.certPem)).toBe(true);
    const other = await createClusterCa();
    expect(isIssuedBy(admin.certPem, other.certPem)).toBe(false);
  });

  it('server certificate has the requested DNS and IP SANs and serverAuth', async () => {
    const server = await issueServerCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes.default'],
      ipAddresses: ['127.0.0.1'],
    });
    const file = write('server.crt', server.certPem);
    const text = openssl(['x509', '-in', file, '-noout', '-text']);
    expect(text).toMatch(/DNS:localhost, DNS:kubernetes.default, IP Address:127.0.0.1/);
    expect(text).toContain('TLS Web Server Authentication');
    expect(
      openssl(['verify', '-CAfile', path.join(work, 'ca.crt'), '-purpose', 'sslserver', file]),
    ).toContain(': OK');
  });

  it('never outlives the CA', async () => {
    const shortCa = await createClusterCa({ validityDays: 10 });
    const leaf = await issueClientCertificate(shortCa, {
      commonName: 'x',
      organizations: [],
      validityDays: 365,
    });
    const caEnd = openssl(['x509', '-noout', '-enddate'], shortCa.certPem);
    const leafEnd = openssl(['x509', '-noout', '-enddate'], leaf.certPem);
    expect(leafEnd).toBe(caEnd);
  });
});
