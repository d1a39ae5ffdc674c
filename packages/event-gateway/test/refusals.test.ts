// Admission through the running gateway: every bad certificate and every bad token is refused with
// `-ERR 'Authorization Violation'` and closed, nothing it sent (SUB, PUB right behind CONNECT) reaches the event
// service, /connz never lists it, and the log line says why and whose certificate it was, never the token.
// The gateway here verifies with an RSA public key so the HS/RS confusion token has a key to be confused with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { NatsError } from 'nats';
import { certificateThumbprintS256 } from '@event-broker/shared';
import { createCertificateAuthority, createClientCertificate } from '@event-broker/dev-tools';
import { until } from '@event-broker/test-support/wait';
import { AUDIENCE, ISSUER, keyPair, mint, unsignedToken } from './helpers/keys.js';
import { LogCapture, connectLine, getJson, rawTls, record, startBridge, devPki } from './helpers/bridge.js';

const DAY_MS = 86_400_000;
/** What a refused client would be allowed to do were its token accepted: the leak would be forwarded. */
const CLAIMS: JWTPayload = { nats: { pub: { allow: ['leak.>', 'control.>'] }, sub: { allow: ['leak.>'] } } };

interface Connz {
  num_connections: number;
  connections: { cid: number; port: number }[];
}

