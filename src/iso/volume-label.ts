/**
 * Reads an ISO image's volume labels back: the primary volume descriptor's
 * volume identifier (ECMA-119 8.4, sector 16 on) and, when present, the
 * Joliet supplementary descriptor's (8.5, UCS-2 big-endian, escape %/@ %/C
 * %/E). Linux's blkid reports the Joliet label when there is one, and
 * cloud-init's NoCloud finds its seed by that label (`cidata`), so both are
 * what decide whether a node finds its seed.
 */
import { open } from 'node:fs/promises';
import { KubestationError } from '../errors.js';
import { SECTOR_SIZE, SYSTEM_AREA_SECTORS } from './records.js';
import { COMMAND_PREFIX } from '../command-hint.js';

export interface VolumeLabels {
  /** The primary volume descriptor's volume identifier, trailing spaces removed. */
  primary: string;
  /** The Joliet volume identifier, when the image has a Joliet descriptor. */
  joliet: string | undefined;
}

/** Descriptors read before giving up on finding the terminator (real images have 2–4). */
const MAX_DESCRIPTORS = 32;
const JOLIET_ESCAPES = ['%/@', '%/C', '%/E'];

export async function readVolumeLabels(file: string): Promise<VolumeLabels> {
  const handle = await open(file, 'r');
  try {
    let primary: string | undefined;
    let joliet: string | undefined;
    for (let i = 0; i < MAX_DESCRIPTORS; i++) {
      const sector = Buffer.alloc(SECTOR_SIZE);
      const { bytesRead } = await handle.read(
        sector,
        0,
        SECTOR_SIZE,
        (SYSTEM_AREA_SECTORS + i) * SECTOR_SIZE,
      );
      if (bytesRead < SECTOR_SIZE || sector.toString('latin1', 1, 6) !== 'CD001') break;
      const type = sector[0];
      if (type === 255) break;
      if (type === 1 && primary === undefined) primary = sector.toString('latin1', 40, 72).replace(/ +$/, '');
      if (type === 2 && JOLIET_ESCAPES.includes(sector.toString('latin1', 88, 91))) {
        joliet = Buffer.from(sector.subarray(40, 72))
          .swap16()
          .toString('utf16le')
          .replace(/[ \u0000]+$/, '');
      }
    }
    if (primary === undefined) {
      throw new KubestationError(
        'ISO_NOT_ISO9660',
        `${file} is not an ISO 9660 image (no primary volume descriptor at sector ${SYSTEM_AREA_SECTORS})`,
        {
          fix: `regenerate it: \`${COMMAND_PREFIX} seed-isos\` (or run build-vms again)`,
        },
      );
    }
    return { primary, joliet };
  } finally {
    await handle.close();
  }
}
