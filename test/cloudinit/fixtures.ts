/** A resolved lab spec (the shipped cluster.yaml, optionally edited) and real inputs for rendering seeds. */
import { readFileSync } from 'node:fs';
import { tempDir as makeTempDir } from '../support/temp-dir.js';
import path from 'node:path';
import { loadBootScripts } from '../../src/cloudinit/scripts.js';
import type { SeedInputs } from '../../src/cloudinit/inputs.js';
import { loadOrCreateClusterSecrets, type ClusterSecrets } from '../../src/pki/secrets-store.js';
import { parseClusterSpec } from '../../src/config/load.js';
import type { ClusterSpec } from '../../src/config/model.js';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
export const shippedClusterYaml = readFileSync(path.join(repoRoot, 'cluster.yaml'), 'utf8');

export function tempDir(prefix: string): string {
  return makeTempDir(`kubestation-${prefix}-`);
}

/** The seed lab with text edits applied (each [from, to] must match once), in a fresh state folder. */
export function labSpec(edits: [string | RegExp, string][] = []): ClusterSpec {
  let text = shippedClusterYaml;
  for (const [from, to] of edits) {
    const next = text.replace(from, to);
    if (next === text) throw new Error(`fixture edit ${String(from)} did not match cluster.yaml`);
    text = next;
  }
  const dir = tempDir('spec');
  return parseClusterSpec(text, { sourcePath: path.join(dir, 'cluster.yaml') });
}

export const TEST_SSH_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBNM9+vnyMh9rSKQoQtb2dm9JMvhchytsMHFhmFujHU/ test@kubestation';

let cached: Promise<{ secrets: ClusterSecrets; inputs: SeedInputs }> | undefined;

/** Real secrets (CA, token) generated once per test file, and the shipped scripts. */
export function labInputs(): Promise<{ secrets: ClusterSecrets; inputs: SeedInputs }> {
  cached ??= (async () => {
    const secrets = await loadOrCreateClusterSecrets({
      stateDir: tempDir('state'),
      clusterName: 'k8s-lab',
      apiEndpoint: '172.100.100.2:6443',
    });
    const inputs: SeedInputs = {
      secrets: {
        bootstrapToken: secrets.bootstrapToken.token,
        caCertHash: secrets.caCertHash,
        caCertPem: secrets.ca.certPem,
        caKeyPem: secrets.ca.keyPem,
      },
      sshAuthorizedKeys: [TEST_SSH_KEY],
      scripts: await loadBootScripts(path.join(repoRoot, 'cloud-init')),
    };
    return { secrets, inputs };
  })();
  return cached;
}
