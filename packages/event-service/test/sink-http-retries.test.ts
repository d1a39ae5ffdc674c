// An HTTP sink's failed deliveries against real node:http receivers (helpers/http-sink.ts): retries with backoff
// until success, 429 Retry-After honoured, 410 stopping the sink, dead letters after max_attempts and their replay,
// timeouts, a receiver down at first, and one sink that never answers not delaying another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpSink } from '../src/handlers/sinks/http.js';
import { retryAfterMs } from '../src/handlers/sinks/webhook.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { quietFor, until } from '@event-broker/test-support/wait';
import { freePort } from '@event-broker/test-support/processes';
import { logger, receiver, setup } from './helpers/http-sink.js';

test('a receiver answering 500 is retried with backoff until it answers 200, attempts counted', async (t) => {
  const r = await receiver(t, (n, res) => res.writeHead(n < 3 ? 500 : 200).end());
  const { store, sink } = setup(t, { url: r.url }, ['only']);
  sink.wake();
  await until(() => store.held === 0, 'delivered after retries');
  assert.equal(r.got.length, 4);
  assert.deepEqual(
    new Set(r.got.map((g) => g.headers['webhook-id'])),
    new Set(['only']),
    'every retry carries the same webhook-id',
  );
  assert.equal(sink.stats.failedAttempts, 3);
});

test('after max_attempts a delivery is dead-lettered, listed, and replay delivers it once the receiver recovers', async (t) => {
  let healthy = false;
  const r = await receiver(t, (_n, res) => res.writeHead(healthy ? 200 : 503).end());
  const { store, sink } = setup(t, { url: r.url, maxAttempts: 3 }, ['d1', 'd2']);
  sink.wake();
  await until(() => store.deadLetters({ sink: 'feed' }).length === 2, 'both dead-lettered');
  const dead = store.deadLetters({ sink: 'feed' });
  assert.deepEqual(
    dead.map((d) => [d.id, d.attempts, d.lastError]),
    [
      ['d1', 3, 'HTTP 503 after 3 attempts'],
      ['d2', 3, 'HTTP 503 after 3 attempts'],
    ],
  );
  assert.equal(r.got.length, 6);
  assert.equal(store.held, 0, 'dead letters are not held');
  healthy = true;
  assert.equal(store.replay('feed'), 2);
  sink.wake();
  await until(() => store.held === 0 && store.deadLetters().length === 0, 'replayed and delivered');
  assert.equal(sink.stats.delivered, 2);
});

test('429 with Retry-After waits that long before the next attempt', async (t) => {
  const r = await receiver(t, (n, res) =>
    n === 0 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end(),
  );
  const { store, sink } = setup(t, { url: r.url }, ['slow']);
  sink.wake();
  await until(() => store.held === 0, 'delivered after Retry-After', 5000);
  assert.equal(r.got.length, 2);
  assert.ok(r.got[1]!.at - r.got[0]!.at >= 950, `waited ${r.got[1]!.at - r.got[0]!.at} ms`);
  assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT')), 2000);
  assert.equal(retryAfterMs('soon', 0), undefined);
});

test('410 Gone dead-letters the delivery and stops the sink; the rest stay pending', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(410).end());
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => sink.state === 'stopped', 'sink stopped');
  // The point: no request follows for a while.
  await quietFor(100);
  assert.equal(r.got.length, 1, 'no request after the 410');
  assert.deepEqual(
    store.deadLetters().map((d) => [d.id, d.lastError]),
    [['e1', 'HTTP 410 Gone: sink stopped']],
  );
  assert.deepEqual(
    store.due('feed', Date.now(), 10).map((d) => d.id),
    ['e2', 'e3'],
  );
});

test('a timeout counts as a failed attempt; a receiver down at first gets everything once it is up', async (t) => {
  // Find a free port, leave it closed, then start the receiver there later.
  const port = await freePort();
  const { store, sink } = setup(t, { url: `http://127.0.0.1:${port}/hook`, backoffBaseMs: 20, backoffCapMs: 100 });
  sink.wake();
  await until(() => sink.stats.failedAttempts >= 2, 'connection refused counted as failures');
  assert.match(store.due('feed', Date.now() + 1000, 1)[0]!.lastError!, /unreachable/);
  const r = await receiver(t, (_n, res) => res.writeHead(200).end(), port);
  await until(() => store.held === 0, 'all delivered once the receiver is up', 5000);
  assert.deepEqual([...new Set(r.got.map((g) => g.headers['webhook-id']))], ['e1', 'e2', 'e3']);

  const hang = await receiver(t, () => {}); // never answers
  const slow = setup(t, { url: hang.url, name: 'slow', timeoutMs: 100, maxAttempts: 1 }, ['t1']);
  slow.sink.wake();
  await until(() => slow.store.deadLetters().length === 1, 'timed-out delivery dead-lettered');
  assert.match(slow.store.deadLetters()[0]!.lastError!, /timed out after 100 ms after 1 attempts/);
});

test('one sink that never answers does not delay another', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  const stuck = await receiver(t, () => {});
  const fast = await receiver(t, (_n, res) => res.writeHead(200).end());
  const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
  store.append(ids.map((id) => ({ id, type: 'nodeTerminated', body: `{"id":"${id}"}`, sinks: ['stuck', 'fast'] })));
  const a = new HttpSink(store, { name: 'stuck', url: stuck.url, timeoutMs: 30_000, logger });
  const b = new HttpSink(store, { name: 'fast', url: fast.url, logger });
  t.after(() => {
    a.close();
    b.close();
  });
  a.wake();
  b.wake();
  await until(() => fast.got.length === 20, 'the fast sink got everything while the other hangs');
  // The receiver counts a request before the sink has read its response and recorded the delivery: wait for that.
  await until(() => store.due('fast', Date.now(), 100).length === 0, 'every fast delivery recorded');
  assert.equal(stuck.got.length, 1);
  assert.equal(store.held, 20, 'still held for the stuck sink');
});
