// Token admission with real keys and tokens signed by jose: every key kind verifies its own tokens, and every bad
// token is refused with a short reason that never repeats the token: garbage, expired, not yet valid, wrong issuer
// or audience, alg none, wrong key, the HS/RS confusion, revoked, bound to another certificate, bad nats claims.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError, certificateThumbprintS256 } from '@event-broker/shared';
import {
  createCertificateAuthority,
  createClientCertificate,
  DEV_PKI_FILES,
  DEV_TOKEN_ISSUER,
} from '@event-broker/dev-tools';
import { createTokenVerifier, type TokenVerdict, type TokenVerifier } from '../src/auth/jwt.js';
import type { AuthSection } from '../src/config-types.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { authSection, hmacWithBytes, jwks, keyPair, mint, unsignedToken, type KeyPair } from './helpers/keys.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const NATS = {
  nats: { pub: { allow: ['orders.>'] }, sub: { allow: ['orders.>', '_INBOX.x.>'] }, type: 'user', version: 2 },
};

async function accepted(
  v: TokenVerifier,
  token: string,
  certificateDer?: Uint8Array,
): Promise<Extract<TokenVerdict, { ok: true }>> {
  const r = await v.verify(token, certificateDer === undefined ? {} : { certificateDer });
  assert.ok(r.ok, r.ok ? '' : `refused: ${r.reason}`);
  return r;
}

/** Refused, with a reason matching `why` that does not contain the token or any of its parts. */
async function refused(v: TokenVerifier, token: string, why: RegExp, certificateDer?: Uint8Array): Promise<string> {
  const r = await v.verify(token, certificateDer === undefined ? {} : { certificateDer });
  assert.ok(!r.ok, `accepted a token that should be refused (${why})`);
  assert.match(r.reason, why);
  for (const part of token.split('.'))
    if (part.length >= 8) assert.ok(!r.reason.includes(part), `the reason repeats the token: ${r.reason}`);
  return r.reason;
}

interface Setup {
  pair: KeyPair;
  verifier: TokenVerifier;
  dir: string;
}

function withPublicKey(
  t: Parameters<typeof tmpDir>[0],
  kind: 'rsa' | 'ec' | 'ed25519',
  more: Partial<AuthSection> = {},
): Setup {
  const dir = tmpDir(t);
  const pair = keyPair(kind);
  const file = write(dir, 'pub.pem', pair.publicPem);
  return { pair, dir, verifier: createTokenVerifier(authSection({ public_key_path: file }, more)) };
}

test('RS256, ES256 and EdDSA tokens verify against a PEM public key; claims, permissions, expiry and ids come back', async (t) => {
  for (const [kind, alg] of [
    ['rsa', 'RS256'],
    ['rsa', 'PS384'],
    ['ec', 'ES256'],
    ['ed25519', 'EdDSA'],
  ] as const) {
    const { pair, verifier } = withPublicKey(t, kind);
    const token = await mint(pair.privateKey, NATS, {
      alg,
      jti: `id-${alg}`,
      subject: `client-${alg}`,
      expiresIn: 600,
    });
    const r = await accepted(verifier, token);
    assert.equal(r.tokenId, `id-${alg}`);
    assert.equal(r.subject, `client-${alg}`);
    assert.ok(
      r.expiresAt !== undefined && Math.abs(r.expiresAt - (Date.now() + 600_000)) < 5_000,
      `expiresAt ${r.expiresAt}`,
    );
    assert.deepEqual((r.claims['nats'] as { pub: unknown }).pub, { allow: ['orders.>'] });
    assert.equal(r.permissions.canPublish('orders.new'), true);
    assert.equal(r.permissions.canPublish('billing.paid'), false);
    assert.equal(r.permissions.canSubscribe('_INBOX.x.*'), true);
  }
});

test('a token without exp is accepted and has no expiresAt; one without a nats claim gets no permissions', async (t) => {
  const { pair, verifier } = withPublicKey(t, 'ec');
  const r = await accepted(verifier, await mint(pair.privateKey, {}, { alg: 'ES256', expiresIn: null }));
  assert.equal(r.expiresAt, undefined);
  assert.equal(r.permissions.canPublish('orders.new'), false);
  assert.equal(r.permissions.canSubscribe('orders.new'), false);
});

