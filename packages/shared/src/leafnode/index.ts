// The leafnode link protocol (LS+/LS-/LMSG between two servers) and the interest table it reads.
export * from './interest.js';
export * from './link.js';
