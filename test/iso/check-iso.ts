/**
 * One verdict, from the real readers, on whether an ISO holds exactly the
 * given files: label and type (blkid), structure (isovfy), extensions
 * (isoinfo -d), names through each tree (isoinfo, xorriso), and every
 * file's bytes as xorriso and 7z extract them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import type { IsoFile } from '../../src/iso/iso9660.js';
import {
  blkidValue,
  isoinfoDescription,
  isoinfoList,
  isovfy,
  sevenZipExtract,
  xorrisoExtract,
  xorrisoNames,
} from './iso-tools.js';

const sorted = (names: Iterable<string>) => [...names].sort();
const bytesOf = (file: IsoFile) =>
  typeof file.content === 'string' ? Buffer.from(file.content, 'utf8') : Buffer.from(file.content);

/** isoinfo has no UTF-8 output charset: it shows a Joliet character outside Latin-1 as '_'. */
const asIsoinfoShowsJoliet = (name: string) => name.replace(/[^\u0000-\u00ff]/g, '_');

/** Writes `image` to `<workDir>/<label>.iso` and checks it with every tool; returns the ISO path. */
export async function expectSeedIsoHolds(
  image: Buffer,
  files: IsoFile[],
  workDir: string,
  label: string,
): Promise<string> {
  const iso = path.join(workDir, `${label}.iso`);
  await writeFile(iso, image);
  const names = files.map((f) => f.name);

  expect(await blkidValue(iso, 'LABEL')).toBe('cidata');
  expect(await blkidValue(iso, 'TYPE')).toBe('iso9660');
  expect(await isovfy(iso)).toMatch(/No errors found\s*$/);
  const description = await isoinfoDescription(iso);
  expect(description).toMatch(/^Volume id: cidata$/m);
  expect(description).toMatch(/^Joliet with UCS level 3 found$/m);
  expect(description).toMatch(/^Rock Ridge signatures version 1 found$/m);
  expect(description).toMatch(new RegExp(`^Volume size is: ${image.length / 2048}$`, 'm'));

  const rockRidge = await isoinfoList(iso, '-R');
  expect(sorted(rockRidge.map((e) => e.name))).toEqual(sorted(names));
  for (const file of files) {
    const entry = rockRidge.find((e) => e.name === file.name)!;
    expect(entry.size).toBe(bytesOf(file).length);
    expect(entry.mode).toBe(file.mode === 0o755 ? '-rwxr-xr-x' : '-rw-r--r--');
  }
  const joliet = await isoinfoList(iso, '-J');
  expect(sorted(joliet.map((e) => e.name))).toEqual(sorted(names.map(asIsoinfoShowsJoliet)));
  const plain = (await isoinfoList(iso, '')).map((e) => e.name);
  expect(plain).toHaveLength(names.length);
  expect(new Set(plain).size).toBe(names.length);
  for (const name of plain) expect(name).toMatch(/^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$/);

  expect(sorted(await xorrisoNames(iso))).toEqual(sorted(names));
  expect(sorted(await xorrisoNames(iso, 'norock'))).toEqual(sorted(names));

  const extractDir = path.join(workDir, `${label}-xorriso`);
  await mkdir(extractDir, { recursive: true });
  for (const file of files) {
    const extracted = await xorrisoExtract(iso, file.name, path.join(extractDir, file.name));
    expect(extracted.equals(bytesOf(file)), `xorriso extract of ${file.name}`).toBe(true);
  }
  const sevenZip = await sevenZipExtract(iso, path.join(workDir, `${label}-7z`));
  expect(sorted(sevenZip.keys())).toEqual(sorted(names));
  for (const file of files) {
    expect(sevenZip.get(file.name)!.equals(bytesOf(file)), `7z extract of ${file.name}`).toBe(true);
  }
  return iso;
}