test('an HS256 token verifies against the secret file (its bytes less a trailing newline)', async (t) => {
  const dir = tmpDir(t);
  const secret = crypto.randomBytes(32).toString('hex'); // 64 printable bytes
  const file = write(dir, 'secret', `${secret}\n`);
  const verifier = createTokenVerifier(authSection({ secret_path: file }));
  assert.deepEqual(verifier.algorithms, ['HS256']);
  await accepted(verifier, await mint(Buffer.from(secret), NATS, { alg: 'HS256' }));
  // The newline is not part of the key.
  await refused(verifier, await mint(Buffer.from(`${secret}\n`), NATS, { alg: 'HS256' }), /bad signature/);
  // HS512 is not allowed unless listed.
  await refused(verifier, await mint(Buffer.from(secret), NATS, { alg: 'HS512' }), /algorithm "HS512" not allowed/);
  const both = createTokenVerifier(authSection({ secret_path: file }, { algorithms: ['HS256', 'HS512'] }));
  await accepted(both, await mint(Buffer.from(secret), NATS, { alg: 'HS512' }));
});

test('a JWKS picks the key by kid; an unknown kid or a key outside the set is refused', async (t) => {
  const dir = tmpDir(t);
  const a = keyPair('rsa');
  const b = keyPair('ec');
  const file = write(
    dir,
    'jwks.json',
    await jwks([
      { key: a.publicKey, kid: 'a', alg: 'RS256' },
      { key: b.publicKey, kid: 'b' },
    ]),
  );
  const verifier = createTokenVerifier(authSection({ jwks_path: file }));
  assert.deepEqual([...verifier.algorithms].sort(), ['ES256', 'RS256']);
  await accepted(verifier, await mint(a.privateKey, NATS, { alg: 'RS256', kid: 'a' }));
  await accepted(verifier, await mint(b.privateKey, NATS, { alg: 'ES256', kid: 'b' }));
  await refused(
    verifier,
    await mint(b.privateKey, NATS, { alg: 'ES256', kid: 'nope' }),
    /no key in the key set matches/,
  );
  await refused(verifier, await mint(keyPair('ec').privateKey, NATS, { alg: 'ES256', kid: 'b' }), /bad signature/);
  // Without a kid every key of the right type is tried.
  await accepted(verifier, await mint(b.privateKey, NATS, { alg: 'ES256' }));
});

test('garbage is refused as malformed, an empty token as missing', async (t) => {
  const { verifier } = withPublicKey(t, 'ec');
  await refused(verifier, '', /no token/);
  for (const junk of [
    'not-a-token',
    'a.b.c',
    'eyJhbGciOiJFUzI1NiJ9.e30',
    '....',
    `${'x'.repeat(20)}.${'y'.repeat(20)}.${'z'.repeat(20)}`,
  ]) {
    await refused(verifier, junk, /malformed token/);
  }
  await refused(verifier, 'x'.repeat(70_000), /token longer than/);
});

test('expired and not-yet-valid tokens are refused; clock_tolerance forgives that much skew', async (t) => {
  const { pair, verifier, dir } = withPublicKey(t, 'ec');
  await refused(verifier, await mint(pair.privateKey, NATS, { alg: 'ES256', expiresIn: -30 }), /token expired/);
  const early = await mint(pair.privateKey, NATS, { alg: 'ES256', notBefore: 60 });
  await refused(verifier, early, /not yet valid/);

  const lenient = createTokenVerifier(
    authSection({ public_key_path: path.join(dir, 'pub.pem') }, { clock_tolerance: 120_000 }),
  );
  await accepted(lenient, await mint(pair.privateKey, NATS, { alg: 'ES256', expiresIn: -30 }));
  await accepted(lenient, early);

  // The same token judged a minute and a half later (the verifier's clock, not a wait) is valid.
  const later = createTokenVerifier(authSection({ public_key_path: path.join(dir, 'pub.pem') }), {
    currentDate: () => new Date(Date.now() + 90_000),
  });
  await accepted(later, early);
});

test('wrong or missing issuer and audience are refused; any listed one is accepted', async (t) => {
  const { pair, verifier, dir } = withPublicKey(t, 'ec');
  await refused(
    verifier,
    await mint(pair.privateKey, NATS, { alg: 'ES256', issuer: 'https://evil.test' }),
    /wrong issuer/,
  );
  await refused(verifier, await mint(pair.privateKey, NATS, { alg: 'ES256', issuer: null }), /no issuer/);
  await refused(
    verifier,
    await mint(pair.privateKey, NATS, { alg: 'ES256', audience: 'someone-else' }),
    /wrong audience/,
  );
  await refused(verifier, await mint(pair.privateKey, NATS, { alg: 'ES256', audience: null }), /no audience/);
  const two = createTokenVerifier(
    authSection(
      { public_key_path: path.join(dir, 'pub.pem') },
      { issuer: ['https://a.test', 'https://b.test'], audience: ['x', 'y'] },
    ),
  );
  await accepted(two, await mint(pair.privateKey, NATS, { alg: 'ES256', issuer: 'https://b.test', audience: 'y' }));
});

