// The worker behind bcrypt.ts: one bcrypt comparison per message, answered in order. bcryptjs's compareSync throws
// on a malformed hash; that is a mismatch here (the config loader already checked the prefix).
import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import type { BcryptReply, BcryptRequest } from './bcrypt.js';

parentPort?.on('message', (m: BcryptRequest) => {
  let ok: boolean;
  try {
    ok = bcrypt.compareSync(m.password, m.hash);
  } catch {
    ok = false;
  }
  parentPort?.postMessage({ id: m.id, ok } satisfies BcryptReply);
});
