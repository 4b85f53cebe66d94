/** What a node's seed is rendered from besides the spec: secrets, keys and script contents, all passed in. */
import type { BootScripts } from './parts/files.js';

export interface SeedSecrets {
  /** "<id>.<secret>" */
  bootstrapToken: string;
  /** "sha256:<hex>" */
  caCertHash: string;
  caCertPem: string;
  caKeyPem: string;
}

export interface SeedInputs {
  secrets: SeedSecrets;
  /** OpenSSH public keys for the lab user (the spec's, or the generated one). */
  sshAuthorizedKeys: readonly string[];
  scripts: BootScripts;
}
