/**
 * The real ISO readers the writer is judged by (blkid, isoinfo, isovfy,
 * xorriso, 7z), wrapped so a test can say what it checks. Every wrapper
 * runs the tool and parses its output; nothing here decodes the ISO itself.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

// UTF-8 locale so xorriso and 7z print and write non-ASCII names as they are.
const env = { LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

/** One blkid tag; UUID of an ISO is its volume creation date, e.g. 2024-05-01-12-00-00-00. */
export async function blkidValue(iso: string, tag: 'LABEL' | 'TYPE' | 'UUID'): Promise<string> {
  return (await execa('blkid', ['-p', '-o', 'value', '-s', tag, iso], { env })).stdout.trim();
}

/** `isoinfo -d`: the primary volume descriptor summary, with Joliet / Rock Ridge detection lines. */
export async function isoinfoDescription(iso: string): Promise<string> {
  return (await execa('isoinfo', ['-d', '-i', iso], { env })).stdout;
}

/** `isovfy`: ISO 9660 structure check; resolves to its report, which ends in "No errors found" when clean. */
export async function isovfy(iso: string): Promise<string> {
  return (await execa('isovfy', [iso], { env })).stdout;
}

export interface IsoinfoEntry {
  name: string;
  mode: string;
  size: number;
  extent: number;
}

/** `isoinfo -l` of the root directory, through the primary ('') or Joliet ('-J') or Rock Ridge ('-R') tree, without . and .. */
export async function isoinfoList(iso: string, tree: '' | '-J' | '-R'): Promise<IsoinfoEntry[]> {
  const args = [...(tree ? [tree] : []), '-l', '-i', iso];
  const { stdout } = await execa('isoinfo', args, { env });
  const entries: IsoinfoEntry[] = [];
  // e.g. "-rw-r--r--   1    0    0              15 Sep  1 2013 [     26 00]  meta-data "
  for (const line of stdout.split('\n')) {
    const match = /^(\S{10})\s+\d+\s+\d+\s+\d+\s+(\d+) .{11} \[\s*(\d+) \d+\]  (.*) $/.exec(line);
    if (!match || match[4] === '.' || match[4] === '..') continue;
    entries.push({ mode: match[1]!, size: Number(match[2]), extent: Number(match[3]), name: match[4]! });
  }
  return entries;
}

/**
 * `xorriso -find /` names. `readFs` picks the tree xorriso loads: default
 * (Rock Ridge), 'norock' (Joliet), 'ecma119' (plain ISO 9660). Fails if
 * xorriso reports any WARNING, SORRY or FAILURE while loading.
 */
export async function xorrisoNames(iso: string, readFs?: 'norock' | 'ecma119'): Promise<string[]> {
  const args = [...(readFs ? ['-read_fs', readFs] : []), '-indev', iso, '-find', '/'];
  const { stdout, stderr } = await execa('xorriso', args, { env });
  const complaints = stderr.split('\n').filter((line) => /WARNING|SORRY|FAILURE|MISHAP/.test(line));
  if (complaints.length > 0) throw new Error(`xorriso complained about ${iso}:\n${complaints.join('\n')}`);
  return stdout
    .split('\n')
    .filter((line) => line.startsWith("'/") && line !== "'/'")
    .map((line) => line.slice(2, -1));
}

export async function xorrisoExtract(iso: string, name: string, output: string): Promise<Buffer> {
  await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', `/${name}`, output], { env });
  return readFile(output);
}

/** `7z x` into `outDir`; resolves to the extracted files by name. */
export async function sevenZipExtract(iso: string, outDir: string): Promise<Map<string, Buffer>> {
  await mkdir(outDir, { recursive: true });
  await execa('7z', ['x', `-o${outDir}`, '-y', iso], { env });
  const names = await readdir(outDir);
  return new Map(
    await Promise.all(names.map(async (n) => [n, await readFile(path.join(outDir, n))] as const)),
  );
}

/** The reference seed: `genisoimage -volid cidata -joliet -rock` over files in `dir`. */
export async function genisoimage(dir: string, names: string[], output: string): Promise<Buffer> {
  await execa(
    'genisoimage',
    ['-quiet', '-output', output, '-volid', 'cidata', '-joliet', '-rock', ...names],
    { cwd: dir, env },
  );
  return readFile(output);
}
