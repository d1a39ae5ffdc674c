// The event catalogue and the CloudEvents envelope every event travels in.
export * from './envelope.js';
export * from './catalogue.js';
