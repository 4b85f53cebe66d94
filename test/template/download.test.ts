import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubestationError } from '../../src/errors.js';
import { parseSha256Sums } from '../../src/template/checksums.js';
import { downloadVerified } from '../../src/template/download.js';
import { createProgressSink, formatProgressLine } from '../../src/template/progress-bar.js';
import { IMAGE_NAME, makeCloudImageOva, sha256, startImageServer, type ImageServer } from './fixtures.js';

const fast = { retryDelayMs: 10, maxAttempts: 4 };

describe('SHA256SUMS', () => {
  it('reads binary-mode and text-mode lines and ignores the rest', () => {
    const a = 'a'.repeat(64);
    const b = 'B'.repeat(64);
    const sums = parseSha256Sums(
      `${a} *noble-server-cloudimg-amd64.ova\r\n${b}  noble-server-cloudimg-amd64.img\n-----BEGIN PGP\n`,
    );
    expect(sums.get('noble-server-cloudimg-amd64.ova')).toBe(a);
    expect(sums.get('noble-server-cloudimg-amd64.img')).toBe('b'.repeat(64));
    expect(sums.size).toBe(2);
  });
});

describe('progress output', () => {
  it('redraws one line on a TTY and prints a few plain lines elsewhere', () => {
    let clock = 0;
    const now = () => (clock += 250);
    const capture = (isTTY: boolean) => {
      let text = '';
      const out = Object.assign(
        new Writable({
          write(chunk: Buffer, _encoding, callback) {
            text += chunk.toString();
            callback();
          },
        }),
        { isTTY },
      );
      const sink = createProgressSink(out, now);
      sink.start(IMAGE_NAME, 1000, 0);
      for (let i = 0; i < 10; i++) sink.advance(100);
      sink.done();
      return text;
    };
    const tty = capture(true);
    expect(tty.split('\n').length).toBe(2); // one line, redrawn, then a newline at the end
    expect(tty).toContain('\r');
    const plain = capture(false);
    expect(plain).not.toContain('\r');
    const lines = plain.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(6);
    expect(lines.at(-1)).toContain('100%');
  });

  it('formats size, percentage and speed', () => {
    expect(formatProgressLine('x.ova', 300 * 2 ** 20, 600 * 2 ** 20, 12.5 * 2 ** 20)).toBe(
      'x.ova  [############------------]  50%  300.0 MiB / 600.0 MiB  12.5 MiB/s',
    );
  });
});

