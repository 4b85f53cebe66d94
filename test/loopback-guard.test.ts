import net from 'node:net';
import dgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';

describe('loopback guard (installed for every test)', () => {
  it('refuses a TCP connection to a cluster address', () => {
    expect(() => net.connect({ host: '172.100.100.2', port: 6443 })).toThrow(
      /non-loopback address 172\.100\.100\.2/,
    );
    expect(() => net.connect(53, '8.8.8.8')).toThrow(/non-loopback/);
  });

  it('refuses an HTTP request through undici to a non-loopback host', async () => {
    await expect(request('http://192.168.5.11:8697/api/vms')).rejects.toThrow(/non-loopback/);
  });

  it('refuses an HTTP request through node:http to a host-only address (its agent passes path: null)', async () => {
    const { default: http } = await import('node:http');
    const outcome = await new Promise<string>((resolve) => {
      try {
        const req = http.request({ host: '172.100.100.64', port: 80, path: '/', agent: false }, () =>
          resolve('answered'),
        );
        req.on('error', (error) => resolve(String(error)));
        req.end();
      } catch (error) {
        resolve(String(error));
      }
    });
    expect(outcome).toMatch(/non-loopback address 172\.100\.100\.64/);
  });

  it('refuses a UDP datagram to a public resolver', () => {
    const socket = dgram.createSocket('udp4');
    try {
      expect(() => socket.send(Buffer.from('x'), 53, '8.8.4.4')).toThrow(/non-loopback/);
    } finally {
      socket.close();
    }
  });

  it('lets loopback traffic through', async () => {
    const server = net.createServer((s) => s.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    server.close();
    expect(reply).toBe('ok');
  });
});
