import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KubestationError } from '../../src/errors.js';
import { buildIso, planIsoLayout, type IsoFile, type IsoOptions } from '../../src/iso/iso9660.js';
import { blkidValue, isoinfoList } from './iso-tools.js';
import { tempDirForThisFile } from './temp-dir.js';

const workDir = tempDirForThisFile('kubestation-iso-unit-');

const seed: IsoFile[] = [
  { name: 'user-data', content: '#cloud-config\nhostname: k8s-worker1\n' },
  { name: 'meta-data', content: 'instance-id: k8s-worker1-0001\n' },
  { name: 'network-config', content: 'network:\n  version: 2\n' },
];

function refusal(files: IsoFile[], options: IsoOptions = {}): KubestationError {
  try {
    buildIso(files, options);
  } catch (error) {
    if (error instanceof KubestationError) return error;
    throw error;
  }
  throw new Error('buildIso accepted what it should refuse');
}

/** The ISO's volume creation date as blkid reports it (its UUID). */
async function blkidUuid(image: Buffer, label: string): Promise<string> {
  const iso = path.join(workDir(), `${label}.iso`);
  await writeFile(iso, image);
  return blkidValue(iso, 'UUID');
}

describe('buildIso refuses what an ISO cannot represent', () => {
  it.each([
    ['', /ISO file name "" is empty/],
    ['etc/user-data', /"etc\/user-data" contains a path separator/],
    ['user\0data', /contains a control character \(e\.g\. NUL\)/],
    ['..', /is reserved for directories/],
    ['a:b', /contains one of \* : ; \? which Joliet cannot record/],
    ['x'.repeat(65), /is 65 characters long; Joliet allows at most 64/],
    ['seed-🚀', /outside the Basic Multilingual Plane/],
  ])('name %j', (name, message) => {
    const error = refusal([...seed, { name, content: 'x' }]);
    expect(error.code).toBe('ISO_NAME_INVALID');
    expect(error.message).toMatch(message);
    expect(error.fix).toBeTruthy();
  });

  it('a name given twice', () => {
    const error = refusal([...seed, { name: 'user-data', content: 'again' }]);
    expect(error.code).toBe('ISO_NAME_DUPLICATE');
    expect(error.message).toBe("ISO file name 'user-data' is given twice");
  });

  it.each(['', 'ci data', 'x'.repeat(17), 'cidätä'])('volume id %j', (volumeId) => {
    const error = refusal(seed, { volumeId });
    expect(error.code).toBe('ISO_VOLUME_ID_INVALID');
    expect(error.message).toBe(`ISO volume id ${JSON.stringify(volumeId)} is not valid`);
  });

  it.each([0o10000, -1, 1.5])('mode %d', (mode) => {
    const error = refusal([{ name: 'user-data', content: '', mode }]);
    expect(error.code).toBe('ISO_MODE_INVALID');
    expect(error.message).toMatch(/ISO file 'user-data' has mode .* not a POSIX permission value/);
  });

  it('a malformed SOURCE_DATE_EPOCH or an unrepresentable timestamp', () => {
    expect(refusal(seed, { env: { SOURCE_DATE_EPOCH: 'yesterday' } }).message).toBe(
      'SOURCE_DATE_EPOCH="yesterday" is not a whole number of seconds',
    );
    expect(refusal(seed, { timestamp: new Date('1850-01-01T00:00:00Z') }).code).toBe('ISO_TIMESTAMP_INVALID');
    expect(refusal(seed, { timestamp: new Date(Number.NaN) }).code).toBe('ISO_TIMESTAMP_INVALID');
  });

  it('files larger than 32-bit sizes allow, checked before any memory is allocated', () => {
    const plan = (sizes: number[]) => () =>
      planIsoLayout(
        sizes.map((size, i) => ({ name: `big-${i}`, size, mode: 0o644 })),
        new Date(0),
      );
    expect(plan([2 ** 32])).toThrow(
      /seed ISO cannot hold file 'big-0' of 4294967296 bytes: ISO 9660 sizes are 32-bit/,
    );
    expect(plan([2 ** 32 - 1])).not.toThrow(/32-bit \(at most/);
    const tooMany = plan(Array.from({ length: 2050 }, () => 2 ** 32 - 1));
    expect(tooMany).toThrow(KubestationError);
    expect(tooMany).toThrow(/beyond 32-bit extents/);
  });
});

describe('timestamps', () => {
  it('come from the timestamp option first, then SOURCE_DATE_EPOCH', async () => {
    const fromOption = buildIso(seed, {
      timestamp: new Date('2024-05-01T12:00:00Z'),
      env: { SOURCE_DATE_EPOCH: '0' },
    });
    expect(await blkidUuid(fromOption, 'option')).toBe('2024-05-01-12-00-00-00');
    const fromEpoch = buildIso(seed, { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    expect(await blkidUuid(fromEpoch, 'epoch')).toBe('2023-11-14-22-13-20-00');
    const listed = await isoinfoList(path.join(workDir(), 'epoch.iso'), '-R');
    expect(listed.map((e) => e.name).sort()).toEqual(['meta-data', 'network-config', 'user-data']);
  });

  it('otherwise derive from the content, so equal seeds are equal and different seeds differ', async () => {
    const again = [...seed].reverse();
    const changed = seed.map((f) =>
      f.name === 'meta-data' ? { ...f, content: 'instance-id: k8s-worker1-0002\n' } : f,
    );
    const a = buildIso(seed, { env: {} });
    expect(buildIso(again, { env: {} }).equals(a)).toBe(true);
    expect(await blkidUuid(a, 'content-a')).not.toBe(
      await blkidUuid(buildIso(changed, { env: {} }), 'content-b'),
    );
  });
});

describe('layout', () => {
  it('moves a Rock Ridge name that does not fit its directory record to a continuation area', () => {
    const layout = planIsoLayout([{ name: '가'.repeat(60) + '.cfg', size: 1, mode: 0o644 }], new Date(0));
    // The root's ER entry always lives there; the 184-byte UTF-8 name joins it.
    expect(layout.continuation.areas).toHaveLength(2);
    expect(Buffer.from(layout.continuation.areas[1]!.bytes).subarray(0, 2).toString('latin1')).toBe('NM');
  });

  it('is far smaller than genisoimage pads seeds to (368 KiB)', () => {
    expect(buildIso(seed).length).toBeLessThanOrEqual(32 * 2048);
  });
});
