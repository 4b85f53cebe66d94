/**
 * Builds a cloud-init seed ISO in memory: ISO 9660 + Joliet + Rock Ridge, one
 * flat root directory, volume label `cidata`. Pure: the same files and
 * options give the same bytes. The on-disk layout is described in LAYOUT.md
 * beside this file; planIsoLayout() decides where everything goes, then
 * buildIso() writes it into one preallocated Buffer.
 */
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from 'node:crypto';
import { KubestationError } from '../errors.js';
import {
  compareJoliet,
  compareLevel1,
  deriveLevel1Names,
  jolietIdentifier,
  level1Identifier,
  validateFileName,
} from './names.js';
import {
  MAX_DIRECTORY_RECORD_LENGTH,
  ROOT_ONLY_PATH_TABLE_SIZE,
  SECTOR_SIZE,
  SYSTEM_AREA_SECTORS,
  directoryRecordLength,
  writeDirectoryRecord,
  writeRootOnlyPathTable,
  writeTerminator,
  writeVolumeDescriptor,
} from './records.js';
import {
  CE_LENGTH,
  RR_FLAG,
  S_IFDIR,
  S_IFREG,
  ceEntry,
  erEntry,
  nmEntry,
  pxEntry,
  rrEntry,
  spEntry,
  tfEntry,
} from './rock-ridge.js';

export interface IsoFile {
  /** Name in the root directory, e.g. `user-data`. */
  name: string;
  /** Bytes, or text written as UTF-8. */
  content: Uint8Array | string;
  /** POSIX permission bits (Rock Ridge), default 0o644. */
  mode?: number;
}

export interface IsoOptions {
  /** Volume label in both the primary and the Joliet descriptor; cloud-init looks for `cidata`. */
  volumeId?: string;
  /** Every timestamp on the image. Default: SOURCE_DATE_EPOCH from `env`, else a date derived from the content. */
  timestamp?: Date;
  /** Where SOURCE_DATE_EPOCH is read from; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_FILE_MODE = 0o644;
const DIRECTORY_MODE = 0o555;
const APPLICATION_ID = 'KUBESTATION SEED ISO WRITER';
const UINT32_MAX = 0xffff_ffff;

// Fixed sectors (see LAYOUT.md): descriptors, then the four path tables, then the continuation area.
const PRIMARY_VD_SECTOR = SYSTEM_AREA_SECTORS;
const JOLIET_VD_SECTOR = PRIMARY_VD_SECTOR + 1;
const TERMINATOR_SECTOR = JOLIET_VD_SECTOR + 1;
const PRIMARY_L_PATH_TABLE_SECTOR = TERMINATOR_SECTOR + 1;
const PRIMARY_M_PATH_TABLE_SECTOR = PRIMARY_L_PATH_TABLE_SECTOR + 1;
const JOLIET_L_PATH_TABLE_SECTOR = PRIMARY_M_PATH_TABLE_SECTOR + 1;
const JOLIET_M_PATH_TABLE_SECTOR = JOLIET_L_PATH_TABLE_SECTOR + 1;
const CONTINUATION_SECTOR = JOLIET_M_PATH_TABLE_SECTOR + 1;

/** What the layout needs to know about a file: its name, size and mode, not its bytes. */
export interface PlannedFile {
  name: string;
  size: number;
  mode: number;
}

export interface RecordPlan {
  identifier: Uint8Array;
  systemUse: Uint8Array;
  /** Which extent the record points at: the directory itself or a file (index into IsoLayout.files). */
  target: 'directory' | number;
  /** Byte offset of the record inside its directory extent. */
  offset: number;
}

export interface DirectoryPlan {
  sector: number;
  sectors: number;
  records: RecordPlan[];
}

export interface IsoLayout {
  date: Date;
  totalSectors: number;
  /** SUSP continuation area: entries that did not fit in their directory record (always the root's ER). */
  continuation: { sector: number; sectors: number; areas: { offset: number; bytes: Uint8Array }[] };
  primaryDirectory: DirectoryPlan;
  jolietDirectory: DirectoryPlan;
  /** Files in Joliet (name) order with the sector their data starts at. */
  files: (PlannedFile & { sector: number })[];
}

function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / SECTOR_SIZE);
}

