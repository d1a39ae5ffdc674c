// Routing in the subject (handlers/jetstream/layout.ts): one slot per handler, each sink's consumer filtered on its
// slot, so its counts are exact from the first append and a sink that wants few events is not slowed by the rest;
// get(id) under every routing; a sink without a slot refused; and what the duplicate check does not catch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { until } from '@event-broker/test-support/wait';
import { HANDLER_DEFAULT_FILTERS } from '../src/handlers/sink-config.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { ROUTINGS, SINK_SLOTS, streamLayout } from '../src/handlers/jetstream/layout.js';
import { connectTo, event, openBackend, startJetStream } from './helpers/jetstream.js';

const skip = natsServerSkip();

test('the slots are the handlers in their order; subjects and filters carry one token per slot', () => {
  assert.deepEqual([...SINK_SLOTS], Object.keys(HANDLER_DEFAULT_FILTERS));
  const layout = streamLayout('S');
  const id = 'a.b c'; // any characters: the id is one base64url token
  assert.equal(layout.event(id, ['cfgingest', 'event_feed']), 'eventstore.S.e.0.1.1.YS5iIGM');
  assert.equal(layout.event(id, []), 'eventstore.S.e.0.0.0.YS5iIGM');
  assert.equal(layout.replay('feed', id), 'eventstore.S.r.1.0.0.YS5iIGM');
  assert.equal(layout.sinkFilter('feed'), 'eventstore.S.*.1.*.*.*');
  assert.equal(layout.sinkFilter('event_feed'), 'eventstore.S.*.*.*.1.*');
  assert.deepEqual(layout.subjects, ['eventstore.S.*.*.*.*.*']);
  assert.equal(layout.eventFilter, 'eventstore.S.e.*.*.*.*');
  assert.equal(new Set(ROUTINGS).size, 8);
  assert.ok(layout.eventSubjects(id).includes(layout.event(id, ['cfgingest', 'event_feed'])));
  for (const make of [() => layout.event(id, ['feed', 'billing']), () => layout.replay('billing', id)])
    assert.throws(make, /sink "billing" has no routing slot \(feed, cfgingest, event_feed\)/);
});

test(
  'counts are exact before any delivery, and a sink that wants one event of many gets it in one pull',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port));
    const feed = backend.sinkQueue('feed', { maxInFlight: 1 });
    const cfg = backend.sinkQueue('cfgingest', { maxInFlight: 1 });
    t.after(() => feed.close());
    t.after(() => cfg.close());
    // Their consumers made, as the handlers' pumps make them at start.
    await Promise.all([feed, cfg].map((q) => (q as JetStreamSinkQueue).ready()));
    for (let i = 0; i < 600; i += 200)
      await backend.append(Array.from({ length: 200 }, (_, j) => event(`f${i + j}`, 'order:created', ['feed'])));
    await backend.append([event('rare', 'cfg:ingest', ['cfgingest']), event('nobody')]);
    // Nothing pulled yet: each consumer counts its own events only.
    assert.deepEqual(await backend.sinkCounts('feed'), { pending: 600, dead: 0 });
    assert.deepEqual(await backend.sinkCounts('cfgingest'), { pending: 1, dead: 0 });
    assert.equal(await backend.refreshHeld(), 600, 'the largest backlog');
    // With max_in_flight 1 the old layout pulled and skipped 600 messages first, one at a time.
    const started = Date.now();
    const [d] = await cfg.next(1, 5_000);
    assert.equal(d?.id, 'rare');
    assert.ok(Date.now() - started < 1_000, `claimed after ${Date.now() - started} ms`);
    await cfg.ack(d!);
    assert.deepEqual(await backend.sinkCounts('cfgingest'), { pending: 0, dead: 0 });
    assert.deepEqual(await backend.sinkCounts('feed'), { pending: 600, dead: 0 }, 'untouched by the other sink');
  },
);

test('get reads an event whatever its routing; lastSeq is the last event', { skip }, async (t) => {
  const js = await startJetStream(t);
  const backend = await openBackend(t, await connectTo(t, js.port));
  const routings = ROUTINGS.map((r) => SINK_SLOTS.filter((_s, i) => r.split('.')[i] === '1'));
  const stored = await backend.append(routings.map((sinks, i) => event(`r${i}`, 'order:created', sinks)));
  for (const [i, r] of stored.entries()) assert.equal((await backend.get(`r${i}`))?.seq, r.seq, routings[i]!.join());
  assert.equal(await backend.get('r8'), undefined);
  assert.equal(await backend.lastSeq(), stored.at(-1)!.seq);
});

test('an event routed to a sink without a slot rejects its group before any of it is stored', { skip }, async (t) => {
  const js = await startJetStream(t);
  const backend = await openBackend(t, await connectTo(t, js.port));
  await assert.rejects(
    backend.append([event('ok', 'order:created', ['feed']), event('bad', 'order:created', ['billing'])]),
    /sink "billing" has no routing slot/,
  );
  assert.equal(await backend.lastSeq(), 0);
  assert.equal(await backend.get('ok'), undefined);
});

test(
  'not caught: a retry beyond the duplicate window whose routing changed is stored again; get reads the first',
  { skip },
  async (t) => {
    const js = await startJetStream(t);
    const backend = await openBackend(t, await connectTo(t, js.port), { store: { duplicate_window: 1000 } });
    const [first] = await backend.append([event('moved', 'order:created', ['feed'], { n: 1 })]);
    const since = Date.now();
    await until(() => Date.now() - since > 1_500, 'the duplicate window passes');
    const [same] = await backend.append([event('moved', 'order:created', ['feed'], { n: 2 })]);
    assert.deepEqual([same!.seq, same!.duplicate], [first!.seq, true], 'the same routing: caught');
    const [moved] = await backend.append([event('moved', 'order:created', ['cfgingest'], { n: 3 })]);
    assert.equal(moved!.duplicate, false, 'another routing beyond the window: a second copy (layout.ts, backend.ts)');
    assert.equal(JSON.parse((await backend.get('moved'))!.body).n, 1);
  },
);
