import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, tempDir } from './fixtures.js';

/** Runs golden_has_kubernetes from lib/common.sh against a marker file; true when it says "skip installs". */
function goldenSays(marker: object | string | undefined, minor: string, patch: string): boolean {
  const dir = tempDir('golden');
  const markerPath = path.join(dir, 'golden.json');
  if (marker !== undefined)
    writeFileSync(markerPath, typeof marker === 'string' ? marker : JSON.stringify(marker));
  writeFileSync(
    path.join(dir, 'node.env'),
    `K8S_MINOR='${minor}'\nK8S_PATCH='${patch}'\nGOLDEN_MARKER='${markerPath}'\n`,
  );
  const run = spawnSync(
    'bash',
    ['-c', `set -euo pipefail; source "${repoRoot}/cloud-init/lib/common.sh"; golden_has_kubernetes`],
    {
      env: { ...process.env, KUBESTATION_ENV: path.join(dir, 'node.env') },
      encoding: 'utf8',
    },
  );
  return run.status === 0;
}

describe('golden template marker (lib/common.sh golden_has_kubernetes)', () => {
  const marker = {
    formatVersion: 1,
    kubernetes: { minor: '1.37', version: '1.37.2', packages: {} },
    containerd: { package: 'containerd', version: '2.2.1' },
    images: [],
  };

  it('skips installs only when the template holds the spec minor (and patch, when pinned)', () => {
    expect(goldenSays(marker, '1.37', '')).toBe(true);
    expect(goldenSays(marker, '1.37', '1.37.2')).toBe(true);
    expect(
      goldenSays({ ...marker, kubernetes: { ...marker.kubernetes, version: 'v1.37.2' } }, '1.37', '1.37.2'),
    ).toBe(true);
    expect(goldenSays(marker, '1.37', '1.37.3')).toBe(false);
    expect(goldenSays(marker, '1.36', '')).toBe(false);
  });

  it('installs when there is no marker or it is unreadable', () => {
    expect(goldenSays(undefined, '1.37', '')).toBe(false);
    expect(goldenSays('{not json', '1.37', '')).toBe(false);
  });
});
