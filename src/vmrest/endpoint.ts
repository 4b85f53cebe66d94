/**
 * Where the vmrest client connects and what it pins, checked before any
 * request: light (no HTTP library), so `validate` can ask without loading one.
 */
import { clearTextVmrestUrlProblem } from '../vmrest-url-policy.js';
import { VmrestError } from './errors.js';

export const DEFAULT_VMREST_URL = 'http://127.0.0.1:8697/api';

/**
 * The base URL, refused when it is not http(s), carries credentials (they belong in
 * VMREST_USERNAME/VMREST_PASSWORD), or is http:// to another machine (clearTextVmrestUrlProblem).
 */
export function parseVmrestUrl(text: string): URL {
  const invalid = (why: string): VmrestError =>
    new VmrestError(
      'VMREST_URL_INVALID',
      `the vmrest URL ${why}`,
      'set vmware.vmrestUrl in cluster.yaml or VMREST_URL to e.g. http://127.0.0.1:8697/api (credentials go in VMREST_USERNAME / VMREST_PASSWORD)',
      {
        call: 'configuration',
      },
    );
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid('is not a URL');
  }
  if (url.username || url.password) throw invalid(`for ${url.host} must not contain a username or password`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid(`${url.href} is not http:// or https://`);
  const clearText = clearTextVmrestUrlProblem(url);
  if (clearText)
    throw new VmrestError(
      'VMREST_URL_CLEAR_TEXT',
      `the vmrest URL ${clearText.message}`,
      `set vmware.vmrestUrl in cluster.yaml or VMREST_URL: ${clearText.fix}`,
      { call: 'configuration' },
    );
  return url;
}

/** A certificate pin needs an https:// URL: on a connection without TLS it would pin nothing. */
export function assertPinHasTls(baseUrl: URL, certSha256: string | undefined): void {
  if (certSha256 && baseUrl.protocol !== 'https:')
    throw new VmrestError(
      'VMREST_PIN_WITHOUT_TLS',
      `VMREST_CERT_SHA256 is set, but the vmrest URL ${baseUrl.href} is not https://: a certificate pin on a connection without TLS pins nothing`,
      'use the https:// URL vmrest serves with its certificate (`vmrest.exe -c cert.pem -k key.pem`) in vmware.vmrestUrl or VMREST_URL, or remove VMREST_CERT_SHA256 (PowerShell: `Remove-Item Env:VMREST_CERT_SHA256`; cmd: `set VMREST_CERT_SHA256=`)',
      { call: 'configuration' },
    );
}

/** The vmrest URL a command uses: VMREST_URL, else cluster.yaml's vmware.vmrestUrl, else the default. */
export function vmrestUrlOf(env: NodeJS.ProcessEnv, configured: string | undefined): string {
  return env.VMREST_URL || configured || DEFAULT_VMREST_URL;
}

/** The URL and pin the CLI's client uses (env over spec over defaults); throws what the client would refuse. */
export function vmrestEndpoint(
  env: NodeJS.ProcessEnv,
  vmrestUrl?: string,
  certSha256?: string,
): { baseUrl: string; certSha256: string | undefined } {
  const endpoint = {
    baseUrl: vmrestUrlOf(env, vmrestUrl),
    certSha256: env.VMREST_CERT_SHA256 || certSha256,
  };
  assertPinHasTls(parseVmrestUrl(endpoint.baseUrl), endpoint.certSha256);
  return endpoint;
}
