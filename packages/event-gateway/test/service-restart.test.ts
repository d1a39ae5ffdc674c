// The event service restarted under a running gateway, on the same ports: the link comes back by itself, the
// gateway re-announces its clients' interest (an external subscriber keeps receiving without resubscribing), and
// every publish the gateway accepted during the outage reaches an internal subscriber that was there before and
// after, in order, none lost. Past [upstream] buffer_bytes the publisher is paused, not dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '@event-broker/test-support/processes';
import { fence } from '@event-broker/test-support/flow';
import { quietFor, until, within } from '@event-broker/test-support/wait';
import {
  devPki,
  externalClient,
  internalClient,
  leafOf,
  record,
  startService,
  startTestGateway,
} from './helpers/bridge.js';

const SMALL = 500;
const BIG = 40;
const BIG_BYTES = 16 * 1024;
const BUFFER_BYTES = 256 * 1024;

test('the service restarts under the gateway: the link and interest come back, and every publish held during the outage arrives', async (t) => {
  const pki = await devPki(t);
  const port = await freePort();
  const leafnodePort = await freePort();
  const first = await startService(t, pki, { port, leafnodePort });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafnodePort}`, {
    config: {
      gateway: { max_payload: 64 * 1024 },
      // Redial quickly so the test waits for the service, not for backoff.
      upstream: { buffer_bytes: BUFFER_BYTES, reconnect_delay: 100, reconnect_max_delay: 300 },
    },
  });

  // Inside: a subscriber that rides the restart (reconnects and resubscribes by itself).
  const sink = await internalClient(t, pki, port, {
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 0,
    reconnectJitterTLS: 0,
  });
  const held = record(sink, 'outage.>');
  await sink.flush();
  // Outside: a subscriber that must not have to resubscribe, and a publisher.
  const token = await pki.devToken('field-agent', { pub: { allow: ['outage.>'] }, sub: { allow: ['inside.>'] } });
  const listener = await externalClient(t, pki, gateway.port, token);
  const heard = record(listener, 'inside.>');
  const queued = record(listener, 'inside.q', { queue: 'workers' });
  await listener.flush();
  const publisher = await externalClient(t, pki, gateway.port, token);
  const wants = async (service: typeof first, subject: string) =>
    ((await leafOf(service))?.subscriptions_list ?? []).includes(subject);
  await until(
    async () => (await wants(first, 'inside.>')) && (await wants(first, 'inside.q')),
    'the external interest reaches the service',
  );

  const before = await internalClient(t, pki, port);
  await until(() => {
    before.publish('inside.before', 'x');
    publisher.publish('outage.pre', 'x');
    return heard.msgs.length > 0 && held.msgs.length > 0;
  }, 'traffic flows both ways before the restart');
  // Every 'outage.pre' read by the gateway while the link is up (its PONG comes after them): a late one would be
  // buffered with the outage's and counted among them.
  await within(publisher.flush(), 'the publisher flushed before the restart');
  await before.close();

  await first.close();
  await until(() => !gateway.uplink.up, 'the gateway sees the link down');

  // During the outage: publishes within the buffer are accepted (the gateway answers the PING behind them)...
  for (let i = 0; i < SMALL; i++) publisher.publish(`outage.${i % 7}`, `small-${i}`);
  await within(publisher.flush(), 'the gateway accepts publishes within its buffer');
  assert.equal(gateway.uplink.counters.bufferedMsgs, SMALL);
  // ...and past it the publisher is paused: its PING goes unanswered until the link drains.
  const big = 'b'.repeat(BIG_BYTES);
  for (let i = 0; i < BIG; i++) publisher.publish('outage.big', `big-${i}-${big}`);
  let flushed = false;
  const flushing = publisher.flush().then(() => (flushed = true));
  await until(() => gateway.uplink.counters.pausedPublishers > 0, 'the publisher is paused when the buffer is full');
  // The point: its flush stays pending for a while (nothing says "it will never come" sooner).
  await quietFor(200);
  assert.equal(flushed, false, 'a paused publisher is not read');
  assert.ok(
    gateway.uplink.counters.bufferedBytes <= BUFFER_BYTES + 256 * 1024,
    `held ${gateway.uplink.counters.bufferedBytes} bytes`,
  );
  t.diagnostic(
    `held during the outage: ${gateway.uplink.counters.bufferedMsgs} messages, ${gateway.uplink.counters.bufferedBytes} bytes`,
  );

  const second = await startService(t, pki, { port, leafnodePort });
  await within(gateway.uplink.waitUntilUp(5000), 'the link comes back', 6000);
  await within(flushing, 'the paused publisher resumes once the buffer drains', 10_000);

  const expected = [
    ...Array.from({ length: SMALL }, (_, i) => `small-${i}`),
    ...Array.from({ length: BIG }, (_, i) => `big-${i}`),
  ];
  const got = () =>
    held
      .data()
      .filter((d) => d !== 'x')
      .map((d) => (d.startsWith('big-') ? d.slice(0, d.lastIndexOf('-')) : d));
  await until(
    () => got().length >= expected.length,
    'every held publish arrives',
    15_000,
    () => `${got().length} of ${expected.length}`,
  );
  // A duplicate would have arrived before a marker the publisher sends after them.
  await fence((m) => publisher.publish('outage.fence', m), held.msgs, 'every held publish delivered');
  assert.deepEqual(got(), expected, 'all, once each, in order');
  const c = gateway.uplink.counters;
  assert.equal(c.bufferedMsgs, 0);
  assert.equal(c.droppedNoInterest, 0);
  assert.equal(c.reconnects, 1);

  // The external subscriber never resubscribed: its interest was re-sent on the new link.
  await until(
    async () => (await wants(second, 'inside.>')) && (await wants(second, 'inside.q')),
    'the external interest is re-sent to the restarted service',
  );
  const after = await internalClient(t, pki, port);
  after.publish('inside.after', 'y');
  after.publish('inside.q', 'z');
  await until(
    () => heard.msgs.some((m) => m.subject === 'inside.after'),
    'an internal publish after the restart reaches the external subscriber',
  );
  await until(() => queued.msgs.length === 1, 'and the external queue subscriber');
  assert.equal(listener.isClosed(), false);
  assert.equal(publisher.isClosed(), false);
});
