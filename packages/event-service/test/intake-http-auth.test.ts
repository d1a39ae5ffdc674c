// Who may call the [intake.http] listener and who their events say they are: bearer tokens verified with the shared
// [auth] settings (401 with WWW-Authenticate otherwise), the token's event_types claim (403 naming the type), a
// revoked id taking effect on reload, client certificates (mTLS) alone or with a token. The identity stored is the
// verified one, whatever authcontext the event carried. Real node:https clients, certificates from dev-tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import path from 'node:path';
import { createCertificateAuthority, createClientCertificate, createServerCertificate } from '@event-broker/dev-tools';
import { tmpDir } from '@event-broker/test-support/tmp';
import { resolveServiceConfig } from '../src/config.js';
import { writePem } from './helpers/pem-files.js';
import {
  BATCH,
  event,
  HOST,
  ISSUER,
  post,
  startIntakeService,
  stored,
  STRUCTURED,
  token,
  tokenAuth,
} from './helpers/intake-http.js';

const bearer = (claims: Record<string, unknown>) => ({ ...STRUCTURED, authorization: `Bearer ${token(claims)}` });

test('a token is required: 401 with a Bearer challenge when absent, malformed, badly signed, expired or for another audience', async (t) => {
  const dir = tmpDir(t);
  const { port } = await startIntakeService(t, { auth: tokenAuth(dir) }, {}, dir);
  const body = JSON.stringify(event('t0'));
  const none = await post(port, body, { headers: STRUCTURED });
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="event-intake"');
  assert.equal(none.json.error.code, 'EINTAKE_AUTH');
  const basic = await post(port, body, { headers: { ...STRUCTURED, authorization: 'Basic YTpi' } });
  assert.match(String(basic.headers['www-authenticate']), /error="invalid_request"/);
  const cases: [string, string, RegExp][] = [
    ['forged', token({ sub: 'alice' }, 'another-secret-that-is-long-enough-000'), /bad signature/],
    ['expired', token({ sub: 'alice', exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['audience', token({ sub: 'alice', aud: 'someone-else' }), /audience/],
  ];
  for (const [what, tok, reason] of cases) {
    const a = await post(port, body, { headers: { ...STRUCTURED, authorization: `Bearer ${tok}` } });
    assert.equal(a.status, 401, what);
    assert.match(String(a.headers['www-authenticate']), /^Bearer realm="event-intake", error="invalid_token"/, what);
    assert.match(a.json.error.reason, reason, what);
    assert.ok(!a.text.includes(tok), `${what}: the token is never echoed`);
  }
  // RFC 6750 3: error_description is printable ASCII without '"' and '\\'; a header's own text stays out of it.
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  for (const alg of ['\u0100', '\u2028x', 'é"\\']) {
    const odd = `${b64({ alg, typ: 'JWT' })}.${b64({ sub: 'alice' })}.c2ln`;
    const a = await post(port, body, { headers: { ...STRUCTURED, authorization: `Bearer ${odd}` } });
    assert.equal(a.status, 401, `${JSON.stringify(alg)}: ${a.text}`);
    assert.match(
      String(a.headers['www-authenticate']),
      /^Bearer realm="event-intake", error="invalid_token", error_description="[\x20\x21\x23-\x5b\x5d-\x7e]*"$/,
    );
  }
});

test('a caller with sub = alice is stored as alice, whatever authcontext its event carries', async (t) => {
  const dir = tmpDir(t);
  const { svc, port } = await startIntakeService(t, { auth: tokenAuth(dir) }, {}, dir);
  const claimed = { authtype: 'system', authid: 'root', authclaims: '{"admin":true}' };
  const a = await post(port, JSON.stringify(event('alice1', claimed)), {
    headers: bearer({ sub: 'alice', jti: 'j-1' }),
  });
  assert.equal(a.status, 200, a.text);
  const e = await stored(svc, 'alice1');
  assert.deepEqual([e?.authtype, e?.authid], ['user', 'alice']);
  assert.deepEqual(JSON.parse(e!.authclaims!), { iss: ISSUER, jti: 'j-1' });
  const bin = await post(port, '', {
    headers: {
      authorization: `Bearer ${token({ sub: 'ci-bot', client_id: 'ci-bot' })}`,
      'ce-specversion': '1.0',
      'ce-id': 'bot1',
      'ce-source': '/ci',
      'ce-type': 'nodeTerminated',
      'ce-authid': 'mallory',
    },
  });
  assert.equal(bin.status, 200, bin.text);
  const b = await stored(svc, 'bot1');
  assert.deepEqual([b?.authtype, b?.authid], ['service_account', 'ci-bot'], "a client's own token: a service account");
});

test("the token's event_types claim: 403 naming the type, per event in a batch; the listener's default without one", async (t) => {
  const dir = tmpDir(t);
  const { svc, port } = await startIntakeService(t, { auth: tokenAuth(dir), event_types: ['nodeTerminated'] }, {}, dir);
  const scoped = bearer({ sub: 'scanner', event_types: ['scanJob:*'] });
  const refused = await post(port, JSON.stringify(event('n1')), { headers: scoped });
  assert.equal(refused.status, 403, refused.text);
  assert.deepEqual([refused.json.error.code, refused.json.error.field], ['EINTAKE_FORBIDDEN', 'type']);
  assert.match(refused.json.error.reason, /"nodeTerminated"/);
  assert.match(String(refused.headers['www-authenticate']), /error="insufficient_scope"/);
  const ok = await post(port, JSON.stringify(event('s1', { type: 'scanJobCreated' })), { headers: scoped });
  assert.equal(ok.status, 200, ok.text);

  const batch = await post(port, JSON.stringify([event('s2', { type: 'scanJobDeleted' }), event('n2')]), {
    headers: { ...BATCH, authorization: scoped.authorization },
  });
  assert.equal(batch.status, 403, batch.text);
  assert.equal(batch.json.error.field, '[1].type');
  assert.match(String(batch.headers['www-authenticate']), /error="insufficient_scope"/, "as a single event's 403");
  assert.deepEqual(batch.json.results[0], { id: 's2', duplicate: false });
  assert.equal(await stored(svc, 'n2'), undefined);

  const unclaimed = bearer({ sub: 'legacy' });
  assert.equal((await post(port, JSON.stringify(event('n3')), { headers: unclaimed })).status, 200);
  const outside = await post(port, JSON.stringify(event('s3', { type: 'scanJobCreated' })), { headers: unclaimed });
  assert.equal(outside.status, 403, 'no claim: [intake.http] event_types');
  const malformed = await post(port, JSON.stringify(event('n4')), { headers: bearer({ sub: 'x', event_types: 7 }) });
  assert.equal(malformed.status, 403);
  assert.match(malformed.json.error.reason, /event_types claim/);
});

test('a token id revoked by a reload is refused from the next request', async (t) => {
  const dir = tmpDir(t);
  const input = (revoked: string[]) => ({
    service: { host: HOST, port: 0 },
    store: { path: path.join(dir, 'events.db') },
    log: { level: 'silent' as const },
    intake: { http: { host: HOST, port: 0, auth: tokenAuth(dir, { revoked }) } },
  });
  const { server, port } = await startIntakeService(t, { auth: tokenAuth(dir) }, {}, dir);
  const headers = bearer({ sub: 'alice', jti: 'stolen' });
  assert.equal((await post(port, JSON.stringify(event('r1')), { headers })).status, 200);
  server.applyConfig(resolveServiceConfig(input(['stolen']) as never));
  const after = await post(port, JSON.stringify(event('r2')), { headers });
  assert.equal(after.status, 401);
  assert.match(after.json.error.reason, /revoked/);
  assert.equal(server.httpIntake!.port, port, 'the same listener');
});

test('client certificates: the subject is the caller; no certificate or another CA is refused at the handshake; with a token both count', async (t) => {
  const dir = tmpDir(t);
  const ca = await createCertificateAuthority();
  const other = await createCertificateAuthority({ commonName: 'other CA' });
  const server = writePem(dir, 'server', await createServerCertificate(ca));
  const caFile = writePem(dir, 'ca', ca).cert;
  const sensor = await createClientCertificate(ca, 'sensor-1');
  const stranger = await createClientCertificate(other, 'sensor-1');
  const tls = { cert_path: server.cert, key_path: server.key, root_ca_path: caFile, verify: true };
  const { svc, port } = await startIntakeService(t, { tls }, {}, dir);

  const a = await post(port, JSON.stringify(event('c1', { authid: 'root' })), {
    headers: STRUCTURED,
    tls: { ca: ca.cert, cert: sensor.cert, key: sensor.key },
  });
  assert.equal(a.status, 200, a.text);
  const e = await stored(svc, 'c1');
  assert.deepEqual([e?.authtype, e?.authid], ['service_account', 'CN=sensor-1']);
  await assert.rejects(post(port, JSON.stringify(event('c2')), { headers: STRUCTURED, tls: { ca: ca.cert } }));
  await assert.rejects(
    post(port, JSON.stringify(event('c3')), { headers: STRUCTURED, tls: { ca: ca.cert, ...stranger } }),
  );
  assert.equal(await stored(svc, 'c2'), undefined);

  const dir2 = tmpDir(t);
  const both = await startIntakeService(t, { tls, auth: tokenAuth(dir2) }, {}, dir2);
  const clientTls = { ca: ca.cert, cert: sensor.cert, key: sensor.key };
  const noToken = await post(both.port, JSON.stringify(event('d1')), { headers: STRUCTURED, tls: clientTls });
  assert.equal(noToken.status, 401, 'a certificate does not stand in for the token');
  const d = await post(both.port, JSON.stringify(event('d2')), { headers: bearer({ sub: 'alice' }), tls: clientTls });
  assert.equal(d.status, 200, d.text);
  const s = await stored(both.svc, 'd2');
  assert.equal(s?.authid, 'alice');
  assert.equal(JSON.parse(s!.authclaims!).cert_subject, 'CN=sensor-1');
});

test('a reload reads the listener certificate again: new handshakes get the new one', async (t) => {
  const dir = tmpDir(t);
  const caA = await createCertificateAuthority({ commonName: 'CA A' });
  const caB = await createCertificateAuthority({ commonName: 'CA B' });
  const files = writePem(dir, 'server', await createServerCertificate(caA));
  const tls = { cert_path: files.cert, key_path: files.key };
  const { server, port } = await startIntakeService(t, { tls, auth: tokenAuth(dir) }, {}, dir);
  const headers = bearer({ sub: 'alice' });
  // No TLS session kept: a resumed session skips the certificate (what an established client keeps until it redials).
  const fresh = () => {
    const agent = new https.Agent({ maxCachedSessions: 0 });
    t.after(() => agent.destroy());
    return agent;
  };
  const agent = fresh();
  assert.equal((await post(port, JSON.stringify(event('t1')), { headers, tls: { ca: caA.cert }, agent })).status, 200);
  writePem(dir, 'server', await createServerCertificate(caB));
  server.applyConfig(
    resolveServiceConfig({
      service: { host: HOST, port: 0 },
      store: { path: path.join(dir, 'events.db') },
      log: { level: 'silent' },
      intake: { http: { host: HOST, port: 0, tls, auth: tokenAuth(dir) } },
    } as never),
  );
  const t2 = await post(port, JSON.stringify(event('t2')), { headers, tls: { ca: caB.cert }, agent: fresh() });
  assert.equal(t2.status, 200);
  await assert.rejects(
    post(port, JSON.stringify(event('t3')), { headers, tls: { ca: caA.cert }, agent: fresh() }),
    /certificate/,
  );
});

test('a reload that drops [intake.http.auth] admits no anonymous caller: allow_anonymous waits for a restart', async (t) => {
  const dir = tmpDir(t);
  const { server, port } = await startIntakeService(t, { auth: tokenAuth(dir) }, {}, dir);
  server.applyConfig(
    resolveServiceConfig({
      service: { host: HOST, port: 0 },
      store: { path: path.join(dir, 'events.db') },
      log: { level: 'silent' },
      intake: { http: { host: HOST, port: 0, allow_anonymous: true } },
    } as never),
  );
  const a = await post(port, JSON.stringify(event('anon1')), { headers: STRUCTURED });
  assert.equal(a.status, 401, a.text);
  assert.equal(a.json.error.code, 'EINTAKE_AUTH');
});
