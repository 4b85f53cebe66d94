/**
 * The secret values this PC holds for a cluster, so that redaction
 * (redact.ts) can replace them wherever they turn up: the cluster CA and
 * admin keys, the SSH key, the join token (also its secret half alone), and
 * every environment variable whose name says it holds a secret (the vmrest
 * password among them). The values are only ever compared, never shown.
 */
import { clusterSecretPaths } from '../pki/index.js';
import { sshKeyPaths } from '../ssh/keypair.js';
import type { SecretValue } from './redact.js';
import { readTextIfPresent } from '../missing-file.js';

const SECRET_ENV_NAME = /PASSWORD|PASSWD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL/i;

export async function stateDirSecrets(stateDir: string, env: NodeJS.ProcessEnv): Promise<SecretValue[]> {
  const pki = clusterSecretPaths(stateDir);
  const files: [string, string][] = [
    ['cluster CA key', pki.caKey],
    ['admin key', pki.adminKey],
    ['SSH private key', sshKeyPaths(stateDir).privateKey],
    ['join token', pki.bootstrapToken],
  ];
  const secrets: SecretValue[] = [];
  for (const [label, file] of files) {
    const value = await readTextIfPresent(file);
    if (value === undefined) continue;
    secrets.push({ label, value });
    if (label === 'join token') secrets.push({ label, value: value.trim().split('.').pop() ?? '' });
  }
  for (const [name, value] of Object.entries(env)) {
    if (value && SECRET_ENV_NAME.test(name)) secrets.push({ label: `environment ${name}`, value });
  }
  return secrets;
}
