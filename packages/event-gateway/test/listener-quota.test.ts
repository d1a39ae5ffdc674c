// External clients' subscriptions count toward the service's listener_limit (issue 12, item 3; src/listener-quota.ts):
// the link carries their interest deduplicated, so the gateway counts each subscription against a quota the service
// grants, and the one past it gets nats-server's `-ERR 'maximum subscriptions exceeded'` on a connection that stays
// open. A real service ([store] on: its own subscriptions are not listeners), the real gateway on its TLS leafnode
// link, a raw TLS socket for the exact texts, the official `nats` client for how it surfaces there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { errLine, Errors } from '@event-broker/shared';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import {
  LogCapture,
  connectLine,
  devPki,
  externalClient,
  getJson,
  internalClient,
  rawTls,
  record,
  startService,
  startTestGateway,
} from './helpers/bridge.js';

const MAX_SUBS = errLine(Errors.maxSubscriptions).toString();

test('listener_limit 1000 with 100 internal subscriptions: an external client gets exactly 900, the next is refused with the connection open, and an unsubscribe frees room', async (t) => {
  const pki = await devPki(t);
  const LIMIT = 1000;
  const INTERNAL = 100;
  const service = await startService(t, pki, {
    config: {
      service: { listener_limit: LIMIT },
      store: { path: path.join(tmpDir(t, 'listener-quota-'), 'events.db') },
    },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  await until(() => gateway.listenerQuota.stats().active, 'the gateway sees the service answer listener credit');
  const varz = () =>
    getJson<{ subscriptions: number; listener_limit: number }>(`http://127.0.0.1:${service.monitorPort}/varz`);

  const inside = await internalClient(t, pki, service.port);
  for (let i = 0; i < INTERNAL; i++) inside.subscribe(`int.${i}`);
  await inside.flush();
  // The gateway holds a small margin granted ahead of its clients' first SUBs: counted at the service, as listeners.
  await until(() => gateway.listenerQuota.stats().outstanding_asks === 0, 'the quota asked ahead is answered');
  const margin = gateway.listenerQuota.stats().granted;
  assert.equal(
    (await varz()).subscriptions,
    INTERNAL + margin,
    "the service's own subscriptions (intake, feed, responders) are not listeners",
  );

  const token = await pki.devToken('many', { pub: { allow: ['ext.>'] }, sub: { allow: ['ext.>'] } });
  const raw = await rawTls(gateway.port, { ca: pki.ca, ...pki.client });
  t.after(() => raw.socket.destroy());
  const ROOM = LIMIT - INTERNAL;
  let subs = connectLine({ auth_token: token });
  for (let i = 1; i <= ROOM; i++) subs += `SUB ext.${i} ${i}\r\n`;
  // In one write: SUBs past the quota held are held while the gateway asks for more, each in its turn, so the
  // publish behind them finds the last one in place (the client's own message comes back: echo is on).
  raw.socket.write(`${subs}PUB ext.${ROOM} 2\r\nhi\r\nPING\r\n`);
  assert.equal(
    await raw.readUntil('PONG\r\n', 10_000),
    `MSG ext.${ROOM} ${ROOM} 2\r\nhi\r\nPONG\r\n`,
    `all ${ROOM} subscriptions admitted, in order`,
  );
  assert.ok(gateway.listenerQuota.stats().holds_total > 0, "SUBs were held for the service's answer");

  raw.socket.write(`SUB ext.${ROOM + 1} ${ROOM + 1}\r\nPING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n'), `${MAX_SUBS}PONG\r\n`, 'the next one refused, the connection open');
  const full = await varz();
  const quota = gateway.listenerQuota.stats();
  t.diagnostic(
    `full: service /varz subscriptions ${full.subscriptions} of ${full.listener_limit}; gateway quota ${JSON.stringify(quota)}`,
  );
  assert.equal(full.subscriptions, LIMIT);
  assert.equal(quota.used, ROOM);
  assert.equal(quota.granted, ROOM);
  assert.equal(quota.refused_total, 1);

  // How the official client hears it: an asynchronous protocol error (not a permissions one), its connection open.
  const client = await externalClient(t, pki, gateway.port, token);
  const errors: string[] = [];
  void (async () => {
    for await (const st of client.status()) if (st.type === 'error') errors.push(String(st.data));
  })();
  const refused = record(client, 'ext.refused');
  await client.flush();
  await until(() => errors.length > 0, 'nats.js reports the refusal');
  t.diagnostic(`nats.js status errors: ${JSON.stringify(errors)}; isClosed ${client.isClosed()}`);
  assert.deepEqual(errors, ['NATS_PROTOCOL_ERR']);
  assert.equal(client.isClosed(), false);

  // An unsubscribe frees room: the same SUB now succeeds, and it is a real subscription.
  raw.socket.write(`UNSUB 1\r\nSUB ext.${ROOM + 1} ${ROOM + 1}\r\nPING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');
  await until(async () => (await varz()).subscriptions === LIMIT, 'the service counts the link at its quota');
  inside.publish(`ext.${ROOM + 1}`, 'hello');
  inside.publish('ext.refused', 'nobody');
  await inside.flush();
  await raw.readUntil(`MSG ext.${ROOM + 1} ${ROOM + 1} 5\r\nhello\r\n`);
  await client.flush();
  assert.equal(refused.msgs.length, 0, 'the refused subscription receives nothing');

  // The client goes: its subscriptions' quota goes back to the service (beyond the gateway's small margin).
  raw.socket.destroy();
  await until(async () => (await varz()).subscriptions <= INTERNAL + 64, 'the quota is given back', 5000);
  const after = await varz();
  t.diagnostic(
    `after the client left: service subscriptions ${after.subscriptions}; gateway quota ${JSON.stringify(gateway.listenerQuota.stats())}`,
  );
  // And the room is the internal clients' again.
  for (let i = INTERNAL; i < LIMIT - 64; i++) inside.subscribe(`int.${i}`);
  await within(inside.flush(), 'internal subscriptions up to the limit less the margin');
});

test("after the service restarts with a smaller listener_limit, the gateway keeps its clients' subscriptions, warns, and refuses new ones until they fit", async (t) => {
  const pki = await devPki(t);
  const port = await freePort();
  const leafnodePort = await freePort();
  const first = await startService(t, pki, { port, leafnodePort, config: { service: { listener_limit: 1000 } } });
  const logs = new LogCapture();
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafnodePort}`, {
    logs,
    config: { upstream: { reconnect_delay: 100, reconnect_max_delay: 300 } },
  });
  await until(() => gateway.listenerQuota.stats().active, 'listener credit active');
  const token = await pki.devToken('holder', { pub: { allow: ['keep.>'] }, sub: { allow: ['keep.>'] } });
  const raw = await rawTls(gateway.port, { ca: pki.ca, ...pki.client });
  t.after(() => raw.socket.destroy());
  let subs = connectLine({ auth_token: token });
  for (let i = 1; i <= 50; i++) subs += `SUB keep.${i} ${i}\r\n`;
  raw.socket.write(`${subs}PING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n', 10_000), 'PONG\r\n');

  await first.close();
  await until(() => !gateway.uplink.up, 'the link is down');
  const second = await startService(t, pki, { port, leafnodePort, config: { service: { listener_limit: 10 } } });
  await within(gateway.uplink.waitUntilUp(5000), 'the link comes back', 6000);
  await until(
    () => logs.find((l) => l.msg.includes('granted fewer listeners')) !== undefined,
    'the shortfall is logged',
  );
  const warned = logs.find((l) => l.msg.includes('granted fewer listeners'))!;
  t.diagnostic(`logged: ${JSON.stringify(warned)}`);
  assert.equal(warned.granted, 10);
  assert.equal(warned.subscriptions, 50);

  // Existing subscriptions still work; a new one is refused while 50 exceed the 10 granted.
  const inside = await internalClient(t, pki, port);
  await until(async () => {
    inside.publish('keep.50', 'still');
    await inside.flush();
    return raw.readUntil('MSG keep.50 50 5\r\nstill\r\n', 200).then(
      () => true,
      () => false,
    );
  }, 'an existing subscription still receives after the restart');
  raw.socket.write('SUB keep.51 51\r\nPING\r\n');
  assert.equal(await raw.readUntil('PONG\r\n'), `${MAX_SUBS}PONG\r\n`);
  assert.equal(
    (await getJson<{ subscriptions: number }>(`http://127.0.0.1:${second.monitorPort}/varz`)).subscriptions,
    10,
  );
});

test("a client granted > can neither publish nor subscribe on $EVENTS.CREDIT, nor see the gateway's credit requests: it cannot take or give back room in the link's name", async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki, { config: { service: { listener_limit: 1000 } } });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  await until(
    () => gateway.listenerQuota.stats().active && gateway.listenerQuota.stats().outstanding_asks === 0,
    'listener credit active and answered',
  );
  const varz = () => getJson<{ subscriptions: number }>(`http://127.0.0.1:${service.monitorPort}/varz`);
  const before = await varz();

  const token = await pki.devToken('mallet', { pub: { allow: ['>'] }, sub: { allow: ['>'] } });
  const raw = await rawTls(gateway.port, { ca: pki.ca, ...pki.client });
  t.after(() => raw.socket.destroy());
  raw.socket.write(
    `${connectLine({ auth_token: token })}SUB > 1\r\nSUB $EVENTS.CREDIT.events 2\r\nSUB $EVENTS.CREDIT.> 3\r\n` +
      'PUB $EVENTS.CREDIT.listeners 14\r\n{"return":100}\r\nPUB $EVENTS.CREDIT.events _INBOX.mallet.1 11\r\n{"want":10}\r\nPING\r\n',
  );
  const answered = await raw.readUntil('PONG\r\n');
  t.diagnostic(JSON.stringify(answered));
  assert.equal(
    answered,
    `-ERR 'Permissions Violation for Subscription to "$EVENTS.CREDIT.events"'\r\n-ERR 'Permissions Violation for Subscription to "$EVENTS.CREDIT.>"'\r\n` +
      `-ERR 'Permissions Violation for Publish to "$EVENTS.CREDIT.listeners"'\r\n-ERR 'Permissions Violation for Publish to "$EVENTS.CREDIT.events"'\r\nPONG\r\n`,
  );

  // The gateway asks for quota for another client's subscriptions; mallet's `>` does not see the request.
  const other = await externalClient(t, pki, gateway.port, await pki.devToken('other', { sub: { allow: ['o.>'] } }));
  const asks = gateway.listenerQuota.stats();
  for (let i = 0; i < 40; i++) other.subscribe(`o.${i}`);
  await other.flush();
  await until(() => gateway.listenerQuota.stats().outstanding_asks === 0, 'the quota is answered');
  raw.socket.write('PING\r\n');
  const seen = await raw.readUntil('PONG\r\n');
  const after = await varz();
  t.diagnostic(
    `service subscriptions ${before.subscriptions} -> ${after.subscriptions}; quota ${JSON.stringify(asks)} -> ${JSON.stringify(gateway.listenerQuota.stats())}`,
  );
  assert.doesNotMatch(seen, /\$EVENTS\.CREDIT|_GWH/, "no credit request or answer delivered to mallet's >");
  // No internal clients: the service's listeners are what it granted the gateway; mallet's return took none of it.
  assert.equal(after.subscriptions, gateway.listenerQuota.stats().granted);
  assert.ok(after.subscriptions >= 41, `the quota covers the 41 client subscriptions (${after.subscriptions})`);
});
