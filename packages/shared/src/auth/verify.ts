// Token verification with jose against an [auth] section's key: the header judged first (not a JWS, `alg: none`,
// an algorithm off the list), then signature, exp/nbf with the clock tolerance, iss, aud, then the revocation list.
// What a verified token may do (the gateway's permissions, limits and certificate binding; the intake's event
// types) is its user's. Reasons are short texts for logs and refusals; they never contain the token.
// A token that verified is remembered (the exact string, signature included) until its exp: a client reconnecting
// with it is not verified again, only its exp/nbf judged at the new time and its jti against the revoked list. A
// reload builds a new verifier, so a new key set or trust config starts with nothing remembered.
import { LRUCache } from 'lru-cache';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { ConfigError } from '../config/errors.js';
import { loadVerificationKey, type JwsAlgorithm, type KeySettings, type VerificationKey } from './keys.js';

/** A verified token's claims (registered ones typed, the rest as JSON values). */
export type TokenClaims = JWTPayload;

export type JwtVerdict =
  | {
      ok: true;
      claims: TokenClaims;
      /** `exp` in ms since the epoch, when the token has one. */
      expiresAt?: number;
      /** `jti`, when present: what the revoked list names. */
      tokenId?: string;
      /** `sub`, for logs. */
      subject?: string;
    }
  | { ok: false; reason: string };

/** The [auth] settings verification reads (settings.ts AuthSettings has them). */
export interface VerifySettings extends KeySettings {
  issuer: string[];
  audience: string[];
  /** ms. */
  clock_tolerance: number;
  revoked: string[];
}

export interface JwtVerifier {
  verify(token: string): Promise<JwtVerdict>;
  /** Is this `jti` on the revoked list? For judging again what was admitted before a reload. */
  isRevoked(tokenId: string): boolean;
  /** The algorithms accepted (the allow-list, or the key's own). */
  readonly algorithms: readonly JwsAlgorithm[];
  /** Which key setting and file tokens are verified with, for the start-up log. */
  readonly keySource: { setting: VerificationKey['setting']; file: string };
}

export interface JwtVerifierOptions {
  /** The time tokens are judged at (default: now); lets a test judge a token in the future instead of waiting. */
  currentDate?: () => Date;
  /** The section's dotted path, for the ConfigError a key that no longer reads throws (default `auth`). */
  section?: string;
}

// A CONNECT line or a header is bounded anyway; this only keeps a hostile blob out of base64 and JSON.
export const MAX_TOKEN_CHARS = 64 * 1024;

/** Verified tokens remembered per verifier: at most this many, and this many characters of token in all. */
const VERIFIED_MAX_ENTRIES = 10_000;
const VERIFIED_MAX_CHARS = 16 * 1024 * 1024;

/**
 * Builds a verifier from a validated [auth] section, reading the key file now (synchronously). A reload builds a
 * new one. Throws ConfigError when the key file no longer reads or no longer fits the algorithm list.
 */
export function createJwtVerifier(auth: VerifySettings, opts: JwtVerifierOptions = {}): JwtVerifier {
  const loaded = loadVerificationKey(auth);
  if (!loaded.ok) {
    const section = opts.section ?? 'auth';
    throw new ConfigError(
      loaded.problems.map((p) => ({
        file: `<${section}>`,
        key: `${section}.${p.setting}`,
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

  const toleranceS = auth.clock_tolerance / 1000;
  const verified = new LRUCache<string, JWTPayload>({
    max: VERIFIED_MAX_ENTRIES,
    maxSize: VERIFIED_MAX_CHARS,
    sizeCalculation: (_claims, token) => token.length,
  });
  /** The claims of a token verified before, while its exp and nbf still hold at the current time (as jose judges them). */
  const remembered = (token: string): JWTPayload | undefined => {
    const claims = verified.get(token);
    if (claims === undefined) return undefined;
    const now = Math.floor((opts.currentDate?.() ?? new Date()).getTime() / 1000); // jose's epoch seconds
    const expired = typeof claims.exp === 'number' && claims.exp <= now - toleranceS;
    const early = typeof claims.nbf === 'number' && claims.nbf > now + toleranceS;
    if (!expired && !early) return claims;
    // jose judges it again and gives the reason.
    verified.delete(token);
    return undefined;
  };

  return {
    algorithms: key.algorithms,
    keySource: { setting: key.setting, file: key.file },
    isRevoked: (tokenId) => revoked.has(tokenId),
    async verify(token) {
      if (typeof token !== 'string' || token === '') return { ok: false, reason: 'no token' };
      if (token.length > MAX_TOKEN_CHARS)
        return { ok: false, reason: `token longer than ${MAX_TOKEN_CHARS} characters` };
      let claims = remembered(token);
      if (claims === undefined) {
        const early = headerProblem(token, key.algorithms);
        if (early !== undefined) return { ok: false, reason: early };
        try {
          claims = await check(token);
        } catch (err) {
          return { ok: false, reason: describeJoseError(err) };
        }
        verified.set(token, claims);
      }
      const tokenId = typeof claims.jti === 'string' ? claims.jti : undefined;
      if (tokenId !== undefined && revoked.has(tokenId))
        return { ok: false, reason: `token id ${quoteClaim(tokenId)} is revoked` };
      return {
        ok: true,
        claims,
        ...(typeof claims.exp === 'number' && { expiresAt: claims.exp * 1000 }),
        ...(tokenId !== undefined && { tokenId }),
        ...(typeof claims.sub === 'string' && { subject: claims.sub }),
      };
    },
  };
}

/**
 * The header judged before any key is touched, so the log says what was wrong: not a JWS at all, an unsigned token
 * (`alg: none`), an algorithm outside the list (an HS256 token where an RSA key verifies is the HS/RS confusion).
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
    return `algorithm ${quoteClaim(alg)} not allowed (allowed: ${algorithms.join(', ')})`;
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
        return `invalid ${quoteClaim(err.claim)} claim (${err.reason})`;
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

/** A token-supplied string for a log line or a refusal: quoted, cut short, no control characters. */
export function quoteClaim(s: string): string {
  const clean = s.replace(/[\x00-\x1f\x7f]/g, '?');
  return JSON.stringify(clean.length > 40 ? `${clean.slice(0, 37)}...` : clean);
}
