/**
 * Download progress for a terminal or a log. On a TTY one line is redrawn in
 * place; anywhere else (CI logs, redirected output) a handful of plain lines
 * is printed so a log never fills with carriage-return noise.
 */

export interface ProgressSink {
  start(label: string, totalBytes: number | undefined, alreadyBytes: number): void;
  advance(receivedBytes: number): void;
  done(): void;
}

const MiB = 1024 * 1024;

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / (1024 * MiB)).toFixed(2)} GiB`;
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** One progress line, e.g. "noble.ova  [######------]  50%  300.0 MiB / 600.0 MiB  12.5 MiB/s". */
export function formatProgressLine(
  label: string,
  received: number,
  total: number | undefined,
  bytesPerSecond: number,
): string {
  const speed = `${formatBytes(bytesPerSecond)}/s`;
  if (!total) return `${label}  ${formatBytes(received)}  ${speed}`;
  const fraction = Math.min(1, received / total);
  const width = 24;
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label}  [${bar}] ${percent}  ${formatBytes(received)} / ${formatBytes(total)}  ${speed}`;
}

export function createProgressSink(
  out: NodeJS.WritableStream & { isTTY?: boolean },
  now: () => number = Date.now,
): ProgressSink {
  const tty = out.isTTY === true;
  let label = '';
  let total: number | undefined;
  let received = 0;
  let startedAt = 0;
  let startBytes = 0;
  let lastDraw = 0;
  let nextQuarter = 1;

  const speed = (): number => {
    const seconds = (now() - startedAt) / 1000;
    return seconds > 0 ? (received - startBytes) / seconds : 0;
  };

  return {
    start(name, totalBytes, alreadyBytes) {
      label = name;
      total = totalBytes;
      received = alreadyBytes;
      startBytes = alreadyBytes;
      startedAt = now();
      lastDraw = 0;
      nextQuarter = total ? Math.floor((alreadyBytes / total) * 4) + 1 : 1;
      if (alreadyBytes > 0) out.write(`resuming ${name} at ${formatBytes(alreadyBytes)}\n`);
      else if (!tty) out.write(`downloading ${name}${total ? ` (${formatBytes(total)})` : ''}\n`);
    },
    advance(bytes) {
      received += bytes;
      if (tty) {
        if (now() - lastDraw < 200) return;
        lastDraw = now();
        out.write(`\r${formatProgressLine(label, received, total, speed())}\x1b[K`);
      } else if (total && received / total >= nextQuarter / 4 && nextQuarter < 4) {
        out.write(`${formatProgressLine(label, received, total, speed())}\n`);
        nextQuarter = Math.floor((received / total) * 4) + 1;
      }
    },
    done() {
      const line = formatProgressLine(label, received, total, speed());
      out.write(tty ? `\r${line}\x1b[K\n` : `${line}\n`);
    },
  };
}

/** For callers that want no output (tests, nested steps). */
export const silentProgress: ProgressSink = { start() {}, advance() {}, done() {} };
