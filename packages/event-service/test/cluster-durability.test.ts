// Durability end to end: a three-node nats-server 2.9 cluster with JetStream, two event service instances (CLI child
// processes) each a leaf of a different node with `[store] backend = "jetstream"`, replicas = 3, and two HTTP sinks
// shared by both (feed takes every event, cfgingest only scanJob ones). 10,000 events are requested round-robin
// through clients of the three nodes; in the middle, instance 1 is SIGKILLed (one run, the cluster in a named
// JetStream domain the service learns from the leaf INFO) or a nats-server node is (the other run, the hub nodes
// mapping $G to the default domain: plain $JS.API). Every acknowledged event must be stored once and delivered to
// each sink it is routed to, duplicates only under the same webhook-id; refusals and unanswered requests caused by
// the kill are allowed, counted and shown.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { eventually } from '@event-broker/test-support/wait';
import { describeLoad, load, typeOf, type LoadResult } from './helpers/cluster-load.js';
import { setUp, type Setup } from './helpers/cluster-setup.js';
import { healthz, problems, storedIds, untilDelivered } from './helpers/cluster.js';

const EVENTS = 10_000;
const KILL_AFTER = 3_000;
/** Bounds: the load, then the deliveries owed (a killed instance's claims come back after JetStream's 30 s ack wait). */
const LOAD_MS = 90_000;
const DELIVERY_MS = 75_000;
/** A kill leaves the requests in flight then unanswered (48 at most); many more means the cluster stopped answering. */
const MAX_UNANSWERED = 300;

/** What every run must show, once the load is done. */
async function check(t: TestContext, s: Setup, result: LoadResult, diagnostic: () => string): Promise<void> {
  t.diagnostic(describeLoad(result));
  assert.equal(result.unsent, 0, `the load ran out of time:\n${diagnostic()}`);
  // The kill costs some requests, never most of them.
  assert.ok(result.acked.size >= EVENTS * 0.9, `too few acknowledged:\n${diagnostic()}`);
  const warm = s.clients.map((_, i) => `warm-${i}`);
  const acked = new Set([...result.acked.keys(), ...warm]);
  const scanJobs = new Set([
    ...warm,
    ...[...result.acked].filter(([, a]) => a.type === 'scanJobCreated').map(([id]) => id),
  ]);
  const started = Date.now();
  await untilDelivered(
    [
      { name: 'feed', sink: s.feed, owed: acked },
      { name: 'cfgingest', sink: s.cfgingest, owed: scanJobs },
    ],
    DELIVERY_MS,
    diagnostic,
  );
  t.diagnostic(`every acknowledged event delivered ${Date.now() - started} ms after the load`);

  // Stored once: the feed of the surviving instance lists each acknowledged event, no id twice, nothing unasked.
  const stored = await storedIds(s.two.monitorPort);
  const storedSet = new Set(stored);
  assert.equal(stored.length, storedSet.size, `an event stored twice: ${stored.length} events, ${storedSet.size} ids`);
  const notStored = [...acked].filter((id) => !storedSet.has(id));
  assert.deepEqual(notStored.slice(0, 20), [], `${notStored.length} acknowledged events not in the stream`);
  const requested = (id: string) => warm.includes(id) || /^ev-\d+$/.test(id);
  assert.deepEqual(stored.filter((id) => !requested(id)).slice(0, 20), [], 'events in the stream nobody requested');
  // Events requested without an answer may be stored (their PubAck came, the reply was lost): counted, not judged.
  const unansweredStored = [...result.unanswered.keys(), ...result.refused.keys()].filter((id) => storedSet.has(id));
  t.diagnostic(`${stored.length} events stored; ${unansweredStored.length} of those unacknowledged are in the stream`);

  for (const [name, sink, routed] of [
    ['feed', s.feed, () => true],
    ['cfgingest', s.cfgingest, (id: string) => warm.includes(id) || typeOf(Number(id.slice(3))) === 'scanJobCreated'],
  ] as const) {
    assert.deepEqual(sink.unreadable, [], `${name}: requests without one event`);
    // Each webhook-id names one event, and an event delivered twice came under the same webhook-id both times.
    const shared = [...sink.byWebhookId].filter(([, ids]) => ids.size !== 1);
    assert.deepEqual(shared.slice(0, 5), [], `${name}: a webhook-id carrying several events`);
    const split = [...sink.byEvent].filter(([, ids]) => new Set(ids).size !== 1);
    assert.deepEqual(split.slice(0, 5), [], `${name}: an event delivered under several webhook-ids`);
    // Only stored events, each to the sinks its type is routed to.
    const strays = [...sink.byEvent.keys()].filter((id) => !storedSet.has(id) || !routed(id));
    assert.deepEqual(strays.slice(0, 5), [], `${name}: deliveries of events not stored or not routed here`);
    const twice = [...sink.byEvent.values()].filter((ids) => ids.length > 1).length;
    const per = [...sink.byInstance].map(([k, n]) => `instance ${k}: ${n}`).join(', ');
    t.diagnostic(`${name}: ${sink.byEvent.size} events delivered, ${twice} of them more than once (${per})`);
  }
}

