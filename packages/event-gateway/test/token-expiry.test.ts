// A token that expires on a live connection: the client works until `exp` (plus [auth] clock_tolerance, the
// leeway admission gave it), then gets `-ERR 'User Authentication Expired'` (nats-server's text) and is closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { decodeJwt } from 'jose';
import { NatsError } from 'nats';
import { until, within } from '@event-broker/test-support/wait';
import { mint } from './helpers/keys.js';
import { connectLine, devPki, gatewayWants, rawTls, record, startBridge } from './helpers/bridge.js';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';

test('a token that expires mid-connection gets User Authentication Expired and the connection is closed', async (t) => {
  const b = await startBridge(t);
  const inside = await b.internal();
  const got = record(inside, 'work.>');
  await inside.flush();
  await until(() => gatewayWants(b.gateway, 'work.>'), 'the internal interest reaches the gateway');

  // The raw socket's handshake first, and the token minted just before use, so that its 2 s are spent connected
  // rather than connecting. The same token on the official client and on the raw socket (in CONNECT's `jwt`
  // field, as NATS user-JWT clients send it), so both expire in the same wait.
  const raw = await rawTls(b.gateway.port, { ca: b.pki.ca, ...b.pki.client });
  t.after(() => raw.socket.destroy());
  const token = await b.pki.devToken('short-lived', { pub: { allow: ['work.>'] } }, 2);
  const expMs = decodeJwt(token).exp! * 1000;
  raw.socket.write(`${connectLine({ jwt: token })}PING\r\n`);
  const nc = await b.external(token);
  const closed = nc.closed().then((err) => ({ err, at: Date.now() }));
  assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');

  // Admitted until then: its publishes reach the service.
  await until(() => {
    nc.publish('work.before', 'x');
    return got.msgs.length > 0;
  }, 'a publish before expiry arrives');

  const { err, at } = await within(closed, 'the client is closed at expiry', 5000);
  assert.ok(err instanceof NatsError, `closed with ${String(err)}`);
  assert.equal(err.code, 'AUTHENTICATION_EXPIRED');
  assert.ok(at >= expMs - 50, `closed ${expMs - at} ms before exp`);
  assert.equal(await raw.readToClose(5000), "-ERR 'User Authentication Expired'\r\n");
});

test('a token admitted within clock_tolerance past its exp is closed when the tolerance runs out, not at once', async (t) => {
  const TOLERANCE_MS = 4000;
  const pki = await devPki(t);
  const b = await startBridge(t, {
    pki,
    config: {
      auth: {
        public_key_path: pki.file(DEV_PKI_FILES.jwt.publicKey),
        issuer: 'event-broker-dev',
        audience: 'event-broker-dev',
        clock_tolerance: TOLERANCE_MS,
      },
    },
  });
  const inside = await b.internal();
  const got = record(inside, 'work.>');
  await inside.flush();
  await until(() => gatewayWants(b.gateway, 'work.>'), 'the internal interest reaches the gateway');
  // Expired a second ago by this clock: the issuer's clock may run that much behind, which the tolerance forgives.
  const signingKey = crypto.createPrivateKey(fs.readFileSync(pki.file(DEV_PKI_FILES.jwt.privateKey)));
  const token = await mint(
    signingKey,
    { nats: { pub: { allow: ['work.>'] } } },
    { alg: 'ES256', issuer: 'event-broker-dev', audience: 'event-broker-dev', expiresIn: -1 },
  );
  const expMs = decodeJwt(token).exp! * 1000;

  const nc = await b.external(token);
  const closed = nc.closed().then((err) => ({ err, at: Date.now() }));
  await until(() => {
    nc.publish('work.skewed', 'x');
    return got.msgs.length > 0;
  }, 'the admitted client publishes');
  const { err, at } = await within(closed, 'the client is closed once the tolerance runs out', 8000);
  assert.ok(err instanceof NatsError, `closed with ${String(err)}`);
  assert.equal(err.code, 'AUTHENTICATION_EXPIRED');
  assert.ok(at >= expMs + TOLERANCE_MS - 50, `closed ${expMs + TOLERANCE_MS - at} ms before exp + clock_tolerance`);
});
