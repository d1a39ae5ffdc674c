// event_limit end to end with a sink that is down: a real service, its HTTP sink pointed at a node:http receiver that
// answers 503, official `nats` clients requesting and plain-publishing, and the event feed (HTTP) to count what was
// stored. Everything is observed from outside, as a user would. Ours only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { startDownSink } from '@event-broker/test-support/http';
import { until, within } from '@event-broker/test-support/wait';
import { startEventService } from '../src/embedded.js';
import type { FeedPage } from '../src/handlers/event-feed.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();
/** Draining goes through the sink's backoff after the outage, one delivery at a time: bounded generously. */
const DRAIN_MS = 90_000;

const ev = (id: string, pad = '') =>
  JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'scanJobUpdated', data: { pad } });

test('event_limit reached with a dead sink: requests get the limit error, plain publishers are slowed, once the sink recovers everything drains, nothing lost', async (t) => {
  const sink = await startDownSink(t);
  const received = sink.received;

  const LIMIT = 20;
  const svc = await startEventService({
    // Pings every 300 ms, stale after 3 unanswered: the pause below outlasts that many times over, and a client
    // whose reads the service paused must not be closed as stale for PONGs the service itself is not reading.
    service: { host: '127.0.0.1', port: 0, event_limit: LIMIT, ping_interval: 300, ping_max: 3 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    // Attempts enough never to dead-letter during the outage: everything must reach the sink itself.
    handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const requester = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect requester');
  t.after(() => requester.close());
  const publisher = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect publisher');
  t.after(() => publisher.close());
  const stored = async (): Promise<number> => {
    let n = 0;
    for (let cursor = '0'; ;) {
      const page = (await (
        await within(fetch(`http://127.0.0.1:${svc.monitorPort}/events?limit=1000&cursor=${cursor}`), 'GET /events')
      ).json()) as FeedPage;
      n += page.events.length;
      cursor = page.next_cursor;
      if (!page.more) return n;
    }
  };
  const ask = async (id: string) =>
    JSON.parse(
      sc.decode((await requester.request('events.scanJobUpdated', sc.encode(ev(id)), { timeout: 10_000 })).data),
    ) as {
      id?: string;
      error?: { code: string; reason: string };
    };

  // Up to the limit, requests are stored and acknowledged although nothing can be delivered.
  for (let i = 0; i < LIMIT; i++) assert.deepEqual(await ask(`r${i}`), { id: `r${i}` });
  await until(() => sink.refused > 0, 'the sink was tried and refused', 10_000);
  // At the limit a request hears so, and its event is not stored.
  const over = await ask('r-over');
  assert.equal(over.error?.code, 'EEVENT_LIMIT');
  assert.match(over.error!.reason, /event_limit 20 reached/);

  // A plain publisher cannot hear a refusal: it is slowed instead (its socket is not read), not dropped.
  const PLAIN = 1500;
  const pad = 'x'.repeat(1024);
  for (let i = 0; i < PLAIN; i++) publisher.publish('events.scanJobUpdated', sc.encode(ev(`p${i}`, pad)));
  let flushed = false;
  const flush = publisher.flush().then(() => (flushed = true));
  // Whatever of it was read before the pause is stored; then the count stops growing while the sink is down: the
  // publisher is paused (not read) and no event read is waiting for its commit (held = stored, nothing delivered).
  const handlers = async () =>
    (
      (await (await within(fetch(`http://127.0.0.1:${svc.monitorPort}/handlerz`), 'GET /handlerz')).json()) as {
        handlers: { held: number; last_seq: number; intake: { paused_publishers: number } };
      }
    ).handlers;
  let seen = '';
  await until(
    async () => {
      const h = await handlers();
      seen = JSON.stringify(h);
      return h.intake.paused_publishers === 1 && h.held === h.last_seq;
    },
    'the stored count settles while the publisher is paused',
    30_000,
    () => seen,
  );
  const before = await stored();
  assert.ok(before < LIMIT + PLAIN, `the publisher was held back (${before} of ${LIMIT + PLAIN} stored)`);
  assert.equal(flushed, false, 'the publisher flush waits: its PING is not read while paused');
  assert.equal(received.size, 0);

  // The sink recovers: everything drains to it, the publisher's flush completes, and requests are accepted again.
  sink.up();
  await within(flush, 'the publisher flush completes once there is room', DRAIN_MS);
  const want = [
    ...Array.from({ length: LIMIT }, (_, i) => `r${i}`),
    ...Array.from({ length: PLAIN }, (_, i) => `p${i}`),
  ];
  await until(
    () => want.every((id) => received.has(id)),
    'every acknowledged and every plain-published event reaches the sink',
    DRAIN_MS,
    () => `${received.size} of ${want.length} received`,
  );
  assert.equal(received.has('r-over'), false, 'the refused event was not stored');
  assert.equal(await stored(), LIMIT + PLAIN, 'the feed holds every event once');
  assert.deepEqual(await ask('r-after'), { id: 'r-after' });
  await until(() => received.has('r-after'), 'a new event flows straight through', 10_000);
});