function diagnosticOf(s: Setup, result: () => LoadResult | undefined) {
  return () => {
    const r = result();
    return [
      r === undefined ? 'the load has not finished' : describeLoad(r),
      `instance 1 (pid ${s.one.run.child.pid}): ${problems(s.one.run)}`,
      `instance 2 (pid ${s.two.run.child.pid}): ${problems(s.two.run)}`,
      ...s.cluster.nodes.map(
        (n) =>
          `${n.name} alive ${n.alive()}: ${n
            .log()
            .split('\n')
            .filter((l) => l.includes('[ERR]'))
            .slice(-5)
            .join('\n')}`,
      ),
    ].join('\n');
  };
}

describe('10,000 events on a three-node JetStream cluster, two instances', { skip: natsServerSkip() }, () => {
  it('instance 1 SIGKILLed in the middle (a named JetStream domain): every acknowledged event stored once and delivered', async (t: TestContext) => {
    const s = await setUp(t, 'named domain');
    let result: LoadResult | undefined;
    const diagnostic = diagnosticOf(s, () => result);
    result = await load({
      clients: s.clients,
      count: EVENTS,
      prefix: 'ev',
      concurrency: 48,
      timeoutMs: 8000,
      deadlineMs: LOAD_MS,
      maxUnanswered: MAX_UNANSWERED,
      at: { acked: KILL_AFTER, run: () => s.one.kill() },
    });
    assert.equal(s.one.run.child.signalCode, 'SIGKILL');
    await check(t, s, result, diagnostic);
    diagnostic(); // with CLUSTER_TEST_LOGS, the instances' logs
    assert.equal((await healthz(s.two.monitorPort)).status, 200);
  });

  // todo: in about half the runs the instance whose node died relinks to another node and then never answers an
  // event again: its intake's commit in flight never settles (/handlerz intake.commits stops; direct requests to its
  // client port time out too, nothing logged), while the other instance and the cluster's JetStream work. Reported.
  it(
    'a nats-server node SIGKILLed in the middle (default_js_domain on the hub): every acknowledged event stored once and delivered',
    { todo: 'an instance that relinks after its node died may stop answering events (reported)' },
    async (t: TestContext) => {
      const s = await setUp(t, 'default domain');
      let result: LoadResult | undefined;
      const diagnostic = diagnosticOf(s, () => result);
      result = await load({
        clients: s.clients,
        count: EVENTS,
        prefix: 'ev',
        concurrency: 48,
        timeoutMs: 8000,
        deadlineMs: LOAD_MS,
        maxUnanswered: MAX_UNANSWERED,
        at: { acked: KILL_AFTER, run: () => s.cluster.kill(0) },
      });
      assert.equal(s.cluster.nodes[0]!.alive(), false);
      await check(t, s, result, diagnostic);
      // Instance 1 has redialled another node and is healthy again; both still run.
      await eventually(
        () => healthz(s.one.monitorPort),
        (h) => h.status === 200,
        'instance 1 healthy after redialling',
        30_000,
      );
      assert.equal(s.one.run.child.exitCode, null);
      assert.equal(s.two.run.child.exitCode, null);
    },
  );
});
