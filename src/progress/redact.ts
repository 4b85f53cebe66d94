/**
 * Removes what must never reach a log, a progress display or an error: join
 * tokens, private keys and long base64 runs (PEM bodies, possibly cut so the
 * BEGIN line is gone). The guest's progress.sh applies the same rules before
 * printing; the parser applies them again.
 */
const TOKEN = /\b[a-z0-9]{6}\.[a-z0-9]{16}\b/g;
const PRIVATE_KEY_BLOCK =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
const BASE64_LINE = /^[ \t]*[A-Za-z0-9+/=]{40,}[ \t]*$/gm;

export function redactSecrets(text: string): string {
  return text
    .replace(PRIVATE_KEY_BLOCK, '<redacted private key>')
    .replace(BASE64_LINE, '<redacted base64>')
    .replace(TOKEN, '<redacted token>');
}
