// Token admission: a CONNECT's JWT verified with jose against the [auth] key (signature, exp/nbf with the clock
// tolerance, iss, aud, the algorithm allow-list), then the revocation list, the certificate binding (RFC 8705
// `cnf.x5t#S256`), the `nats` permissions claim and its limits (limits.ts). Reasons are short texts for logs; they
// never contain the token.
import crypto from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { certificateThumbprintS256, ConfigError } from '@event-broker/shared';
import type { AuthSection, JwsAlgorithm } from '../config-types.js';
import { permissionRulesFromClaims, Permissions, type PermissionsOptions } from '../permissions.js';
import { loadVerificationKey, type VerificationKey } from './keys.js';
import { tokenLimitsFromClaims, type TokenLimits } from './limits.js';

/** A verified token's claims (registered ones typed, the rest, `nats` included, as JSON values). */
export type TokenClaims = JWTPayload;

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
  readonly keySource: { setting: VerificationKey['setting']; file: string };
}

export interface TokenVerifierOptions extends PermissionsOptions {
  /** The time tokens are judged at (default: now); lets a test judge a token in the future instead of waiting. */
  currentDate?: () => Date;
}

// A CONNECT line is bounded by max_control_line anyway; this only keeps a hostile blob out of base64 and JSON.
const MAX_TOKEN_CHARS = 64 * 1024;
const X5T_S256 = 'x5t#S256';

/**
 * Builds a verifier from a validated [auth] section, reading the key file now (synchronously). A reload builds a
 * new one. Throws ConfigError when the key file no longer reads or no longer fits the algorithm list.
 */
export function createTokenVerifier(auth: AuthSection, opts: TokenVerifierOptions = {}): TokenVerifier {
  const loaded = loadVerificationKey(auth);
  if (!loaded.ok) {
    throw new ConfigError(
      loaded.problems.map((p) => ({
        file: '<auth>',
        key: `auth.${p.setting}`,
        reason: p.reason,
        code: p.code,
      })),
    );
  }
  const key = loaded.key;
  const revoked = new Set(auth.revoked);
  const verifyOptions: JWTVerifyOptions = {
    algorithms: key.algorithms,
    issuer: auth.issuer,
    audience: auth.audience,
    // jose takes seconds.
    clockTolerance: auth.clock_tolerance / 1000,
  };
  const permissionOptions: PermissionsOptions = opts.now === undefined ? {} : { now: opts.now };

  const check = async (token: string): Promise<JWTPayload> => {
    const options =
      opts.currentDate === undefined ? verifyOptions : { ...verifyOptions, currentDate: opts.currentDate() };
    switch (key.kind) {
      case 'secret':
        return (await jwtVerify(token, key.secret, options)).payload;
      case 'public':
        return (await jwtVerify(token, key.key, options)).payload;
      case 'jwks':
        return (await jwtVerify(token, key.keySet, options)).payload;
    }
  };

  return {
    algorithms: key.algorithms,
    keySource: { setting: key.setting, file: key.file },
    isRevoked: (tokenId) => revoked.has(tokenId),
    async verify(token, vopts = {}) {
      if (typeof token !== 'string' || token === '') return { ok: false, reason: 'no token' };
      if (token.length > MAX_TOKEN_CHARS)
        return { ok: false, reason: `token longer than ${MAX_TOKEN_CHARS} characters` };
      const early = headerProblem(token, key.algorithms);
      if (early !== undefined) return { ok: false, reason: early };
      let claims: JWTPayload;
      try {
        claims = await check(token);
      } catch (err) {
        return { ok: false, reason: describeJoseError(err) };
      }
      const tokenId = typeof claims.jti === 'string' ? claims.jti : undefined;
      if (tokenId !== undefined && revoked.has(tokenId))
        return { ok: false, reason: `token id ${quote(tokenId)} is revoked` };
      const binding = checkBinding(claims, vopts.certificateDer);
      if (binding !== undefined) return { ok: false, reason: binding };
      const rules = permissionRulesFromClaims(claims);
      if (!rules.ok) return { ok: false, reason: rules.reason };
      const limits = tokenLimitsFromClaims(claims);
      if (!limits.ok) return { ok: false, reason: limits.reason };
      return {
        ok: true,
        claims,
        permissions: new Permissions(rules.rules, permissionOptions),
        limits: limits.limits,
        ...(typeof claims.exp === 'number' && { expiresAt: claims.exp * 1000 }),
        ...(tokenId !== undefined && { tokenId }),
        ...(typeof claims.sub === 'string' && { subject: claims.sub }),
      };
    },
  };
}

/**
 * The header judged before any key is touched, so the log says what was wrong: not a JWS at all, an unsigned token
 * (`alg: none`), an algorithm outside the list (an HS256 token at an RSA-key gateway is the HS/RS confusion).
 */
function headerProblem(token: string, algorithms: readonly JwsAlgorithm[]): string | undefined {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    return 'malformed token (not a signed JWT)';
  }
  if (typeof alg !== 'string') return 'malformed token (no alg in its header)';
  if (alg.toLowerCase() === 'none') return 'unsigned token (alg none)';
  if (!(algorithms as readonly string[]).includes(alg))
    return `algorithm ${quote(alg)} not allowed (allowed: ${algorithms.join(', ')})`;
  return undefined;
}

/** RFC 8705 section 3.1: a token with `cnf.x5t#S256` is only good with the certificate of that thumbprint. */
function checkBinding(claims: JWTPayload, der: Uint8Array | undefined): string | undefined {
  const cnf = claims['cnf'];
  if (cnf === undefined) return undefined;
  if (typeof cnf !== 'object' || cnf === null || Array.isArray(cnf)) return 'malformed cnf claim';
  const want = (cnf as Record<string, unknown>)[X5T_S256];
  // A confirmation method we cannot check (DPoP's jkt, a raw jwk) would bind the token to a key nobody proved
  // to hold: refuse rather than accept it as a bearer token.
  if (want === undefined)
    return `unsupported cnf confirmation method (${Object.keys(cnf).map(quote).join(', ') || 'empty'})`;
  if (typeof want !== 'string' || want === '') return `malformed cnf ${X5T_S256}`;
  if (der === undefined) return 'token is bound to a client certificate and none was presented';
  const have = certificateThumbprintS256(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
  const a = Buffer.from(have);
  const b = Buffer.from(want);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) return 'token is bound to another client certificate';
  return undefined;
}

/** jose's failure as a short reason. Its messages never include the token, but are long; ours are shorter. */
function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return 'token not yet valid (nbf)';
      case 'iss':
        return err.reason === 'missing' ? 'token has no issuer (iss)' : 'wrong issuer (iss)';
      case 'aud':
        return err.reason === 'missing' ? 'token has no audience (aud)' : 'wrong audience (aud)';
      default:
        return `invalid ${quote(err.claim)} claim (${err.reason})`;
    }
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the key set matches the token (kid, alg)';
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'bad signature';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid)
    return `malformed token (${err.message})`;
  if (err instanceof joseErrors.JOSENotSupported) return `unsupported token (${err.message})`;
  if (err instanceof TypeError) return `key does not fit the token (${err.message})`;
  return `verification failed (${err instanceof Error ? err.name : typeof err})`;
}

/** A token-supplied string for a log line: quoted, cut short, no control characters. */
function quote(s: string): string {
  const clean = s.replace(/[\x00-\x1f\x7f]/g, '?');
  return JSON.stringify(clean.length > 40 ? `${clean.slice(0, 37)}...` : clean);
}
