/**
 * The three names each file gets on a seed ISO:
 *  - Rock Ridge NM: the name itself as UTF-8 (what Linux and cloud-init see);
 *  - Joliet: the name as UCS-2 big-endian, at most 64 units (what Windows sees);
 *  - ISO 9660 level 1: "NAME.EXT;1" in upper-case d-characters, made unique
 *    (what a reader without either extension falls back to).
 * Names Joliet cannot hold are refused here, before any byte is written.
 */
import { KubestationError } from '../errors.js';

export const JOLIET_MAX_NAME_UNITS = 64;
/** Characters Joliet forbids in a file identifier, besides control characters. */
const JOLIET_FORBIDDEN = /[*/:;?\\]/;

/** Throws ISO_NAME_INVALID when `name` cannot be recorded as a flat root-directory file name. */
export function validateFileName(name: string): void {
  const refuse = (why: string, fix: string): never => {
    throw new KubestationError('ISO_NAME_INVALID', `ISO file name ${JSON.stringify(name)} ${why}`, { fix });
  };
  if (name.length === 0) refuse('is empty', 'give every file on the seed ISO a non-empty name');
  if (name === '.' || name === '..') refuse('is reserved for directories', 'rename the file');
  if (name.includes('/') || name.includes('\\')) {
    refuse(
      'contains a path separator; seed ISOs hold one flat directory',
      'pass the bare file name, without folders',
    );
  }
  if (/[\u0000-\u001f]/.test(name))
    refuse('contains a control character (e.g. NUL)', 'remove control characters from the name');
  if (JOLIET_FORBIDDEN.test(name))
    refuse('contains one of * : ; ? which Joliet cannot record', 'rename the file without those characters');
  if (/[\ud800-\udfff]/.test(name)) {
    refuse(
      'contains a character outside the Basic Multilingual Plane (e.g. an emoji), which UCS-2 (Joliet) cannot hold',
      'use only BMP characters in file names',
    );
  }
  if (name.length > JOLIET_MAX_NAME_UNITS) {
    refuse(
      `is ${name.length} characters long; Joliet allows at most ${JOLIET_MAX_NAME_UNITS}`,
      `shorten the name to ${JOLIET_MAX_NAME_UNITS} characters or fewer`,
    );
  }
}

/** Joliet file identifier: UCS-2 big-endian, without the ";1" version (as genisoimage writes it). */
export function jolietIdentifier(name: string): Buffer {
  return Buffer.from(name, 'utf16le').swap16();
}

/** Orders names as Joliet sorts identifiers: by UCS-2 code unit, which is JS string order for BMP text. */
export function compareJoliet(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toDCharacters(text: string): string {
  return text.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

export interface Level1Name {
  base: string;
  extension: string;
}

/**
 * Derives unique ISO 9660 level-1 names (8 + 3 d-characters) for `names`,
 * which must be distinct and in a fixed order (the result depends on it).
 * A clash keeps the first name as is and ends the others' base with 1, 2, ...
 * ("NETWORK_" → "NETWORK1").
 */
export function deriveLevel1Names(names: readonly string[]): Level1Name[] {
  const used = new Set<string>();
  return names.map((name) => {
    const dot = name.lastIndexOf('.');
    const rawBase = dot > 0 ? name.slice(0, dot) : name;
    const rawExtension = dot > 0 ? name.slice(dot + 1) : '';
    const base = toDCharacters(rawBase).slice(0, 8) || '_';
    const extension = toDCharacters(rawExtension).slice(0, 3);
    let candidate = base;
    for (let n = 1; used.has(`${candidate}.${extension}`); n++) {
      const suffix = String(n);
      candidate = base.slice(0, 8 - suffix.length) + suffix;
    }
    used.add(`${candidate}.${extension}`);
    return { base: candidate, extension };
  });
}

/** The recorded identifier "BASE.EXT;1" (the dot stays even without an extension, as ECMA-119 7.5 requires). */
export function level1Identifier(name: Level1Name): Buffer {
  return Buffer.from(`${name.base}.${name.extension};1`, 'latin1');
}

/** ECMA-119 9.3 order: base then extension, each compared as if padded with spaces. */
export function compareLevel1(a: Level1Name, b: Level1Name): number {
  const key = (n: Level1Name) => n.base.padEnd(8, ' ') + n.extension.padEnd(3, ' ');
  const ka = key(a);
  const kb = key(b);
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
