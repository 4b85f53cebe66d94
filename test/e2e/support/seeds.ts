/**
 * kubestation's own seeds for the e2e guest: the shipped cluster.yaml with only what the
 * isolated guest needs changed (the stand-in package repository and flannel manifest), or
 * more (a test's `edit`), written by `kubestation seed-isos --json` run in-process.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import yaml from 'js-yaml';
import { expect } from 'vitest';
import { main } from '../../../src/cli.js';
import { parseClusterSpec } from '../../../src/config/load.js';
import type { ClusterSpec } from '../../../src/config/model.js';
import { STANDIN_APT_REPOSITORY, STANDIN_FLANNEL_MANIFEST, repoRoot } from './rig.js';

export interface SeedRun {
  spec: ClusterSpec;
  seeds: Map<string, { iso: string; dir: string; userData: string }>;
  sshPublicKey: string;
}

/** The shipped cluster.yaml pointed at the image's stand-ins, then changed by `edit`. */
async function writeE2eClusterFile(
  dir: string,
  edit: (cluster: Record<string, any>) => void,
): Promise<string> {
  const cluster = yaml.load(await readFile(path.join(repoRoot, 'cluster.yaml'), 'utf8')) as Record<
    string,
    any
  >;
  cluster.stateDir = path.join(dir, 'state');
  cluster.kubernetes.packageRepository = STANDIN_APT_REPOSITORY;
  cluster.kubernetes.cni = { ...cluster.kubernetes.cni, manifestUrls: [STANDIN_FLANNEL_MANIFEST] };
  edit(cluster);
  const file = path.join(dir, 'cluster.yaml');
  await writeFile(file, yaml.dump(cluster));
  return file;
}

/** Runs `kubestation seed-isos --json` (the CLI entry, in-process) and collects each node's seed. */
export async function generateSeeds(
  dir: string,
  edit: (cluster: Record<string, any>) => void = () => undefined,
): Promise<SeedRun> {
  const clusterFile = await writeE2eClusterFile(dir, edit);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  stderr.on('data', (c: Buffer) => errors.push(c));
  const code = await main(['seed-isos', '--cluster', clusterFile, '--json'], {
    stdout,
    stderr,
    env: {},
    cwd: dir,
  });
  expect(code, Buffer.concat(errors).toString()).toBe(0);
  const report = JSON.parse(Buffer.concat(chunks).toString()) as {
    sshPrivateKey?: string;
    nodes: { node: string; dir: string; iso: { path: string } }[];
  };
  const spec = parseClusterSpec(await readFile(clusterFile, 'utf8'), { sourcePath: clusterFile });
  const seeds = new Map<string, { iso: string; dir: string; userData: string }>();
  for (const node of report.nodes) {
    seeds.set(node.node, {
      iso: node.iso.path,
      dir: node.dir,
      userData: await readFile(path.join(node.dir, 'user-data'), 'utf8'),
    });
  }
  const sshPublicKey = (await readFile(`${report.sshPrivateKey}.pub`, 'utf8')).trim();
  return { spec, seeds, sshPublicKey };
}
