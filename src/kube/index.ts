/** Host-side Kubernetes API client: kubeconfig, typed errors, drain, bootstrap token Secret, waits. */
export * from './client.js';
export * from './errors.js';
export * from './kubeconfig.js';
export * from './types.js';
export * from './drain.js';
export * from './bootstrap-token-secret.js';
export * from './wait.js';
