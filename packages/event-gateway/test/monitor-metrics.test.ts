// The gateway's /metrics as an operator alerts on it: refused clients counted by reason (one client refused for each
// reason the verifier and the certificate check give, through the official client and real TLS), permission
// violations, and the upstream link (up, buffered messages while the event service is gone, /healthz 503 then).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { SignJWT } from 'jose';
import { DEV_PKI_FILES, writeDevPki } from '@event-broker/dev-tools';
import { AUTH_FAILURE_REASONS, classifyAuthFailure } from '../src/auth-failures.js';
import { HOST } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import {
  devPki,
  external,
  getJson,
  internal,
  scrape,
  startService,
  startTestGateway,
  tokenId,
  type Pki,
} from './helpers/ops.js';

const ISSUER = 'event-broker-dev';

/** A token signed with the dev key, with whatever claims the case needs (expired, bound to another certificate). */
async function signed(pki: Pki, claims: Record<string, unknown>, exp: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ nats: { pub: { allow: ['>'] }, sub: { allow: ['>'] } }, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .setSubject('case')
    .setIssuer(ISSUER)
    .setAudience(ISSUER)
    .setIssuedAt(now - 120)
    .setNotBefore(now - 120)
    .setExpirationTime(now + exp)
    .sign(crypto.createPrivateKey(pki.signingKey));
}

/** An unsigned token (`alg: none`). */
function unsigned(): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', iss: ISSUER, aud: ISSUER, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
}

