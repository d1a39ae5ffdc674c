// The NATS server core both processes run: the broker (routing), a client connection's protocol state machine and
// the byte-stream transports. What each process adds (config, monitoring, handlers, admission) stays with it.
export * from './broker.js';
export * from './auth-context.js';
export * from './credit.js';
export * from './admission.js';
export * from './client.js';
export * from './transport.js';
export * from './acceptor.js';
export * from './frontend.js';
export * from './slots.js';
export * from './server-id.js';
export * from './permissions.js';
export * from './reserved.js';
export * from './pinger.js';
export * from './system-conn.js';
