// A sink's JetStream queue (handlers/jetstream/sink-queue.ts) against a real nats-server 2.9 with JetStream: claims
// and their settlement, the nak delay and max_ack_pending keeping order, two instances on one durable, close()
// releasing claims, only its own events and replay copies seen, a consumer with other settings refused, and a claim of a
// SIGKILLed process delivered by another after the ack wait.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, headers as natsHeaders } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { until, within } from '@event-broker/test-support/wait';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { HEADERS } from '../src/handlers/jetstream/layout.js';
import { cleanup, createStreams, instance, publishEvents, SINK, startJetStream } from './helpers/jetstream-sink.js';

const skip = natsServerSkip();
const here = path.dirname(fileURLToPath(import.meta.url));
/** A second sink with a routing slot. */
const OTHER = 'cfgingest';

async function setup(t: TestContext) {
  const server = await startJetStream(t);
  const a = await instance(t, server);
  await createStreams(a.deps);
  return { server, a };
}

test(
  'a claim is acked once; a retry comes back after its delay, counted, and nothing passes it (max_in_flight 1)',
  { skip },
  async (t) => {
    const { a } = await setup(t);
    const seqs = await publishEvents(a.deps, ['e1', 'e2']);
    const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
    cleanup(t).after(() => q.close());
    const [first] = await q.next(5, 2000);
    assert.deepEqual(
      { seq: first!.seq, id: first!.id, type: first!.type, attempts: first!.attempts },
      { seq: seqs[0], id: 'e1', type: 'scanJobCreated', attempts: 0 },
    );
    assert.equal(JSON.parse(first!.body).id, 'e1');
    const naked = Date.now();
    await q.retry(first!, 800, 'HTTP 500');
    // e2 is owed too, but the retrying e1 holds the one claim max_in_flight 1 allows: e1 again, after its delay.
    const [again] = await q.next(1, 5000);
    const waited = Date.now() - naked;
    assert.equal(again!.id, 'e1');
    assert.equal(again!.attempts, 1);
    assert.ok(waited >= 700, `the retry came after ${waited} ms`);
    await q.ack(again!);
    const [second] = await q.next(1, 2000);
    assert.equal(second!.id, 'e2');
    await q.ack(second!);
    assert.deepEqual(await q.next(1, 1000), [], 'nothing more owed');
    assert.equal(a.settled.count, 2, 'each ack told the backend');
    const ci = await a.deps.jsm.consumers.info(a.deps.layout.stream, a.deps.layout.durable(SINK));
    assert.equal(ci.num_pending + ci.num_ack_pending, 0);
    assert.equal(ci.config.max_ack_pending, 1);
  },
);

test('two instances on one durable: each event is claimed by one of them', { skip }, async (t) => {
  const { server, a } = await setup(t);
  const b = await instance(t, server);
  const ids = Array.from({ length: 40 }, (_, i) => `m${i}`);
  await publishEvents(a.deps, ids);
  const qa = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 4 });
  const qb = new JetStreamSinkQueue(b.deps, SINK, { maxInFlight: 4 });
  cleanup(t).after(() => qa.close());
  cleanup(t).after(() => qb.close());
  const got: Record<string, string[]> = { a: [], b: [] };
  const drain = async (name: string, q: JetStreamSinkQueue) => {
    for (let round = 0; round < 200; round++) {
      const batch = await q.next(2, 1000);
      if (batch.length === 0) return;
      for (const d of batch) {
        got[name]!.push(d.id);
        await q.ack(d);
      }
    }
  };
  await within(Promise.all([drain('a', qa), drain('b', qb)]), 'both drained');
  const all = [...got.a!, ...got.b!];
  assert.equal(all.length, ids.length, 'no event claimed twice');
  assert.deepEqual(new Set(all), new Set(ids));
  assert.ok(got.a!.length > 0 && got.b!.length > 0, `both took some: ${got.a!.length} and ${got.b!.length}`);
});

