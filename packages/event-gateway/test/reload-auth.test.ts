// A reload that changes the [auth] rules judges every live token again: a connection whose token the new rules
// refuse (here: its audience is no longer accepted) is closed with Authorization Violation, the text nats-server's
// reload sends a client no longer authorized (reload.go reloadAuthorization; a revoked jti is User Authentication
// Revoked instead: revocation.test.ts); one whose token still passes stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { NatsError } from 'nats';
import { until, within } from '@event-broker/test-support/wait';
import { devPki, startBridge } from './helpers/bridge.js';
import { DEV_PKI_FILES, mintDevToken } from '@event-broker/dev-tools';

test('a reload changing the accepted audiences closes the connections whose tokens the new rules refuse', async (t) => {
  const pki = await devPki(t);
  const publicKey = pki.file(DEV_PKI_FILES.jwt.publicKey);
  const b = await startBridge(t, {
    pki,
    config: {
      auth: { public_key_path: publicKey, issuer: 'event-broker-dev', audience: ['event-broker-dev', 'old-app'] },
    },
  });
  const key = fs.readFileSync(pki.file(DEV_PKI_FILES.jwt.privateKey), 'utf8');
  const perms = { pub: { allow: ['x.>'] } };
  const kept = await b.external(await mintDevToken(key, { sub: 'kept', nats: perms }));
  const dropped = await b.external(await mintDevToken(key, { sub: 'dropped', nats: perms }, { audience: 'old-app' }));
  await Promise.all([kept.flush(), dropped.flush()]);
  const droppedClosed = dropped.closed();

  const running = b.gateway.config;
  b.gateway.applyConfig({ ...running, auth: { ...running.auth, audience: ['event-broker-dev'] } });

  await until(() => dropped.isClosed(), 'the old-audience connection is closed');
  const err = await within(droppedClosed, 'the closed promise settles');
  assert.ok(err instanceof NatsError && err.code === 'AUTHORIZATION_VIOLATION', `closed with ${String(err)}`);
  await kept.flush();
  assert.equal(kept.isClosed(), false, 'the connection whose token still passes stays');
  // And the refused token cannot come back.
  await assert.rejects(
    b.external(await mintDevToken(key, { sub: 'again', nats: perms }, { audience: 'old-app' })),
    /Authorization Violation/i,
  );
});
