/**
 * kubeadm bootstrap tokens: "<id>.<secret>", 6 + 16 characters of [a-z0-9]
 * (k/k staging/src/k8s.io/cluster-bootstrap/token/api). The id is public
 * (it names the Secret); the secret part is what authenticates.
 */
import { randomBytes } from 'node:crypto';

export interface BootstrapToken {
  id: string;
  secret: string;
  /** "<id>.<secret>" as kubeadm takes it. */
  token: string;
}

export const bootstrapTokenPattern = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Largest multiple of 36 that fits in a byte: bytes at or above it are dropped so every character is equally likely. */
const unbiasedLimit = 256 - (256 % alphabet.length);

function randomString(length: number, random: (size: number) => Uint8Array): string {
  let out = '';
  while (out.length < length) {
    for (const byte of random(length * 2)) {
      if (byte >= unbiasedLimit) continue;
      out += alphabet[byte % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A fresh token from cryptographic randomness (`random` is injectable for tests). */
export function generateBootstrapToken(random: (size: number) => Uint8Array = randomBytes): BootstrapToken {
  const id = randomString(6, random);
  const secret = randomString(16, random);
  return { id, secret, token: `${id}.${secret}` };
}

/** Parses "<id>.<secret>"; undefined when the text is not a bootstrap token. */
export function parseBootstrapToken(text: string): BootstrapToken | undefined {
  const match = bootstrapTokenPattern.exec(text.trim());
  if (!match) return undefined;
  return { id: match[1]!, secret: match[2]!, token: match[0] };
}
