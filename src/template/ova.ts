/**
 * An OVA is a tar holding an .ovf descriptor (XML), the disks it references
 * and optionally a manifest. We need one thing from it: the disk, written to
 * a file without holding the image in memory.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract as tarExtract } from 'tar-stream';
import { KubestationError } from '../errors.js';

export interface OvfDisk {
  /** File name inside the OVA, from <File ovf:href>. */
  fileName: string;
  /** Virtual size in bytes, from <Disk ovf:capacity> (undefined if the descriptor omits it). */
  capacityBytes: number | undefined;
}

function attributes(tag: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const match of tag.matchAll(/([\w:.-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    const name = match[1]!.replace(/^[\w.-]+:/, ''); // ovf:href and href alike
    found.set(name, match[3] ?? match[4] ?? '');
  }
  return found;
}

/** "byte", "byte * 2^30", "byte*2^20" → multiplier. */
function allocationUnitBytes(units: string | undefined): number {
  if (!units) return 1;
  const match = /^byte\s*(?:\*\s*(\d+)\s*\^\s*(\d+))?$/i.exec(units.trim());
  if (!match) return 1;
  return match[1] ? Number(match[1]) ** Number(match[2]) : 1;
}

/**
 * Finds the first disk in an OVF descriptor. Only the <References> and
 * <DiskSection> elements matter here, so a targeted scan of the element tags
 * is enough; no XML library needed.
 */
export function parseOvfDisk(ovfXml: string): OvfDisk {
  const files = new Map<string, string>();
  for (const tag of ovfXml.matchAll(/<(?:[\w-]+:)?File\b[^>]*>/g)) {
    const attrs = attributes(tag[0]);
    const id = attrs.get('id');
    const href = attrs.get('href');
    if (id && href) files.set(id, href);
  }
  for (const tag of ovfXml.matchAll(/<(?:[\w-]+:)?Disk\b[^>]*>/g)) {
    const attrs = attributes(tag[0]);
    const href = files.get(attrs.get('fileRef') ?? '');
    if (!href) continue;
    const capacity = Number(attrs.get('capacity'));
    return {
      fileName: href,
      capacityBytes:
        Number.isFinite(capacity) && capacity > 0
          ? capacity * allocationUnitBytes(attrs.get('capacityAllocationUnits'))
          : undefined,
    };
  }
  throw new Error('the OVF descriptor lists no disk (no <Disk ovf:fileRef> matching a <File ovf:href>)');
}

export interface ExtractedDisk extends OvfDisk {
  /** Where the disk was written. */
  path: string;
}

/**
 * Streams `ovaPath` once: keeps the .ovf text, writes every .vmdk entry to
 * `outDir` (a stream, never a buffer), then keeps the one the descriptor names.
 * Entries are written as they come because the tar may list the disk before
 * the descriptor in OVAs that do not follow the "descriptor first" rule.
 */
export async function extractOvaDisk(ovaPath: string, outDir: string): Promise<ExtractedDisk> {
  await mkdir(outDir, { recursive: true });
  let ovfXml: string | undefined;
  const written = new Map<string, string>(); // name in OVA → path on disk (.part until done)
  const extractor = tarExtract();

  extractor.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    const base = path.posix.basename(name);
    const drain = (): void => {
      stream.on('end', () => next());
      stream.resume();
    };
    if (header.type !== 'file') return drain();
    if (/\.ovf$/i.test(base)) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => {
        chunks.push(chunk as Buffer);
      });
      stream.on('end', () => {
        ovfXml = Buffer.concat(chunks).toString('utf8');
        next();
      });
      return;
    }
    if (/\.vmdk$/i.test(base) && !base.startsWith('.')) {
      const target = path.join(outDir, `${base}.part`);
      pipeline(stream, createWriteStream(target)).then(
        () => {
          written.set(name, target);
          next();
        },
        (error: unknown) => next(error as Error),
      );
      return;
    }
    drain();
  });

  try {
    await pipeline(createReadStream(ovaPath), extractor);
  } catch (error) {
    await Promise.all([...written.values()].map((p) => rm(p, { force: true })));
    throw new KubestationError(
      'OVA_UNREADABLE',
      `${ovaPath} is not a readable OVA (tar): ${(error as Error).message}.`,
      {
        fix: `Delete ${ovaPath} and run the command again to download it afresh.`,
        cause: error,
      },
    );
  }

  const cleanupAll = (): Promise<unknown> =>
    Promise.all([...written.values()].map((p) => rm(p, { force: true })));
  if (ovfXml === undefined) {
    await cleanupAll();
    throw new KubestationError('OVA_NO_DESCRIPTOR', `${ovaPath} holds no .ovf descriptor.`, {
      fix: 'Point vmware.template.imageUrl at an Ubuntu cloud image .ova (e.g. noble-server-cloudimg-amd64.ova).',
    });
  }
  let disk: OvfDisk;
  try {
    disk = parseOvfDisk(ovfXml);
  } catch (error) {
    await cleanupAll();
    throw new KubestationError('OVA_NO_DISK', `${ovaPath}: ${(error as Error).message}.`, {
      fix: 'Point vmware.template.imageUrl at an Ubuntu cloud image .ova.',
    });
  }
  const partPath = [...written].find(
    ([name]) => name === disk.fileName || path.posix.basename(name) === disk.fileName,
  )?.[1];
  if (!partPath) {
    await cleanupAll();
    throw new KubestationError(
      'OVA_NO_DISK',
      `${ovaPath}: the descriptor names disk ${disk.fileName}, but the archive does not contain it.`,
      {
        fix: `Delete ${ovaPath} and run the command again to download it afresh.`,
      },
    );
  }
  for (const [, other] of written) if (other !== partPath) await rm(other, { force: true });
  const finalPath = partPath.slice(0, -'.part'.length);
  await rename(partPath, finalPath);
  return { ...disk, path: finalPath };
}
