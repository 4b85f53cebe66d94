/**
 * The ISO 9660 (ECMA-119) records a seed image needs, each written as the
 * standard lays it out. Byte offsets are listed in LAYOUT.md next to this
 * file; the constants below use the same names so code and table can be
 * checked against each other.
 */

export const SECTOR_SIZE = 2048;
/** Sectors 0-15 are the system area; the first volume descriptor is sector 16. */
export const SYSTEM_AREA_SECTORS = 16;
/** A directory record's length is one byte, and SUSP wants it even. */
export const MAX_DIRECTORY_RECORD_LENGTH = 254;
const DIRECTORY_RECORD_FIXED_LENGTH = 33;

/** Both-endian ("both-byte orders") 32-bit field: little-endian copy, then big-endian copy. */
export function writeBoth32(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}

export function writeBoth16(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}

/** 7-byte recording date of a directory record: years since 1900, month, day, h, m, s, UTC offset (15 min units). */
export function writeRecordingDate(buf: Buffer, offset: number, date: Date): void {
  buf[offset] = date.getUTCFullYear() - 1900;
  buf[offset + 1] = date.getUTCMonth() + 1;
  buf[offset + 2] = date.getUTCDate();
  buf[offset + 3] = date.getUTCHours();
  buf[offset + 4] = date.getUTCMinutes();
  buf[offset + 5] = date.getUTCSeconds();
  buf[offset + 6] = 0;
}

/** 17-byte volume date: "YYYYMMDDHHMMSScc" in ASCII digits and a UTC offset byte; null = "not specified". */
function writeVolumeDate(buf: Buffer, offset: number, date: Date | null): void {
  if (date === null) {
    buf.fill(0x30, offset, offset + 16);
  } else {
    const two = (n: number) => String(n).padStart(2, '0');
    const digits =
      String(date.getUTCFullYear()).padStart(4, '0') +
      two(date.getUTCMonth() + 1) +
      two(date.getUTCDate()) +
      two(date.getUTCHours()) +
      two(date.getUTCMinutes()) +
      two(date.getUTCSeconds()) +
      two(Math.floor(date.getUTCMilliseconds() / 10));
    buf.write(digits, offset, 16, 'latin1');
  }
  buf[offset + 16] = 0;
}

/** The length a directory record takes: fixed part, identifier, pad byte to even, system use, pad to even. */
export function directoryRecordLength(identifierLength: number, systemUseLength: number): number {
  const beforeSystemUse =
    DIRECTORY_RECORD_FIXED_LENGTH + identifierLength + (identifierLength % 2 === 0 ? 1 : 0);
  const length = beforeSystemUse + systemUseLength;
  return length + (length % 2);
}

export interface DirectoryRecord {
  /** File identifier bytes as recorded: d-characters "NAME.EXT;1", UCS-2BE for Joliet, 0x00 / 0x01 for "." / "..". */
  identifier: Uint8Array;
  extent: number;
  dataLength: number;
  isDirectory: boolean;
  date: Date;
  /** SUSP / Rock Ridge entries, already concatenated. */
  systemUse: Uint8Array;
}

/** Writes one directory record (ECMA-119 9.1) and returns its length. */
export function writeDirectoryRecord(buf: Buffer, offset: number, record: DirectoryRecord): number {
  const length = directoryRecordLength(record.identifier.length, record.systemUse.length);
  buf[offset] = length;
  buf[offset + 1] = 0; // extended attribute record length
  writeBoth32(buf, offset + 2, record.extent);
  writeBoth32(buf, offset + 10, record.dataLength);
  writeRecordingDate(buf, offset + 18, record.date);
  buf[offset + 25] = record.isDirectory ? 0x02 : 0x00; // file flags
  buf[offset + 26] = 0; // file unit size (not interleaved)
  buf[offset + 27] = 0; // interleave gap size
  writeBoth16(buf, offset + 28, 1); // volume sequence number
  buf[offset + 32] = record.identifier.length;
  buf.set(record.identifier, offset + 33);
  const systemUseOffset =
    offset + 33 + record.identifier.length + (record.identifier.length % 2 === 0 ? 1 : 0);
  buf.set(record.systemUse, systemUseOffset);
  return length;
}

/**
 * A path table (ECMA-119 9.4) for a volume whose only directory is the root:
 * one 10-byte record. `littleEndian` picks the L table, otherwise the M table.
 */
