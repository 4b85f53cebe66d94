/**
 * Installed before every test file: any TCP connection or UDP datagram to an
 * address outside 127.0.0.0/8 or ::1 throws instead of leaving the machine.
 * Tests point every endpoint the product uses at simulators on 127.0.0.1;
 * this guard makes a forgotten override fail loudly rather than reach the
 * cluster's real addresses (192.168.5.0/24, 172.100.100.0/24, 8.8.8.8, ...).
 */
import { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isLoopbackTarget } from '../support/loopback.js';

export class NonLoopbackConnectionError extends Error {
  constructor(target: string) {
    super(
      `test tried to connect to non-loopback address ${target}; point the endpoint at a simulator on 127.0.0.1`,
    );
    this.name = 'NonLoopbackConnectionError';
  }
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  const first = args[0];
  let host: string | undefined;
  let isPipe = false;
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
    const options = first as { host?: string; path?: string };
    if (options.path !== undefined) isPipe = true;
    host = options.host;
  } else if (Array.isArray(first)) {
    // Internal normalized form: [options, callback].
    const options = first[0] as { host?: string; path?: string } | undefined;
    if (options?.path !== undefined) isPipe = true;
    host = options?.host;
  } else if (typeof first === 'string' && !/^\d+$/.test(first)) {
    isPipe = true; // a named pipe / unix socket path
  } else if (typeof args[1] === 'string') {
    host = args[1];
  }
  if (!isPipe && !isLoopbackTarget(host ?? 'localhost')) {
    throw new NonLoopbackConnectionError(String(host));
  }
  return (originalConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function guardedSend(this: dgram.Socket, ...args: unknown[]) {
  const address = args.find((a, i) => i > 0 && typeof a === 'string') as string | undefined;
  if (address !== undefined && !isLoopbackTarget(address)) {
    throw new NonLoopbackConnectionError(address);
  }
  return (originalSend as (...a: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.send;

/**
 * The same for programs that would open connections of their own: an `ssh`
 * (or scp/sftp) that is not a test's stand-in in the temporary folder is
 * refused before it starts. ChildProcess.prototype.spawn is what every way of
 * starting a process (child_process, execa) goes through.
 */
const networkPrograms = /^(ssh|scp|sftp)(\.exe)?$/i;
type SpawnOptions = { file?: string; args?: string[] };
// Not in Node's typings: the internal method child_process.spawn ends in.
const prototype = ChildProcess.prototype as unknown as { spawn: (options: SpawnOptions) => unknown };
const originalSpawn = prototype.spawn;
prototype.spawn = function guardedSpawn(this: ChildProcess, options: SpawnOptions) {
  const file = options.file ?? '';
  const standIn = path.isAbsolute(file) && path.resolve(file).startsWith(path.resolve(tmpdir()) + path.sep);
  if (networkPrograms.test(path.basename(file)) && !standIn) {
    throw new NonLoopbackConnectionError(
      `${file} (${(options.args ?? []).slice(1).join(' ')}): use an ssh stand-in`,
    );
  }
  return originalSpawn.call(this, options);
};
