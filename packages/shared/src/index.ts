// Public entry of the shared package: what the event service, the gateway and the tools all use.
export * from './protocol/index.js';
export * from './subjects/index.js';
export * from './config/index.js';
export * from './log.js';
export * from './tls.js';
export * from './auth/index.js';
export * from './events/index.js';
export * from './server/index.js';
export * from './leafnode/index.js';
export * from './monitor/index.js';
export * from './http/index.js';
export * from './process/run.js';
export * from './util/backoff.js';
