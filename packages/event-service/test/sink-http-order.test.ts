// An HTTP sink's order, connections and max_in_flight against real node:http receivers (helpers/http-sink.ts): strict
// order over one kept-alive connection by default, a reset connection retried at once on a new one, and
// max_in_flight's concurrent, unordered deliveries (a failing event retried alone; a receiver failing everything
// pausing the whole sink).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { quietFor, until } from '@event-broker/test-support/wait';
import { many, receiver, setup, verify } from './helpers/http-sink.js';

test('strict order by default: every event once, oldest first, over one kept-alive connection', async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (_n, res) => {
    sockets.add(res.socket);
    res.writeHead(204).end();
  });
  const { store, sink } = many(t, { url: r.url }, 200);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    Array.from({ length: 200 }, (_, i) => `m${i}`),
    'in order, none twice',
  );
  assert.equal(sockets.size, 1, 'one connection, reused');
  assert.deepEqual(sink.stats, { delivered: 200, failedAttempts: 0, retries: 0, dead: 0 });
});

test('a kept-alive connection reset before its answer is retried at once on a new one, not counted as a failure', async (t) => {
  const perSocket = new Map<unknown, number>();
  const r = await receiver(t, (_n, res) => {
    const seen = (perSocket.get(res.socket) ?? 0) + 1;
    perSocket.set(res.socket, seen);
    // The second request on the first connection: reset, as a receiver closing an idle connection races a reuse.
    if (perSocket.size === 1 && seen === 2) res.socket!.resetAndDestroy();
    else res.writeHead(200).end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e2', 'e3'],
    'e2 again on a new connection',
  );
  assert.equal(perSocket.size, 2);
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 0, retries: 0, dead: 0 });
});

test('a new connection reset under its first POST is a failed attempt, not sent again at once (the reset-once rule is for kept-alive ones)', async (t) => {
  const r = await receiver(t, (n, res) => {
    // The first answer closes its connection, so e2 goes on a new one, reset under it.
    if (n === 0) res.writeHead(200, { connection: 'close' }).end();
    else if (n === 1) res.socket!.resetAndDestroy();
    else res.writeHead(200).end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e2', 'e3'],
  );
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 1, retries: 1, dead: 0 });
});

test('max_in_flight keeps that many POSTs outstanding at once, each signed with its own event id', async (t) => {
  // Answers nothing until four requests are open together, then everything: only concurrency gets past the first.
  const held: http.ServerResponse[] = [];
  let open = false;
  let most = 0;
  const r = await receiver(t, (_n, res) => {
    if (open) return void res.writeHead(204).end();
    held.push(res);
    most = Math.max(most, held.length);
    if (held.length === 4) {
      open = true;
      for (const h of held.splice(0)) h.writeHead(204).end();
    }
  });
  const { store, sink } = many(t, { url: r.url, maxInFlight: 4 }, 40);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.equal(most, 4);
  const ids = r.got.map((g) => String(g.headers['webhook-id']));
  assert.deepEqual([...ids].sort(), Array.from({ length: 40 }, (_, i) => `m${i}`).sort(), 'each event once');
  for (const g of r.got) assert.equal((verify(g) as { id: string }).id, g.headers['webhook-id']);
  assert.equal(sink.stats.delivered, 40);
});

test('max_in_flight: a failing event is retried and dead-lettered on its own while the others are delivered', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const attemptsOfBad: number[] = [];
  r.server.removeAllListeners('request');
  r.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      r.got.push({
        url: req.url ?? '',
        headers: req.headers,
        body: '',
        id: String(req.headers['webhook-id']),
        at: Date.now(),
      });
      if (req.headers['webhook-id'] === 'm3') {
        attemptsOfBad.push(Date.now());
        res.writeHead(500).end();
      } else res.writeHead(200).end();
    });
  });
  const { store, sink } = many(t, { url: r.url, maxInFlight: 3, maxAttempts: 3 }, 12);
  sink.wake();
  await until(() => store.held === 0, 'all resolved', 10_000);
  assert.deepEqual(
    store.deadLetters({ sink: 'feed' }).map((d) => [d.id, d.attempts, d.lastError]),
    [['m3', 3, 'HTTP 500 after 3 attempts']],
  );
  const delivered = r.got.map((g) => String(g.headers['webhook-id'])).filter((id) => id !== 'm3');
  assert.deepEqual(
    delivered.sort(),
    Array.from({ length: 12 }, (_, i) => `m${i}`)
      .filter((id) => id !== 'm3')
      .sort(),
    'the others once each',
  );
  assert.equal(attemptsOfBad.length, 3);
  assert.deepEqual(sink.stats, { delivered: 11, failedAttempts: 3, retries: 2, dead: 1 });
});

test('max_in_flight: a receiver that fails everything pauses the whole sink, not one attempt per queued event', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(503).end());
  // random() = 1: each backoff is its full ceiling, 1 s after the first failure in a row.
  const { sink } = many(
    t,
    { url: r.url, maxInFlight: 4, backoffBaseMs: 1000, backoffCapMs: 1000, random: () => 1 },
    50,
  );
  sink.wake();
  await until(() => sink.stats.failedAttempts >= 1, 'a failure');
  // The point: no more than the first window goes out in the first 300 ms.
  await quietFor(300);
  assert.ok(r.got.length <= 4, `${r.got.length} requests in the first 300 ms: at most the first window of 4`);
  await until(() => r.got.length > 4, 'attempts resume after the pause', 5000);
});