test('alg none is refused whatever the key', async (t) => {
  const { verifier } = withPublicKey(t, 'rsa');
  await refused(verifier, unsignedToken(NATS), /unsigned token \(alg none\)/);
  const dir = tmpDir(t);
  const hs = createTokenVerifier(authSection({ secret_path: write(dir, 's', crypto.randomBytes(32)) }));
  await refused(hs, unsignedToken(NATS), /unsigned token/);
});

test('a token signed with another key of the same kind is refused', async (t) => {
  const { verifier } = withPublicKey(t, 'rsa');
  await refused(verifier, await mint(keyPair('rsa').privateKey, NATS, { alg: 'RS256' }), /bad signature/);
  const dir = tmpDir(t);
  const hs = createTokenVerifier(authSection({ secret_path: write(dir, 's', crypto.randomBytes(32)) }));
  await refused(hs, await mint(crypto.randomBytes(32), NATS, { alg: 'HS256' }), /bad signature/);
});

test('HS/RS confusion: an HS256 token keyed with the RSA public key PEM is refused', async (t) => {
  const { pair, verifier, dir } = withPublicKey(t, 'rsa');
  const pemBytes = fs.readFileSync(path.join(dir, 'pub.pem'));
  await refused(verifier, hmacWithBytes(pemBytes, NATS), /algorithm "HS256" not allowed/);
  await refused(verifier, hmacWithBytes(pair.publicPem.trim(), NATS), /algorithm "HS256" not allowed/);
  // Listing HS256 beside an RSA key is refused before any token is seen.
  assert.throws(
    () =>
      createTokenVerifier(
        authSection({ public_key_path: path.join(dir, 'pub.pem') }, { algorithms: ['RS256', 'HS256'] }),
      ),
    (err: unknown) => err instanceof ConfigError && /HS256 cannot be verified with an RSA key/.test(err.message),
  );
});

test('an algorithm outside the allow-list is refused even when the key could verify it', async (t) => {
  const { pair, verifier } = withPublicKey(t, 'rsa', { algorithms: ['RS256'] });
  await accepted(verifier, await mint(pair.privateKey, NATS, { alg: 'RS256' }));
  await refused(
    verifier,
    await mint(pair.privateKey, NATS, { alg: 'PS256' }),
    /algorithm "PS256" not allowed \(allowed: RS256\)/,
  );
});

test('a revoked token id is refused; isRevoked answers for live connections', async (t) => {
  const { pair, verifier: open, dir } = withPublicKey(t, 'ec');
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', jti: 'stolen-1' });
  await accepted(open, token);
  const verifier = createTokenVerifier(
    authSection({ public_key_path: path.join(dir, 'pub.pem') }, { revoked: ['stolen-1'] }),
  );
  await refused(verifier, token, /token id "stolen-1" is revoked/);
  assert.equal(verifier.isRevoked('stolen-1'), true);
  assert.equal(verifier.isRevoked('other'), false);
  await accepted(verifier, await mint(pair.privateKey, NATS, { alg: 'ES256', jti: 'fresh' }));
});

test('a certificate-bound token (cnf x5t#S256) is accepted only with that certificate', async (t) => {
  const { pair, verifier } = withPublicKey(t, 'ec');
  const ca = await createCertificateAuthority();
  const mine = new crypto.X509Certificate((await createClientCertificate(ca, 'alice')).cert).raw;
  const other = new crypto.X509Certificate((await createClientCertificate(ca, 'alice')).cert).raw;
  const bound = await mint(
    pair.privateKey,
    { ...NATS, cnf: { 'x5t#S256': certificateThumbprintS256(mine) } },
    { alg: 'ES256' },
  );
  await accepted(verifier, bound, mine);
  await refused(verifier, bound, /bound to another client certificate/, other);
  await refused(verifier, bound, /bound to a client certificate and none was presented/);
  // An unbound token needs no certificate.
  await accepted(verifier, await mint(pair.privateKey, NATS, { alg: 'ES256' }));
  // A confirmation the gateway cannot check (DPoP's jkt) is refused, not treated as a bearer token.
  await refused(
    verifier,
    await mint(pair.privateKey, { ...NATS, cnf: { jkt: 'abc' } }, { alg: 'ES256' }),
    /unsupported cnf/,
    mine,
  );
  await refused(
    verifier,
    await mint(pair.privateKey, { ...NATS, cnf: { 'x5t#S256': 42 } }, { alg: 'ES256' }),
    /malformed cnf/,
    mine,
  );
});

