// A token that verified is remembered by its verifier (shared/src/auth/verify.ts) and not verified again, yet judged
// as before: it expires at its exp, is not valid before its nbf, a changed byte makes it another token, and a reload
// (a new verifier: another key, a revoked list) forgets it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTokenVerifier, type TokenVerdict, type TokenVerifier } from '../src/auth/jwt.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { authSection, keyPair, mint } from './helpers/keys.js';

const NATS = { nats: { pub: { allow: ['orders.>'] }, sub: { allow: ['orders.>'] } } };

async function accepted(v: TokenVerifier, token: string): Promise<Extract<TokenVerdict, { ok: true }>> {
  const r = await v.verify(token);
  assert.ok(r.ok, r.ok ? '' : `refused: ${r.reason}`);
  return r;
}

async function refusedWith(v: TokenVerifier, token: string): Promise<string> {
  const r = await v.verify(token);
  assert.ok(!r.ok, 'accepted a token that should be refused');
  return r.reason;
}

/** A verifier over an EC key judging tokens at `clock.at` (ms since the epoch), moved by the test. */
function setup(t: Parameters<typeof tmpDir>[0], more: Parameters<typeof authSection>[1] = {}) {
  const dir = tmpDir(t);
  const pair = keyPair('ec');
  const file = write(dir, 'pub.pem', pair.publicPem);
  const clock = { at: Date.now() };
  const make = (extra: Parameters<typeof authSection>[1] = {}) =>
    createTokenVerifier(authSection({ public_key_path: file }, { ...more, ...extra }), {
      currentDate: () => new Date(clock.at),
    });
  return { pair, clock, dir, make, verifier: make() };
}

test('a token verified again is remembered: the same claims come back, expiry and ids as the first time', async (t) => {
  const { pair, verifier } = setup(t);
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', jti: 'id-1', subject: 'alice', expiresIn: 600 });
  const first = await accepted(verifier, token);
  const second = await accepted(verifier, token);
  // The very claims object verified the first time: jose did not run again.
  assert.equal(second.claims, first.claims);
  assert.equal(second.expiresAt, first.expiresAt);
  assert.equal(second.tokenId, 'id-1');
  assert.equal(second.subject, 'alice');
  // Each connection still gets permissions of its own (their reply tracker is per connection).
  assert.notEqual(second.permissions, first.permissions);
  assert.ok(second.permissions.canPublish('orders.new'));
  assert.ok(!second.permissions.canPublish('billing.x'));
});

test('a remembered token expires at its exp (with the clock tolerance) as a fresh one does', async (t) => {
  const { pair, clock, verifier } = setup(t, { clock_tolerance: 30_000 });
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', expiresIn: 120 });
  const first = await accepted(verifier, token);
  const exp = first.expiresAt!;
  clock.at = exp + 29_000; // within the tolerance
  await accepted(verifier, token);
  clock.at = exp + 30_000;
  assert.equal(await refusedWith(verifier, token), 'token expired');
  // Still refused on the next try (not remembered as good), and back within its life it verifies again.
  assert.equal(await refusedWith(verifier, token), 'token expired');
  clock.at = exp - 60_000;
  await accepted(verifier, token);
});

test('a remembered token is not valid before its nbf when the clock reads earlier than it did', async (t) => {
  const { pair, clock, verifier } = setup(t);
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', notBefore: 60 });
  assert.equal(await refusedWith(verifier, token), 'token not yet valid (nbf)');
  const start = clock.at;
  clock.at = start + 61_000;
  await accepted(verifier, token);
  clock.at = start;
  assert.equal(await refusedWith(verifier, token), 'token not yet valid (nbf)');
});

test('a tampered copy of a remembered token is judged on its own: changed signature or claims are refused', async (t) => {
  const { pair, verifier } = setup(t);
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', subject: 'alice' });
  await accepted(verifier, token);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const flipped = signature.slice(0, 10) + (signature[10] === 'A' ? 'B' : 'A') + signature.slice(11);
  assert.equal(await refusedWith(verifier, `${header}.${payload}.${flipped}`), 'bad signature');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url');
  assert.equal(await refusedWith(verifier, `${header}.${forged}.${signature}`), 'bad signature');
  // The original is still good.
  await accepted(verifier, token);
});

test('a reload forgets remembered tokens: a new key refuses them, a newly revoked id is refused', async (t) => {
  const { pair, dir, make, verifier } = setup(t);
  const token = await mint(pair.privateKey, NATS, { alg: 'ES256', jti: 'id-9' });
  await accepted(verifier, token);
  // The reload's verifier for the same key and a revoked list naming the token.
  const revoking = make({ revoked: ['id-9'] });
  assert.match(await refusedWith(revoking, token), /token id "id-9" is revoked/);
  // Another key: the token no longer verifies.
  const other = keyPair('ec');
  const otherFile = write(dir, 'other.pem', other.publicPem);
  const rotated = createTokenVerifier(authSection({ public_key_path: otherFile }));
  assert.equal(await refusedWith(rotated, token), 'bad signature');
  // The verifier before the reload still has it (connections it admitted are judged by the reload itself).
  await accepted(verifier, token);
});
