// The gateway end to end: a real event service with a TLS leafnode listener, a gateway dialling it with its
// upstream certificate, and external clients (official `nats` client, TLS with a client certificate, a dev JWT)
// publishing, subscribing, requesting and queueing across the bridge to internal clients of the service.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { DEV_PKI_FILES, mintDevToken, writeDevPki, type DevTokenPermissions } from '@event-broker/dev-tools';
import { startEventService, type EventService } from '@event-broker/event-service';
import { startGateway } from '../src/start.js';
import type { EventGateway } from '../src/server.js';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { gatewayWants, leafOf, rawTls } from './helpers/bridge.js';

const sc = StringCodec();

interface Setup {
  dir: string;
  file(name: string): string;
  service: EventService;
  gateway: EventGateway;
  token(sub: string, nats: DevTokenPermissions, ttlSeconds?: number): Promise<string>;
  /** An external client through the gateway, with the dev client certificate. */
  external(token: string, opts?: { cert?: boolean; inboxPrefix?: string }): Promise<NatsConnection>;
  /** An internal client of the service. */
  internal(): Promise<NatsConnection>;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = tmpDir(t, 'gateway-test-');
  await writeDevPki(dir);
  const file = (name: string) => path.join(dir, name);
  const F = DEV_PKI_FILES;
  const service = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    // The leafnode port uses [tls] and always requires a client certificate; internal clients need none.
    tls: {
      cert_path: file(F.eventService.cert),
      key_path: file(F.eventService.key),
      root_ca_path: file(F.ca.cert),
      verify: false,
    },
    leafnodes: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  } as never);
  t.after(() => service.close());
  const gateway = await startGateway({
    gateway: { host: '127.0.0.1', port: 0 },
    tls: { cert_path: file(F.gateway.cert), key_path: file(F.gateway.key), root_ca_path: file(F.ca.cert) },
    auth: { public_key_path: file(F.jwt.publicKey), issuer: 'event-broker-dev', audience: 'event-broker-dev' },
    upstream: {
      urls: [`tls://127.0.0.1:${service.leafnodePort}`],
      cert_path: file(F.gatewayUpstream.cert),
      key_path: file(F.gatewayUpstream.key),
      root_ca_path: file(F.ca.cert),
    },
    monitor: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  });
  t.after(() => gateway.close());
  await gateway.uplink.waitUntilUp(5000);
  const signingKey = fs.readFileSync(file(F.jwt.privateKey), 'utf8');
  return {
    dir,
    file,
    service,
    gateway,
    token: (sub, nats, ttlSeconds) =>
      mintDevToken(signingKey, { sub, nats }, ttlSeconds === undefined ? {} : { ttlSeconds }),
    async external(token, opts = {}) {
      const nc = await connect({
        servers: `127.0.0.1:${gateway.port}`,
        token,
        tls: {
          caFile: file(F.ca.cert),
          ...(opts.cert !== false && { certFile: file(F.client.cert), keyFile: file(F.client.key) }),
        },
        reconnect: false,
        timeout: 3000,
        ...(opts.inboxPrefix !== undefined && { inboxPrefix: opts.inboxPrefix }),
      });
      t.after(() => nc.close());
      return nc;
    },
    async internal() {
      const nc = await connect({
        servers: `127.0.0.1:${service.port}`,
        tls: { caFile: file(F.ca.cert) },
        timeout: 3000,
      });
      t.after(() => nc.close());
      return nc;
    },
  };
}

/** An internal subscription's interest has crossed the link: the gateway's broker holds it for the uplink. */
async function gatewayHas(s: Setup, subject: string): Promise<void> {
  await until(() => gatewayWants(s.gateway, subject), `the service's interest in ${subject} reaches the gateway`);
}

/** An external subscription's interest has crossed the link: the service lists it on the gateway's leaf. */
async function serviceHas(s: Setup, subject: string): Promise<void> {
  await until(
    async () => ((await leafOf(s.service))?.subscriptions_list ?? []).includes(subject),
    `the gateway's interest in ${subject} reaches the service`,
  );
}

test('an external client publishes to an internal subscriber and receives an internal publish, through the gateway', async (t) => {
  const s = await setup(t);
  const inside = await s.internal();
  const outside = await s.external(
    await s.token('alice', { pub: { allow: ['orders.>'] }, sub: { allow: ['audit.>'] } }),
  );

  const gotInside = inside.subscribe('orders.>', { max: 1 });
  await gatewayHas(s, 'orders.created');
  outside.publish('orders.created', sc.encode('from outside'));
  for await (const m of gotInside) assert.equal(sc.decode(m.data), 'from outside');

  const gotOutside = outside.subscribe('audit.created', { max: 1 });
  await serviceHas(s, 'audit.created');
  inside.publish('audit.created', sc.encode('from inside'));
  for await (const m of gotOutside) assert.equal(sc.decode(m.data), 'from inside');
});

