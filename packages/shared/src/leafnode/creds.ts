// A `.creds` file (a user JWT and its NKEY seed, as `nsc` writes them) and the CONNECT fields a nats-server 2.9 leaf
// sends with it: `jwt`, and `sig`, the hub's INFO nonce signed with the seed (leafnode.go sendLeafConnect). The file
// is read at each CONNECT, as nats-server does, so a rotated file is used by the next link. Nothing here logs, and
// no error message carries the file's content.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// nkeys (and the tweetnacl tables it builds when loaded) is required at the first CONNECT with a .creds file, not at
// start: ~25 ms of CPU that every start paid (issue 16 item 5). CommonJS, so required synchronously.
const require = createRequire(import.meta.url);
let nkeys: typeof import('@nats-io/nkeys') | undefined;

/** Each framed block of a .creds file: `-----BEGIN ...-----`, the value, `------END ...------` (nats.go credsRe). */
const FRAMED = /\s*(?:(?:-{3,}[^\n]*-{3,}\r?\n)(.+?)(?:\r?\n\s*-{3,}[^\n]*-{3,}\r?\n?))/g;

export class CredsError extends Error {
  override readonly name = 'CredsError';
}

/** The user JWT and seed of a .creds file's text; throws CredsError naming `file` (never the content). */
export function parseCreds(text: string, file: string): { jwt: string; seed: string } {
  const blocks = [...text.matchAll(FRAMED)].map((m) => m[1]!.trim());
  if (blocks.length < 2)
    throw new CredsError(`${file}: not a .creds file (expected a JWT block and an NKEY seed block)`);
  const [jwt, seed] = blocks as [string, string];
  if (jwt.split('.').length !== 3) throw new CredsError(`${file}: its first block is not a JWT`);
  if (!/^SU[A-Z2-7]+$/.test(seed)) throw new CredsError(`${file}: its second block is not a user NKEY seed (SU...)`);
  return { jwt, seed };
}

/**
 * Reads `file` and signs `nonce`: the CONNECT's `jwt` and `sig` (base64url without padding, as nats-server
 * verifies it: client.go processConnect, nonce check). Throws CredsError when the file cannot be read or used.
 */
export function credsConnectFields(file: string, nonce: string): { jwt: string; sig: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CredsError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const { jwt, seed } = parseCreds(text, file);
  nkeys ??= require('@nats-io/nkeys') as typeof import('@nats-io/nkeys');
  let sig: Uint8Array;
  try {
    sig = nkeys.fromSeed(new TextEncoder().encode(seed)).sign(new TextEncoder().encode(nonce));
  } catch {
    throw new CredsError(`${file}: its NKEY seed is not valid`);
  }
  return { jwt, sig: Buffer.from(sig).toString('base64url') };
}
