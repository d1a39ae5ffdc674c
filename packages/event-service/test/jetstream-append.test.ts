// The JetStream backend's appends and reads against a real nats-server with JetStream: results in order after the
// PubAcks, duplicates refused by id inside and beyond the duplicate window, an event refused alone, acknowledged
// events kept across a SIGKILL of nats-server, the feed's cursor, and `held` read from a sink's consumer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, nanos, StringCodec } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { until } from '@event-broker/test-support/wait';
import type { AppendResult } from '../src/handlers/event-backend.js';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { SCAN_MAX_MESSAGES } from '../src/handlers/jetstream/reads.js';
import { connectTo, event, openBackend, startJetStream } from './helpers/jetstream.js';

const skip = natsServerSkip();
const layout = streamLayout();

test(
  'append resolves after the PubAcks with one result per event, in order; get and lastSeq read them back',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port));
    const results = await backend.append([event('a'), event('b'), event('c')]);
    assert.deepEqual(
      results.map((r) => [r.id, r.duplicate, r.error]),
      [
        ['a', false, undefined],
        ['b', false, undefined],
        ['c', false, undefined],
      ],
    );
    assert.deepEqual(
      results.map((r) => r.seq),
      [1, 2, 3],
    );
    const b = await backend.get('b');
    assert.equal(b?.seq, 2);
    assert.equal(b?.type, 'order:created');
    assert.equal(JSON.parse(b!.body).id, 'b');
    assert.ok(Math.abs(b!.storedAt - Date.now()) < 60_000);
    assert.equal(await backend.get('nope'), undefined);
    assert.equal(await backend.lastSeq(), 3);
  },
);

test(
  'a duplicate id is refused inside the duplicate window and beyond it, with the first copy seq',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    // A 1 s window: the id must still be refused once it has passed.
    const backend = await openBackend(t, nc, { store: { duplicate_window: 1000 } });
    const jsm = await nc.jetstreamManager();
    assert.equal((await jsm.streams.info(layout.stream)).config.duplicate_window, nanos(1000));
    const [first] = await backend.append([event('dup', 'order:created', [], { n: 1 })]);
    await backend.append([event('other')]);
    const [inside] = await backend.append([event('dup', 'order:created', [], { n: 2 })]);
    assert.deepEqual([inside!.seq, inside!.duplicate], [first!.seq, true]);
    // Within the window, another routing too (a [handlers] reload between the request and its retry).
    const [rerouted] = await backend.append([event('dup', 'order:created', ['feed'], { n: 2 })]);
    assert.deepEqual([rerouted!.seq, rerouted!.duplicate], [first!.seq, true]);
    const since = Date.now();
    await until(() => Date.now() - since > 1_500, 'the duplicate window passes');
    const [beyond, fresh] = await backend.append([event('dup', 'order:created', [], { n: 3 }), event('fresh')]);
    assert.deepEqual([beyond!.seq, beyond!.duplicate, beyond!.error], [first!.seq, true, undefined]);
    assert.equal(fresh!.duplicate, false);
    // Nothing of the copies was written: the stored event is the first.
    assert.equal(JSON.parse((await backend.get('dup'))!.body).n, 1);
    const info = await jsm.streams.info(layout.stream);
    assert.equal(info.state.messages, 3);
  },
);

test(
  'an event the stream refuses fails alone; a full stream refuses new events and keeps the old',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    const jsm = await nc.jetstreamManager();
    await jsm.streams.add({
      name: layout.stream,
      subjects: [...layout.subjects],
      max_msg_size: 600,
      discard: 'new' as never,
    });
    const backend = await openBackend(t, nc);
    const results = await backend.append([
      event('small1'),
      event('big', 'order:created', [], { pad: 'x'.repeat(1000) }),
      event('small2'),
    ]);
    assert.deepEqual(
      results.map((r) => [r.id, r.seq > 0, r.error !== undefined]),
      [
        ['small1', true, false],
        ['big', false, true],
        ['small2', true, false],
      ],
    );
    assert.match(results[1]!.error!, /larger than the stream accepts/);
    assert.equal(await backend.get('big'), undefined);
  },
);

