/** Cluster PKI: CA, client/server certificates, discovery hash, bootstrap tokens, kubeconfig, secrets store. */
export * from './bootstrap-token.js';
export * from './certificates.js';
export * from './kubeconfig.js';
export * from './secrets-store.js';
export { writeSecretFileAtomic, ensureSecretDir } from './secret-files.js';
export * from './certificate-requests.js';
