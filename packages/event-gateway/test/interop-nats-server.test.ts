// The gateway's upstream is a real nats-server 2.9 leafnode port (Debian's package) over TLS with the gateway's
// upstream certificate: an external gateway client and a plain client of that nats-server exchange publishes and
// requests both ways. (A nats-server leaf attached to the event service is event-service's leafnode.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { until, within } from '@event-broker/test-support/wait';
import { devPki, externalClient, gatewayWants, getJson, record, startTestGateway } from './helpers/bridge.js';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';

test('a gateway client and a client of a nats-server hub exchange messages and requests over the leafnode link', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const F = DEV_PKI_FILES;
  const leafnodePort = await freePort();
  const httpPort = await freePort();
  // The hub requires and verifies the leaf's client certificate, as the event service's leafnode port does.
  const { port } = await startNatsServer(
    t,
    `http: "127.0.0.1:${httpPort}"
leafnodes {
  listen: "127.0.0.1:${leafnodePort}"
  tls {
    cert_file: "${pki.file(F.eventService.cert)}"
    key_file: "${pki.file(F.eventService.key)}"
    ca_file: "${pki.ca}"
    verify: true
  }
}`,
  );
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafnodePort}`);
  const hubWants = async (subject: string) => {
    const z = await getJson<{ leafs: { subscriptions_list?: string[] }[] }>(
      `http://127.0.0.1:${httpPort}/leafz?subs=1`,
    );
    return (z.leafs[0]?.subscriptions_list ?? []).includes(subject);
  };

  const plain = await within(
    connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 3000 }),
    'plain client connects',
  );
  t.after(() => plain.close());
  const token = await pki.devToken('interop', {
    pub: { allow: ['interop.up', 'svc.>'] },
    sub: { allow: ['interop.down', 'ask.>', '_INBOX.interop.>'] },
    resp: { max: 1, ttl: 60e9 },
  });
  const outside = await externalClient(t, pki, gateway.port, token, { nats: { inboxPrefix: '_INBOX.interop' } });

  // nats-server -> gateway client.
  const down = record(outside, 'interop.down');
  await outside.flush();
  await until(() => hubWants('interop.down'), "the gateway's interest reaches nats-server");
  for (let i = 0; i < 50; i++) plain.publish('interop.down', `d${i}`);
  await until(
    () => down.msgs.length >= 50,
    'nats-server publishes reach the gateway client',
    5000,
    () => `${down.msgs.length} arrived`,
  );
  assert.deepEqual(
    down.data(),
    Array.from({ length: 50 }, (_, i) => `d${i}`),
  );

  // gateway client -> nats-server.
  const up = record(plain, 'interop.up');
  await plain.flush();
  await until(() => gatewayWants(gateway, 'interop.up'), "nats-server's interest reaches the gateway");
  for (let i = 0; i < 50; i++) outside.publish('interop.up', `u${i}`);
  await until(
    () => up.msgs.length >= 50,
    'gateway client publishes reach nats-server',
    5000,
    () => `${up.msgs.length} arrived`,
  );
  assert.deepEqual(
    up.data(),
    Array.from({ length: 50 }, (_, i) => `u${i}`),
  );

  // Requests both ways.
  plain.subscribe('svc.echo', { callback: (_e, m) => m.respond(`echo ${m.string()}`) });
  await plain.flush();
  await until(() => gatewayWants(gateway, 'svc.echo'), "nats-server's responder is known at the gateway");
  const r1 = await outside.request('svc.echo', 'hi', { timeout: 3000 });
  assert.equal(r1.string(), 'echo hi');

  outside.subscribe('ask.time', { callback: (_e, m) => m.respond('noon') });
  await outside.flush();
  await until(() => hubWants('ask.time'), "the gateway client's responder is known at nats-server");
  const r2 = await plain.request('ask.time', '', { timeout: 3000 });
  assert.equal(r2.string(), 'noon');
});

test('upstream of a plain nats-server there is no credit: plain events and subscriptions pass ungated, even with a > subscriber on the hub', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const F = DEV_PKI_FILES;
  const leafnodePort = await freePort();
  const { port } = await startNatsServer(
    t,
    `leafnodes {
  listen: "127.0.0.1:${leafnodePort}"
  tls { cert_file: "${pki.file(F.eventService.cert)}", key_file: "${pki.file(F.eventService.key)}", ca_file: "${pki.ca}", verify: true }
}`,
  );
  // A `>` subscriber there makes the hub relay interest in every subject, `$EVENTS.CREDIT.events` included: that is
  // not a service answering credit, and nothing may wait for an answer that never comes.
  const plain = await within(
    connect({ servers: `127.0.0.1:${port}`, reconnect: false, timeout: 3000 }),
    'plain client connects',
  );
  t.after(() => plain.close());
  const all = record(plain, '>');
  await plain.flush();
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafnodePort}`);
  await until(() => gatewayWants(gateway, 'events.x'), "the hub's > interest reaches the gateway");

  const token = await pki.devToken('plain-hub', { pub: { allow: ['events.>'] }, sub: { allow: ['mine.>'] } });
  const outside = await externalClient(t, pki, gateway.port, token);
  const N = 300;
  for (let i = 0; i < N; i++) outside.publish('events.scanJobUpdated', `e${i}`);
  for (let i = 0; i < 50; i++) outside.subscribe(`mine.${i}`);
  await within(outside.flush(), 'publishes and subscriptions go through without waiting for credit');
  await until(
    () => all.data().filter((d) => d.startsWith('e')).length === N,
    'every event reaches the hub',
    5000,
    () => `${all.msgs.length} arrived`,
  );
  const credit = { events: gateway.eventCredit.stats(), listeners: gateway.listenerQuota.stats() };
  t.diagnostic(JSON.stringify(credit));
  assert.equal(credit.events.active, false);
  assert.equal(credit.events.holds_total, 0);
  assert.equal(credit.listeners.active, false);
  assert.equal(credit.listeners.used, 50);
  assert.equal(all.msgs.filter((m) => m.subject.startsWith('$EVENTS.CREDIT')).length, 0, 'no credit request sent');
});
