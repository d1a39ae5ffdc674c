// The token verification key named by an [auth] section (a JWKS file, a PEM public key or a shared secret) read and
// checked against the algorithm allow-list: which algorithms the key can verify, and none it must never be used with
// (a public key as an HMAC secret is the HS/RS confusion). Verifying tokens is verify.ts's job. Shared by the
// gateway's [auth] and the event service's [intake.http.auth].
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { ConfigErrorCode } from '../config/errors.js';
import { keyFileWritableByEveryone } from '../tls.js';

/** Every algorithm tokens may be verified with; `none` and encryption algorithms are not among them. */
export const JWS_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

/** JWS algorithms a token may be verified with (RFC 7518, RFC 8037; `Ed25519` is RFC 9864's name for EdDSA on Ed25519). */
export type JwsAlgorithm = (typeof JWS_ALGORITHMS)[number];

/**
 * The [auth] settings the key is read from (settings.ts AuthSettings has them; named here so the schema, which
 * imports this module, and this module do not import each other).
 */
export interface KeySettings {
  jwks_path?: string | undefined;
  public_key_path?: string | undefined;
  secret_path?: string | undefined;
  algorithms?: JwsAlgorithm[] | undefined;
}

const HMAC: readonly JwsAlgorithm[] = ['HS256', 'HS384', 'HS512'];
const RSA: readonly JwsAlgorithm[] = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_BY_CURVE: Readonly<Record<string, JwsAlgorithm>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const NODE_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };
const ED25519: readonly JwsAlgorithm[] = ['EdDSA', 'Ed25519'];
// RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };
// RFC 7518 section 3.3 and jose's own floor: RSA keys below 2048 bits are refused.
const RSA_MIN_BITS = 2048;

export function isHmac(alg: JwsAlgorithm): boolean {
  return HMAC.includes(alg);
}

/** The key setting in use, by its name in [auth]. */
export type KeySetting = 'jwks_path' | 'public_key_path' | 'secret_path';

/** A key ready for jose, with the algorithms it may verify (the allow-list, or the key's own set by default). */
export type VerificationKey =
  | { kind: 'secret'; setting: 'secret_path'; file: string; secret: Uint8Array; algorithms: JwsAlgorithm[] }
  | {
      kind: 'public';
      setting: 'public_key_path';
      file: string;
      key: crypto.KeyObject;
      keyType: string;
      algorithms: JwsAlgorithm[];
    }
  | {
      kind: 'jwks';
      setting: 'jwks_path';
      file: string;
      keySet: ReturnType<typeof createLocalJWKSet>;
      keyCount: number;
      algorithms: JwsAlgorithm[];
    };

/** Why the key cannot be used: on which [auth] setting (`algorithms` or the key path), with a config error code. */
export interface KeyProblem {
  setting: KeySetting | 'algorithms';
  code: ConfigErrorCode;
  reason: string;
}

export type KeyLoadResult = { ok: true; key: VerificationKey } | { ok: false; problems: KeyProblem[] };

/** Which key setting [auth] uses; the schema guarantees exactly one. */
export function keySetting(auth: KeySettings): { setting: KeySetting; file: string } {
  if (auth.jwks_path !== undefined) return { setting: 'jwks_path', file: auth.jwks_path };
  if (auth.public_key_path !== undefined) return { setting: 'public_key_path', file: auth.public_key_path };
  if (auth.secret_path !== undefined) return { setting: 'secret_path', file: auth.secret_path };
  throw new TypeError('[auth] names no key: the configuration was not validated');
}

/** Reads the key file and checks it against `auth.algorithms`. Synchronous: config loading and reload call it. */
export function loadVerificationKey(auth: KeySettings): KeyLoadResult {
  const { setting, file } = keySetting(auth);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    return fail(setting, 'ECONFIG_FILE', `cannot read ${file}: ${describeReadError(err)}`);
  }
  switch (setting) {
    case 'secret_path': {
      // Whoever can replace the HMAC key signs tokens that are accepted (shared tls.ts: warned when readable).
      const writable = keyFileWritableByEveryone('auth.secret_path', file);
      if (writable !== undefined) return fail('secret_path', 'ECONFIG_FILE', `${file} is ${writable}`);
      return secretKey(file, bytes, auth.algorithms);
    }
    case 'public_key_path':
      return publicKey(file, bytes, auth.algorithms);
    case 'jwks_path':
      return jwksKey(file, bytes, auth.algorithms);
  }
}

