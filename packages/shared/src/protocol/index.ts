// The NATS wire protocol: parsing, encoding, headers, the -ERR table and outbound batching.
export * from './errors.js';
export * from './parser.js';
export * from './encoder.js';
export * from './headers.js';
export * from './outbound.js';
