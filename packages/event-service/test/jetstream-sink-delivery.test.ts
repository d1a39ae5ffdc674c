// The JetStream backend's HTTP sinks end to end (handlers/backend-sink.ts over jetstream/sink-queue.ts, dead
// letters by jetstream/dead-letters.ts): a real nats-server with JetStream, events published as the backend appends
// them, real node:http receivers. Delivered once and signed, retried after 500, dead-lettered and replayed, in order
// under retries with max_in_flight 1, and two instances delivering each event once between them.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip, type NatsServer } from '@event-broker/test-support/nats-server';
import { eventually, quietFor, until } from '@event-broker/test-support/wait';
import { BackendSink, sinkQueueOptions } from '../src/handlers/backend-sink.js';
import type { HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { deadLetters, replay, sinkCounts } from '../src/handlers/jetstream/dead-letters.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { startReceiver } from '@event-broker/test-support/http';
import { logger, SECRET, verify } from './helpers/http-sink.js';
import { cleanup, createStreams, instance, publishEvents, SINK, startJetStream } from './helpers/jetstream-sink.js';

const skip = natsServerSkip();

type Deps = Awaited<ReturnType<typeof instance>>['deps'];

function sink(t: TestContext, deps: Deps, opts: Partial<HttpSinkOptions> & { url: string }) {
  const q = new JetStreamSinkQueue(deps, SINK, sinkQueueOptions(opts));
  const s = new BackendSink(q, {
    name: SINK,
    secrets: [SECRET],
    backoffBaseMs: 200,
    backoffCapMs: 400,
    timeoutMs: 2000,
    logger,
    ...opts,
  });
  cleanup(t).after(() => s.close());
  return s;
}

async function setup(t: TestContext): Promise<{ server: NatsServer; deps: Deps }> {
  const server = await startJetStream(t);
  const { deps } = await instance(t, server);
  await createStreams(deps);
  return { server, deps };
}

const owed = async (deps: Deps) => (await sinkCounts(deps, SINK)).pending;

/** The receiver's requests as `id status +ms` (since t0), for a failure's message. */
const received = (got: readonly { id: string; status?: number; at: number }[], t0: number) =>
  `received [${got.map((g) => `${g.id} ${g.status ?? '-'} +${g.at - t0}ms`).join(', ')}]`;

test('a 2xx delivers each event once, signed, webhook-id = event id, and acks it', { skip }, async (t) => {
  const { deps } = await setup(t);
  const r = await startReceiver(t, { status: () => 204 });
  await publishEvents(deps, ['a1', 'a2', 'a3']);
  const s = sink(t, deps, { url: r.url });
  await until(() => r.got.length === 3, 'three deliveries');
  assert.deepEqual(
    r.got.map((g) => g.id),
    ['a1', 'a2', 'a3'],
  );
  for (const g of r.got) assert.equal((verify(g) as { id: string }).id, g.id, 'signature verifies');
  await eventually(
    () => owed(deps),
    (n) => n === 0,
    'all acked',
  );
  assert.deepEqual(s.stats, { delivered: 3, failedAttempts: 0, retries: 0, dead: 0 });
  assert.ok(s.lastDeliveredAt !== undefined);
  assert.equal(r.got.length, 3, 'none delivered twice');
});

test('a 500 is retried after a backoff and then delivered, with the same webhook-id', { skip }, async (t) => {
  const { deps } = await setup(t);
  const r = await startReceiver(t, { status: (n) => (n < 2 ? 500 : 200) });
  await publishEvents(deps, ['r1']);
  const s = sink(t, deps, { url: r.url, backoffBaseMs: 300, backoffCapMs: 300, random: () => 0.99 });
  await until(() => r.got.length === 3, 'delivered on the third attempt');
  assert.deepEqual(new Set(r.got.map((g) => g.id)), new Set(['r1']));
  const gaps = [r.got[1]!.at - r.got[0]!.at, r.got[2]!.at - r.got[1]!.at];
  for (const gap of gaps) assert.ok(gap >= 250, `a retry came ${gap} ms after the failure (backoff ~297 ms)`);
  await eventually(
    () => owed(deps),
    (n) => n === 0,
    'acked',
  );
  assert.equal(s.stats.failedAttempts, 2);
  assert.equal(s.stats.retries, 2);
  assert.equal(s.stats.delivered, 1);
  assert.equal(s.lastError?.message, 'HTTP 500');
});

test(
  '400 until max_attempts: dead-lettered, listed, counted; replay by id and then all delivers them',
  { skip },
  async (t) => {
    const { deps } = await setup(t);
    let healthy = false;
    const r = await startReceiver(t, { status: () => (healthy ? 200 : 400) });
    const seqs = await publishEvents(deps, ['d1', 'd2', 'd3']);
    const s = sink(t, deps, { url: r.url, maxAttempts: 2, backoffBaseMs: 10, backoffCapMs: 20 });
    const dead = await eventually(
      () => deadLetters(deps, { sink: SINK }),
      (l) => l.length === 3,
      'all three dead-lettered',
    );
    assert.deepEqual(
      dead.map((d) => [d.sink, d.seq, d.id, d.type, d.state, d.attempts, d.lastError]),
      seqs.map((seq, i) => [SINK, seq, `d${i + 1}`, 'scanJobCreated', 'dead', 2, 'HTTP 400 after 2 attempts']),
    );
    assert.equal(JSON.parse(dead[0]!.body).id, 'd1');
    assert.equal(s.stats.dead, 3);
    // A dead letter is stored before its claim is settled: the last one's ack may still be on its way.
    await eventually(
      () => sinkCounts(deps, SINK),
      (c) => c.pending === 0 && c.dead === 3,
      'the last claim settled after its dead letter',
    );
    // Paging: after the first's sequence, one at a time; another sink has none.
    assert.deepEqual(
      (await deadLetters(deps, { after: seqs[0], limit: 1 })).map((d) => d.id),
      ['d2'],
    );
    assert.deepEqual(await deadLetters(deps, { sink: 'other' }), []);

    healthy = true;
    const before = r.got.length;
    assert.equal(await replay(deps, SINK, ['d2']), 1);
    await until(() => r.accepted().includes('d2'), 'd2 delivered after its replay');
    assert.deepEqual(
      (await deadLetters(deps, { sink: SINK })).map((d) => d.id),
      ['d1', 'd3'],
    );
    assert.equal(await replay(deps, SINK), 2);
    await until(() => r.accepted().length === 3, 'd1 and d3 delivered after the replay of all');
    assert.deepEqual(r.accepted().sort(), ['d1', 'd2', 'd3']);
    assert.equal(r.got.length - before, 3, 'each replayed dead letter delivered once, on its first attempt');
    await eventually(
      () => sinkCounts(deps, SINK),
      (c) => c.pending === 0 && c.dead === 0,
      'nothing owed or dead',
    );
    assert.equal(await replay(deps, SINK), 0, 'nothing left to replay');
  },
);

test(
  'with max_in_flight 1, a retried delivery holds the next back: the receiver accepts them in order',
  { skip },
  async (t) => {
    const { deps } = await setup(t);
    // Every event fails its first attempt.
    const seen = new Set<string>();
    const r = await startReceiver(t, {
      status: (_n, d) => {
        const first = !seen.has(d.id);
        seen.add(d.id);
        return first ? 503 : 200;
      },
    });
    const ids = ['o1', 'o2', 'o3', 'o4', 'o5'];
    await publishEvents(deps, ids);
    const t0 = Date.now();
    const s = sink(t, deps, { url: r.url, maxInFlight: 1, backoffBaseMs: 50, backoffCapMs: 50 });
    // What the receiver saw, for a failure to say what happened: each POST's id, answer and time.
    const seenSoFar = () => `${received(r.got, t0)}; sink ${JSON.stringify(s.stats)}`;
    await until(() => r.accepted().length === 5, 'all delivered', 20_000, seenSoFar);
    assert.deepEqual(r.accepted(), ids, seenSoFar());
    assert.deepEqual(
      r.got.map((g) => g.id),
      ids.flatMap((id) => [id, id]),
      `each failed once, then went, before the next was tried: ${seenSoFar()}`,
    );
  },
);

test('two instances on one sink: each event is delivered once between them', { skip }, async (t) => {
  const { server, deps } = await setup(t);
  const other = (await instance(t, server)).deps;
  const r = await startReceiver(t);
  const ids = Array.from({ length: 60 }, (_, i) => `t${i}`);
  await publishEvents(deps, ids);
  const s1 = sink(t, deps, { url: r.url, maxInFlight: 3 });
  const s2 = sink(t, other, { url: r.url, maxInFlight: 3 });
  await until(() => r.got.length >= ids.length, 'all delivered', 20_000);
  await eventually(
    () => owed(deps),
    (n) => n === 0,
    'all acked',
  );
  assert.equal(r.got.length, ids.length, 'none delivered twice');
  assert.deepEqual(new Set(r.accepted()), new Set(ids));
  assert.equal(s1.stats.delivered + s2.stats.delivered, ids.length);
});

test('batching: the owed events go in one signed POST as an array, acked together', { skip }, async (t) => {
  const { deps } = await setup(t);
  const r = await startReceiver(t);
  await publishEvents(deps, ['b1', 'b2', 'b3']);
  const s = sink(t, deps, { url: r.url, batchSize: 5 });
  await until(() => s.stats.delivered === 3, 'three delivered');
  const ids = r.got.flatMap((g) => (JSON.parse(g.body) as { id: string }[]).map((e) => e.id));
  assert.deepEqual(ids, ['b1', 'b2', 'b3']);
  for (const g of r.got) verify(g);
  await eventually(
    () => owed(deps),
    (n) => n === 0,
    'acked',
  );
});

test(
  'close() during a POST releases the claim: another instance delivers it, not after the ack wait',
  { skip },
  async (t) => {
    const { server, deps } = await setup(t);
    const other = (await instance(t, server)).deps;
    const r = await startReceiver(t);
    r.hold();
    await publishEvents(deps, ['h1']);
    const s1 = sink(t, deps, { url: r.url });
    await until(() => r.got.length === 1, 'the first instance posts');
    await s1.close();
    r.release();
    sink(t, other, { url: r.url });
    await until(() => r.got.length === 2, 'the second instance delivers it');
    assert.equal(r.got[1]!.id, 'h1');
    await eventually(
      () => owed(deps),
      (n) => n === 0,
      'acked',
    );
  },
);

test(
  'close() during the first POST of a claimed batch posts none of the rest: all are released to another instance',
  { skip },
  async (t) => {
    const { server, deps } = await setup(t);
    const other = (await instance(t, server)).deps;
    const r = await startReceiver(t);
    r.hold();
    await publishEvents(deps, ['p1', 'p2', 'p3']);
    // batch_bytes under one body: the claimed batch of three goes as three POSTs, one after another.
    const opts = { url: r.url, batchSize: 3, batchBytes: 1 };
    const t0 = Date.now();
    const s1 = sink(t, deps, opts);
    await until(() => r.got.length === 1, 'the first POST of the batch');
    const closing = Date.now();
    await s1.close();
    // Not after the rest of the batch's POSTs, held by the receiver until their 2 s timeout.
    assert.ok(Date.now() - closing < 1500, `close() took ${Date.now() - closing} ms`);
    r.release();
    await quietFor(500);
    assert.deepEqual(
      r.got.map((g) => g.id),
      ['p1'],
      'no POST after close(): the rest of the batch was released unsent',
    );
    sink(t, other, opts);
    // The receiver answered the aborted first POST on release: it counts from the second.
    await until(
      () => r.got.length === 4,
      'the second instance posts all three',
      undefined,
      () => received(r.got, t0),
    );
    assert.deepEqual(
      r.got.slice(1).map((g) => [g.id, g.status]),
      [
        ['p1', 200],
        ['p2', 200],
        ['p3', 200],
      ],
    );
  },
);

test('429 with Retry-After waits that long before the next attempt', { skip }, async (t) => {
  const { deps } = await setup(t);
  const r = await startReceiver(t, {
    answer: (n, res) => (n === 0 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end()),
  });
  await publishEvents(deps, ['w1']);
  const s = sink(t, deps, { url: r.url });
  await until(() => s.stats.delivered === 1, 'delivered after Retry-After', 5000);
  assert.equal(r.got.length, 2);
  const waited = r.got[1]!.at - r.got[0]!.at;
  assert.ok(waited >= 950, `waited ${waited} ms (the backoff alone is under 400 ms)`);
});

test(
  '410 Gone dead-letters the delivery and stops the sink; after a replay and resume() it delivers',
  { skip },
  async (t) => {
    const { deps } = await setup(t);
    let gone = true;
    const r = await startReceiver(t, { status: () => (gone ? 410 : 200) });
    await publishEvents(deps, ['g1', 'g2']);
    const s = sink(t, deps, { url: r.url });
    await until(() => s.state === 'stopped', 'the sink stops');
    assert.deepEqual(
      (
        await eventually(
          () => deadLetters(deps),
          (l) => l.length === 1,
          'dead-lettered',
        )
      ).map((d) => [d.id, d.lastError]),
      [['g1', 'HTTP 410 Gone: sink stopped']],
    );
    // g2 stays owed; g1's claim is settled just after its dead letter is stored.
    await eventually(
      () => sinkCounts(deps, SINK),
      (c) => c.pending === 1 && c.dead === 1,
      'g1 settled, g2 owed',
    );
    assert.equal(r.got.length, 1, 'nothing after the 410');
    gone = false;
    assert.equal(await replay(deps, SINK), 1);
    s.resume();
    await until(() => r.accepted().length === 2, 'both delivered');
    assert.deepEqual(r.accepted(), ['g2', 'g1']);
  },
);

test(
  'a replay made on any instance wakes every instance whose pump a 410 stopped, without resume()',
  { skip },
  async (t) => {
    const { server, deps } = await setup(t);
    const other = (await instance(t, server)).deps;
    // The instance the replay request reached: it runs no pump of this sink.
    const third = (await instance(t, server)).deps;
    let gone = true;
    const r = await startReceiver(t, { status: () => (gone ? 410 : 200) });
    await publishEvents(deps, ['w1', 'w2', 'w3', 'w4']);
    const s1 = sink(t, deps, { url: r.url });
    const s2 = sink(t, other, { url: r.url });
    const t0 = Date.now();
    const seenSoFar = () => `${received(r.got, t0)}; pumps ${s1.state}, ${s2.state}`;
    await until(() => s1.state === 'stopped' && s2.state === 'stopped', 'both pumps stop', 15_000, seenSoFar);
    // A pump says stopped as it heard the 410, before its dead letter is stored: wait for both.
    await eventually(
      () => deadLetters(deps, { sink: SINK }),
      (l) => l.length === 2,
      'each pump dead-lettered the delivery it got 410 for',
    );
    gone = false;
    const replayed = await replay(third, SINK);
    assert.equal(replayed, 2, seenSoFar());
    await until(() => s1.state === 'running' && s2.state === 'running', 'both run again', undefined, seenSoFar);
    await until(() => new Set(r.accepted()).size === 4, 'all delivered', 15_000, seenSoFar);
  },
);
