/**
 * Whether anything accepts connections at vmrest's address, asked without credentials: a command can
 * tell "vmrest is not running" before it asks the user for a password no call could use.
 */
import net from 'node:net';
import { VmrestNotRunningError } from './errors.js';
import { parseVmrestUrl } from './endpoint.js';

/**
 * Undefined when something accepts a TCP connection at the URL's host and port (or the answer is not a
 * clear refusal: the real call then reports what it meets); the not-running error when it is refused.
 */
export async function vmrestRefusesConnections(
  urlText: string,
  timeoutMs = 3000,
): Promise<VmrestNotRunningError | undefined> {
  const url = parseVmrestUrl(urlText);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const refused = await new Promise<boolean>((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(false));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
  return refused ? new VmrestNotRunningError(urlText, { call: 'connect' }) : undefined;
}