/** Places records one after another; a record that would cross a sector boundary starts the next sector. */
function packRecords(records: Omit<RecordPlan, 'offset'>[]): { records: RecordPlan[]; sectors: number } {
  let offset = 0;
  const placed = records.map((record) => {
    const length = directoryRecordLength(record.identifier.length, record.systemUse.length);
    if ((offset % SECTOR_SIZE) + length > SECTOR_SIZE) offset = sectorsFor(offset) * SECTOR_SIZE;
    const at = offset;
    offset += length;
    return { ...record, offset: at };
  });
  return { records: placed, sectors: sectorsFor(offset) };
}

/** Allocates SUSP continuation areas; an area never crosses a sector boundary (Linux rejects those). */
class ContinuationArea {
  readonly areas: { offset: number; bytes: Uint8Array }[] = [];
  private next = 0;

  add(bytes: Uint8Array): Buffer {
    if ((this.next % SECTOR_SIZE) + bytes.length > SECTOR_SIZE)
      this.next = sectorsFor(this.next) * SECTOR_SIZE;
    const offset = this.next;
    this.areas.push({ offset, bytes });
    this.next += bytes.length;
    return ceEntry(
      CONTINUATION_SECTOR + Math.floor(offset / SECTOR_SIZE),
      offset % SECTOR_SIZE,
      bytes.length,
    );
  }

  get sectors(): number {
    return sectorsFor(this.next);
  }
}

/**
 * Keeps as many SUSP entries in the record as fit (record length ≤ 254) and
 * moves the rest, in order, to a continuation area behind a CE entry.
 */
function fitSystemUse(
  identifierLength: number,
  entries: Buffer[],
  continuation: ContinuationArea,
): Uint8Array {
  const all = Buffer.concat(entries);
  if (directoryRecordLength(identifierLength, all.length) <= MAX_DIRECTORY_RECORD_LENGTH) return all;
  let inline = 0;
  let kept = 0;
  for (const e of entries) {
    if (directoryRecordLength(identifierLength, inline + e.length + CE_LENGTH) > MAX_DIRECTORY_RECORD_LENGTH)
      break;
    inline += e.length;
    kept++;
  }
  const ce = continuation.add(Buffer.concat(entries.slice(kept)));
  return Buffer.concat([...entries.slice(0, kept), ce]);
}

function refuseTooLarge(what: string): never {
  throw new KubestationError('ISO_TOO_LARGE', `seed ISO cannot hold ${what}`, {
    fix: 'keep seed files small (cloud-init data is a few KiB); ship large payloads another way, e.g. download them on first boot',
  });
}

/** Decides where every record, continuation area and file goes. Depends on names, sizes and modes only. */
export function planIsoLayout(files: readonly PlannedFile[], date: Date): IsoLayout {
  for (const file of files) {
    if (file.size > UINT32_MAX)
      refuseTooLarge(
        `file '${file.name}' of ${file.size} bytes: ISO 9660 sizes are 32-bit (at most 4 GiB - 1)`,
      );
  }
  const sorted = [...files].sort((a, b) => compareJoliet(a.name, b.name));
  const level1 = deriveLevel1Names(sorted.map((f) => f.name));
  const continuation = new ContinuationArea();
  const directoryEntries = (withSp: boolean) => [
    ...(withSp ? [spEntry()] : []),
    rrEntry(RR_FLAG.PX | RR_FLAG.TF),
    pxEntry(S_IFDIR | DIRECTORY_MODE, 2),
    tfEntry(date),
    ...(withSp ? [erEntry()] : []),
  ];
  const dot = Buffer.of(0);
  const dotDot = Buffer.of(1);
  // "." first, so the root's ER opens the continuation area.
  const dotRecord = {
    identifier: dot,
    systemUse: fitSystemUse(1, directoryEntries(true), continuation),
    target: 'directory' as const,
  };
  const dotDotRecord = {
    identifier: dotDot,
    systemUse: fitSystemUse(1, directoryEntries(false), continuation),
    target: 'directory' as const,
  };

  const primaryFiles = sorted
    .map((file, index) => ({ file, index, name: level1[index]! }))
    .sort((a, b) => compareLevel1(a.name, b.name))
    .map(({ file, index, name }) => {
      const identifier = level1Identifier(name);
      const entries = [
        rrEntry(RR_FLAG.PX | RR_FLAG.TF | RR_FLAG.NM),
        pxEntry(S_IFREG | file.mode, 1),
        tfEntry(date),
        nmEntry(Buffer.from(file.name, 'utf8')),
      ];
      return { identifier, systemUse: fitSystemUse(identifier.length, entries, continuation), target: index };
    });
  const primary = packRecords([dotRecord, dotDotRecord, ...primaryFiles]);
  const none = new Uint8Array(0);
  const joliet = packRecords([
    { identifier: dot, systemUse: none, target: 'directory' },
    { identifier: dotDot, systemUse: none, target: 'directory' },
    ...sorted.map((file, index) => ({
      identifier: jolietIdentifier(file.name),
      systemUse: none,
      target: index,
    })),
  ]);

  const primarySector = CONTINUATION_SECTOR + continuation.sectors;
  const jolietSector = primarySector + primary.sectors;
  let next = jolietSector + joliet.sectors;
  const placed = sorted.map((file) => {
    const sector = next;
    next += sectorsFor(file.size);
    return { ...file, sector };
  });
  // An empty file takes no sector; like genisoimage and xorriso it points where the next data starts,
  // or, when no data follows, at the image's last sector, so every extent lies inside the volume.
  for (const file of placed) if (file.size === 0 && file.sector === next) file.sector = next - 1;
  if (next > UINT32_MAX || next * SECTOR_SIZE > bufferConstants.MAX_LENGTH) {
    refuseTooLarge(
      `${files.length} files totalling ${next * SECTOR_SIZE} bytes: beyond 32-bit extents or the largest Buffer this Node.js can allocate`,
    );
  }
  return {
    date,
    totalSectors: next,
    continuation: { sector: CONTINUATION_SECTOR, sectors: continuation.sectors, areas: continuation.areas },
    primaryDirectory: { sector: primarySector, ...primary },
    jolietDirectory: { sector: jolietSector, ...joliet },
    files: placed,
  };
}

