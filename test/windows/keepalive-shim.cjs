// Test-only, preloaded into the Windows node.exe under Wine (`node.exe --require <this>`); never part of
// kubestation. Wine refuses SO_KEEPALIVE on a socket that is not connected yet, so `setKeepAlive(true, ...)`
// right after `net.connect` — what undici and Node's fetch do — makes the connect fail with UNKNOWN. Real
// Windows accepts it. This defers the call until the socket's `connect` event; nothing else changes.
'use strict';
const net = require('node:net');

const setKeepAlive = net.Socket.prototype.setKeepAlive;
net.Socket.prototype.setKeepAlive = function deferredSetKeepAlive(enable, initialDelay) {
  if (this.connecting) {
    this.once('connect', () => setKeepAlive.call(this, enable, initialDelay));
    return this;
  }
  return setKeepAlive.call(this, enable, initialDelay);
};
