// Per-client limits from a token's `nats` claim, read as nats-server reads a user JWT's NatsLimits (nats-io/jwt v2:
// `subs`, `data`, `payload`; -1 = no limit): `subs` and `payload` are enforced per connection (nats-server client.go
// applyAccountLimits, the smaller of the user's and the server's), `data` is read and checked but, as in nats-server,
// enforced nowhere. Which limit a token without the claim gets is [gateway]'s (default_max_*); enforcing is the
// shared Client's.
import type { ConnectionLimits } from '@event-broker/shared';
import type { GatewaySection } from '../config-types.js';

/** nats-io/jwt NoLimit. */
export const NO_LIMIT = -1;

/** The claim's limits as written: each absent, NO_LIMIT, or a whole number of at least 0. */
export interface TokenLimits {
  /** Most subscriptions of one connection. */
  readonly subs?: number;
  /** Largest message it may publish, in bytes. */
  readonly payload?: number;
  /** nats-io/jwt "max number of bytes": accepted, not enforced (nats-server 2.9 reads it nowhere). */
  readonly data?: number;
}

const NAMES = ['subs', 'payload', 'data'] as const;

/**
 * Reads `subs`, `payload` and `data` from the `nats` claim. A value that is not -1 or a whole number of at least 0
 * refuses the token (nats-server fails to decode such a user JWT: a fraction or a string is no int64; below -1 its
 * checks would refuse every subscription or publish), with a reason for the log that names the field.
 */
export function tokenLimitsFromClaims(
  claims: Readonly<Record<string, unknown>>,
): { ok: true; limits: TokenLimits } | { ok: false; reason: string } {
  const nats = claims['nats'];
  if (typeof nats !== 'object' || nats === null || Array.isArray(nats)) return { ok: true, limits: {} };
  const out: { subs?: number; payload?: number; data?: number } = {};
  for (const name of NAMES) {
    const v = (nats as Record<string, unknown>)[name];
    // JSON null decodes in Go as the field left out: the same as no claim.
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < NO_LIMIT) {
      return {
        ok: false,
        reason: `nats claim: ${name} must be -1 (no limit) or a whole number of at least 0, got ${describe(v)}`,
      };
    }
    out[name] = v;
  }
  return { ok: true, limits: out };
}

/** The [gateway] defaults for tokens that carry no limit of their own. */
export type LimitDefaults = Pick<GatewaySection, 'default_max_subscriptions' | 'default_max_payload'>;

/**
 * A connection's own limits: the token's, else [gateway]'s default; -1 (or no default) leaves only the gateway's
 * max_subscriptions and max_payload, which the Client applies on top of these (the smaller wins), so a token never
 * raises them. Explicit 0 is nats-server's 0: no subscription at all, no payload but an empty one.
 */
export function connectionLimits(token: TokenLimits, defaults: LimitDefaults): ConnectionLimits {
  const subs = token.subs ?? (defaults.default_max_subscriptions > 0 ? defaults.default_max_subscriptions : NO_LIMIT);
  const payload = token.payload ?? defaults.default_max_payload ?? NO_LIMIT;
  return {
    ...(subs !== NO_LIMIT && { maxSubscriptions: subs }),
    ...(payload !== NO_LIMIT && { maxPayloadBytes: payload }),
  };
}

/** A token-supplied value for a log line: short, no control characters. */
function describe(v: unknown): string {
  if (typeof v === 'string')
    return JSON.stringify(v.length > 20 ? `${v.slice(0, 17)}...` : v).replace(/[\x00-\x1f\x7f]/g, '?');
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'an object';
  return String(v);
}
