// The [auth] section's settings, as the gateway's [auth] and the event service's [intake.http.auth] both take them:
// the key (exactly one of three files), the accepted issuers and audiences, the algorithm allow-list, the clock
// tolerance and the revoked token ids, with the checks needing several of them at once. The hand-written decoders
// are decoders.ts's; reading the key file is keys.ts's (key-check.ts turns its problems into config problems).
import { schema as s, type CheckContext, type InferShape } from '../config/schema.js';
import { algorithmList, stringList } from './decoders.js';
import { isHmac } from './keys.js';

// More leeway than this and `exp` stops meaning much; clock skew beyond minutes is a broken clock.
const CLOCK_TOLERANCE_MAX_MS = 5 * 60_000;

/** The settings; a schema takes them as a section (authSection) or extends them with its own. */
export const authShape = {
  /** A JSON Web Key Set file (public keys; `kid` picks the key). */
  jwks_path: s.path().optional(),
  /** A PEM public key (SPKI): RSA, EC P-256/384/521 or Ed25519. */
  public_key_path: s.path().optional(),
  /** A file whose bytes, less one trailing newline, are an HMAC key (HS256 by default). */
  secret_path: s.path().optional(),
  /** Accepted `iss` values (a string in the file is a list of one). */
  issuer: stringList('non-empty'),
  /** Accepted `aud` values; a token must name one of them. */
  audience: stringList('non-empty'),
  /** The allow-list; absent, every algorithm the key can verify. `none` is always refused. */
  algorithms: algorithmList().optional(),
  /** Leeway for `exp` and `nbf` against clock skew, in ms. */
  clock_tolerance: s.duration({ minMs: 0, maxMs: CLOCK_TOLERANCE_MAX_MS }).default(0),
  /** Token ids (`jti`) refused; on reload, what was admitted with one is judged again by its holder. */
  revoked: s.stringArray().default([]),
};

/** The resolved settings. */
export type AuthSettings = InferShape<typeof authShape>;

/**
 * Exactly one key setting, and an allow-list the kind of key can serve. The HS/RS confusion is refused by the kind
 * of key alone: an HMAC "secret" that is really a public key lets anyone holding the public key sign; an asymmetric
 * algorithm has nothing to verify with a secret.
 */
export function checkAuthSettings(auth: AuthSettings, ctx: CheckContext): void {
  const named = (['jwks_path', 'public_key_path', 'secret_path'] as const).filter((k) => auth[k] !== undefined);
  if (named.length === 0) {
    ctx.report(
      [],
      'ECONFIG_MISSING',
      'needs one of jwks_path, public_key_path or secret_path (the key tokens are verified with)',
    );
    return;
  }
  for (const extra of named.slice(1)) {
    ctx.report(
      [extra],
      'ECONFIG_VALUE',
      `conflicts with ${named[0]}: give exactly one of jwks_path, public_key_path, secret_path`,
    );
  }
  if (named.length > 1 || auth.algorithms === undefined) return;
  const hmac = auth.algorithms.filter(isHmac);
  if (named[0] !== 'secret_path' && hmac.length > 0) {
    ctx.report(
      ['algorithms'],
      'ECONFIG_VALUE',
      `${hmac.join(', ')} needs a shared secret (secret_path); with ${named[0]} a public key would become an HMAC secret`,
    );
  }
  const asym = auth.algorithms.filter((a) => !isHmac(a));
  if (named[0] === 'secret_path' && asym.length > 0) {
    ctx.report(
      ['algorithms'],
      'ECONFIG_VALUE',
      `${asym.join(', ')} needs a public key (public_key_path or jwks_path), not a shared secret`,
    );
  }
}

/** The [auth] table with its checks (the key file is read by the caller: key-check.ts). */
export function authSection() {
  return s.table(authShape).check(checkAuthSettings);
}
