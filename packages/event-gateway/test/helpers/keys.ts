// Keys and tokens for the gateway's tests: fresh RSA, EC, Ed25519 and HMAC keys (written with test-support's write),
// tokens signed with jose the way an issuer would, and the hand-made bad ones (alg none, HS/RS confusion).
import crypto from 'node:crypto';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import type { AuthSection } from '../../src/config-types.js';

export type KeyKind = 'rsa' | 'ec' | 'ed25519';

export interface KeyPair {
  privateKey: crypto.KeyObject;
  publicKey: crypto.KeyObject;
  /** SPKI PEM of the public key. */
  publicPem: string;
}

export function keyPair(kind: KeyKind): KeyPair {
  const { privateKey, publicKey } =
    kind === 'rsa'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : kind === 'ec'
        ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : crypto.generateKeyPairSync('ed25519');
  return { privateKey, publicKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }) as string };
}

export const ISSUER = 'https://issuer.test';
export const AUDIENCE = 'event-gateway';

/** An [auth] section as the schema resolves it, for createTokenVerifier without a whole gateway config. */
export function authSection(
  key: Pick<AuthSection, 'jwks_path' | 'public_key_path' | 'secret_path'>,
  more: Partial<AuthSection> = {},
): AuthSection {
  return { ...key, issuer: [ISSUER], audience: [AUDIENCE], clock_tolerance: 0, revoked: [], ...more };
}

export interface MintOptions {
  alg: string;
  kid?: string;
  /** Seconds from now; negative for an expired token. Default 3600. `null` leaves exp out. */
  expiresIn?: number | null;
  /** Seconds from now for nbf. */
  notBefore?: number;
  issuer?: string | null;
  audience?: string | null;
  jti?: string;
  subject?: string;
}

const now = (): number => Math.floor(Date.now() / 1000);

/** A signed token with the given claims (`nats` and friends) and registered claims per `opts`. */
export async function mint(key: crypto.KeyObject | Uint8Array, claims: JWTPayload, opts: MintOptions): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({
    alg: opts.alg,
    typ: 'JWT',
    ...(opts.kid !== undefined && { kid: opts.kid }),
  });
  jwt.setIssuedAt();
  if (opts.issuer !== null) jwt.setIssuer(opts.issuer ?? ISSUER);
  if (opts.audience !== null) jwt.setAudience(opts.audience ?? AUDIENCE);
  if (opts.expiresIn !== null) jwt.setExpirationTime(now() + (opts.expiresIn ?? 3600));
  if (opts.notBefore !== undefined) jwt.setNotBefore(now() + opts.notBefore);
  jwt.setJti(opts.jti ?? crypto.randomUUID());
  jwt.setSubject(opts.subject ?? 'alice');
  return jwt.sign(key);
}

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/** An unsecured JWT (RFC 7519 section 6): header alg "none", empty signature. */
export function unsignedToken(claims: JWTPayload): string {
  const t = now();
  const payload = { iss: ISSUER, aud: AUDIENCE, iat: t, exp: t + 3600, sub: 'mallory', ...claims };
  return `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}.`;
}

/**
 * The HS/RS confusion attack: an HS256 token whose HMAC key is the bytes of the gateway's RSA public key PEM,
 * which a naive verifier handed "the key" would accept.
 */
export function hmacWithBytes(bytes: string | Buffer, claims: JWTPayload): string {
  const t = now();
  const payload = { iss: ISSUER, aud: AUDIENCE, iat: t, exp: t + 3600, sub: 'mallory', ...claims };
  const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  const sig = crypto.createHmac('sha256', bytes).update(signingInput).digest('base64url');
  return `${signingInput}.${sig}`;
}

/** A JWKS of the given public keys, each with its kid (and alg when given). */
export async function jwks(keys: { key: crypto.KeyObject; kid: string; alg?: string }[]): Promise<string> {
  const out = [];
  for (const k of keys)
    out.push({ ...(await exportJWK(k.key)), kid: k.kid, use: 'sig', ...(k.alg !== undefined && { alg: k.alg }) });
  return JSON.stringify({ keys: out });
}
