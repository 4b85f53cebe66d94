/**
 * Keeps secrets out of a support bundle. Two layers, because either alone
 * misses something:
 *
 * - the secret VALUES this host knows (the CA and admin keys, the SSH key,
 *   the join token, the vmrest password, secret-looking environment
 *   variables), each also in base64 and line by line for PEM bodies, are
 *   replaced wherever they appear;
 * - secret SHAPES the host cannot know in advance are replaced by pattern:
 *   PEM private-key blocks (the guest's own service-account and front-proxy
 *   keys), kubeconfig client keys, bootstrap tokens, kubeadm certificate
 *   keys, Authorization headers and password fields.
 *
 * Pure: the caller gathers the values (collectKnownSecrets in bundle-sources.ts).
 */

export interface SecretValue {
  /** What it is, shown in the placeholder: never the value. */
  label: string;
  value: string;
}

/** Shorter values would redact ordinary words; every real secret here is longer. */
const MIN_SECRET_LENGTH = 6;

/** Each secret as it may appear in collected text: as is, in base64, and (PEM) each body line. */
export function secretForms(secret: SecretValue): SecretValue[] {
  const value = secret.value.trim();
  if (value.length < MIN_SECRET_LENGTH) return [];
  const forms = [value, Buffer.from(value, 'utf8').toString('base64')];
  if (value.includes('-----BEGIN')) {
    for (const line of value.split(/\r?\n/)) {
      if (line.length >= 40 && !line.startsWith('-----')) forms.push(line.trim());
    }
  }
  return forms.map((form) => ({ label: secret.label, value: form }));
}

const patterns: { label: string; regex: RegExp; keep?: number }[] = [
  // A whole PEM private key, or its start when a log tail cut it off.
  {
    label: 'private key',
    regex: /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(-----END \1PRIVATE KEY-----|$)/g,
  },
  // base64 of "-----BEGIN ... PRIVATE KEY" (kubeconfig client-key-data, cloud-init write_files b64).
  { label: 'private key (base64)', regex: /LS0tLS1CRUdJTi[A-Za-z0-9+/=]*/g },
  { label: 'kubeconfig key', regex: /(client-key-data|client-key|token)(\s*:\s*)("?)[^\s"]+\3/g, keep: 2 },
  // kubeadm bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16}.
  { label: 'bootstrap token', regex: /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g },
  // kubeadm's certificate key: 32 bytes in hex after its flag or field, or on the line after
  // "Using certificate key:" as kubeadm init --upload-certs prints it.
  {
    label: 'certificate key',
    regex: /(certificate[ -]?key["']?\s*[:=]?\s*["']?)[0-9a-fA-F]{64}\b/gi,
    keep: 1,
  },
  { label: 'authorization', regex: /(Authorization:\s*(Basic|Bearer)\s+)[A-Za-z0-9+/=._-]+/gi, keep: 1 },
  { label: 'password', regex: /("?(?:password|passwd|secret)"?\s*[:=]\s*)("[^"]*"|'[^']*'|\S+)/gi, keep: 1 },
];

/** `text` with every known secret value and every secret-shaped string replaced by `<redacted: label>`. */
export function redactText(text: string, secrets: readonly SecretValue[]): string {
  let out = text;
  // Longest first, so a PEM block goes before one of its own lines.
  const forms = secrets.flatMap(secretForms).sort((a, b) => b.value.length - a.value.length);
  for (const { label, value } of forms) out = out.split(value).join(`<redacted: ${label}>`);
  for (const { label, regex, keep } of patterns) {
    out = out.replace(regex, (...match: string[]) => {
      const kept = keep === undefined ? '' : match.slice(1, keep + 1).join('');
      return `${kept}<redacted: ${label}>`;
    });
  }
  return out;
}
