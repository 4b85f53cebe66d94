/**
 * Which vmrest URLs may carry vmrest's credentials. They travel as HTTP
 * Basic auth on every call, so http:// is accepted only when the traffic
 * stays on this PC (loopback); any other host needs https://. One rule for
 * `validate` (vmware.vmrestUrl) and for the client (VMREST_URL included).
 */
import net from 'node:net';

/** 127.0.0.0/8, localhost, [::1]: addresses whose traffic never leaves this PC. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host === '::1') return true;
  return net.isIPv4(host) && host.startsWith('127.');
}

/** Why `url` must not carry vmrest's credentials, and the fix; undefined when it may. */
export function clearTextVmrestUrlProblem(url: URL): { message: string; fix: string } | undefined {
  if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return undefined;
  const https = new URL(url.href);
  https.protocol = 'https:';
  return {
    message: `${url.href} would send vmrest's username and password (HTTP Basic auth) unencrypted across the network to ${url.hostname}; http:// is accepted only for this PC (127.0.0.1, localhost, [::1])`,
    fix: `use ${https.href}, with vmrest serving HTTPS (\`vmrest.exe -c cert.pem -k key.pem\`) and its certificate pinned in VMREST_CERT_SHA256; or run kubestation on the PC that runs vmrest, with http://127.0.0.1:8697/api`,
  };
}
