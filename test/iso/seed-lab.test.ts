import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIso } from '../../src/iso/iso9660.js';
import { expectSeedIsoHolds } from './check-iso.js';
import { seedLab } from './fixtures/seed-lab.mjs';
import { blkidValue, genisoimage, isoinfoList } from './iso-tools.js';
import { tempDirForThisFile } from './temp-dir.js';

const workDir = tempDirForThisFile('kubestation-iso-lab-');

describe.each(seedLab())('seed ISO for $node', ({ node, files }) => {
  it('is found as cidata and read whole by blkid, isoinfo, isovfy, xorriso and 7z', async () => {
    await expectSeedIsoHolds(buildIso(files), files, workDir(), node);
  });

  it('is byte-identical across builds and whatever order the files come in', () => {
    const first = buildIso(files);
    expect(buildIso(files).equals(first)).toBe(true);
    expect(buildIso([...files].reverse()).equals(first)).toBe(true);
  });

  it("lists the same names and sizes as genisoimage's seed, and is smaller", async () => {
    const sourceDir = path.join(workDir(), `${node}-src`);
    await mkdir(sourceDir, { recursive: true });
    for (const file of files) {
      await writeFile(path.join(sourceDir, file.name), file.content);
      await chmod(path.join(sourceDir, file.name), 0o644); // genisoimage -rock records the source mode; ours defaults to 0644
    }
    const reference = path.join(workDir(), `${node}-genisoimage.iso`);
    const referenceImage = await genisoimage(
      sourceDir,
      files.map((f) => f.name),
      reference,
    );
    const ours = path.join(workDir(), `${node}-ours.iso`);
    const image = buildIso(files);
    await writeFile(ours, image);

    for (const tree of ['', '-J', '-R'] as const) {
      const summary = async (iso: string) =>
        (await isoinfoList(iso, tree)).map((e) => `${e.name} ${e.size} ${e.mode}`).sort();
      expect(await summary(ours), `isoinfo ${tree} -l`).toEqual(await summary(reference));
    }
    expect(await blkidValue(ours, 'LABEL')).toBe(await blkidValue(reference, 'LABEL'));
    expect(image.length).toBeLessThanOrEqual(referenceImage.length);
  });
});

it("gives each node's seed its own volume date, which blkid shows as the ISO's UUID", async () => {
  const uuids = new Set<string>();
  for (const { node, files } of seedLab()) {
    const iso = path.join(workDir(), `${node}-uuid.iso`);
    await writeFile(iso, buildIso(files, { env: {} }));
    uuids.add(await blkidValue(iso, 'UUID'));
  }
  expect(uuids.size).toBe(3);
});
