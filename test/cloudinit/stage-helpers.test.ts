import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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

/** Runs golden_cni_manifest from lib/common.sh; the kept copy's path, or '' when the stage must download. */
function keptManifest(
  options: { cni?: object; content?: string; name?: string; version?: string; url?: string } = {},
): { printed: string; kept: string } {
  const dir = tempDir('golden-cni');
  const url = 'https://github.com/flannel-io/flannel/releases/download/v0.28.9/kube-flannel.yml';
  const content = 'kind: DaemonSet\n';
  const kept = path.join(dir, '1-kube-flannel.yml');
  writeFileSync(kept, options.content ?? content);
  const marker = {
    formatVersion: 1,
    kubernetes: { minor: '1.37', version: '1.37.2', packages: {} },
    cni: options.cni ?? {
      name: 'flannel',
      version: 'v0.28.9',
      manifests: [
        { url, file: '1-kube-flannel.yml', sha256: createHash('sha256').update(content).digest('hex') },
      ],
    },
    images: [],
  };
  writeFileSync(path.join(dir, 'golden.json'), JSON.stringify(marker));
  writeFileSync(
    path.join(dir, 'node.env'),
    `CNI_NAME='${options.name ?? 'flannel'}'\nCNI_VERSION='${options.version ?? 'v0.28.9'}'\n` +
      `GOLDEN_MARKER='${path.join(dir, 'golden.json')}'\nGOLDEN_CNI_DIR='${dir}'\n`,
  );
  const run = spawnSync(
    'bash',
    [
      '-c',
      `set -euo pipefail; source "${repoRoot}/cloud-init/lib/common.sh"; golden_cni_manifest 1 '${options.url ?? url}'`,
    ],
    { env: { ...process.env, KUBESTATION_ENV: path.join(dir, 'node.env') }, encoding: 'utf8' },
  );
  expect(run.status, run.stderr).toBe(0);
  return { printed: run.stdout.trim(), kept };
}

describe('golden template CNI manifests (lib/common.sh golden_cni_manifest)', () => {
  it("hands the cni stage the template's copy when the marker records that URL for the spec's CNI release", () => {
    const { printed, kept } = keptManifest();
    expect(printed).toBe(kept);
  });

  it('says nothing (the stage downloads) for another release, another URL, a changed copy or an older marker', () => {
    expect(keptManifest({ version: 'v0.29.0' }).printed).toBe('');
    expect(keptManifest({ name: 'calico' }).printed).toBe('');
    expect(keptManifest({ url: 'https://example.invalid/kube-flannel.yml' }).printed).toBe('');
    expect(keptManifest({ content: 'kind: Tampered\n' }).printed).toBe('');
    expect(keptManifest({ cni: { name: 'flannel', version: 'v0.28.9' } }).printed).toBe('');
  });
});
