// The leafnode link protocol (LS+/LS-/LMSG between two servers): the hub side (link.ts), the leaf side that dials
// a hub (uplink.ts; its session, redial loop, outage buffer and carried interest are its own modules, not exported),
// what both share (peer.ts) and the interest table they read.
export * from './interest.js';
export * from './peer.js';
export * from './link.js';
export * from './dial.js';
export * from './uplink.js';
export * from './uplink-options.js';
export * from './auth-stamp.js';
export * from './remote-settings.js';
export { parseCreds, CredsError } from './creds.js';