test('with max_bytes a full stream refuses new events instead of dropping stored ones', { skip }, async (t) => {
  const js = await startJetStream(t);
  const backend = await openBackend(t, await connectTo(t, js.port), { store: { max_bytes: 2_000 } });
  const stored: string[] = [];
  let refused: string | undefined;
  for (let i = 0; i < 40 && refused === undefined; i++) {
    const [r] = await backend.append([event(`e${i}`, 'order:created', [], { pad: 'y'.repeat(200) })]);
    if (r!.error !== undefined) refused = r!.error;
    else stored.push(r!.id);
  }
  assert.match(refused ?? '', /the stream is full .*max_bytes/);
  assert.ok(stored.length > 0);
  for (const id of stored) assert.ok(await backend.get(id), `${id} is kept`);
});

test(
  'acknowledged events survive a SIGKILL of nats-server, and appends go on after its restart',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    const backend = await openBackend(t, nc);
    const ids = Array.from({ length: 200 }, (_, i) => `k${i}`);
    const acked = await backend.append(ids.map((id) => event(id)));
    await js.restart();
    // The client reconnects to the same port; the first appends may fail while it does.
    let after;
    await until(async () => {
      after = await backend.append([event('after')]).catch(() => undefined);
      return after !== undefined;
    }, 'an append succeeds after the restart');
    for (const r of acked) assert.equal((await backend.get(r.id))?.seq, r.seq);
    assert.equal(after![0]!.seq, 201);
    // A retry of an acknowledged event is still a duplicate after the restart.
    const [again] = await backend.append([event('k7')]);
    assert.deepEqual([again!.seq, again!.duplicate], [acked[7]!.seq, true]);
  },
);

test(
  'feed pages by stream sequence never repeat or skip an event while appends run concurrently',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port));
    const total = 600;
    const writing = (async () => {
      for (let i = 0; i < total; i += 20) {
        await backend.append(
          Array.from({ length: 20 }, (_, j) => event(`f${i + j}`, (i + j) % 3 === 0 ? 'order:paid' : 'order:created')),
        );
      }
    })();
    const seen: number[] = [];
    const ids = new Set<string>();
    let cursor = 0;
    let done = false;
    writing.then(
      () => (done = true),
      () => (done = true),
    );
    await until(async () => {
      const { events: page } = await backend.feed({ cursor, limit: 37 });
      for (const e of page) {
        seen.push(e.seq);
        ids.add(e.id);
      }
      if (page.length > 0) cursor = page.at(-1)!.seq;
      return done && ids.size === total;
    }, 'the feed reads every event');
    await writing;
    assert.deepEqual(
      seen,
      Array.from({ length: total }, (_, i) => i + 1),
    );
    // A filter reads the same order, matching only its type.
    const { events: paid } = await backend.feed({ type: 'order:paid', limit: 1000 });
    assert.equal(paid.length, total / 3);
    assert.ok(paid.every((e, i) => e.type === 'order:paid' && (i === 0 || e.seq > paid[i - 1]!.seq)));
    const { events: byProducer } = await backend.feed({ producer: 'p1', cursor: 590, limit: 5 });
    assert.deepEqual(
      byProducer.map((e) => e.seq),
      [591, 592, 593, 594, 595],
    );
    const none = await backend.feed({ since: Date.now() + 60_000, limit: 10 });
    assert.deepEqual(none, { events: [] });
  },
);

test('lastSeq is the last event, not a replay copy after it', { skip }, async (t) => {
  const js = await startJetStream(t);
  const nc = await connectTo(t, js.port);
  const backend = await openBackend(t, nc);
  await backend.append([event('x1'), event('x2')]);
  await nc.jetstream().publish(layout.replay('feed', 'x1'), StringCodec().encode('{}'));
  assert.equal(await backend.lastSeq(), 2);
  assert.deepEqual(
    (await backend.feed({ limit: 10 })).events.map((e) => e.id),
    ['x1', 'x2'],
  );
});