export const ROOT_ONLY_PATH_TABLE_SIZE = 10;
export function writeRootOnlyPathTable(
  buf: Buffer,
  offset: number,
  rootExtent: number,
  littleEndian: boolean,
): void {
  buf[offset] = 1; // length of directory identifier
  buf[offset + 1] = 0; // extended attribute record length
  if (littleEndian) {
    buf.writeUInt32LE(rootExtent, offset + 2);
    buf.writeUInt16LE(1, offset + 6); // parent directory number: the root is its own parent
  } else {
    buf.writeUInt32BE(rootExtent, offset + 2);
    buf.writeUInt16BE(1, offset + 6);
  }
  buf[offset + 8] = 0; // root identifier, then one pad byte (identifier length is odd)
  buf[offset + 9] = 0;
}

export interface VolumeDescriptor {
  /** Primary (ISO 9660 names, ASCII strings) or Joliet supplementary (UCS-2BE strings, escape sequence %/E). */
  kind: 'primary' | 'joliet';
  volumeId: string;
  applicationId: string;
  volumeSpaceSize: number;
  pathTableSize: number;
  lPathTableSector: number;
  mPathTableSector: number;
  rootDirectory: DirectoryRecord;
  date: Date;
}

/** Writes a string field: ASCII padded with spaces, or UCS-2 big-endian padded with U+0020 (odd byte left 0). */
function writeTextField(buf: Buffer, offset: number, length: number, text: string, ucs2: boolean): void {
  if (ucs2) {
    const chars = Math.floor(length / 2);
    const encoded = Buffer.from(text.slice(0, chars).padEnd(chars, ' '), 'utf16le').swap16();
    buf.set(encoded, offset);
  } else {
    buf.write(text.slice(0, length).padEnd(length, ' '), offset, length, 'latin1');
  }
}

/** Writes a primary (ECMA-119 8.4) or Joliet supplementary (8.5) volume descriptor into one sector. */
export function writeVolumeDescriptor(buf: Buffer, offset: number, vd: VolumeDescriptor): void {
  const ucs2 = vd.kind === 'joliet';
  buf[offset] = ucs2 ? 2 : 1; // volume descriptor type
  buf.write('CD001', offset + 1, 'latin1'); // standard identifier
  buf[offset + 6] = 1; // volume descriptor version
  buf[offset + 7] = 0; // unused / volume flags
  writeTextField(buf, offset + 8, 32, '', ucs2); // system identifier
  writeTextField(buf, offset + 40, 32, vd.volumeId, ucs2); // volume identifier
  writeBoth32(buf, offset + 80, vd.volumeSpaceSize);
  if (ucs2) buf.write('%/E', offset + 88, 'latin1'); // escape sequences: Joliet UCS-2 level 3
  writeBoth16(buf, offset + 120, 1); // volume set size
  writeBoth16(buf, offset + 124, 1); // volume sequence number
  writeBoth16(buf, offset + 128, SECTOR_SIZE); // logical block size
  writeBoth32(buf, offset + 132, vd.pathTableSize);
  buf.writeUInt32LE(vd.lPathTableSector, offset + 140);
  buf.writeUInt32LE(0, offset + 144); // optional L path table: none
  buf.writeUInt32BE(vd.mPathTableSector, offset + 148);
  buf.writeUInt32BE(0, offset + 152); // optional M path table: none
  writeDirectoryRecord(buf, offset + 156, vd.rootDirectory);
  writeTextField(buf, offset + 190, 128, '', ucs2); // volume set identifier
  writeTextField(buf, offset + 318, 128, '', ucs2); // publisher identifier
  writeTextField(buf, offset + 446, 128, '', ucs2); // data preparer identifier
  writeTextField(buf, offset + 574, 128, vd.applicationId, ucs2);
  writeTextField(buf, offset + 702, 37, '', ucs2); // copyright file identifier
  writeTextField(buf, offset + 739, 37, '', ucs2); // abstract file identifier
  writeTextField(buf, offset + 776, 37, '', ucs2); // bibliographic file identifier
  writeVolumeDate(buf, offset + 813, vd.date); // creation
  writeVolumeDate(buf, offset + 830, vd.date); // modification
  writeVolumeDate(buf, offset + 847, null); // expiration
  writeVolumeDate(buf, offset + 864, null); // effective
  buf[offset + 881] = 1; // file structure version
}

/** The volume descriptor set terminator (ECMA-119 8.3): type 255. */
export function writeTerminator(buf: Buffer, offset: number): void {
  buf[offset] = 255;
  buf.write('CD001', offset + 1, 'latin1');
  buf[offset + 6] = 1;
}
