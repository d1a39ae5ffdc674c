// The event catalogue, the CloudEvents envelope every event travels in, the limits on an event's shape, and users' JSON
// Schemas for a type's data.
export * from './envelope.js';
export * from './catalogue.js';
export * from './data-schema.js';
export * from './limits.js';
