import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIso, planIsoLayout, type IsoFile } from '../../src/iso/iso9660.js';
import { directoryRecordLength } from '../../src/iso/records.js';
import { expectSeedIsoHolds } from './check-iso.js';
import { isoinfoList } from './iso-tools.js';
import { tempDirForThisFile } from './temp-dir.js';

const workDir = tempDirForThisFile('kubestation-iso-edge-');

const seed: IsoFile[] = [
  { name: 'user-data', content: '#cloud-config\nhostname: k8s-master\n' },
  { name: 'meta-data', content: 'instance-id: k8s-master-0001\n' },
  { name: 'network-config', content: 'network:\n  version: 2\n' },
];

/** Bytes that are not text and differ at every position, so misplaced or truncated data shows. */
function patternBytes(length: number, seed: number): Buffer {
  const buf = Buffer.alloc(Math.ceil(length / 4) * 4);
  for (let i = 0; i < length; i += 4) buf.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
  return buf.subarray(0, length);
}

const name64 = `kubestation-${'long-name-'.repeat(6)}`.slice(0, 60) + '.cfg';

const cases: [string, IsoFile[]][] = [
  ['an empty file among the seed files', [...seed, { name: 'vendor-data', content: '' }]],
  [
    'an empty file that sorts last (no data after it)',
    [
      { name: 'user-data', content: '#cloud-config\n' },
      { name: 'zz-empty', content: '' },
    ],
  ],
  [
    'only empty files',
    [
      { name: 'meta-data', content: '' },
      { name: 'user-data', content: '' },
    ],
  ],
  [
    'a 5 MiB file and files of sector-boundary sizes',
    [
      ...seed,
      { name: 'payload.bin', content: patternBytes(5 * 1024 * 1024, 1) },
      { name: 'one-sector.bin', content: patternBytes(2048, 2) },
      { name: 'sector-plus-one.bin', content: patternBytes(2049, 3) },
    ],
  ],
  [
    '20 files whose 8.3 names collide',
    [
      ...seed,
      ...Array.from({ length: 17 }, (_, i) => ({ name: `network-config-${i}`, content: `extra ${i}\n` })),
    ],
  ],
  [
    'Korean content and names',
    [
      { name: 'user-data', content: '#cloud-config\n# 쿠버네티스 실습 클러스터\nhostname: k8s-master\n' },
      { name: 'meta-data', content: 'instance-id: 마스터-0001\n' },
      { name: '설정-파일.txt', content: '한국어 내용 — 서울\n' },
      { name: '노드.yaml', content: 'name: 노드\n' },
    ],
  ],
  [
    'a 64-character name and a 64-character Korean name',
    [
      ...seed,
      { name: name64, content: 'sixty-four\n' },
      { name: '가'.repeat(60) + '.cfg', content: 'long korean\n' },
    ],
  ],
  ['an executable mode', [...seed, { name: 'setup.sh', content: '#!/bin/sh\necho hi\n', mode: 0o755 }]],
];

describe('seed ISOs with edge cases', () => {
  it('uses names of exactly 64 UCS-2 units, the Joliet limit', () => {
    expect(name64).toHaveLength(64);
    expect(('가'.repeat(60) + '.cfg').length).toBe(64);
  });

  it.each(cases)('%s: every reader sees exactly the files', async (label, files) => {
    await expectSeedIsoHolds(buildIso(files), files, workDir(), label.replace(/\W+/g, '-'));
  });

  it('spreads a directory over several sectors without a record crossing a sector boundary', async () => {
    const files = Array.from({ length: 60 }, (_, i) => ({
      name: `${String(i).padStart(2, '0')}-${name64.slice(3)}`,
      content: `file ${i}\n`,
    }));
    const layout = planIsoLayout(
      files.map((f) => ({ name: f.name, size: f.content.length, mode: 0o644 })),
      new Date(0),
    );
    expect(layout.primaryDirectory.sectors).toBeGreaterThan(2);
    expect(layout.jolietDirectory.sectors).toBeGreaterThan(2);
    for (const dir of [layout.primaryDirectory, layout.jolietDirectory]) {
      for (const r of dir.records) {
        const end = (r.offset % 2048) + directoryRecordLength(r.identifier.length, r.systemUse.length);
        expect(end).toBeLessThanOrEqual(2048);
      }
    }
    await expectSeedIsoHolds(buildIso(files), files, workDir(), 'sixty-long-names');
  });

  it('gives a file a data extent of its own, starting on a sector, in the order of its name', async () => {
    const files = cases[3]![1];
    const iso = await expectSeedIsoHolds(buildIso(files), files, workDir(), 'extents');
    const entries = await isoinfoList(iso, '-R');
    const payload = entries.find((e) => e.name === 'payload.bin')!;
    const next = entries.find((e) => e.name === 'sector-plus-one.bin')!;
    expect(next.extent - payload.extent).toBe((5 * 1024 * 1024) / 2048);
  });
});
