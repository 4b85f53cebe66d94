/** First-boot progress: the line protocol, the stage list with deadlines, and the host-side tracker. */
export * from './protocol.js';
export * from './redact.js';
export * from './stages.js';
export * from './tracker.js';
