/**
 * SHA256SUMS as Ubuntu publishes it beside its cloud images: one
 * `<64 hex> *<file name>` (binary mode) or `<64 hex>  <file name>` (text mode)
 * per line.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const checksumLine = /^([0-9a-fA-F]{64}) [ *](.+)$/;

/** File name → lower-case hex digest. Lines that are not checksum lines are ignored. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const match = checksumLine.exec(raw.trim());
    if (match) sums.set(match[2]!.trim(), match[1]!.toLowerCase());
  }
  return sums;
}

/** The last path segment of a URL, decoded: the name SHA256SUMS lists the file under. */
export function fileNameFromUrl(url: string): string {
  const segments = new URL(url).pathname.split('/').filter((s) => s !== '');
  const last = segments.at(-1);
  if (!last) throw new Error(`URL ${url} does not name a file`);
  return decodeURIComponent(last);
}

/** Streams a file through SHA-256 (images are hundreds of MiB: never read them whole). */
export async function sha256File(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