test('request/reply works both ways across the bridge', async (t) => {
  const s = await setup(t);
  const inside = await s.internal();
  // Replies through bob's private inbox prefix (the gateway delivers no other client's).
  const outside = await s.external(
    await s.token('bob', {
      pub: { allow: ['svc.>'] },
      sub: { allow: ['_INBOX.bob.>', 'ask.>'] },
      resp: { max: 1, ttl: 60e9 },
    }),
    { inboxPrefix: '_INBOX.bob' },
  );
  inside.subscribe('svc.echo', { callback: (_e, m) => m.respond(sc.encode(`echo ${sc.decode(m.data)}`)) });
  await gatewayHas(s, 'svc.echo');
  const r = await outside.request('svc.echo', sc.encode('hi'), { timeout: 3000 });
  assert.equal(sc.decode(r.data), 'echo hi');

  outside.subscribe('ask.time', { callback: (_e, m) => m.respond(sc.encode('noon')) });
  await serviceHas(s, 'ask.time');
  const r2 = await inside.request('ask.time', sc.encode(''), { timeout: 3000 });
  assert.equal(sc.decode(r2.data), 'noon');
});

test('a client without a certificate, or without a valid token, is refused with Authorization Violation', async (t) => {
  const s = await setup(t);
  const good = await s.token('carol', { pub: { allow: ['x'] } });
  await assert.rejects(s.external(good, { cert: false }), /Authorization Violation|certificate/i);
  await assert.rejects(s.external('not-a-jwt'), /Authorization Violation/);
  await assert.rejects(s.external(''), /Authorization Violation|token/i);
});

test('permission violations get nats-server texts and the connection stays open', async (t) => {
  const s = await setup(t);
  const token = await s.token('dave', { pub: { allow: ['ok.>'] }, sub: { allow: ['ok.>'] } });
  // The exact wire text, over a raw TLS socket (the nats client reports a code, not the text).
  const F = DEV_PKI_FILES;
  const raw = await rawTls(s.gateway.port, {
    ca: s.file(F.ca.cert),
    cert: s.file(F.client.cert),
    key: s.file(F.client.key),
  });
  t.after(() => raw.socket.destroy());
  assert.equal(raw.info.tls_required, true, 'the INFO asks for TLS');
  raw.socket.write(
    `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, auth_token: token })}\r\nSUB secret.> 1\r\nSUB ok.x q 2\r\nPUB secret.x 2\r\nno\r\nPING\r\n`,
  );
  const text = await raw.readUntil('PONG\r\n');
  assert.equal(
    text,
    `-ERR 'Permissions Violation for Subscription to "secret.>"'\r\n-ERR 'Permissions Violation for Publish to "secret.x"'\r\nPONG\r\n`,
  );
  // Still open: it can use what it is allowed.
  raw.socket.write('PUB ok.x 2\r\nhi\r\nPING\r\n');
  assert.equal(await raw.readUntil('PONG\r\n'), 'MSG ok.x 2 2\r\nhi\r\nPONG\r\n');

  // The official client sees the same refusal as a permissions error and stays connected.
  const nc = await s.external(token);
  const seen = (async () => {
    for await (const st of nc.status()) if (st.type === 'error') return String(st.data);
    return undefined;
  })();
  nc.subscribe('secret.>');
  const err = await within(seen, 'the client reports the refusal', 3000);
  assert.equal(err, 'PERMISSIONS_VIOLATION');
  await nc.flush();
  assert.equal(nc.isClosed(), false);
});

test('/healthz reports the round trip through the service', async (t) => {
  const s = await setup(t);
  const res = await fetch(`http://127.0.0.1:${s.gateway.monitorPort}/healthz`);
  const body = (await res.json()) as { status: string; check: string; upstream_server_id?: string };
  assert.equal(res.status, 200);
  assert.equal(body.check, 'round-trip');
  assert.equal(body.upstream_server_id, s.service.serverId);
  await s.service.close();
  const down = await fetch(`http://127.0.0.1:${s.gateway.monitorPort}/healthz`);
  assert.equal(down.status, 503);
});
