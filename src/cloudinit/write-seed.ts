/**
 * The I/O edge of seed generation: gathers the inputs (cluster secrets from
 * src/pki, the SSH key, the shipped scripts), renders a node's documents and
 * writes `<stateDir>/<node>/{user-data,meta-data,network-config,seed.iso}`.
 * Files are written atomically and owner-only (user-data carries the CA key
 * and the join token), and only when their bytes change.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KubestationError } from '../errors.js';
import { buildIso } from '../iso/iso9660.js';
import { loadOrCreateClusterSecrets } from '../pki/secrets-store.js';
import { ensureSecretDir, writeSecretFileAtomic } from '../pki/secret-files.js';
import type { ClusterSpec, NodeSpec } from '../config/model.js';
import { loadOrCreateSshKeyPair } from '../ssh/keypair.js';
import type { SeedInputs } from './inputs.js';
import { loadBootScripts } from './scripts.js';
import { renderNodeSeed } from './seed.js';

export const SEED_FILE_NAMES = ['user-data', 'meta-data', 'network-config'] as const;
export const SEED_ISO_NAME = 'seed.iso';

export interface WrittenFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
  /** False when the file already held exactly these bytes (it was left untouched). */
  changed: boolean;
}

export interface NodeSeedResult {
  node: string;
  dir: string;
  instanceId: string;
  files: WrittenFile[];
  iso: WrittenFile;
}

export interface SeedInputsReport {
  inputs: SeedInputs;
  /** Secret and key files created by this call (first run). */
  created: string[];
  /** Where the generated private key is, when the spec lists no keys of its own. */
  sshPrivateKeyPath: string | undefined;
}

/** Secrets, SSH keys and scripts for every node of the spec; creates the secrets and key on the first run. */
export async function prepareSeedInputs(spec: ClusterSpec): Promise<SeedInputsReport> {
  const secrets = await loadOrCreateClusterSecrets({
    stateDir: spec.stateDir,
    clusterName: spec.name,
    apiEndpoint: spec.kubernetes.apiEndpoint,
  });
  const created = [...secrets.created];
  let sshAuthorizedKeys = spec.os.user.sshAuthorizedKeys;
  let sshPrivateKeyPath: string | undefined;
  if (sshAuthorizedKeys.length === 0) {
    const pair = await loadOrCreateSshKeyPair(spec.stateDir, `${spec.os.user.name}@${spec.name}`);
    if (pair.created) created.push(pair.paths.privateKey, pair.paths.publicKey);
    sshAuthorizedKeys = [pair.publicKey];
    sshPrivateKeyPath = pair.paths.privateKey;
  }
  return {
    inputs: {
      secrets: {
        bootstrapToken: secrets.bootstrapToken.token,
        caCertHash: secrets.caCertHash,
        caCertPem: secrets.ca.certPem,
        caKeyPem: secrets.ca.keyPem,
      },
      sshAuthorizedKeys,
      scripts: await loadBootScripts(),
    },
    created,
    sshPrivateKeyPath,
  };
}

export function nodeSeedDir(spec: Pick<ClusterSpec, 'stateDir'>, node: Pick<NodeSpec, 'name'>): string {
  return path.join(spec.stateDir, node.name);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function writeIfChanged(file: string, bytes: Buffer): Promise<WrittenFile> {
  const name = path.basename(file);
  const digest = sha256(bytes);
  let previous: Buffer | undefined;
  try {
    previous = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (previous !== undefined && sha256(previous) === digest)
    return { name, path: file, size: bytes.length, sha256: digest, changed: false };
  try {
    // Owner-only: user-data carries the CA key and the join token.
    await writeSecretFileAtomic(file, bytes);
  } catch (error) {
    if (error instanceof KubestationError) throw error; // e.g. SECRET_ACL_FAILED, with its own fix
    throw new KubestationError('SEED_WRITE_FAILED', `cannot write ${file}: ${(error as Error).message}`, {
      fix: `check that ${path.dirname(file)} is writable and the disk is not full, then run again`,
      cause: error,
    });
  }
  return { name, path: file, size: bytes.length, sha256: digest, changed: true };
}

/**
 * Renders and writes one node's seed. Everything is rendered (and the ISO
 * built) in memory first, so a rendering error leaves the old files intact.
 */
export async function writeNodeSeed(
  spec: ClusterSpec,
  node: NodeSpec,
  inputs: SeedInputs,
): Promise<NodeSeedResult> {
  const documents = renderNodeSeed(spec, node, inputs);
  const contents: Record<(typeof SEED_FILE_NAMES)[number], string> = {
    'user-data': documents.userData,
    'meta-data': documents.metaData,
    'network-config': documents.networkConfig,
  };
  const iso = buildIso(
    SEED_FILE_NAMES.map((name) => ({ name, content: contents[name] })),
    { volumeId: 'cidata' },
  );
  const dir = nodeSeedDir(spec, node);
  await ensureSecretDir(dir);
  const files: WrittenFile[] = [];
  for (const name of SEED_FILE_NAMES)
    files.push(await writeIfChanged(path.join(dir, name), Buffer.from(contents[name], 'utf8')));
  return {
    node: node.name,
    dir,
    instanceId: documents.instanceId,
    files,
    iso: await writeIfChanged(path.join(dir, SEED_ISO_NAME), iso),
  };
}
