/**
 * One HTTP GET from this PC to an address on the host-only network (VMnet1),
 * as the user's browser would make it: verify's proof that a LoadBalancer
 * address and the Gateway open from Windows. The outcome is classified so the
 * diagnosis can tell "nothing answers" (no ARP answer: the address is not
 * announced where the PC's VMnet1 adapter sees it) from "refused" (a machine
 * answers but nothing listens on the port).
 *
 * `proxy` (KUBESTATION_HOST_ONLY_PROXY, tests only): the connection goes through
 * an HTTP CONNECT proxy on 127.0.0.1 that plays VMnet1 (the fake API server's),
 * so tests never leave loopback; the request inside the tunnel is the same.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

export type FromPcOutcome =
  | { kind: 'answered'; status: number; body: string }
  /** No TCP answer at all: connect or the answer timed out, or no route to the address. */
  | { kind: 'no-answer'; detail: string }
  | { kind: 'refused'; detail: string }
  | { kind: 'error'; detail: string };

export interface FromPcRequest {
  address: string;
  port: number;
  path: string;
  /** The Host header (a Gateway route's host name); default the address. */
  hostHeader?: string;
  timeoutMs: number;
  /** "127.0.0.1:port" of an HTTP CONNECT proxy standing in for VMnet1 (tests). */
  proxy?: string | undefined;
  signal?: AbortSignal;
}

const noAnswerCodes = new Set(['ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

function classify(error: unknown): FromPcOutcome {
  const code = (error as { code?: string }).code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  if (noAnswerCodes.has(code)) return { kind: 'no-answer', detail: code };
  if (code === 'ECONNREFUSED') return { kind: 'refused', detail: 'connection refused' };
  return { kind: 'error', detail: code || message };
}

/** A socket to address:port through the CONNECT proxy (resolves undefined when the proxy gives none). */
function tunnel(request: FromPcRequest, proxy: string): Promise<Socket> {
  const [host, port] = [
    proxy.slice(0, proxy.lastIndexOf(':')),
    Number(proxy.slice(proxy.lastIndexOf(':') + 1)),
  ];
  return new Promise((resolve, reject) => {
    const connect = http.request({
      host,
      port,
      method: 'CONNECT',
      path: `${request.address}:${request.port}`,
      timeout: request.timeoutMs,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    connect.on('connect', (response, socket) => {
      if (response.statusCode === 200) resolve(socket);
      else {
        socket.destroy();
        // The stand-in says what the network said: 502 a refusal (RST), anything else no route.
        const code = response.statusCode === 502 ? 'ECONNREFUSED' : 'EHOSTUNREACH';
        reject(Object.assign(new Error(response.statusMessage ?? 'proxy refused'), { code }));
      }
    });
    connect.on('timeout', () =>
      connect.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })),
    );
    connect.on('error', reject);
    connect.end();
  });
}

/** GETs http://address:port/path from this PC; never throws (an abort rethrows). */
export async function getFromPc(request: FromPcRequest): Promise<FromPcOutcome> {
  try {
    const socket = request.proxy ? await tunnel(request, request.proxy) : undefined;
    return await new Promise<FromPcOutcome>((resolve, reject) => {
      const req = http.request(
        {
          host: request.address,
          port: request.port,
          path: request.path,
          headers: { host: request.hostHeader ?? request.address, 'user-agent': 'kubestation-verify' },
          timeout: request.timeoutMs,
          // createConnection is used only without an agent option; direct requests get a fresh agent.
          ...(socket ? { createConnection: () => socket } : { agent: false }),
          ...(request.signal ? { signal: request.signal } : {}),
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            if (body.length < 4096) body += chunk;
          });
          response.on('end', () => resolve({ kind: 'answered', status: response.statusCode ?? 0, body }));
          response.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end();
    });
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason ?? error;
    return classify(error);
  }
}
