/**
 * The progress-line protocol a node speaks on its serial console during
 * first boot. One line per event:
 *
 *   KUBESTATION 1 <cksum> <node> <stage> <event> <unix-ms> <message>
 *
 * - `1` is the protocol version.
 * - `<cksum>` is the POSIX `cksum` CRC (decimal) of everything after
 *   "<cksum> " — the guest computes it with coreutils `cksum`, so a line that
 *   console noise (kernel messages, systemd status) cut into is detected and
 *   dropped instead of misread.
 * - `<event>` is start | ok | fail | done | info; `done` appears once, as the
 *   last line, with stage `complete` (see stages.ts). `info` says what a running
 *   stage is doing ("apt: download 12 of 57", "kubeadm: phase certs", "waiting
 *   for … since …"); it changes no stage state. A line with any other event
 *   (from a newer guest) is ignored, not counted as damaged, so hosts and guests
 *   of different releases still understand each other.
 * - `<unix-ms>` is the guest clock (informational: the host times deadlines
 *   with its own clock, since the guest clock may jump when NTP syncs).
 * - `<message>` is the rest of the line (may contain spaces; when empty, the
 *   line ends after <unix-ms> with no trailing space): `%`, tab, CR and LF are
 *   percent-encoded (%25 %09 %0D %0A), a final space too (%20, so trimming
 *   tools cannot change the line), other control characters are removed. A `fail` message ends with the last lines of the
 *   stage's log. Secrets are redacted by the guest before printing and again
 *   by the parser.
 *
 * The shell side is cloud-init/lib/progress.sh; tests check both agree.
 */
import { redactSecrets } from './redact.js';

export const PROGRESS_MARKER = 'KUBESTATION';
export const PROGRESS_PROTOCOL_VERSION = 1;

export type ProgressEvent = 'start' | 'ok' | 'fail' | 'done' | 'info';
const EVENTS: readonly string[] = ['start', 'ok', 'fail', 'done', 'info'];

export interface ProgressLine {
  node: string;
  /** A StageName, or FINAL_STAGE ('complete') for `done`. Unknown names are passed through. */
  stage: string;
  event: ProgressEvent;
  /** Guest clock, milliseconds since 1970. */
  timeMs: number;
  /** Decoded, redacted message ('' when none). */
  message: string;
}

/** Node and stage names are single tokens: what a DNS label or a stage name can hold. */
const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** POSIX cksum (the `cksum` command): CRC-32/CKSUM over the bytes, then over the length. */
const CKSUM_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let bit = 0; bit < 8; bit++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

