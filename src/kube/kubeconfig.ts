/**
 * Reads a kubeconfig into what the client needs to connect: server URL, CA,
 * client certificate and key. Supports the embedded `*-data` fields and file
 * paths, which kubectl resolves relative to the kubeconfig's own folder.
 * Only client-certificate auth is supported (kubestation's admin identity).
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { KubestationError } from '../errors.js';

export interface KubeConnection {
  /** e.g. "https://172.100.100.2:6443" (no trailing slash). */
  server: string;
  caPem: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** Who the API server will see: certificate CN and O values. */
  identity: KubeIdentity;
  /** Where it came from (for messages); undefined when built in memory. */
  source: string | undefined;
}

export interface KubeIdentity {
  user: string;
  groups: string[];
}

/** CN = user, O = groups, as the API server's x509 authenticator reads them. */
export function identityOfCertificate(certPem: string): KubeIdentity {
  const subject = new X509Certificate(certPem).subject; // "O=a\nO=b\nCN=c" (one attribute per line)
  const values = (key: string) =>
    subject
      .split('\n')
      .filter((line) => line.startsWith(`${key}=`))
      .map((line) => line.slice(key.length + 1));
  return { user: values('CN')[0] ?? '', groups: values('O') };
}

interface RawKubeconfig {
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  'current-context'?: string;
}

function invalid(source: string, what: string): KubestationError {
  return new KubestationError('KUBECONFIG_INVALID', `kubeconfig ${source}: ${what}`, {
    fix: 'use the admin kubeconfig kubestation writes to <stateDir>/pki/admin.kubeconfig, or pass another with --kubeconfig',
  });
}

async function dataOrFile(
  entry: Record<string, unknown>,
  dataKey: string,
  fileKey: string,
  baseDir: string | undefined,
  source: string,
): Promise<string | undefined> {
  const data = entry[dataKey];
  if (typeof data === 'string' && data.length > 0) return Buffer.from(data, 'base64').toString('utf8');
  const file = entry[fileKey];
  if (typeof file !== 'string' || file.length === 0) return undefined;
  const resolved = resolveKubeconfigPath(baseDir ?? process.cwd(), file);
  try {
    return await readFile(resolved, 'utf8');
  } catch (error) {
    throw invalid(
      source,
      `${fileKey} ${resolved} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * kubectl resolves relative certificate paths against the kubeconfig's own
 * folder. Pure; pass `path.win32` for Windows paths on any platform.
 */
export function resolveKubeconfigPath(
  kubeconfigDir: string,
  file: string,
  pathApi: path.PlatformPath = path,
): string {
  return pathApi.resolve(kubeconfigDir, file);
}

/** Parses kubeconfig text; `source` names it in errors and anchors relative file paths. */
export async function parseKubeconfig(
  text: string,
  source?: string,
  options: { context?: string } = {},
): Promise<KubeConnection> {
  const label = source ?? '(in memory)';
  let raw: RawKubeconfig;
  try {
    raw = (yaml.load(text) ?? {}) as RawKubeconfig;
  } catch (error) {
    throw invalid(label, `is not valid YAML (${(error as Error).message.split('\n')[0]})`);
  }
  const contextName = options.context ?? raw['current-context'];
  if (!contextName) throw invalid(label, 'has no current-context');
  const context = raw.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw invalid(label, `has no context named "${contextName}"`);
  const cluster = raw.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster)
    throw invalid(label, `context "${contextName}" names cluster "${context.cluster}", which is not defined`);
  const user = raw.users?.find((u) => u.name === context.user)?.user;
  if (!user)
    throw invalid(label, `context "${contextName}" names user "${context.user}", which is not defined`);

  const server = cluster.server;
  if (typeof server !== 'string' || !/^https:\/\//.test(server))
    throw invalid(label, `cluster "${context.cluster}" needs an https:// server`);
  const baseDir = source ? path.dirname(source) : undefined;
  const caPem = await dataOrFile(
    cluster,
    'certificate-authority-data',
    'certificate-authority',
    baseDir,
    label,
  );
  if (!caPem)
    throw invalid(
      label,
      `cluster "${context.cluster}" has no certificate-authority(-data); kubestation does not skip TLS verification`,
    );
  const clientCertPem = await dataOrFile(
    user,
    'client-certificate-data',
    'client-certificate',
    baseDir,
    label,
  );
  const clientKeyPem = await dataOrFile(user, 'client-key-data', 'client-key', baseDir, label);
  if (!clientCertPem || !clientKeyPem) {
    throw invalid(
      label,
      `user "${context.user}" needs a client certificate and key (token and exec auth are not supported)`,
    );
  }
  let identity: KubeIdentity;
  try {
    identity = identityOfCertificate(clientCertPem);
  } catch {
    throw invalid(label, `user "${context.user}" has a client certificate that does not parse`);
  }
  return { server: server.replace(/\/+$/, ''), caPem, clientCertPem, clientKeyPem, identity, source };
}

export async function loadKubeconfig(
  file: string,
  options: { context?: string } = {},
): Promise<KubeConnection> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KubestationError('KUBECONFIG_MISSING', `cannot read kubeconfig ${file} (${code ?? 'error'})`, {
      fix:
        code === 'ENOENT'
          ? 'build the cluster first (kubestation writes <stateDir>/pki/admin.kubeconfig), or pass an existing file with --kubeconfig'
          : `check that your user can read ${file}`,
    });
  }
  return parseKubeconfig(text, path.resolve(file), options);
}
