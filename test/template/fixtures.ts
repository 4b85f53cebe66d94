/**
 * Test fixtures for the template build: a real OVA (tar with an .ovf and a
 * disk file), an image server on 127.0.0.1 whose misbehaviour each test
 * chooses, and a recording stand-in for vmware-vdiskmanager.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pack } from 'tar-stream';

export function ovfFor(diskFile: string, capacityGiB: number): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:href="${diskFile}" ovf:id="file1"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="${capacityGiB}" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
</Envelope>
`;
}

/** A tar in OVA order: descriptor first, then the disk (and optionally other entries). */
export async function makeOva(entries: Array<{ name: string; body: Buffer | string }>): Promise<Buffer> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const finished = new Promise<void>((resolve, reject) => {
    archive.on('end', resolve);
    archive.on('error', reject);
  });
  for (const entry of entries)
    archive.entry(
      { name: entry.name },
      typeof entry.body === 'string' ? Buffer.from(entry.body) : entry.body,
    );
  archive.finalize();
  await finished;
  return Buffer.concat(chunks);
}

/** Deterministic "disk" content large enough to span several TCP writes. */
export function fakeDisk(bytes: number, seed = 1): Buffer {
  const out = Buffer.alloc(bytes);
  let x = seed;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >>> 16;
  }
  return out;
}

export const IMAGE_NAME = 'noble-server-cloudimg-amd64.ova';
export const DISK_NAME = 'ubuntu-noble-24.04-cloudimg.vmdk';

export async function makeCloudImageOva(
  diskBytes = 256 * 1024,
  capacityGiB = 3.5,
): Promise<{ ova: Buffer; disk: Buffer }> {
  const disk = fakeDisk(diskBytes);
  const ova = await makeOva([
    { name: 'ubuntu-noble-24.04-cloudimg.ovf', body: ovfFor(DISK_NAME, capacityGiB) },
    { name: DISK_NAME, body: disk },
  ]);
  return { ova, disk };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ImageServerBehaviour {
  /** Destroy the socket after this many body bytes, for the next N image requests. */
  cutAfterBytes?: number;
  cuts?: number;
  /** Answer every Range request with 200 and the whole body. */
  ignoreRange?: boolean;
  /** Serve this instead of the real image (checksum mismatch). */
  tamperedImage?: Buffer;
  /** SHA256SUMS text to serve (default: the image's real hash, binary-mode line). */
  sums?: string;
}

export interface ImageServer {
  url: (file: string) => string;
  /** Every request: path, Range header, status. */
  requests: Array<{ path: string; range: string | undefined; status: number }>;
  behaviour: ImageServerBehaviour;
  close: () => Promise<void>;
}

export async function startImageServer(
  image: Buffer,
  behaviour: ImageServerBehaviour = {},
): Promise<ImageServer> {
  const requests: ImageServer['requests'] = [];
  const state = { behaviour };
  const server = http.createServer((req, res) => {
    const b = state.behaviour;
    const urlPath = (req.url ?? '/').split('?')[0]!;
    const range = req.headers.range;
    const record = (status: number): void => {
      requests.push({ path: urlPath, range, status });
    };
    if (urlPath === '/noble/current/SHA256SUMS') {
      record(200);
      const sums =
        b.sums ?? `${sha256(image)} *${IMAGE_NAME}\n${'0'.repeat(64)} *noble-server-cloudimg-amd64.img\n`;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(sums);
      return;
    }
    if (urlPath !== `/noble/current/${IMAGE_NAME}`) {
      record(404);
      res.writeHead(404).end('not found');
      return;
    }
    const body = b.tamperedImage ?? image;
    let start = 0;
    const match = /^bytes=(\d+)-$/.exec(range ?? '');
    if (match && !b.ignoreRange) {
      start = Number(match[1]);
      if (start >= body.length) {
        record(416);
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      record(206);
      res.writeHead(206, {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        'last-modified': 'Wed, 15 Jan 2025 10:00:00 GMT',
      });
    } else {
      record(200);
      res.writeHead(200, {
        'content-length': body.length,
        'accept-ranges': b.ignoreRange ? 'none' : 'bytes',
        'last-modified': 'Wed, 15 Jan 2025 10:00:00 GMT',
      });
    }
    const rest = body.subarray(start);
    if (b.cutAfterBytes !== undefined && (b.cuts ?? 0) > 0) {
      b.cuts = (b.cuts ?? 0) - 1;
      res.write(rest.subarray(0, b.cutAfterBytes), () => {
        // Let the bytes reach the client, then cut the connection mid-body.
        setTimeout(() => res.socket?.destroy(), 20);
      });
      return;
    }
    res.end(rest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (file) => `http://127.0.0.1:${port}/noble/current/${file}`,
    requests,
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(next) {
      state.behaviour = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A stand-in for vmware-vdiskmanager: a Node script that appends its argv (as
 * JSON) to a log and, like the real tool, creates the destination of `-r`.
 * Exit code 1 when the log file's sibling `fail` exists.
 */
export async function writeVdiskmanagerStandIn(
  dir: string,
): Promise<{ executable: string; calls: () => Promise<string[][]> }> {
  await mkdir(dir, { recursive: true });
  const log = path.join(dir, 'calls.jsonl');
  const executable = path.join(dir, 'vmware-vdiskmanager');
  await writeFile(
    executable,
    `#!${process.execPath}
const fs = require('node:fs');
const path = require('node:path');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
if (fs.existsSync(path.join(${JSON.stringify(dir)}, 'fail'))) { console.error('Failed to open the disk: The file is locked'); process.exit(1); }
if (args[0] === '-r') {
  if (!fs.existsSync(args[1])) { console.error('source missing'); process.exit(2); }
  if (fs.existsSync(args[4])) { console.error('destination exists'); process.exit(3); }
  fs.writeFileSync(args[4], '# Disk DescriptorFile\\ncreateType="monolithicSparse"\\n');
}
if (args[0] === '-x' && !fs.existsSync(args[2])) { console.error('disk missing'); process.exit(4); }
`,
  );
  await chmod(executable, 0o755);
  return {
    executable,
    calls: async () => {
      try {
        return (await readFile(log, 'utf8'))
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as string[]);
      } catch {
        return [];
      }
    },
  };
}

/** A writable that keeps what a command printed. */
export function captureOutput(): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/**
 * `<dir>/cluster.yaml`: the shipped one with its vmware: section pointing at
 * a vmrest simulator, the image server and a Workstation folder (the
 * vdiskmanager stand-in).
 */
export async function writeTemplateCluster(
  dir: string,
  o: { vmrestUrl: string; installFolder: string; server: ImageServer },
): Promise<string> {
  const shipped = await readFile(path.resolve(import.meta.dirname, '..', '..', 'cluster.yaml'), 'utf8');
  const vmware = [
    'vmware:',
    `  vmrestUrl: ${o.vmrestUrl}`,
    `  installFolder: ${JSON.stringify(o.installFolder)}`,
    '  template:',
    '    name: kubestation-noble-template',
    `    imageUrl: ${o.server.url(IMAGE_NAME)}`,
    `    checksumsUrl: ${o.server.url('SHA256SUMS')}`,
    '',
  ].join('\n');
  const file = path.join(dir, 'cluster.yaml');
  await writeFile(file, `${shipped.slice(0, shipped.indexOf('\nvmware:'))}\n${vmware}`);
  return file;
}
