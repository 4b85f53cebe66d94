/**
 * readVolumeLabels against images made by kubestation's writer and by
 * genisoimage, each judged against what blkid (the reader cloud-init relies
 * on) says the label is.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { buildIso } from '../../src/iso/iso9660.js';
import { readVolumeLabels } from '../../src/iso/volume-label.js';
import { blkidValue } from './iso-tools.js';
import { tempDirForThisFile } from './temp-dir.js';

const dir = tempDirForThisFile('kubestation-label-');
const files = [
  { name: 'meta-data', content: 'instance-id: i-1\n' },
  { name: 'user-data', content: '#cloud-config\n' },
];

describe('readVolumeLabels', () => {
  it('reads the label of a seed written by kubestation, as blkid does', async () => {
    const iso = path.join(dir(), 'seed.iso');
    await writeFile(iso, buildIso(files, { volumeId: 'cidata' }));
    expect(await readVolumeLabels(iso)).toEqual({ primary: 'cidata', joliet: 'cidata' });
    expect(await blkidValue(iso, 'LABEL')).toBe('cidata');
  });

  it.each([
    { args: ['-V', 'CIDATA', '-J', '-r'], primary: 'CIDATA', joliet: 'CIDATA' },
    { args: ['-V', 'config-2', '-r'], primary: 'config-2', joliet: undefined },
  ])('reads genisoimage $args', async ({ args, primary, joliet }) => {
    const src = path.join(dir(), `src-${primary}`);
    await execa('mkdir', ['-p', src]);
    for (const f of files) await writeFile(path.join(src, f.name), f.content);
    const iso = path.join(dir(), `${primary}.iso`);
    await execa('genisoimage', ['-quiet', '-o', iso, ...args, src]);
    expect(await readVolumeLabels(iso)).toEqual({ primary, joliet });
    expect(await blkidValue(iso, 'LABEL')).toBe(joliet ?? primary);
  });

  it('refuses a file that is not an ISO 9660 image, naming it', async () => {
    const bogus = path.join(dir(), 'not-an.iso');
    await writeFile(bogus, Buffer.alloc(40_000, 0x41));
    await expect(readVolumeLabels(bogus)).rejects.toThrow(`${bogus} is not an ISO 9660 image`);
  });
});