test('close() releases its claims to another instance at once, not after the ack wait', { skip }, async (t) => {
  const { server, a } = await setup(t);
  const b = await instance(t, server);
  await publishEvents(a.deps, ['c1', 'c2']);
  const qa = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 2 });
  const qb = new JetStreamSinkQueue(b.deps, SINK, { maxInFlight: 2 });
  cleanup(t).after(() => qb.close());
  const claimed = await qa.next(2, 2000);
  assert.deepEqual(
    claimed.map((d) => d.id),
    ['c1', 'c2'],
  );
  await qa.close();
  const started = Date.now();
  const taken: string[] = [];
  while (taken.length < 2 && Date.now() - started < 5000) taken.push(...(await qb.next(2, 1000)).map((d) => d.id));
  assert.deepEqual(taken.sort(), ['c1', 'c2']);
  assert.ok(Date.now() - started < 5000, 'well within the 30 s ack wait');
});

test(
  'the consumer sees only events routed to its sink and its replay copies; a replay copy is the original event',
  { skip },
  async (t) => {
    const { a } = await setup(t);
    const { layout, js } = a.deps;
    const [s1] = await publishEvents(a.deps, ['mine']);
    const [s2] = await publishEvents(a.deps, ['theirs'], [OTHER]);
    const [s3] = await publishEvents(a.deps, ['both'], [OTHER, SINK]);
    const copy = async (sink: string, id: string, seq: number) => {
      const h = natsHeaders();
      h.set(HEADERS.sinks, sink);
      h.set(HEADERS.id, id);
      h.set(HEADERS.seq, String(seq));
      h.set(HEADERS.type, 'scanJobCreated');
      h.set(HEADERS.storedAt, '1700000000000');
      await js.publish(layout.replay(sink, id), JSON.stringify({ id }), { headers: h });
    };
    await copy(OTHER, 'theirs', s2!);
    await copy(SINK, 'mine', s1!);
    const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 10 });
    cleanup(t).after(() => q.close());
    await q.ready();
    // Exact from the start: the consumer counts its three, not the five messages of the stream.
    const ci = await a.deps.jsm.consumers.info(layout.stream, layout.durable(SINK));
    assert.deepEqual([ci.num_pending, ci.config.filter_subject], [3, layout.sinkFilter(SINK)]);
    const got = [];
    for (let i = 0; i < 10; i++) {
      const batch = await q.next(10, 1000);
      if (batch.length === 0) break;
      got.push(...batch);
      for (const d of batch) await q.ack(d);
    }
    assert.deepEqual(
      got.map((d) => [d.id, d.seq, d.attempts]),
      [
        ['mine', s1, 0],
        ['both', s3, 0],
        ['mine', s1, 0],
      ],
    );
    const other = new JetStreamSinkQueue(a.deps, OTHER, { maxInFlight: 10 });
    cleanup(t).after(() => other.close());
    const theirs = await other.next(10, 1000);
    assert.deepEqual(
      theirs.map((d) => [d.id, d.seq]),
      [
        ['theirs', s2],
        ['both', s3],
        ['theirs', s2],
      ],
    );
  },
);

test(
  "a message under the sink's subjects whose routing header names another sink is acked unread",
  { skip },
  async (t) => {
    const { a } = await setup(t);
    const { layout, js } = a.deps;
    // Not written by the backend: its subject routes it to SINK, its header to OTHER.
    const h = natsHeaders();
    h.set(HEADERS.sinks, OTHER);
    h.set(HEADERS.type, 'scanJobCreated');
    await js.publish(layout.event('stray', [SINK]), JSON.stringify({ id: 'stray' }), { headers: h, msgID: 'stray' });
    await publishEvents(a.deps, ['after']);
    const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
    cleanup(t).after(() => q.close());
    const [d] = await q.next(1, 3000);
    assert.equal(d?.id, 'after', 'the stray one skipped');
    await q.ack(d!);
    const ci = await a.deps.jsm.consumers.info(layout.stream, layout.durable(SINK));
    assert.equal(ci.num_pending + ci.num_ack_pending, 0);
  },
);

test("a sink without a routing slot is a programming error, named at the queue's creation", { skip }, async (t) => {
  const { a } = await setup(t);
  assert.throws(
    () => new JetStreamSinkQueue(a.deps, 'billing', { maxInFlight: 1 }),
    /sink "billing" has no routing slot \(feed, cfgingest, event_feed\)/,
  );
});