function validateVolumeId(volumeId: string): void {
  if (!/^[A-Za-z0-9_-]{1,16}$/.test(volumeId)) {
    throw new KubestationError(
      'ISO_VOLUME_ID_INVALID',
      `ISO volume id ${JSON.stringify(volumeId)} is not valid`,
      {
        fix: "use 1-16 characters from A-Z, a-z, 0-9, '_' and '-' (cloud-init's NoCloud seed uses 'cidata')",
      },
    );
  }
}

function validateMode(name: string, mode: number): void {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new KubestationError(
      'ISO_MODE_INVALID',
      `ISO file '${name}' has mode ${String(mode)}, not a POSIX permission value`,
      {
        fix: 'pass permission bits between 0 and 0o7777, e.g. 0o644',
      },
    );
  }
}

function checkDate(date: Date, source: string): Date {
  const year = date.getUTCFullYear();
  // Directory records store the year as one byte counted from 1900.
  if (Number.isNaN(date.getTime()) || year < 1900 || year > 2155) {
    throw new KubestationError(
      'ISO_TIMESTAMP_INVALID',
      `ISO timestamp from ${source} is not a date between 1900 and 2155`,
      {
        fix: 'pass a valid Date, or set SOURCE_DATE_EPOCH to whole seconds since 1970-01-01 UTC',
      },
    );
  }
  return date;
}

/**
 * The one timestamp used everywhere on the image: the `timestamp` option,
 * else SOURCE_DATE_EPOCH, else a date derived from the content. A content
 * date (not a constant) gives each node's seed its own volume creation date,
 * which blkid reports as the ISO's UUID.
 */
export function resolveIsoTimestamp(
  files: readonly { name: string; content: Uint8Array; mode: number }[],
  options: IsoOptions,
): Date {
  if (options.timestamp) return checkDate(options.timestamp, 'the timestamp option');
  const epoch = (options.env ?? process.env).SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== '') {
    if (!/^\d+$/.test(epoch.trim())) {
      throw new KubestationError(
        'ISO_TIMESTAMP_INVALID',
        `SOURCE_DATE_EPOCH=${JSON.stringify(epoch)} is not a whole number of seconds`,
        {
          fix: 'set SOURCE_DATE_EPOCH to seconds since 1970-01-01 UTC (e.g. `git log -1 --format=%ct`) or unset it',
        },
      );
    }
    return checkDate(new Date(Number(epoch.trim()) * 1000), 'SOURCE_DATE_EPOCH');
  }
  const hash = createHash('sha256');
  for (const file of files)
    hash.update(`${file.name}\0${file.mode}\0${file.content.length}\0`).update(file.content);
  const twentyYears = 20 * 365 * 86_400;
  return new Date(Date.UTC(2000, 0, 1) + (hash.digest().readUInt32BE(0) % twentyYears) * 1000);
}

