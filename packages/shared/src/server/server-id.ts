// Server identity as nats-server shapes it, for INFO, monitoring and leafnode CONNECT.
import { randomBytes } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** `N` and 55 base32 characters: the shape of a nats-server server id (a public nkey). */
export function newServerId(): string {
  let id = 'N';
  for (const b of randomBytes(55)) id += BASE32[b & 31];
  return id;
}