test('a consumer of the same name with other settings is refused with what to do', { skip }, async (t) => {
  const { a } = await setup(t);
  const { jsm, layout } = a.deps;
  await jsm.consumers.add(layout.stream, { durable_name: layout.durable(SINK), ack_policy: AckPolicy.All });
  const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
  cleanup(t).after(() => q.close());
  await assert.rejects(
    q.ready(),
    /JetStream consumer EVENTS_feed exists with other settings \(ack_policy all, filter_subject none; want .*filter_subject eventstore\.EVENTS\.\*\.1\.\*\.\*\.\*\): delete it \(nats consumer rm EVENTS EVENTS_feed\)/,
  );
});

test('max_in_flight changed: the existing consumer is updated', { skip }, async (t) => {
  const { a } = await setup(t);
  const q1 = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
  await q1.ready();
  await q1.close();
  const q2 = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 8, ackWaitMs: 5000 });
  cleanup(t).after(() => q2.close());
  await q2.ready();
  const ci = await a.deps.jsm.consumers.info(a.deps.layout.stream, a.deps.layout.durable(SINK));
  assert.equal(ci.config.max_ack_pending, 8);
  assert.equal(ci.config.ack_wait, 5000 * 1e6);
});

test(
  'another max_in_flight while an instance uses the consumer is refused, naming the sink and both values',
  { skip },
  async (t) => {
    const { server, a } = await setup(t);
    const b = await instance(t, server);
    const q1 = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
    cleanup(t).after(() => q1.close());
    // q1 waits for deliveries: its pull is open on the consumer.
    const pulling = q1.next(1, 3000);
    await until(async () => {
      const ci = await a.deps.jsm.consumers
        .info(a.deps.layout.stream, a.deps.layout.durable(SINK))
        .catch(() => undefined);
      return (ci?.num_waiting ?? 0) > 0;
    }, 'q1 pulls');
    const q2 = new JetStreamSinkQueue(b.deps, SINK, { maxInFlight: 4 });
    cleanup(t).after(() => q2.close());
    await assert.rejects(
      q2.ready(),
      /sink feed: JetStream consumer EVENTS_feed is in use .* with max_ack_pending 1, and this instance wants 4 .*every instance must give sink feed the same max_in_flight/,
    );
    const ci = await a.deps.jsm.consumers.info(a.deps.layout.stream, a.deps.layout.durable(SINK));
    assert.equal(ci.config.max_ack_pending, 1, 'q1 keeps its order');
    await pulling;
  },
);

