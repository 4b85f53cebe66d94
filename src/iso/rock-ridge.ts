/**
 * System Use Sharing Protocol (SUSP 1.12) and Rock Ridge (RRIP 1.09,
 * "RRIP_1991A") entries: the POSIX names and modes Linux reads instead of
 * the 8.3 ISO 9660 names. Every entry starts with a 2-letter signature, a
 * length byte and a version byte (1). Layouts are tabled in LAYOUT.md.
 */
import { writeBoth32, writeRecordingDate } from './records.js';

function entry(signature: string, length: number): Buffer {
  const buf = Buffer.alloc(length);
  buf.write(signature, 0, 2, 'latin1');
  buf[2] = length;
  buf[3] = 1;
  return buf;
}

/** SP: marks SUSP in use; only in the first record ("." ) of the root directory. */
export function spEntry(): Buffer {
  const buf = entry('SP', 7);
  buf[4] = 0xbe;
  buf[5] = 0xef;
  buf[6] = 0; // bytes to skip at the start of each system use area
  return buf;
}

/** RR flags (RRIP 1.09): which Rock Ridge entries this record carries. Linux stops reading a name when NM is not flagged. */
export const RR_FLAG = { PX: 0x01, NM: 0x08, TF: 0x80 } as const;
export function rrEntry(flags: number): Buffer {
  const buf = entry('RR', 5);
  buf[4] = flags;
  return buf;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

/** PX: POSIX mode, link count, uid, gid (RRIP 1.09 form, 36 bytes, no inode number). */
export function pxEntry(mode: number, links: number): Buffer {
  const buf = entry('PX', 36);
  writeBoth32(buf, 4, mode);
  writeBoth32(buf, 12, links);
  writeBoth32(buf, 20, 0); // uid root
  writeBoth32(buf, 28, 0); // gid root
  return buf;
}

/** TF: modification, access and attribute-change times, each a 7-byte recording date. */
export function tfEntry(date: Date): Buffer {
  const buf = entry('TF', 5 + 3 * 7);
  buf[4] = 0x02 | 0x04 | 0x08; // MODIFY | ACCESS | ATTRIBUTES
  for (let i = 0; i < 3; i++) writeRecordingDate(buf, 5 + i * 7, date);
  return buf;
}

/**
 * NM: the POSIX name as UTF-8 bytes, whole (flags 0). At most 250 bytes fit one entry; names.ts's
 * Joliet limit (64 UTF-16 units, at most 192 UTF-8 bytes) keeps every name within it.
 */
export function nmEntry(name: Uint8Array): Buffer {
  const buf = entry('NM', 5 + name.length);
  buf[4] = 0;
  buf.set(name, 5);
  return buf;
}

/** CE: where the rest of this record's system use entries are (continuation area: sector, offset, length). */
export const CE_LENGTH = 28;
export function ceEntry(sector: number, offset: number, length: number): Buffer {
  const buf = entry('CE', CE_LENGTH);
  writeBoth32(buf, 4, sector);
  writeBoth32(buf, 12, offset);
  writeBoth32(buf, 20, length);
  return buf;
}

/**
 * ER: names the extension in use. Linux prefers Rock Ridge over Joliet only
 * once it has seen an ER entry. The three texts are the ones RRIP 1.09
 * prescribes for RRIP_1991A.
 */
export function erEntry(): Buffer {
  const id = 'RRIP_1991A';
  const descriptor = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
  const source =
    'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';
  const buf = entry('ER', 8 + id.length + descriptor.length + source.length);
  buf[4] = id.length;
  buf[5] = descriptor.length;
  buf[6] = source.length;
  buf[7] = 1; // extension version
  buf.write(id + descriptor + source, 8, 'latin1');
  return buf;
}
