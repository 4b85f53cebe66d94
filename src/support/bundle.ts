/**
 * The support bundle (`doctor --bundle`): one .zip a user can hand over when
 * the real PC disagrees with what kubestation expects.
 *
 * A bundle is a list of parts. Each part collects text entries or fails with
 * a reason; a failed part never stops the others, and README.txt inside the
 * zip lists what was collected, what was not and why. Every entry passes
 * through redactText before it is stored, and the size is bounded: an entry
 * keeps its last ENTRY_LIMIT_BYTES (logs matter most at their end), the
 * bundle stops adding entries at BUNDLE_LIMIT_BYTES and says so.
 */
import { zipSync } from 'fflate';
import { redactText, type SecretValue } from './redact.js';

export const ENTRY_LIMIT_BYTES = 2 * 1024 * 1024;
export const BUNDLE_LIMIT_BYTES = 32 * 1024 * 1024;

export interface BundleEntry {
  /** Path inside the zip, with forward slashes. */
  name: string;
  text: string;
}

export interface BundlePart {
  /** Shown in the progress line and README.txt, e.g. "vmrest answers". */
  name: string;
  collect(): Promise<BundleEntry[]>;
}

/** A part (or one entry of it) that is not in the bundle, and why. */
export interface MissingPart {
  part: string;
  why: string;
}

export interface BundleContents {
  entries: BundleEntry[];
  missing: MissingPart[];
}

export type BundleProgress = (line: string) => void;

/** The last `limit` bytes of `text` (whole lines), marked when something was cut. */
export function tailText(text: string, limit = ENTRY_LIMIT_BYTES): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= limit) return text;
  const tail = bytes.subarray(bytes.length - limit).toString('utf8');
  const firstBreak = tail.indexOf('\n');
  const whole = firstBreak >= 0 ? tail.slice(firstBreak + 1) : tail;
  return `[... the first ${bytes.length - Buffer.byteLength(whole)} bytes were left out: only the last ${limit} bytes are kept]\n${whole}`;
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs every part, redacts and bounds what they return, and records what is missing. */
export async function collectBundle(
  parts: readonly BundlePart[],
  secrets: readonly SecretValue[],
  progress: BundleProgress,
): Promise<BundleContents> {
  const entries: BundleEntry[] = [];
  const missing: MissingPart[] = [];
  let total = 0;
  for (const part of parts) {
    let collected: BundleEntry[];
    try {
      collected = await part.collect();
    } catch (error) {
      // The reason may quote what failed; it goes into README.txt, so it is redacted too.
      const why = redactText(reason(error), secrets);
      missing.push({ part: part.name, why });
      progress(`${part.name}: not collected (${why})`);
      continue;
    }
    let kept = 0;
    for (const entry of collected) {
      const text = tailText(redactText(entry.text, secrets));
      const size = Buffer.byteLength(text);
      if (total + size > BUNDLE_LIMIT_BYTES) {
        missing.push({
          part: `${part.name}: ${entry.name}`,
          why: `the bundle reached its ${BUNDLE_LIMIT_BYTES / 1024 / 1024} MiB bound`,
        });
        continue;
      }
      total += size;
      kept += 1;
      entries.push({ name: entry.name, text });
    }
    progress(`${part.name}: ${kept} file${kept === 1 ? '' : 's'}`);
  }
  return { entries, missing };
}

/** README.txt: what the bundle is, what it holds, what it lacks and why, and what it never holds. */
export function bundleReadme(
  contents: BundleContents,
  about: { createdAt: string; cluster: string; kubestation: string },
): string {
  const lines = [
    `kubestation support bundle for cluster ${about.cluster}`,
    `made ${about.createdAt} by kubestation ${about.kubestation}`,
    '',
    'Collected:',
    ...contents.entries.map((e) => `  ${e.name}`),
    '',
    contents.missing.length === 0 ? 'Nothing that was looked for is missing.' : 'Not collected, and why:',
    ...contents.missing.map((m) => `  ${m.part}: ${m.why}`),
    '',
    'state/state.json, under "assumptions", holds what this PC was seen doing where kubestation relies',
    'on a behaviour no reference settles (vmrest, vmrun, vdiskmanager, the guest): per assumption the',
    'latest answer with its time and the operation that showed it, the first one, and "changed" once an',
    'answer differed from the one before.',
    'reports/doctor.json carries the same record; docs/assumptions.md in the kubestation repository',
    'says what each answer means.',
    '',
    "Never collected: private keys (cluster CA, admin, SSH, the nodes' own keys), the join token,",
    'certificate keys, the vmrest password, the seed ISOs and user-data (they carry the CA key and',
    'the join token). Every file was passed through a redaction of the secret values this PC holds',
    'and of secret-shaped text (private key blocks, tokens, passwords); a redacted value reads',
    '<redacted: what it was>.',
    `Each file keeps at most its last ${ENTRY_LIMIT_BYTES / 1024 / 1024} MiB; the bundle holds at most ${BUNDLE_LIMIT_BYTES / 1024 / 1024} MiB before compression.`,
    '',
  ];
  return lines.join('\n');
}

/** The zip's bytes: README.txt first, then the entries in collection order. */
export function zipBundle(contents: BundleContents, readme: string): Uint8Array {
  const files: Record<string, Uint8Array> = { 'README.txt': Buffer.from(readme, 'utf8') };
  for (const entry of contents.entries) files[entry.name] = Buffer.from(entry.text, 'utf8');
  return zipSync(files, { level: 6 });
}
