/**
 * kubestation runs with its production dependencies only: a copy of what a
 * clone ships, compiled, installed with `npm ci --omit=dev`, in a folder whose
 * path has a space, non-ASCII letters and parentheses, runs `validate`,
 * `seed-isos` and `build-vms --simulate` (the simulators are compiled into
 * dist/ and shipped) through the POSIX wrapper `./kubestation`. The build-time
 * tools (ajv, TypeBox, TypeScript) are not installed there, so anything the
 * product loaded from them at run time would fail here.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/temp-dir.js';
import { copyShipped, installProductionDependencies, transpileDist } from './support/production-copy.js';

let clone: string;

async function kubestation(args: string[]) {
  // Only what a shell gives: none of vitest's variables (NODE_OPTIONS and the like) reach the product.
  return execa(path.join(clone, 'kubestation'), args, {
    cwd: clone,
    reject: false,
    extendEnv: false,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: process.env.TMPDIR },
  });
}

beforeAll(async () => {
  clone = path.join(tempDir('kubestation-production-'), '김 철수 (x86)', 'kubestation');
  await copyShipped(clone);
  await transpileDist(clone);
  await installProductionDependencies(clone);
}, 180_000);

describe('kubestation installed with npm ci --omit=dev', () => {
  it('has no build-time package installed', () => {
    for (const dev of ['ajv', '@sinclair/typebox', 'typescript', 'tsx', 'vitest'])
      expect(existsSync(path.join(clone, 'node_modules', dev)), dev).toBe(false);
    expect(existsSync(path.join(clone, 'node_modules', 'js-yaml'))).toBe(true);
  });

  it('validates the shipped cluster.yaml, and refuses a broken one with exit 1', async () => {
    const run = await kubestation(['validate']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toContain(`${path.join(clone, 'cluster.yaml')}: valid`);

    const broken = await kubestation(['validate', '--cluster', path.join(clone, 'schema', 'no such.yaml')]);
    expect(broken.exitCode).toBe(1);
    expect(broken.stderr + broken.stdout).toContain('no such.yaml does not exist');
  });

  it('ships every pinned add-on manifest, read and checked from the installed package', async () => {
    const script = [
      "const { ADDONS, readAddonManifest } = await import('./dist/src/addons/catalog.js');",
      'let n = 0;',
      'for (const a of ADDONS) for (const m of a.manifests) { await readAddonManifest(m.file); n++; }',
      'console.log(n);',
    ].join('\n');
    const run = await execa(process.execPath, ['--input-type=module', '-e', script], {
      cwd: clone,
      reject: false,
    });
    expect(run.stderr).toBe('');
    expect(Number(run.stdout)).toBeGreaterThanOrEqual(5);
  });

  it('writes the seed ISOs', async () => {
    const run = await kubestation(['seed-isos', '--json']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const report = JSON.parse(run.stdout) as { nodes: Array<{ node: string; iso: { path: string } }> };
    expect(report.nodes.map((n) => n.node)).toEqual(['k8s-master', 'k8s-worker1', 'k8s-worker2']);
    for (const node of report.nodes) expect(existsSync(node.iso.path), node.iso.path).toBe(true);
  });

  it('builds a simulated lab with build-vms --simulate', async () => {
    const run = await kubestation(['build-vms', '--simulate', '--skip-verify']);
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(/simulated cluster k8s-lab is ready \(verify skipped\)/);
  }, 120_000);
});