function fail(setting: KeyProblem['setting'], code: ConfigErrorCode, reason: string): KeyLoadResult {
  return { ok: false, problems: [{ setting, code, reason }] };
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}

/** The allow-list checked against what the key can verify; absent, the key's own algorithms. */
function choose(
  setting: KeySetting,
  file: string,
  fits: readonly JwsAlgorithm[],
  wanted: readonly JwsAlgorithm[] | undefined,
  what: string,
): JwsAlgorithm[] | KeyProblem[] {
  if (wanted === undefined) return [...fits];
  const misfits = wanted.filter((alg) => !fits.includes(alg));
  if (misfits.length === 0) return [...wanted];
  return [
    {
      setting: 'algorithms',
      code: 'ECONFIG_VALUE',
      reason: `${misfits.join(', ')} cannot be verified with ${what} (${setting} ${file}); it verifies ${fits.join(', ')}`,
    },
  ];
}

function secretKey(file: string, bytes: Buffer, wanted: readonly JwsAlgorithm[] | undefined): KeyLoadResult {
  // The file's bytes less one trailing newline (what `echo` or an editor adds) are the key.
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d && end < bytes.length) end--;
  const secret = new Uint8Array(bytes.subarray(0, end));
  const algorithms = choose('secret_path', file, HMAC, wanted ?? ['HS256'], 'a shared secret');
  if (!isAlgList(algorithms)) return { ok: false, problems: algorithms };
  if (secret.length === 0) return fail('secret_path', 'ECONFIG_VALUE', `${file} is empty`);
  const need = Math.max(...algorithms.map((a) => HMAC_MIN_BYTES[a]!));
  if (secret.length < need) {
    return fail(
      'secret_path',
      'ECONFIG_VALUE',
      `${file} holds ${secret.length} bytes; ${algorithms.join(', ')} needs a secret of at least ${need} bytes`,
    );
  }
  return { ok: true, key: { kind: 'secret', setting: 'secret_path', file, secret, algorithms } };
}

function isAlgList(v: JwsAlgorithm[] | KeyProblem[]): v is JwsAlgorithm[] {
  return v.length === 0 || typeof v[0] === 'string';
}

/** The algorithms a public key verifies, or why the key is not usable. */
function algorithmsOfKey(key: crypto.KeyObject): { algorithms: readonly JwsAlgorithm[]; what: string } | string {
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < RSA_MIN_BITS) return `the RSA key has ${bits} bits; at least ${RSA_MIN_BITS} are required`;
    return { algorithms: type === 'rsa' ? RSA : RSA.filter((a) => a.startsWith('PS')), what: `an RSA key` };
  }
  if (type === 'ec') {
    const curve = NODE_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''];
    const alg = curve === undefined ? undefined : EC_BY_CURVE[curve];
    if (alg === undefined)
      return `unsupported EC curve ${key.asymmetricKeyDetails?.namedCurve ?? 'unknown'} (P-256, P-384 and P-521 are)`;
    return { algorithms: [alg], what: `an EC ${curve} key` };
  }
  if (type === 'ed25519') return { algorithms: ED25519, what: 'an Ed25519 key' };
  return `unsupported key type ${type ?? 'unknown'} (RSA, EC P-256/384/521 and Ed25519 are)`;
}

function publicKey(file: string, bytes: Buffer, wanted: readonly JwsAlgorithm[] | undefined): KeyLoadResult {
  const text = bytes.toString('latin1');
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    return fail(
      'public_key_path',
      'ECONFIG_VALUE',
      `${file} holds a private key; give the public key only (openssl pkey -pubout)`,
    );
  }
  if (!/-----BEGIN (RSA )?PUBLIC KEY-----/.test(text)) {
    return fail('public_key_path', 'ECONFIG_VALUE', `${file} is not a PEM public key (no BEGIN PUBLIC KEY block)`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: bytes, format: 'pem' });
  } catch (err) {
    return fail(
      'public_key_path',
      'ECONFIG_VALUE',
      `${file}: the public key does not parse: ${(err as Error).message}`,
    );
  }
  const fit = algorithmsOfKey(key);
  if (typeof fit === 'string') return fail('public_key_path', 'ECONFIG_VALUE', `${file}: ${fit}`);
  const algorithms = choose('public_key_path', file, fit.algorithms, wanted, fit.what);
  if (!isAlgList(algorithms)) return { ok: false, problems: algorithms };
  return {
    ok: true,
    key: { kind: 'public', setting: 'public_key_path', file, key, keyType: key.asymmetricKeyType!, algorithms },
  };
}