test(
  'a claim held by a SIGKILLed instance is kept alive while it ran and delivered by another after the ack wait',
  { skip },
  async (t) => {
    const { server, a } = await setup(t);
    await publishEvents(a.deps, ['k1', 'k2']);
    const queueModule = path.resolve(here, '../src/handlers/jetstream/sink-queue.js');
    const layoutModule = path.resolve(here, '../src/handlers/jetstream/layout.js');
    // The child claims one delivery, says which, and holds it (its keep-alive running) until killed.
    const script = `
    const { connect } = await import('nats');
    const { JetStreamSinkQueue } = await import(${JSON.stringify(queueModule)});
    const { streamLayout } = await import(${JSON.stringify(layoutModule)});
    const nc = await connect({ servers: ${JSON.stringify(`${server.host}:${server.port}`)} });
    const logger = { info() {}, warn() {}, error() {} };
    const deps = { nc, js: nc.jetstream(), jsm: await nc.jetstreamManager(), layout: streamLayout(), logger, settled() {} };
    const q = new JetStreamSinkQueue(deps, ${JSON.stringify(SINK)}, { maxInFlight: 1, ackWaitMs: 1500 });
    const [d] = await q.next(1, 5000);
    process.stdout.write(d.id + '\\n');
    // Held until killed, or until our end of its stdin closes (this runner died): never outlives the test.
    process.stdin.on('end', () => process.exit(0)).resume();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.resolve(here, '..', '..'),
      // Its stdin is our pipe: when this runner dies, however it dies, the child sees its end and exits.
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    (child.stdin as net.Socket).unref();
    cleanup(t).after(() => void child.kill('SIGKILL'));
    child.stdout.setEncoding('utf8');
    const claimed = await within(
      new Promise<string>((resolve) => child.stdout.on('data', (s: string) => resolve(s.trim()))),
      'the child claims a delivery',
      15_000,
    );
    assert.equal(claimed, 'k1');
    const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1, ackWaitMs: 1500 });
    cleanup(t).after(() => q.close());
    // Twice the ack wait: the child's keep-alive holds the claim (and max_in_flight 1 holds k2 behind it).
    assert.deepEqual(await q.next(1, 3000), [], 'nothing while the child holds k1');
    child.kill('SIGKILL');
    const killed = Date.now();
    const [d] = await q.next(1, 5000);
    assert.equal(d?.id, 'k1', 'k1 is delivered by this instance');
    assert.equal(d.attempts, 1, 'the lost claim counts as an attempt');
    assert.ok(Date.now() - killed < 4000, 'within about the ack wait');
    await q.ack(d);
  },
);

test(
  'a crash between storing a dead letter and settling its claim: the repeat is a duplicate, one dead letter',
  { skip },
  async (t) => {
    const { server, a } = await setup(t);
    await publishEvents(a.deps, ['x1']);
    const queueModule = path.resolve(here, '../src/handlers/jetstream/sink-queue.js');
    const layoutModule = path.resolve(here, '../src/handlers/jetstream/layout.js');
    // The child dead-letters its claim and is killed the moment the dead letter's PubAck arrives, before the ack.
    const script = `
    const { connect } = await import('nats');
    const { JetStreamSinkQueue } = await import(${JSON.stringify(queueModule)});
    const { streamLayout } = await import(${JSON.stringify(layoutModule)});
    const nc = await connect({ servers: ${JSON.stringify(`${server.host}:${server.port}`)} });
    const js = nc.jetstream();
    const publish = js.publish.bind(js);
    js.publish = async (...args) => {
      const ack = await publish(...args);
      process.stdout.write('stored\\n');
      process.kill(process.pid, 'SIGKILL');
      return ack;
    };
    const logger = { info() {}, warn() {}, error() {} };
    const deps = { nc, js, jsm: await nc.jetstreamManager(), layout: streamLayout(), logger, settled() {} };
    process.stdin.on('end', () => process.exit(0)).resume();
    const q = new JetStreamSinkQueue(deps, ${JSON.stringify(SINK)}, { maxInFlight: 1, ackWaitMs: 1000 });
    const [d] = await q.next(1, 5000);
    await q.dead(d, 'HTTP 400 after 1 attempts');`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.resolve(here, '..', '..'),
      // Its stdin is our pipe: when this runner dies, however it dies, the child sees its end and exits.
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    (child.stdin as net.Socket).unref();
    cleanup(t).after(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await within(new Promise((r) => child.once('exit', r)), 'the child dies after storing the dead letter', 15_000);
    assert.equal(out, 'stored\n');
    const { jsm, layout } = a.deps;
    const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1, ackWaitMs: 1000 });
    cleanup(t).after(() => q.close());
    const [d] = await q.next(1, 5000);
    assert.equal(d?.id, 'x1', 'the claim was still owed');
    await q.dead(d, 'HTTP 400 after 2 attempts');
    const dead = await jsm.streams.info(layout.deadStream);
    assert.equal(dead.state.messages, 1, 'the second dead letter was a duplicate of the first');
    const ci = await jsm.consumers.info(layout.stream, layout.durable(SINK));
    assert.equal(ci.num_pending + ci.num_ack_pending, 0, 'settled');
  },
);

test('a consumer deleted under a running queue is created again by its next claim', { skip }, async (t) => {
  const { a } = await setup(t);
  const { jsm, layout } = a.deps;
  await publishEvents(a.deps, ['z1']);
  const q = new JetStreamSinkQueue(a.deps, SINK, { maxInFlight: 1 });
  cleanup(t).after(() => q.close());
  await q.ready();
  await jsm.consumers.delete(layout.stream, layout.durable(SINK));
  let got: Awaited<ReturnType<typeof q.next>> = [];
  for (let i = 0; i < 6 && got.length === 0; i++) got = await q.next(1, 1000).catch(() => []);
  assert.equal(got[0]?.id, 'z1');
  await q.ack(got[0]!);
});