/** Builds the whole ISO image. Throws KubestationError (ISO_*) for anything it cannot represent. */
export function buildIso(files: readonly IsoFile[], options: IsoOptions = {}): Buffer {
  const volumeId = options.volumeId ?? 'cidata';
  validateVolumeId(volumeId);
  const seen = new Set<string>();
  const prepared = files.map((file) => {
    validateFileName(file.name);
    if (seen.has(file.name)) {
      throw new KubestationError('ISO_NAME_DUPLICATE', `ISO file name '${file.name}' is given twice`, {
        fix: 'give each file on the seed ISO a distinct name',
      });
    }
    seen.add(file.name);
    const mode = file.mode ?? DEFAULT_FILE_MODE;
    validateMode(file.name, mode);
    const content = typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : file.content;
    return { name: file.name, content, mode };
  });
  prepared.sort((a, b) => compareJoliet(a.name, b.name));
  const date = resolveIsoTimestamp(prepared, options);
  const layout = planIsoLayout(
    prepared.map(({ name, content, mode }) => ({ name, size: content.length, mode })),
    date,
  );

  // Buffer.alloc zero-fills: the system area, padding and record tails stay 0.
  const image = Buffer.alloc(layout.totalSectors * SECTOR_SIZE);
  const writeDirectory = (dir: DirectoryPlan) => {
    const base = dir.sector * SECTOR_SIZE;
    for (const record of dir.records) {
      const file = record.target === 'directory' ? undefined : layout.files[record.target]!;
      writeDirectoryRecord(image, base + record.offset, {
        identifier: record.identifier,
        extent: file ? file.sector : dir.sector,
        dataLength: file ? file.size : dir.sectors * SECTOR_SIZE,
        isDirectory: !file,
        date,
        systemUse: record.systemUse,
      });
    }
  };
  const rootRecord = (dir: DirectoryPlan) => ({
    identifier: Buffer.of(0),
    extent: dir.sector,
    dataLength: dir.sectors * SECTOR_SIZE,
    isDirectory: true,
    date,
    systemUse: new Uint8Array(0),
  });
  const descriptor = {
    volumeId,
    applicationId: APPLICATION_ID,
    volumeSpaceSize: layout.totalSectors,
    pathTableSize: ROOT_ONLY_PATH_TABLE_SIZE,
    date,
  };
  writeVolumeDescriptor(image, PRIMARY_VD_SECTOR * SECTOR_SIZE, {
    ...descriptor,
    kind: 'primary',
    lPathTableSector: PRIMARY_L_PATH_TABLE_SECTOR,
    mPathTableSector: PRIMARY_M_PATH_TABLE_SECTOR,
    rootDirectory: rootRecord(layout.primaryDirectory),
  });
  writeVolumeDescriptor(image, JOLIET_VD_SECTOR * SECTOR_SIZE, {
    ...descriptor,
    kind: 'joliet',
    lPathTableSector: JOLIET_L_PATH_TABLE_SECTOR,
    mPathTableSector: JOLIET_M_PATH_TABLE_SECTOR,
    rootDirectory: rootRecord(layout.jolietDirectory),
  });
  writeTerminator(image, TERMINATOR_SECTOR * SECTOR_SIZE);
  writeRootOnlyPathTable(
    image,
    PRIMARY_L_PATH_TABLE_SECTOR * SECTOR_SIZE,
    layout.primaryDirectory.sector,
    true,
  );
  writeRootOnlyPathTable(
    image,
    PRIMARY_M_PATH_TABLE_SECTOR * SECTOR_SIZE,
    layout.primaryDirectory.sector,
    false,
  );
  writeRootOnlyPathTable(
    image,
    JOLIET_L_PATH_TABLE_SECTOR * SECTOR_SIZE,
    layout.jolietDirectory.sector,
    true,
  );
  writeRootOnlyPathTable(
    image,
    JOLIET_M_PATH_TABLE_SECTOR * SECTOR_SIZE,
    layout.jolietDirectory.sector,
    false,
  );
  for (const area of layout.continuation.areas)
    image.set(area.bytes, layout.continuation.sector * SECTOR_SIZE + area.offset);
  writeDirectory(layout.primaryDirectory);
  writeDirectory(layout.jolietDirectory);
  layout.files.forEach((file, index) => image.set(prepared[index]!.content, file.sector * SECTOR_SIZE));
  return image;
}