test('/metrics counts refused clients by reason, permission violations, and the upstream link', async (t) => {
  const pki = await devPki(t);
  // Another CA's client certificate: well formed, not trusted by the gateway.
  const otherDir = tmpDir(t, 'other-ca-');
  await writeDevPki(otherDir);
  const F = DEV_PKI_FILES;
  const untrusted = { cert: path.join(otherDir, F.client.cert), key: path.join(otherDir, F.client.key) };
  const revokedToken = await pki.token('revoked-user');
  const service = await startService(t, pki);
  const gateway = await startTestGateway(t, pki, service.leafnodePort!, { auth: { revoked: [tokenId(revokedToken)] } });
  const mon = gateway.monitorPort!;
  const connectTo = `${HOST}:${gateway.port}`;

  const before = await scrape(mon);
  for (const r of AUTH_FAILURE_REASONS)
    assert.equal(before.get(`event_gateway_auth_failures_total{reason="${r}"}`), 0, `${r} present at 0 from the start`);
  assert.equal(before.get('event_gateway_upstream_up'), 1);
  assert.equal(before.get('event_gateway_up'), 1);

  const good = await pki.token('good-user');
  const cases: { reason: string; token: string; cert?: null | { cert: string; key: string } }[] = [
    { reason: 'no_certificate', token: good, cert: null },
    { reason: 'certificate_untrusted', token: good, cert: untrusted },
    { reason: 'no_token', token: '' },
    { reason: 'token_invalid', token: 'not-a-jwt' },
    { reason: 'token_expired', token: await signed(pki, {}, -60) },
    { reason: 'wrong_issuer', token: await pki.token('x', undefined, { issuer: 'someone-else', audience: ISSUER }) },
    { reason: 'wrong_audience', token: await pki.token('x', undefined, { issuer: ISSUER, audience: 'elsewhere' }) },
    { reason: 'algorithm', token: unsigned() },
    { reason: 'token_revoked', token: revokedToken },
    {
      reason: 'certificate_binding',
      token: await signed(pki, { cnf: { 'x5t#S256': crypto.randomBytes(32).toString('base64url') } }, 600),
    },
  ];
  for (const c of cases) {
    await assert.rejects(
      within(
        external(t, pki, connectTo, c.token, c.cert === undefined ? {} : { cert: c.cert }),
        `the ${c.reason} client is refused`,
      ),
      /Authorization Violation|AUTHORIZATION_VIOLATION/,
      c.reason,
    );
  }
  const refused = await scrape(mon);
  for (const r of AUTH_FAILURE_REASONS) {
    const want = r === 'other' ? 0 : 1;
    assert.equal(refused.get(`event_gateway_auth_failures_total{reason="${r}"}`), want, `${r}: one refused client`);
  }
  assert.equal(refused.get('event_gateway_connections'), 0, 'none of them got in');
  // /connz remembers them as closed, with nats-server's reason.
  const closed = await getJson(`http://${HOST}:${mon}/connz?state=closed`);
  assert.equal(closed.total, cases.length);
  assert.ok(
    closed.connections.every((c: { reason: string }) => c.reason === 'Authentication Failure'),
    JSON.stringify(closed.connections.map((c: { reason: string }) => c.reason)),
  );

  // Permission violations: the connection stays, each refusal counted once.
  const limited = await external(
    t,
    pki,
    connectTo,
    await pki.token('limited', { pub: { allow: ['keep.>'] }, sub: { allow: ['keep.>'] } }),
    { nats: { name: 'limited' } },
  );
  limited.subscribe('secret.>');
  limited.publish('secret.x', 'no');
  limited.publish('secret.y', 'no');
  await limited.flush();
  await until(
    async () => (await scrape(mon)).get('event_gateway_permission_violations_total{kind="publish"}') === 2,
    'two publish violations counted',
  );
  const v = await scrape(mon);
  assert.equal(v.get('event_gateway_permission_violations_total{kind="subscribe"}'), 1);
  assert.equal(v.get('event_gateway_connections'), 1);
  assert.equal(limited.isClosed(), false);

  // Traffic through the link is counted on it.
  const inside = await internal(t, pki, service);
  const got: string[] = [];
  inside.subscribe('keep.>', { callback: (_e, m) => got.push(m.string()) });
  await inside.flush();
  await until(
    () => gateway.broker.sublist.match('keep.a').psubs.length > 0,
    "the service's interest reaches the gateway",
  );
  for (let i = 0; i < 3; i++) limited.publish('keep.a', `m${i}`);
  await limited.flush();
  await until(() => got.length === 3, 'three messages through the link');
  const flowing = await scrape(mon);
  assert.ok(
    flowing.get('event_gateway_upstream_out_msgs_total')! >= 3,
    String(flowing.get('event_gateway_upstream_out_msgs_total')),
  );
  assert.ok(flowing.get('event_gateway_in_msgs_total')! >= 3);

  // The service goes away: the link is down, publishes the service wanted are held, /healthz says 503.
  await service.close();
  await until(async () => (await scrape(mon)).get('event_gateway_upstream_up') === 0, 'upstream_up 0');
  for (let i = 0; i < 4; i++) limited.publish('keep.a', `held${i}`);
  await limited.flush();
  const down = await scrape(mon);
  assert.equal(down.get('event_gateway_upstream_buffered_msgs'), 4);
  assert.ok(down.get('event_gateway_upstream_buffered_bytes')! >= 4 * 5);
  assert.equal(down.get('event_gateway_upstream_paused_publishers'), 0);
  const health = await fetch(`http://${HOST}:${mon}/healthz`);
  assert.equal(health.status, 503);
  assert.match(((await health.json()) as { error: string }).error, /^upstream link/);
});

test('every reason text the verifier and the certificate check give maps to its label', () => {
  const cases: [string, string][] = [
    ['no client certificate', 'no_certificate'],
    ['client certificate refused: CERT_HAS_EXPIRED', 'certificate_untrusted'],
    ['no token', 'no_token'],
    ['token longer than 8192 characters', 'token_invalid'],
    ['malformed token (not a signed JWT)', 'token_invalid'],
    ['bad signature', 'token_invalid'],
    ['token not yet valid (nbf)', 'token_invalid'],
    ['nats claim: pub.allow must be an array', 'token_invalid'],
    ['token expired', 'token_expired'],
    ['token id "abc" is revoked', 'token_revoked'],
    ['wrong issuer (iss)', 'wrong_issuer'],
    ['token has no audience (aud)', 'wrong_audience'],
    ['unsigned token (alg none)', 'algorithm'],
    ['algorithm "HS256" not allowed (allowed: ES256)', 'algorithm'],
    ['token is bound to another client certificate', 'certificate_binding'],
    ['unsupported cnf confirmation method ("jkt")', 'certificate_binding'],
    ['not TLS', 'other'],
    ['authenticator failed: boom', 'other'],
  ];
  for (const [text, label] of cases) assert.equal(classifyAuthFailure(text), label, text);
  // The label set is small and fixed.
  assert.equal(new Set(AUTH_FAILURE_REASONS).size, 11);
});
