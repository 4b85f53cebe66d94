/**
 * Reading a node's serial console file on the host: as it grows (FileTail),
 * its last lines for a report (tailLines, progress lines decoded), and its
 * last progress line however long the file is (lastProgressLine, read
 * backwards in chunks). Works on Windows while vmware-vmx holds the file
 * open: plain stat + positioned reads, no change notifications.
 */
import { open } from 'node:fs/promises';
import { statIfPresent } from '../missing-file.js';
import {
  classifyConsoleLine,
  parseProgressLine,
  PROGRESS_MARKER,
  type ProgressLine,
} from '../progress/protocol.js';
import { redactSecrets } from '../progress/redact.js';

/** A growing file read from where the last read stopped. */
export class FileTail {
  #offset = 0;
  #decoder = new TextDecoder('utf-8');
  constructor(readonly file: string) {}

  /** New text since the last call ('' when the file is missing or unchanged); `restarted` when the file was replaced (it shrank). */
  async read(): Promise<{ text: string; restarted: boolean }> {
    const info = await statIfPresent(this.file);
    if (!info) return { text: '', restarted: false };
    let restarted = false;
    if (info.size < this.#offset) {
      this.#offset = 0;
      this.#decoder = new TextDecoder('utf-8');
      restarted = true;
    }
    if (info.size === this.#offset) return { text: '', restarted };
    const handle = await open(this.file, 'r');
    try {
      const length = info.size - this.#offset;
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, this.#offset);
      this.#offset += bytesRead;
      return { text: this.#decoder.decode(buffer.subarray(0, bytesRead), { stream: true }), restarted };
    } finally {
      await handle.close();
    }
  }
}

const CHUNK_BYTES = 64 * 1024;
/** A console line longer than this is not a progress line worth finding (fail lines are a few KiB). */
const MAX_LINE_BYTES = 1024 * 1024;

/**
 * The file's complete lines from the end backwards, newest first, reading
 * CHUNK_BYTES at a time: memory stays bounded by the longest line, not the
 * file. A line cut by the start of a read window is completed by the next
 * (earlier) chunk, so every line yielded starts at a real line start. With
 * `needle`, only lines containing it are yielded, found by a byte search
 * (a 100 MB console is not split into a million strings).
 */
async function* linesBackwards(file: string, needle?: Buffer): AsyncGenerator<string> {
  const info = await statIfPresent(file);
  if (!info || info.size === 0) return;
  const handle = await open(file, 'r');
  const text = (bytes: Buffer): string => bytes.toString('utf8').replace(/\r$/, '');
  try {
    let end = info.size;
    let carry = Buffer.alloc(0); // the end part of a line whose start is in an earlier chunk
    while (end > 0) {
      const start = Math.max(0, end - CHUNK_BYTES);
      const chunk = Buffer.alloc(end - start);
      await handle.read(chunk, 0, chunk.length, start);
      end = start;
      const joined = Buffer.concat([chunk, carry]);
      // Lines are complete from the first newline on (from the very start at offset 0).
      const firstNewline = start === 0 ? -1 : joined.indexOf(0x0a);
      if (start > 0 && firstNewline < 0) {
        carry =
          joined.length > MAX_LINE_BYTES
            ? Buffer.from(joined.subarray(joined.length - MAX_LINE_BYTES))
            : joined;
        continue;
      }
      const region = joined.subarray(firstNewline + 1);
      carry = Buffer.from(joined.subarray(0, Math.max(0, firstNewline)));
      // region[0, stop) holds the lines still to be yielded; the final newline ends the last one.
      let stop = region.length > 0 && region[region.length - 1] === 0x0a ? region.length - 1 : region.length;
      for (;;) {
        let lineStart: number;
        let lineEnd = stop;
        if (needle) {
          const at = stop === 0 ? -1 : region.lastIndexOf(needle, stop - 1);
          if (at < 0) break;
          lineStart = region.lastIndexOf(0x0a, at) + 1;
          const newline = region.indexOf(0x0a, at);
          if (newline >= 0 && newline < stop) lineEnd = newline;
        } else {
          // (lastIndexOf with offset -1 would search from the end: stop 0 is the first line.)
          lineStart = stop === 0 ? 0 : region.lastIndexOf(0x0a, stop - 1) + 1;
        }
        const line = text(region.subarray(lineStart, lineEnd));
        if (line.trim() !== '') yield line;
        if (lineStart === 0) break;
        stop = lineStart - 1;
      }
    }
  } finally {
    await handle.close();
  }
}

const PROGRESS_NEEDLE = Buffer.from(PROGRESS_MARKER);

/** A console line as a person should read it in a report: progress lines decoded, secrets redacted. */
export function readableConsoleLine(text: string): string {
  const parsed = classifyConsoleLine(text);
  if (parsed.kind === 'line') {
    const { stage, event, message } = parsed.line;
    return `[kubestation] ${stage} ${event}${message ? `: ${message}` : ''}`;
  }
  return redactSecrets(text);
}

/** The last `count` non-empty lines of a console file, oldest first, each from its start, progress lines decoded. */
export async function tailLines(file: string, count = 15): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of linesBackwards(file)) {
    lines.unshift(...readableConsoleLine(line).split('\n'));
    if (lines.length >= count) break;
  }
  return lines.slice(-count);
}

/**
 * The last progress line in a console file that `wanted` accepts (default:
 * any), however long the file is; undefined when there is none (or no file).
 */
export async function lastProgressLine(
  file: string,
  wanted: (line: ProgressLine) => boolean = () => true,
): Promise<ProgressLine | undefined> {
  for await (const line of linesBackwards(file, PROGRESS_NEEDLE)) {
    const parsed = parseProgressLine(line);
    if (parsed && wanted(parsed)) return parsed;
  }
  return undefined;
}