test('a token whose nats claim is malformed is refused', async (t) => {
  const { pair, verifier } = withPublicKey(t, 'ec');
  await refused(
    verifier,
    await mint(pair.privateKey, { nats: { pub: { allow: 'orders.>' } } }, { alg: 'ES256' }),
    /nats claim: pub\.allow must be an array/,
  );
  await refused(
    verifier,
    await mint(pair.privateKey, { nats: 'all' }, { alg: 'ES256' }),
    /nats claim: must be an object/,
  );
});

test('createTokenVerifier refuses a key file that is gone or not a public key', async (t) => {
  const dir = tmpDir(t);
  const pair = keyPair('ec');
  const priv = write(dir, 'priv.pem', pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  assert.throws(
    () => createTokenVerifier(authSection({ public_key_path: priv })),
    (err: unknown) => err instanceof ConfigError && /holds a private key/.test(err.message),
  );
  assert.throws(
    () => createTokenVerifier(authSection({ public_key_path: path.join(dir, 'missing.pem') })),
    (err: unknown) => err instanceof ConfigError && err.code === 'ECONFIG_FILE' && /no such file/.test(err.message),
  );
});

test('tokens from dev/mint-token.mjs verify with the dev JWKS, and their claims read as written', async (t) => {
  const certs = tmpDir(t, 'gateway-devcerts-');
  const run = promisify(execFile);
  const mintDev = async (...args: string[]): Promise<string> =>
    (
      await run(process.execPath, [path.join(ROOT, 'dev/mint-token.mjs'), '--certs', certs, ...args], {
        timeout: 60_000,
      })
    ).stdout.trim();
  const token = await mintDev(
    '--sub',
    'alice',
    '--pub',
    'orders.>',
    '--pub-deny',
    'orders.secret.>',
    '--sub-allow',
    'orders.>',
    '--resp',
    '1,5s',
    '--ttl',
    '15m',
  );
  const verifier = createTokenVerifier(
    authSection(
      { jwks_path: path.join(certs, DEV_PKI_FILES.jwt.jwks) },
      { issuer: [DEV_TOKEN_ISSUER], audience: [DEV_TOKEN_ISSUER] },
    ),
  );
  const r = await accepted(verifier, token);
  assert.equal(r.subject, 'alice');
  assert.ok(r.tokenId !== undefined);
  assert.ok(r.expiresAt !== undefined && Math.abs(r.expiresAt - (Date.now() + 15 * 60_000)) < 60_000);
  const p = r.permissions;
  assert.equal(p.canPublish('orders.new'), true);
  assert.equal(p.canPublish('orders.secret.x'), false);
  assert.equal(p.canPublish('billing.paid'), false);
  assert.equal(p.canSubscribe('orders.*'), true);
  assert.equal(p.canSubscribe('billing.*'), false);
  assert.equal(p.canSubscribe('_INBOX.alice.x.*'), true, 'its own inbox, which the tool adds');
  assert.equal(p.canSubscribe('_INBOX.bob.x.*'), false);
  p.noteReply('_INBOX.req.1');
  assert.equal(p.canPublish('_INBOX.req.1'), true, 'resp 1: one reply');
  assert.equal(p.canPublish('_INBOX.req.1'), false);
  // The same key as a PEM public key works too.
  const pem = createTokenVerifier(
    authSection(
      { public_key_path: path.join(certs, DEV_PKI_FILES.jwt.publicKey) },
      { issuer: [DEV_TOKEN_ISSUER], audience: [DEV_TOKEN_ISSUER] },
    ),
  );
  await accepted(pem, token);
  // No lists given: the nats claim is present and empty, so everything is allowed (as in a NATS user JWT).
  const open = await accepted(verifier, await mintDev('--sub', 'bob'));
  assert.equal(open.permissions.canPublish('anything'), true);
  assert.deepEqual(open.limits, {}, 'no limits written unless asked');
  // The user-JWT limits, -1 included (written `--data=-1`, as an argument starting with a dash must be); a value the
  // gateway would refuse is refused by the tool first.
  const limited = await accepted(
    verifier,
    await mintDev('--sub', 'carol', '--subs', '10', '--payload', '4096', '--data=-1'),
  );
  assert.deepEqual(limited.limits, { subs: 10, payload: 4096, data: -1 });
  await assert.rejects(mintDev('--sub', 'dan', '--subs', '1.5'), (e: unknown) =>
    /--subs: must be -1 \(no limit\) or a whole number/.test(String((e as { stderr?: string }).stderr)),
  );
});