describe('downloadVerified', () => {
  let dir: string;
  let server: ImageServer;
  let ova: Buffer;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ks-download-'));
    ova = (await makeCloudImageOva(512 * 1024)).ova;
    server = await startImageServer(ova);
  });
  afterEach(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const targets = () => ({
    image: { url: server.url(IMAGE_NAME), setting: 'vmware.template.imageUrl' },
    sums: { url: server.url('SHA256SUMS'), setting: 'vmware.template.checksumsUrl' },
  });

  it('downloads and verifies the image, leaving no .part file', async () => {
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    const result = await downloadVerified(image, sums, dest, fast);
    expect(result.sha256).toBe(sha256(ova));
    expect(result.bytes).toBe(ova.length);
    expect(result.lastModified).toBe('Wed, 15 Jan 2025 10:00:00 GMT');
    expect((await readFile(dest)).equals(ova)).toBe(true);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('resumes with a Range request after the server cuts the connection mid-body', async () => {
    server.behaviour = { cutAfterBytes: 100_000, cuts: 1 };
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    const result = await downloadVerified(image, sums, dest, fast);
    expect(result.sha256).toBe(sha256(ova));
    const imageRequests = server.requests.filter((r) => r.path.endsWith('.ova'));
    expect(imageRequests).toHaveLength(2);
    expect(imageRequests[0]).toMatchObject({ range: undefined, status: 200 });
    const resumedAt = Number(/bytes=(\d+)-/.exec(imageRequests[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(imageRequests[1]!.status).toBe(206);
    expect((await readFile(dest)).equals(ova)).toBe(true);
  });

  it('resumes a .part file left by an interrupted run', async () => {
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    await writeFile(`${dest}.part`, ova.subarray(0, 200_000));
    await downloadVerified(image, sums, dest, fast);
    const imageRequests = server.requests.filter((r) => r.path.endsWith('.ova'));
    expect(imageRequests).toEqual([
      { path: `/noble/current/${IMAGE_NAME}`, range: 'bytes=200000-', status: 206 },
    ]);
    expect((await readFile(dest)).equals(ova)).toBe(true);
  });

  it('starts over from byte 0 when the server ignores Range (200 instead of 206)', async () => {
    server.behaviour = { ignoreRange: true };
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    await writeFile(`${dest}.part`, Buffer.alloc(200_000, 0xee)); // garbage that must not survive
    const result = await downloadVerified(image, sums, dest, fast);
    expect(server.requests.filter((r) => r.path.endsWith('.ova'))).toEqual([
      { path: `/noble/current/${IMAGE_NAME}`, range: 'bytes=200000-', status: 200 },
    ]);
    expect(result.bytes).toBe(ova.length);
    expect((await readFile(dest)).equals(ova)).toBe(true);
  });

  it('deletes the download and names both hashes on a checksum mismatch', async () => {
    const tampered = Buffer.from(ova);
    tampered[1000] = (tampered[1000] ?? 0) ^ 0xff;
    server.behaviour = { tamperedImage: tampered };
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    const error = await downloadVerified(image, sums, dest, fast).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubestationError);
    const e = error as KubestationError;
    expect(e.code).toBe('CHECKSUM_MISMATCH');
    expect(e.message).toContain(sha256(tampered));
    expect(e.message).toContain(sha256(ova));
    expect(e.message).toContain(image.url);
    expect(e.message).toContain('deleted');
    expect(e.fix).toMatch(/again/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('reports a 404 with the URL and the setting to change, without retrying', async () => {
    const image = {
      url: server.url('noble-server-cloudimg-amd64-typo.ova'),
      setting: 'vmware.template.imageUrl',
    };
    const sums = { url: server.url('SHA256SUMS'), setting: 'vmware.template.checksumsUrl' };
    server.behaviour = { sums: `${'c'.repeat(64)} *noble-server-cloudimg-amd64-typo.ova\n` };
    const error = (await downloadVerified(image, sums, path.join(dir, 'x.ova'), fast).catch(
      (e: unknown) => e,
    )) as KubestationError;
    expect(error.code).toBe('DOWNLOAD_NOT_FOUND');
    expect(error.message).toContain(image.url);
    expect(error.message).toContain('404');
    expect(error.message).toContain('vmware.template.imageUrl');
    expect(server.requests.filter((r) => r.path.endsWith('.ova'))).toHaveLength(1);
  });

  it('says which setting to fix when SHA256SUMS does not list the image', async () => {
    server.behaviour = { sums: `${'d'.repeat(64)} *something-else.ova\n` };
    const { image, sums } = targets();
    const error = (await downloadVerified(image, sums, path.join(dir, IMAGE_NAME), fast).catch(
      (e: unknown) => e,
    )) as KubestationError;
    expect(error.code).toBe('CHECKSUM_NOT_LISTED');
    expect(error.message).toContain(IMAGE_NAME);
    expect(error.fix).toContain('vmware.template.checksumsUrl');
    expect(server.requests.filter((r) => r.path.endsWith('.ova'))).toHaveLength(0);
  });

  it('gives up after the bounded number of attempts when every connection is cut', async () => {
    server.behaviour = { cutAfterBytes: 1000, cuts: 100 };
    const { image, sums } = targets();
    const dest = path.join(dir, IMAGE_NAME);
    const error = (await downloadVerified(image, sums, dest, { ...fast, maxAttempts: 3 }).catch(
      (e: unknown) => e,
    )) as KubestationError;
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.message).toContain('3 attempts');
    expect(server.requests.filter((r) => r.path.endsWith('.ova'))).toHaveLength(3);
    // The part file is kept so the next run resumes instead of starting over.
    expect((await stat(`${dest}.part`)).size).toBeGreaterThan(0);
  });
});
