/**
 * Reading serial console files on the host: the last progress line of logs
 * far larger than one read window (status saw "-" for 78 KB and 120 KB
 * logs), lines cut across read windows, and report tails from a line start.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lastProgressLine, tailLines } from '../../src/bringup/console-log.js';
import { formatProgressLine } from '../../src/progress/protocol.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kubestation-console-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const progress = (
  stage: string,
  event: 'start' | 'ok' | 'fail',
  message = '',
  timeMs = 1_764_000_000_000,
): string => formatProgressLine({ node: 'k8s-master', stage, event, timeMs, message });
/** Console noise: `count` kernel-style lines of ~60 bytes. */
const noise = (count: number, from = 0): string =>
  Array.from(
    { length: count },
    (_, i) => `[ ${String(from + i).padStart(6)}.123456] audit: type=1400 apparmor="STATUS" op=load`,
  ).join('\n');

describe('lastProgressLine', () => {
  it.each([78, 120, 1024])(
    'finds the last progress line behind %i KB of console output after it',
    async (kb) => {
      const file = path.join(dir, 'serial.log');
      const after = noise(Math.ceil((kb * 1024) / 60));
      await writeFile(
        file,
        `${noise(50)}\n${progress('os', 'ok')}\n${progress('packages', 'start', 'containerd, kubelet')}\n${after}\n`,
      );
      const found = await lastProgressLine(file);
      expect(found).toMatchObject({ stage: 'packages', event: 'start', message: 'containerd, kubelet' });
    },
  );

  it('finds a long fail line that straddles two read windows, decoded', async () => {
    const file = path.join(dir, 'serial.log');
    const tail = Array.from({ length: 20 }, (_, i) => `E: line ${i} ${'x'.repeat(70)}`).join('\n');
    const fail = progress('packages', 'fail', `exit code 100 | last log lines:\n${tail}`);
    // Place the fail line so that the 64 KiB window from the end starts inside it.
    const after = `\n${'y'.repeat(64 * 1024 - 500)}\n`;
    await writeFile(file, `${noise(100)}\n${fail}${after}`);
    const found = await lastProgressLine(file);
    expect(found?.event).toBe('fail');
    expect(found?.message).toContain('E: line 19');
    expect(found?.message).toContain('exit code 100 | last log lines:\nE: line 0');
  });

  it('takes a filter (doctor skips info lines) and answers undefined for no file or no progress line', async () => {
    const file = path.join(dir, 'serial.log');
    await writeFile(file, `${progress('os', 'start')}\n${progress('os', 'ok')}\n${noise(10)}\n`);
    expect(await lastProgressLine(file, (l) => l.event === 'start')).toMatchObject({
      stage: 'os',
      event: 'start',
    });
    expect(await lastProgressLine(path.join(dir, 'missing.log'))).toBeUndefined();
    await writeFile(file, `${noise(3000)}\n`);
    expect(await lastProgressLine(file)).toBeUndefined();
    await writeFile(file, '');
    expect(await lastProgressLine(file)).toBeUndefined();
  });

  it('handles CRLF line ends and a last line without its newline', async () => {
    const file = path.join(dir, 'serial.log');
    await writeFile(file, `${noise(5).replace(/\n/g, '\r\n')}\r\n${progress('firewall', 'ok')}`);
    expect(await lastProgressLine(file)).toMatchObject({ stage: 'firewall', event: 'ok' });
  });
});

describe('tailLines', () => {
  it('starts every line at a line start, even when the window cuts one', async () => {
    const file = path.join(dir, 'serial.log');
    // One line longer than a read window, then short ones.
    await writeFile(file, `${'no newline yet, '.repeat(4600)}\n${noise(3)}\n`);
    const lines = await tailLines(file, 5);
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('no newline yet, '.repeat(4600));
    expect(lines.slice(1)).toEqual(noise(3).split('\n'));
  });

  it('decodes progress lines and redacts secrets in ordinary console lines', async () => {
    const file = path.join(dir, 'serial.log');
    await writeFile(
      file,
      `kubeadm join --token abcdef.0123456789abcdef\n${progress('kubeadm-join', 'fail', 'exit code 1 | last log lines:\nerror execution phase')}\n`,
    );
    expect(await tailLines(file, 10)).toEqual([
      'kubeadm join --token <redacted token>',
      '[kubestation] kubeadm-join fail: exit code 1 | last log lines:',
      'error execution phase',
    ]);
  });
});
