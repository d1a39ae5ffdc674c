// An HTTP sink's batches against real node:http receivers (helpers/http-sink.ts): batch_size in order as JSON arrays
// retried whole under one webhook-id, batch_bytes capping a batch, batch_wait_ms letting a partial one fill, and a
// failing batch dead-lettered event by event, then replayed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchWebhookId } from '../src/handlers/sinks/webhook.js';
import { pace, until } from '@event-broker/test-support/wait';
import { ev, optSetup, receiver, verify } from './helpers/http-sink.js';

test('batch_size sends events in order as JSON arrays; a batch is retried whole under the same webhook-id', async (t) => {
  const r = await receiver(t, (n, res) => res.writeHead(n === 0 ? 503 : 200).end());
  const ids = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'];
  const { store, sink } = optSetup(
    t,
    { url: r.url, batchSize: 3 },
    ids.map((id) => [id]),
  );
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  const bodies = r.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id));
  assert.deepEqual(bodies, [['b1', 'b2', 'b3'], ['b1', 'b2', 'b3'], ['b4', 'b5', 'b6'], ['b7']]);
  assert.equal(
    r.got[0]!.headers['webhook-id'],
    r.got[1]!.headers['webhook-id'],
    'the retry carries the same webhook-id',
  );
  assert.equal(r.got[0]!.headers['webhook-id'], batchWebhookId(['b1', 'b2', 'b3']));
  assert.match(String(r.got[0]!.headers['webhook-id']), /^batch_[0-9a-f]{32}$/);
  assert.equal(r.got[3]!.headers['webhook-id'], 'b7', 'a batch of one is the event id');
  assert.deepEqual(sink.stats, { delivered: 7, failedAttempts: 1, retries: 1, dead: 0 });
  for (const id of ids) assert.equal(store.get(id) !== undefined, true);
});

test('batch_bytes caps a batch (one oversized event still goes alone); batch_wait_ms lets a partial batch fill', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const one = Buffer.byteLength(ev('c1'));
  const { store, sink } = optSetup(t, { url: r.url, batchSize: 10, batchBytes: one * 2 + 10 }, [
    ['c1'],
    ['c2'],
    ['c3'],
    ['c4'],
    ['big', 'x'.repeat(one * 3)],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id)),
    [['c1', 'c2'], ['c3', 'c4'], ['big']],
  );

  const w = await receiver(t, (_n, res) => res.writeHead(200).end());
  const s2 = optSetup(t, { url: w.url, batchSize: 5, batchWaitMs: 300 }, [['w1']]);
  s2.sink.wake();
  // The rest arrives later, still inside batch_wait_ms.
  await pace(50);
  s2.store.append(['w2', 'w3'].map((id) => ({ id, type: 'scanJobCreated', body: ev(id), sinks: ['feed'] })));
  s2.sink.wake();
  await until(() => s2.store.held === 0, 'all delivered');
  assert.deepEqual(
    w.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id)),
    [['w1', 'w2', 'w3']],
  );
});

test('a batch failing max_attempts times is dead-lettered event by event, and replays', async (t) => {
  let ok = false;
  const r = await receiver(t, (_n, res) => res.writeHead(ok ? 200 : 500).end());
  const { store, sink } = optSetup(t, { url: r.url, batchSize: 2, maxAttempts: 2 }, [['d1'], ['d2'], ['d3']]);
  sink.wake();
  await until(() => store.held === 0, 'all dead-lettered');
  assert.deepEqual(
    store.deadLetters({ sink: 'feed' }).map((d) => [d.id, d.attempts]),
    [
      ['d1', 2],
      ['d2', 2],
      ['d3', 2],
    ],
  );
  ok = true;
  assert.equal(store.replay('feed'), 3);
  sink.resume();
  await until(() => store.held === 0 && store.sinkCounts('feed').dead === 0, 'replayed');
  assert.deepEqual(
    (verify(r.got.at(-1)!) as Array<{ id: string }>).map((e) => e.id),
    ['d3'],
  );
});