// JWK members that only a private or symmetric key has (RFC 7518 section 6).
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The algorithms one JWK verifies (its own `alg` when set), or why it is refused. */
function algorithmsOfJwk(jwk: Record<string, unknown>, i: number): readonly JwsAlgorithm[] | string {
  const at = `keys[${i}]${typeof jwk['kid'] === 'string' ? ` (kid ${JSON.stringify(jwk['kid'])})` : ''}`;
  for (const m of PRIVATE_MEMBERS) {
    if (jwk[m] !== undefined) {
      return jwk['kty'] === 'oct'
        ? `${at} is a symmetric (oct) key: a shared secret belongs in secret_path, never in a key set`
        : `${at} holds private key material ("${m}"); publish public keys only`;
    }
  }
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') return `${at} has use ${JSON.stringify(jwk['use'])}, not "sig"`;
  let fits: readonly JwsAlgorithm[];
  if (jwk['kty'] === 'RSA') fits = RSA;
  else if (jwk['kty'] === 'EC') {
    const alg = EC_BY_CURVE[String(jwk['crv'])];
    if (alg === undefined) return `${at} has unsupported curve ${JSON.stringify(jwk['crv'])}`;
    fits = [alg];
  } else if (jwk['kty'] === 'OKP' && jwk['crv'] === 'Ed25519') fits = ED25519;
  else return `${at} has unsupported key type ${JSON.stringify(jwk['kty'])} (RSA, EC and OKP Ed25519 are)`;
  // The key material itself, checked now rather than at the first token (jose imports set members lazily).
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' });
  } catch (err) {
    return `${at} does not parse: ${(err as Error).message}`;
  }
  const own = algorithmsOfKey(key);
  if (typeof own === 'string') return `${at}: ${own}`;
  if (jwk['alg'] !== undefined) {
    if (!fits.includes(jwk['alg'] as JwsAlgorithm))
      return `${at} has alg ${JSON.stringify(jwk['alg'])}, which its key type cannot verify`;
    return [jwk['alg'] as JwsAlgorithm];
  }
  return fits;
}

function jwksKey(file: string, bytes: Buffer, wanted: readonly JwsAlgorithm[] | undefined): KeyLoadResult {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return fail('jwks_path', 'ECONFIG_VALUE', `${file} is not JSON: ${(err as Error).message}`);
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (typeof doc !== 'object' || doc === null || !Array.isArray(keys)) {
    return fail('jwks_path', 'ECONFIG_VALUE', `${file} is not a JWKS (an object with a "keys" array)`);
  }
  if (keys.length === 0) return fail('jwks_path', 'ECONFIG_VALUE', `${file} has no keys`);
  const fits = new Set<JwsAlgorithm>();
  for (let i = 0; i < keys.length; i++) {
    const jwk: unknown = keys[i];
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk))
      return fail('jwks_path', 'ECONFIG_VALUE', `${file}: keys[${i}] is not an object`);
    const algs = algorithmsOfJwk(jwk as Record<string, unknown>, i);
    if (typeof algs === 'string') return fail('jwks_path', 'ECONFIG_VALUE', `${file}: ${algs}`);
    for (const a of algs) fits.add(a);
  }
  const algorithms = choose('jwks_path', file, [...fits], wanted, 'the keys of this set');
  if (!isAlgList(algorithms)) return { ok: false, problems: algorithms };
  let keySet: ReturnType<typeof createLocalJWKSet>;
  try {
    keySet = createLocalJWKSet({ keys: keys as JWK[] } satisfies JSONWebKeySet);
  } catch (err) {
    return fail('jwks_path', 'ECONFIG_VALUE', `${file}: ${(err as Error).message}`);
  }
  return { ok: true, key: { kind: 'jwks', setting: 'jwks_path', file, keySet, keyCount: keys.length, algorithms } };
}
