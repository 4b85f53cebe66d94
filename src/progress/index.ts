/** First-boot progress: the line protocol, the stage list with deadlines, the host-side tracker, and the network causes a fail line names. */
export * from './protocol.js';
export * from './redact.js';
export * from './stages.js';
export * from './tracker.js';
export * from './network-causes.js';