test('bad certificates and bad tokens are refused with Authorization Violation, closed, logged, and nothing is forwarded', async (t) => {
  const pki = await devPki(t);
  const rsa = keyPair('rsa');
  const wrongRsa = keyPair('rsa');
  const logs = new LogCapture();
  const b = await startBridge(t, {
    pki,
    logs,
    config: {
      auth: { public_key_path: pki.write('jwt-rsa-pub.pem', rsa.publicPem), issuer: ISSUER, audience: AUDIENCE },
    },
  });
  const ca = pki.caPem();
  const otherCa = await createCertificateAuthority({ commonName: 'some other CA' });
  const intruder = await createClientCertificate(otherCa, 'intruder');
  const expired = await createClientCertificate(ca, 'expired-client', {
    notBefore: new Date(Date.now() - 2 * DAY_MS),
    notAfter: new Date(Date.now() - DAY_MS),
  });
  const otherDevice = await createClientCertificate(ca, 'other-device');
  const files = (name: string, pem: { cert: string; key: string }) => ({
    cert: pki.write(`${name}.pem`, pem.cert),
    key: pki.write(`${name}-key.pem`, pem.key),
  });
  const intruderFiles = files('intruder', intruder);
  const expiredFiles = files('expired-client', expired);
  const thumbprint = (pem: string) => certificateThumbprintS256(new crypto.X509Certificate(pem).raw);
  const devClientPem = (await import('node:fs')).readFileSync(pki.client.cert, 'utf8');

  const good = (claims: JWTPayload = CLAIMS, subject = 'alice') =>
    mint(rsa.privateKey, claims, { alg: 'RS256', subject });

  // Inside: one subscriber to everything, so any forwarded message or interest would show.
  const inside = await b.internal();
  const everything = record(inside, '>');
  await inside.flush();
  // A good client, connected throughout: the `>` interest has reached the gateway once its publish arrives.
  const control = await b.external(await good(CLAIMS, 'control'));
  await until(
    () => {
      control.publish('control.before', 'x');
      return everything.msgs.length > 0;
    },
    'the internal `>` subscriber sees a good client',
    5000,
  );

  const tokens: string[] = [];
  interface Case {
    name: string;
    cert: { cert: string; key: string } | null;
    token: () => Promise<string | undefined>;
    reason: RegExp;
    subject: string | undefined;
  }
  const cases: Case[] = [
    {
      name: 'no client certificate',
      cert: null,
      token: () => good(),
      reason: /^no client certificate$/,
      subject: undefined,
    },
    {
      name: 'a certificate from another CA',
      cert: intruderFiles,
      token: () => good(),
      reason: /^client certificate refused: /,
      subject: 'CN=intruder',
    },
    {
      name: 'an expired certificate',
      cert: expiredFiles,
      token: () => good(),
      reason: /CERT_HAS_EXPIRED/,
      subject: 'CN=expired-client',
    },
    {
      name: 'no token',
      cert: pki.client,
      token: async () => undefined,
      reason: /^no token$/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a garbage token',
      cert: pki.client,
      token: async () => 'this.is-not.a-jwt',
      reason: /^malformed token/,
      subject: 'CN=dev-client',
    },
    {
      name: 'an expired token',
      cert: pki.client,
      token: () => mint(rsa.privateKey, CLAIMS, { alg: 'RS256', expiresIn: -60 }),
      reason: /^token expired$/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a token not yet valid',
      cert: pki.client,
      token: () => mint(rsa.privateKey, CLAIMS, { alg: 'RS256', notBefore: 3600 }),
      reason: /not yet valid/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a token from another issuer',
      cert: pki.client,
      token: () => mint(rsa.privateKey, CLAIMS, { alg: 'RS256', issuer: 'https://evil.test' }),
      reason: /^wrong issuer/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a token for another audience',
      cert: pki.client,
      token: () => mint(rsa.privateKey, CLAIMS, { alg: 'RS256', audience: 'someone-else' }),
      reason: /^wrong audience/,
      subject: 'CN=dev-client',
    },
    {
      name: 'an unsigned token (alg none)',
      cert: pki.client,
      token: async () => unsignedToken(CLAIMS),
      reason: /alg none/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a token signed with another key',
      cert: pki.client,
      token: () => mint(wrongRsa.privateKey, CLAIMS, { alg: 'RS256' }),
      reason: /^bad signature$/,
      subject: 'CN=dev-client',
    },
    {
      // HS256 keyed with the bytes of the very public key PEM the gateway verifies RS256 with.
      name: 'an HS256 token keyed with the RSA public key (HS/RS confusion)',
      cert: pki.client,
      token: () =>
        new SignJWT(CLAIMS)
          .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setIssuedAt()
          .setExpirationTime('1h')
          .setSubject('mallory')
          .sign(new TextEncoder().encode(rsa.publicPem)),
      reason: /algorithm "HS256" not allowed/,
      subject: 'CN=dev-client',
    },
    {
      name: 'a token bound to another certificate',
      cert: pki.client,
      token: () => good({ ...CLAIMS, cnf: { 'x5t#S256': thumbprint(otherDevice.cert) } }),
      reason: /bound to another client certificate/,
      subject: 'CN=dev-client',
    },
  ];

  for (const c of cases) {
    await t.test(`refused: ${c.name}`, async (t) => {
      const token = await c.token();
      if (token !== undefined) tokens.push(token);
      // Raw: the exact text, then the close; what followed CONNECT must go nowhere.
      const raw = await rawTls(b.gateway.port, { ca: pki.ca, ...(c.cert !== null && c.cert) });
      t.after(() => raw.socket.destroy());
      raw.socket.write(
        `${connectLine(token === undefined ? {} : { auth_token: token })}SUB leak.> 1\r\nPUB leak.raw 4\r\nleak\r\nPING\r\n`,
      );
      assert.equal(await raw.readToClose(), "-ERR 'Authorization Violation'\r\n");

      const line = logs.find((l) => l.msg === 'client refused' && l['port'] === raw.localPort);
      assert.ok(line, `a 'client refused' log line for port ${raw.localPort}`);
      assert.match(String(line['reason']), c.reason);
      assert.equal(line['cert_subject'], c.subject);
      assert.equal(line['ip'], '127.0.0.1');
      const connz = await getJson<Connz>(`http://127.0.0.1:${b.gateway.monitorPort}/connz`);
      assert.ok(
        !connz.connections.some((x) => x.port === raw.localPort),
        '/connz does not list the refused connection',
      );

      // The official client: an authorization error, no connection.
      await assert.rejects(b.external(token, { cert: c.cert }), (err: unknown) => {
        assert.ok(err instanceof NatsError, String(err));
        assert.equal(err.code, 'AUTHORIZATION_VIOLATION');
        return true;
      });
    });
  }

  await t.test(
    'the same token bound to the certificate presented is admitted (the binding check is not a blanket refusal)',
    async () => {
      const nc = await b.external(await good({ ...CLAIMS, cnf: { 'x5t#S256': thumbprint(devClientPem) } }, 'bound'));
      await nc.flush();
      await nc.close();
    },
  );

  // Everything the refused clients sent was read (their PINGs were behind it): a publish made now arrives after
  // anything of theirs that had been forwarded, over the one link.
  control.publish('control.after', 'x');
  await until(() => everything.msgs.some((m) => m.subject === 'control.after'), 'the control publish arrives', 5000);
  assert.deepEqual([...new Set(everything.msgs.map((m) => m.subject))].sort(), ['control.after', 'control.before']);
  const leaf = await b.leaf();
  assert.ok(leaf, 'the gateway link is listed in /leafz');
  assert.ok(
    !leaf.subscriptions_list.some((s) => s.startsWith('leak')),
    `no refused SUB reached the service: ${leaf.subscriptions_list.join(' ')}`,
  );
  const connz = await getJson<Connz>(`http://127.0.0.1:${b.gateway.monitorPort}/connz`);
  assert.deepEqual(
    connz.connections.map((c) => c.cid),
    [control.info!.client_id],
    'only the good client is listed',
  );

  // The log names reasons, never a token (nor its claims or signature, each unique to the token).
  for (const token of tokens) {
    for (const part of [
      token,
      ...token
        .split('.')
        .slice(1)
        .filter((p) => p.length >= 16),
    ]) {
      assert.ok(!logs.text.includes(part), `the log contains part of a token: ${part.slice(0, 16)}...`);
    }
  }
  t.diagnostic(`refusal reasons logged: ${logs.lines.filter((l) => l.msg === 'client refused').length}`);
});
