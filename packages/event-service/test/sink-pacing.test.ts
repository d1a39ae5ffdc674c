// A sink's pace as a real node:http receiver's clock sees it, in both pumps (sinks/http.ts over the SQLite store,
// backend-sink.ts over the JetStream queue): `rate` events/s with `burst` (sinks/rate.ts) never lets the n-th event
// arrive before the bucket allowed it, batches included, in order; `backoff` makes the gaps between a failing
// receiver's attempts grow to `max` and never pass it (beyond what a POST itself takes). Lower bounds only where a
// test cannot know the machine's speed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { type Delivery, startReceiver } from '@event-broker/test-support/http';
import { until } from '@event-broker/test-support/wait';
import { BackendSink, sinkQueueOptions } from '../src/handlers/backend-sink.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { TokenBucket } from '../src/handlers/sinks/rate.js';
import type { HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { logger, setup } from './helpers/http-sink.js';
import { createStreams, instance, publishEvents, SINK, startJetStream } from './helpers/jetstream-sink.js';

const skip = natsServerSkip();
/**
 * 40/s: the 45 take at least a second, well past what an unpaced pump takes for them (45 POSTs on loopback: tens of
 * ms, a few hundred on a loaded machine), so a missing bucket still shows; 20/s only made each case wait twice as long.
 */
const RATE = 40;
const BURST = 5;
const N = 45;
const ids = Array.from({ length: N }, (_, i) => `r${String(i).padStart(2, '0')}`);
/** Generous: 45 events at 40/s take about a second, on a machine shared with the rest of the suite. */
const WAIT_MS = 30_000;

/** Each delivered event's id and when its POST arrived, in arrival order (a batch's events arrive together). */
function arrivals(got: readonly Delivery[]): { id: string; at: number }[] {
  return got.flatMap((g) => {
    const body = JSON.parse(g.body) as { id: string } | { id: string }[];
    return (Array.isArray(body) ? body : [body]).map((e) => ({ id: e.id, at: g.at }));
  });
}

/** The i-th event (0-based) may not go before the bucket, full at t0, has had time to refill for it. */
function assertPaced(got: readonly Delivery[], t0: number): void {
  const a = arrivals(got);
  assert.deepEqual(
    a.map((x) => x.id),
    ids,
    'every event once, in order',
  );
  a.forEach((x, i) => {
    const earliest = ((i + 1 - BURST) * 1000) / RATE;
    // Date.now() is whole milliseconds on both sides: one of slack.
    assert.ok(x.at - t0 >= earliest - 1, `event ${i} arrived ${x.at - t0} ms after the start, before ${earliest} ms`);
  });
  assert.ok(a[N - 1]!.at - t0 >= ((N - BURST) * 1000) / RATE - 1, `the 45 span at least (45-5)/${RATE} s`);
}

test('token bucket: a burst at once, then rate per second; a batch larger than the bucket waits for a full one and leaves debt', () => {
  let now = 0;
  const b = new TokenBucket(20, 5, () => now);
  assert.equal(b.waitMs(5), 0);
  b.take(5);
  assert.equal(b.waitMs(1), 50);
  now = 50;
  assert.equal(b.waitMs(1), 0);
  b.take(1);
  assert.equal(b.waitMs(100), 250, 'a batch of 100 waits for a full bucket of 5');
  now = 300;
  b.take(100);
  assert.equal(b.waitMs(1), ((95 + 1) * 1000) / 20, 'in debt by 95: the next waits for it to be paid');
  b.refund(100);
  assert.equal(b.waitMs(5), 0, 'refunded up to the bucket, never above');
  assert.equal(new TokenBucket(0.5, undefined).burst, 1);
  assert.throws(() => new TokenBucket(0, 1), /rate must be above 0/);
});

for (const batchSize of [1, 4]) {
  test(`SQLite pump: rate ${RATE}/s, burst ${BURST}, batch_size ${batchSize}: ${N} events arrive no faster than the bucket allows, in order`, async (t) => {
    const r = await startReceiver(t, { status: () => 204 });
    const t0 = Date.now();
    const { sink } = setup(t, { url: r.url, rate: RATE, burst: BURST, batchSize, batchWaitMs: 0 }, ids);
    sink.wake();
    await until(() => arrivals(r.got).length === N, `${N} events delivered`, WAIT_MS);
    assertPaced(r.got, t0);
    if (batchSize > 1) assert.ok(r.got.length < N, 'they went in batches');
  });
}

async function jetStreamSink(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, events: string[]) {
  const server = await startJetStream(t);
  const { deps } = await instance(t, server);
  await createStreams(deps);
  await publishEvents(deps, events);
  const start = Date.now();
  const q = new JetStreamSinkQueue(deps, SINK, sinkQueueOptions(opts));
  const s = new BackendSink(q, { name: SINK, timeoutMs: 2000, logger, ...opts });
  t.after(() => s.close());
  return { sink: s, start };
}

test(
  `JetStream pump: rate ${RATE}/s, burst ${BURST}: ${N} events arrive no faster than the bucket allows, in order`,
  { skip },
  async (t) => {
    const r = await startReceiver(t, { status: () => 204 });
    const { start } = await jetStreamSink(t, { url: r.url, rate: RATE, burst: BURST }, ids);
    await until(() => arrivals(r.got).length === N, `${N} events delivered`, WAIT_MS);
    assertPaced(r.got, start);
  },
);

/** Gaps between consecutive attempts at the receiver. */
const gaps = (got: readonly Delivery[]) => got.slice(1).map((g, i) => g.at - got[i]!.at);

// Full jitter at its top (random 0.99): attempt n waits 0.99 * min(max, base * 2^(n-1)): 99, 198, 396, 396, ... ms.
const BASE_MS = 100;
const MAX_MS = 400;
/** What a failed POST and its retry record take beyond the backoff itself, at most, on a loaded machine. */
const POST_SLACK_MS = 300;

function assertBackoff(got: readonly Delivery[]): void {
  const g = gaps(got);
  const floors = [1, 2, 4, 4, 4].map((m) => 0.99 * Math.min(MAX_MS, BASE_MS * m) - 1);
  floors.forEach((f, i) =>
    assert.ok(g[i]! >= f, `gap ${i} was ${g[i]} ms, below the backoff's ${f} ms (${g.join(', ')})`),
  );
  for (const x of g)
    assert.ok(x <= MAX_MS + POST_SLACK_MS, `a gap of ${x} ms passes max ${MAX_MS} ms (${g.join(', ')})`);
}

test('SQLite pump: a failing receiver sees attempt gaps grow to backoff max and never pass it', async (t) => {
  const r = await startReceiver(t, { status: () => 500 });
  const { sink } = setup(
    t,
    { url: r.url, backoffBaseMs: BASE_MS, backoffCapMs: MAX_MS, random: () => 0.99, maxAttempts: 100 },
    ['b1'],
  );
  sink.wake();
  await until(() => r.got.length >= 6, 'six attempts', WAIT_MS);
  assertBackoff(r.got.slice(0, 6));
});

test('SQLite pump: with real jitter no gap passes backoff max', async (t) => {
  const r = await startReceiver(t, { status: () => 500 });
  const { sink } = setup(t, { url: r.url, backoffBaseMs: MAX_MS, backoffCapMs: MAX_MS, maxAttempts: 100 }, ['j1']);
  sink.wake();
  await until(() => r.got.length >= 6, 'six attempts', WAIT_MS);
  for (const x of gaps(r.got)) assert.ok(x <= MAX_MS + POST_SLACK_MS, `a gap of ${x} ms passes max ${MAX_MS} ms`);
});

test('JetStream pump: a failing receiver sees attempt gaps grow with the backoff', { skip }, async (t) => {
  const r = await startReceiver(t, { status: () => 500 });
  await jetStreamSink(
    t,
    { url: r.url, backoffBaseMs: BASE_MS, backoffCapMs: MAX_MS, random: () => 0.99, maxAttempts: 100 },
    ['b1'],
  );
  await until(() => r.got.length >= 6, 'six attempts', WAIT_MS);
  assertBackoff(r.got.slice(0, 6));
});