test('held is what the sink consumers still owe, refreshed after appends and settles', { skip }, async (t) => {
  const js = await startJetStream(t);
  const nc = await connectTo(t, js.port);
  const backend = await openBackend(t, nc);
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(layout.stream, {
    durable_name: layout.durable('feed'),
    filter_subject: layout.sinkFilter('feed'),
    ack_policy: AckPolicy.Explicit,
  });
  await backend.append([
    event('h1', 'order:created', ['feed']),
    event('h2', 'order:created', ['feed']),
    event('h3', 'order:created', ['feed']),
  ]);
  assert.ok(backend.held >= 3, `counted at once: ${backend.held}`);
  await until(async () => (await backend.refreshHeld()) === 3, 'three owed');
  const consumer = await nc.jetstream().consumers.get(layout.stream, layout.durable('feed'));
  const claimed = [];
  for await (const m of await consumer.fetch({ max_messages: 2, expires: 2_000 })) {
    claimed.push(m);
    if (claimed.length === 2) break;
  }
  // One settled, one claimed and unsettled: still owed.
  await claimed[0]!.ackAck();
  await until(async () => (await backend.refreshHeld()) === 2, 'two owed (one pending, one claimed)');
  // The poll alone brings what another process settles.
  await claimed[1]!.ackAck();
  for await (const m of await consumer.fetch({ max_messages: 1, expires: 2_000 })) {
    await m.ackAck();
    break;
  }
  await until(() => backend.held === 0, 'the poll reads nothing owed');
});

test(
  'a filter matching one event far past the cursor finds it in one call, and a cursor at the end reads nothing',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port));
    for (let i = 0; i < 3_000; i += 500)
      await backend.append(Array.from({ length: 500 }, (_, j) => event(`s${i + j}`, 'order:created')));
    await backend.append([event('rare', 'order:refunded')]);
    const { events: page } = await backend.feed({ type: 'order:refunded', limit: 10 });
    assert.deepEqual(
      page.map((e) => [e.id, e.seq]),
      [['rare', 3_001]],
    );
    assert.deepEqual(await backend.feed({ cursor: 3_001, limit: 10 }), { events: [] });
  },
);

test(
  'a group JetStream does not acknowledge rejects as a whole; its retry after the restart stores it once',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port), { store: { request_timeout: 500 } });
    await backend.append([event('before')]);
    await js.server.stop('SIGKILL');
    const group = [event('g1'), event('g2')];
    await assert.rejects(backend.append(group), /JetStream did not acknowledge 2 of 2 events \(0 acknowledged\)/);
    await js.restart();
    let results: AppendResult[] | undefined;
    await until(async () => {
      results = await backend.append(group).catch(() => undefined);
      return results !== undefined;
    }, 'the retry is acknowledged');
    assert.deepEqual(
      results!.map((r) => [r.id, r.seq]),
      [
        ['g1', 2],
        ['g2', 3],
      ],
    );
  },
);

test(
  'a filtered read scans at most SCAN_MAX_MESSAGES and says where it stopped; reads that go on reuse one consumer',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const nc = await connectTo(t, js.port);
    const backend = await openBackend(t, nc);
    const jsm = await nc.jetstreamManager();
    const total = SCAN_MAX_MESSAGES + 500;
    for (let i = 0; i < total; i += 500)
      await backend.append(Array.from({ length: 500 }, (_, j) => event(`n${i + j}`, 'order:created')));
    const first = await backend.feed({ type: 'nosuch', limit: 10 });
    assert.deepEqual(first, { events: [], scannedTo: SCAN_MAX_MESSAGES });
    const rest = await backend.feed({ type: 'nosuch', cursor: first.scannedTo!, limit: 10 });
    assert.deepEqual(rest, { events: [] }, 'the rest, to the end');
    // The live feed's pass reads on from where it stopped: the same consumer each time, none made and deleted.
    const consumers = async () => (await jsm.consumers.list(layout.stream).next()).map((c) => c.name);
    const before = new Set(await consumers());
    let cursor = 0;
    let name: string | undefined;
    for (let pass = 0; pass < 5; pass++) {
      const { events } = await backend.feed({ cursor, limit: 100 });
      assert.equal(events.length, 100);
      cursor = events.at(-1)!.seq;
      const now = await consumers();
      name ??= now.find((n) => !before.has(n));
      assert.ok(name !== undefined && now.includes(name), `pass ${pass}: the reader ${name} kept in ${now}`);
      assert.equal(now.length, before.size + 1, `pass ${pass}: no other consumer made`);
    }
  },
);
