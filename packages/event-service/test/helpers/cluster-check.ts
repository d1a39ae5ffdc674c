// The durability runs' judgement (cluster-durability-*.test.ts): once the load is done, every acknowledged event is
// delivered to each sink it is routed to, stored once (the surviving instance's feed), duplicates only under one
// webhook-id; refusals and unanswered requests are counted and shown, never judged.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { eventually } from '@event-broker/test-support/wait';
import { describeLoad, load, typeOf, type LoadResult } from './cluster-load.js';
import { untilAcknowledged, type Setup } from './cluster-setup.js';
import { healthz, problems, storedIds, untilDelivered } from './cluster.js';

export const EVENTS = 10_000;
export const KILL_AFTER = 3_000;
/** Bounds: the load, then the deliveries owed (a killed instance's claims come back after JetStream's 30 s ack wait). */
export const LOAD_MS = 60_000;
const DELIVERY_MS = 60_000;
/** A kill leaves the requests in flight then unanswered (48 at most); many more means the cluster stopped answering. */
export const MAX_UNANSWERED = 300;

/** What every run must show, once the load is done. */
export async function check(t: TestContext, s: Setup, result: LoadResult, diagnostic: () => string): Promise<void> {
  t.diagnostic(describeLoad(result));
  assert.equal(result.unsent, 0, `the load ran out of time:\n${diagnostic()}`);
  // The kill came in the middle; requests refused meanwhile are allowed (JetStream answers 503 until the streams
  // and consumers that had a leader on a killed node have a new one). Then the cluster answers through every node.
  assert.ok(result.acked.size > KILL_AFTER, `nothing acknowledged after the kill:\n${diagnostic()}`);
  const after = await untilAcknowledged(s.clients, 'after', 60_000);
  const warm = [...s.clients.map((_, i) => `warm-${i}`), ...after];
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
  // A commit failed by the kill marks the store failed until a probe finds it working again (/healthz says so).
  await eventually(
    () => healthz(s.two.monitorPort),
    (h) => h.status === 200,
    'instance 2 healthy again',
    30_000,
  );
  const { ids: stored, refusals } = await storedIds(s.two.monitorPort);
  if (refusals.length > 0) t.diagnostic(`the feed answered 503 ${refusals.length} times first: ${refusals[0]}`);
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

export function diagnosticOf(s: Setup, result: () => LoadResult | undefined) {
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

/** The load of a run: EVENTS requested through every node, `kill` run once KILL_AFTER are acknowledged. */
export function runLoad(s: Setup, kill: () => Promise<void>): Promise<LoadResult> {
  return load({
    clients: s.clients,
    count: EVENTS,
    prefix: 'ev',
    concurrency: 48,
    timeoutMs: 8000,
    deadlineMs: LOAD_MS,
    maxUnanswered: MAX_UNANSWERED,
    at: { acked: KILL_AFTER, run: kill },
  });
}
