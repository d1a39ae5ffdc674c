// The event catalogue, the CloudEvents envelope every event travels in, and the limits on an event's shape.
export * from './envelope.js';
export * from './catalogue.js';
export * from './limits.js';