export function posixCksum(data: Uint8Array): number {
  let crc = 0;
  const step = (byte: number) => {
    crc = ((crc << 8) ^ CKSUM_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  };
  for (const byte of data) step(byte);
  for (let length = data.length; length > 0; length = Math.floor(length / 256)) step(length & 0xff);
  return ~crc >>> 0;
}

export function encodeMessage(message: string): string {
  return (
    message
      .replace(/%/g, '%25')
      .replace(/\t/g, '%09')
      .replace(/\r/g, '%0D')
      .replace(/\n/g, '%0A')
      .replace(/[\u0000-\u001f\u007f]/g, '')
      // A line must not end in a space: consoles and log viewers trim it.
      .replace(/ $/, '%20')
  );
}

export function decodeMessage(encoded: string): string {
  return encoded.replace(/%(25|09|0D|0A|20)/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The line for an event, without the trailing newline. Throws on names that are not single tokens. */
export function formatProgressLine(line: ProgressLine): string {
  for (const [what, value] of [
    ['node', line.node],
    ['stage', line.stage],
  ] as const) {
    if (!TOKEN.test(value))
      throw new Error(`progress ${what} ${JSON.stringify(value)} is not a single token`);
  }
  if (!EVENTS.includes(line.event)) throw new Error(`unknown progress event ${JSON.stringify(line.event)}`);
  const message = encodeMessage(line.message);
  const payload = `${line.node} ${line.stage} ${line.event} ${Math.trunc(line.timeMs)}${message === '' ? '' : ` ${message}`}`;
  return `${PROGRESS_MARKER} ${PROGRESS_PROTOCOL_VERSION} ${posixCksum(Buffer.from(payload, 'utf8'))} ${payload}`;
}

const LINE = /^(\d{1,10}) (([^ ]+) ([^ ]+) ([a-z][a-z0-9-]*) (\d{1,16})(?: (.*))?)$/s;
const HEAD = `${PROGRESS_MARKER} ${PROGRESS_PROTOCOL_VERSION} `;

export type ParseResult =
  | { kind: 'line'; line: ProgressLine }
  /** The marker is there but the rest does not check out (cut by console noise, wrong checksum). */
  | { kind: 'corrupt'; reason: string }
  /** An intact line with an event this parser does not know (a newer guest): skipped, not an error. */
  | { kind: 'unknown-event'; event: string }
  /** Not a progress line at all (ordinary console output). */
  | { kind: 'other' };

/**
 * Classifies one console line. Anything before the marker on the same line
 * (a prompt, a partial kernel message) is ignored; a trailing CR is too.
 */
export function classifyConsoleLine(text: string): ParseResult {
  let at = text.indexOf(HEAD);
  if (at < 0)
    return text.includes(PROGRESS_MARKER)
      ? { kind: 'corrupt', reason: 'unknown protocol version or damaged marker' }
      : { kind: 'other' };
  // Noise before the real line may itself hold a cut-off marker: try every occurrence, first valid wins.
  let first: ParseResult | undefined;
  for (; at >= 0; at = text.indexOf(HEAD, at + 1)) {
    const result = classifyBody(text.slice(at + HEAD.length).replace(/\r+$/, ''));
    if (result.kind === 'line' || result.kind === 'unknown-event') return result;
    first ??= result;
  }
  return first!;
}

function classifyBody(body: string): ParseResult {
  const match = LINE.exec(body);
  if (!match) return { kind: 'corrupt', reason: 'fields missing' };
  const [, sum, payload, node, stage, event, time, message = ''] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (posixCksum(Buffer.from(payload, 'utf8')) !== Number(sum))
    return { kind: 'corrupt', reason: 'checksum mismatch' };
  if (!TOKEN.test(node) || !TOKEN.test(stage)) return { kind: 'corrupt', reason: 'bad node or stage name' };
  if (!EVENTS.includes(event)) return { kind: 'unknown-event', event };
  return {
    kind: 'line',
    line: {
      node,
      stage,
      event: event as ProgressEvent,
      timeMs: Number(time),
      message: redactSecrets(decodeMessage(message)),
    },
  };
}

/** One console line → the progress line it carries, or undefined (noise or damaged). */
export function parseProgressLine(text: string): ProgressLine | undefined {
  const result = classifyConsoleLine(text);
  return result.kind === 'line' ? result.line : undefined;
}

/**
 * Feeds a console stream in arbitrary chunks (a serial log file being
 * appended to) and yields complete progress lines. Partial lines wait for
 * their newline; LF and CRLF both end a line; everything else is ignored
 * (lines with an unknown event too) and damaged progress lines are counted.
 */
export class ProgressLineAccumulator {
  private pending = '';
  /** Progress lines that were dropped as damaged. */
  corruptLines = 0;
  /** Longest partial line kept; a console without newlines must not grow memory forever. */
  private static readonly maxPending = 64 * 1024;

  push(chunk: string): ProgressLine[] {
    this.pending += chunk;
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    if (this.pending.length > ProgressLineAccumulator.maxPending)
      this.pending = this.pending.slice(-ProgressLineAccumulator.maxPending);
    return this.collect(parts);
  }

  /** The stream ended: a last line without its newline is parsed too. */
  end(): ProgressLine[] {
    const rest = this.pending;
    this.pending = '';
    return rest === '' ? [] : this.collect([rest]);
  }

  private collect(lines: string[]): ProgressLine[] {
    const out: ProgressLine[] = [];
    for (const text of lines) {
      const result = classifyConsoleLine(text);
      if (result.kind === 'line') out.push(result.line);
      else if (result.kind === 'corrupt') this.corruptLines++;
    }
    return out;
  }
}
