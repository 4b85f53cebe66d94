/**
 * The lab user's SSH key pair when cluster.yaml lists no public key: an
 * ed25519 pair generated once in `<stateDir>/ssh/`, owner-only, in OpenSSH's
 * own private key format (what `ssh`, `ssh-keygen -y` and Windows' OpenSSH
 * client read), reused on every later run.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import path from 'node:path';
import { KubestationError } from '../errors.js';
import { readTextIfPresent } from '../missing-file.js';
import { ensureSecretDir, writeSecretFileAtomic } from '../pki/secret-files.js';

export interface SshKeyPaths {
  dir: string;
  privateKey: string;
  publicKey: string;
}

export function sshKeyPaths(stateDir: string, pathApi: path.PlatformPath = path): SshKeyPaths {
  const dir = pathApi.join(stateDir, 'ssh');
  return { dir, privateKey: pathApi.join(dir, 'id_ed25519'), publicKey: pathApi.join(dir, 'id_ed25519.pub') };
}

function sshString(data: Uint8Array | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function uint32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

const KEY_TYPE = 'ssh-ed25519';

function publicBlob(publicKey: Uint8Array): Buffer {
  return Buffer.concat([sshString(KEY_TYPE), sshString(publicKey)]);
}

/** "ssh-ed25519 AAAA… comment" */
export function openSshPublicKey(publicKey: Uint8Array, comment: string): string {
  return `${KEY_TYPE} ${publicBlob(publicKey).toString('base64')} ${comment}`;
}

/**
 * Unencrypted "openssh-key-v1" container (OpenSSH PROTOCOL.key): cipher and
 * kdf "none", one key; the private section holds a repeated check integer,
 * the key (seed ‖ public), the comment, and padding 1, 2, 3… to 8 bytes.
 */
export function openSshPrivateKey(
  seed: Uint8Array,
  publicKey: Uint8Array,
  comment: string,
  checkInt = randomBytes(4).readUInt32BE(0),
): string {
  const privateSection = Buffer.concat([
    uint32(checkInt),
    uint32(checkInt),
    sshString(KEY_TYPE),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(comment),
  ]);
  const padding = Buffer.from(Array.from({ length: (8 - (privateSection.length % 8)) % 8 }, (_, i) => i + 1));
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob(publicKey)),
    sshString(Buffer.concat([privateSection, padding])),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

export interface SshKeyPair {
  paths: SshKeyPaths;
  /** OpenSSH public key line. */
  publicKey: string;
  created: boolean;
}

/** Generates a fresh ed25519 pair (raw 32-byte seed and public key) from Node's crypto. */
export function generateEd25519(): { seed: Buffer; publicKey: Buffer } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = publicKey.export({ format: 'jwk' });
  return { seed: Buffer.from(jwk.d!, 'base64url'), publicKey: Buffer.from(pub.x!, 'base64url') };
}

/** Loads the pair from `<stateDir>/ssh/`, creating it on the first run. */
export async function loadOrCreateSshKeyPair(stateDir: string, comment: string): Promise<SshKeyPair> {
  const paths = sshKeyPaths(stateDir);
  const [privateText, publicText] = await Promise.all([
    readTextIfPresent(paths.privateKey),
    readTextIfPresent(paths.publicKey),
  ]);
  if (privateText !== undefined && publicText !== undefined) {
    const line = publicText.trim();
    if (!/^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/.test(line)) {
      throw new KubestationError(
        'SSH_KEY_CORRUPT',
        `${paths.publicKey} does not hold an ssh-ed25519 public key`,
        {
          fix: `restore it from a backup, or recreate it with: ssh-keygen -y -f "${paths.privateKey}" > "${paths.publicKey}"`,
        },
      );
    }
    return { paths, publicKey: line, created: false };
  }
  if (privateText !== undefined || publicText !== undefined) {
    const [present, missing] =
      privateText !== undefined ? [paths.privateKey, paths.publicKey] : [paths.publicKey, paths.privateKey];
    throw new KubestationError('SSH_KEY_INCOMPLETE', `${present} exists but ${missing} is missing`, {
      fix:
        privateText !== undefined
          ? `recreate the public key with: ssh-keygen -y -f "${paths.privateKey}" > "${paths.publicKey}"`
          : `restore ${paths.privateKey} from a backup; if no VM uses this key yet, delete ${paths.dir} and run again`,
    });
  }
  const { seed, publicKey } = generateEd25519();
  await ensureSecretDir(paths.dir);
  await writeSecretFileAtomic(paths.privateKey, openSshPrivateKey(seed, publicKey, comment));
  await writeSecretFileAtomic(paths.publicKey, `${openSshPublicKey(publicKey, comment)}\n`);
  return { paths, publicKey: openSshPublicKey(publicKey, comment), created: true };
}
