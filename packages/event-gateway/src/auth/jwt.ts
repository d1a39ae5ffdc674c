// Token admission: a CONNECT's JWT verified by shared's verifier (shared/src/auth/verify.ts: jose against the [auth]
// key, exp/nbf with the clock tolerance, iss, aud, the algorithm allow-list, the revocation list), then what is the
// gateway's own: the certificate binding (RFC 8705 `cnf.x5t#S256`), the `nats` permissions claim and its limits
// (limits.ts). Reasons are short texts for logs; they never contain the token.
import crypto from 'node:crypto';
import {
  certificateThumbprintS256,
  createJwtVerifier,
  quoteClaim,
  type JwsAlgorithm,
  type TokenClaims,
} from '@event-broker/shared';
import type { AuthSection } from '../config-types.js';
import { permissionRulesFromClaims, Permissions, type PermissionsOptions } from '../permissions.js';
import { tokenLimitsFromClaims, type TokenLimits } from './limits.js';

export type { TokenClaims } from '@event-broker/shared';

export type TokenVerdict =
  | {
      ok: true;
      claims: TokenClaims;
      /** This connection's permissions (a fresh reply tracker over shared, cached rules). */
      permissions: Permissions;
      /** `nats.subs`, `nats.payload`, `nats.data` as the token writes them (absent: [gateway]'s defaults decide). */
      limits: TokenLimits;
      /** `exp` in ms since the epoch, when the token has one: close the connection then (User Authentication Expired). */
      expiresAt?: number;
      /** `jti`, when present: what [auth] revoked lists. */
      tokenId?: string;
      /** `sub`, for logs. */
      subject?: string;
    }
  | { ok: false; reason: string };

export interface VerifyOptions {
  /** DER of the client certificate presented on this connection, when there is one (needed for bound tokens). */
  certificateDer?: Uint8Array;
}

export interface TokenVerifier {
  verify(token: string, opts?: VerifyOptions): Promise<TokenVerdict>;
  /** Is this `jti` on the revoked list? For closing live connections after a reload. */
  isRevoked(tokenId: string): boolean;
  /** The algorithms accepted (the allow-list, or the key's own). */
  readonly algorithms: readonly JwsAlgorithm[];
  /** Which key setting and file tokens are verified with, for the start-up log. */
  readonly keySource: { setting: 'jwks_path' | 'public_key_path' | 'secret_path'; file: string };
}

export interface TokenVerifierOptions extends PermissionsOptions {
  /** The time tokens are judged at (default: now); lets a test judge a token in the future instead of waiting. */
  currentDate?: () => Date;
}

const X5T_S256 = 'x5t#S256';

/**
 * Builds a verifier from a validated [auth] section, reading the key file now (synchronously). A reload builds a
 * new one. Throws ConfigError when the key file no longer reads or no longer fits the algorithm list.
 */
export function createTokenVerifier(auth: AuthSection, opts: TokenVerifierOptions = {}): TokenVerifier {
  const jwt = createJwtVerifier(auth, opts.currentDate === undefined ? {} : { currentDate: opts.currentDate });
  const permissionOptions: PermissionsOptions = opts.now === undefined ? {} : { now: opts.now };
  return {
    algorithms: jwt.algorithms,
    keySource: jwt.keySource,
    isRevoked: (tokenId) => jwt.isRevoked(tokenId),
    async verify(token, vopts = {}) {
      const verdict = await jwt.verify(token);
      if (!verdict.ok) return verdict;
      const { claims } = verdict;
      const binding = checkBinding(claims, vopts.certificateDer);
      if (binding !== undefined) return { ok: false, reason: binding };
      const rules = permissionRulesFromClaims(claims);
      if (!rules.ok) return { ok: false, reason: rules.reason };
      const limits = tokenLimitsFromClaims(claims);
      if (!limits.ok) return { ok: false, reason: limits.reason };
      return {
        ...verdict,
        permissions: new Permissions(rules.rules, permissionOptions),
        limits: limits.limits,
      };
    },
  };
}

/** RFC 8705 section 3.1: a token with `cnf.x5t#S256` is only good with the certificate of that thumbprint. */
function checkBinding(claims: TokenClaims, der: Uint8Array | undefined): string | undefined {
  const cnf = claims['cnf'];
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return 'malformed cnf claim';
  const want = (cnf as Record<string, unknown>)[X5T_S256];
  // A confirmation method we cannot check (DPoP's jkt, a raw jwk) would bind the token to a key nobody proved
  // to hold: refuse rather than accept it as a bearer token.
  if (want === undefined)
    return `unsupported cnf confirmation method (${Object.keys(cnf).map(quoteClaim).join(', ') || 'empty'})`;
  if (typeof want !== 'string' || want === '') return `malformed cnf ${X5T_S256}`;
  if (der === undefined) return 'token is bound to a client certificate and none was presented';
  const have = certificateThumbprintS256(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
  const a = Buffer.from(have);
  const b = Buffer.from(want);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return 'token is bound to another client certificate';
  return undefined;
}
