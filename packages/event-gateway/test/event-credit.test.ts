// Fairness across the gateway at event_limit (issue 12, item 2; src/event-credit.ts): the gateway sends its
// clients' plain events on credit from the service, so a client at the limit is held at the gateway, alone, and
// the link every client shares is never held by the service. A real service (store, an HTTP sink that is down,
// event_limit 50), the real gateway on its TLS leafnode link, official `nats` clients inside and outside; the held
// count read from the service's /handlerz while the flood runs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StringCodec, type NatsConnection } from 'nats';
import { type SinkReceiver, startDownSink } from '@event-broker/test-support/http';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { pace, until, within } from '@event-broker/test-support/wait';
import {
  connectLine,
  devPki,
  externalClient,
  getJson,
  internalClient,
  rawTls,
  record,
  startService,
  startTestGateway,
  type Pki,
} from './helpers/bridge.js';
import type { EventService } from '@event-broker/event-service';
import type { EventGateway } from '../src/server.js';

const sc = StringCodec();
const LIMIT = 50;
/** The sink answers 503 until `up`; its retries back off (up to seconds) meanwhile: the drain is bounded generously. */
const DRAIN_MS = 90_000;

interface HandlerzView {
  handlers: { held: number; last_seq: number; intake: { paused_publishers: number } };
}

const event = (id: string) =>
  sc.encode(
    JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'scanJobUpdated', data: { pad: 'x'.repeat(512) } }),
  );

/** A service at event_limit 50 with [store] and a sink that is down, and a gateway on its leafnode port. */
async function atTheLimit(t: TestContext): Promise<{
  pki: Pki;
  service: EventService;
  gateway: EventGateway;
  sink: SinkReceiver;
  handlerz: () => Promise<HandlerzView>;
}> {
  const sink = await startDownSink(t);
  const pki = await devPki(t);
  const service = await startService(t, pki, {
    config: {
      service: { event_limit: LIMIT },
      store: { path: path.join(tmpDir(t, 'event-credit-'), 'events.db') },
      handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } },
    },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  await until(() => gateway.eventCredit.stats().active, 'the gateway sees the service answer event credit');
  const handlerz = () => getJson<HandlerzView>(`http://127.0.0.1:${service.monitorPort}/handlerz`);
  return { pki, service, gateway, sink, handlerz };
}

/**
 * Samples /handlerz until stop(), at most `ms`: the most events stored (`last_seq`) and held (`held`) seen. While the
 * sink is down nothing is delivered, so every stored event is held: `last_seq` is the held count, exactly. `held`
 * as the service reports it also counts a commit group in flight, and twice for a moment (the store's writer thread
 * counts it before the intake hears the commit is done): shown, not asserted.
 */
function sampleHeld(handlerz: () => Promise<HandlerzView>, ms = 60_000) {
  let stored = 0;
  let held = 0;
  let samples = 0;
  let stopped = false;
  const end = Date.now() + ms;
  const loop = (async () => {
    while (!stopped && Date.now() < end) {
      const v = (await handlerz()).handlers;
      samples++;
      stored = Math.max(stored, v.last_seq);
      held = Math.max(held, v.held);
      await pace(10);
    }
  })();
  return {
    /** The most stored so far, and how many samples. */
    now: () => ({ stored, samples }),
    stop: async () => {
      stopped = true;
      await loop;
      return { stored, held, samples };
    },
  };
}

/** Once no commit is in flight and every event read is stored: the held count, exact (the sink is down). */
async function settledHeld(handlerz: () => Promise<HandlerzView>): Promise<number> {
  let seen = '';
  let held = -1;
  await until(
    async () => {
      const v = (await handlerz()).handlers;
      seen = `held ${v.held}, stored ${v.last_seq}`;
      held = v.held;
      return v.held === v.last_seq;
    },
    'the held count settles',
    10_000,
    () => seen,
  );
  return held;
}

/** Sequential request/reply round trips; their 99th percentile, ms. */
async function p99(nc: NatsConnection, subject: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await nc.request(subject, sc.encode(`r${i}`), { timeout: 5000 });
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.min(times.length - 1, Math.ceil(n * 0.99) - 1)]!;
}

test('one client flooding events at event_limit is held at the gateway alone: the held count stays within the limit, another client keeps its round trips, every event arrives once the sink is back', async (t) => {
  const { pki, service, gateway, sink, handlerz } = await atTheLimit(t);

  // Inside: a responder and a subscriber for client B.
  const inside = await internalClient(t, pki, service.port);
  inside.subscribe('svc.echo', { callback: (_e, m) => m.respond(m.data) });
  const heard = record(inside, 'b.msgs');
  await inside.flush();

  const producer = await pki.devToken('producer-a', { pub: { allow: ['events.>'] } });
  const a = await externalClient(t, pki, gateway.port, producer);
  const bToken = await pki.devToken('client-b', { pub: { allow: ['svc.>', 'b.>'] }, sub: { allow: ['_INBOX.b.>'] } });
  const b = await externalClient(t, pki, gateway.port, bToken, { nats: { inboxPrefix: '_INBOX.b' } });

  const ROUND_TRIPS = 200;
  await p99(b, 'svc.echo', 50); // warm up (TLS, JIT, the reply interest reaching the service)
  const idle = await p99(b, 'svc.echo', ROUND_TRIPS);

  // A floods: far more plain events than the limit.
  const FLOOD = 2000;
  const sampler = sampleHeld(handlerz);
  for (let i = 0; i < FLOOD; i++) a.publish('events.scanJobUpdated', event(`a${i}`));
  let aFlushed = false;
  const aFlush = a.flush().then(() => (aFlushed = true));
  await until(
    () => gateway.eventCredit.stats().clients_held === 1,
    'A is held at the gateway for want of credit',
    20_000,
    () => JSON.stringify(gateway.eventCredit.stats()),
  );
  await until(() => sink.refused > 0, 'the sink was tried and refused', 10_000);

  // Meanwhile B: request/reply through the same link, and plain messages to an internal subscriber.
  const flood = await p99(b, 'svc.echo', ROUND_TRIPS);
  const B_MSGS = 200;
  for (let i = 0; i < B_MSGS; i++) b.publish('b.msgs', sc.encode(`m${i}`));
  await within(b.flush(), "B's flush while A is held", 5000);
  await until(
    () => heard.msgs.length === B_MSGS,
    "the internal subscriber receives all of B's messages while A is held",
    10_000,
    () => `${heard.msgs.length} of ${B_MSGS}`,
  );

  const down = await sampler.stop();
  const settled = await settledHeld(handlerz);
  const view = await handlerz();
  const credit = gateway.eventCredit.stats();
  t.diagnostic(
    `B's request/reply p99: ${idle.toFixed(2)} ms idle, ${flood.toFixed(2)} ms while A floods at the limit (${ROUND_TRIPS} round trips each)`,
  );
  t.diagnostic(
    `while A is held: service held ${view.handlers.held}, stored ${view.handlers.last_seq}, paused publishers ${view.handlers.intake.paused_publishers}; gateway credit ${JSON.stringify(credit)}`,
  );
  t.diagnostic(
    `sink down, sampled ${down.samples} times: at most ${down.stored} stored (= held), ${down.held} as /handlerz reports held; settled at ${settled} (event_limit ${LIMIT})`,
  );
  assert.ok(down.samples > 5, `sampled ${down.samples} times`);
  assert.ok(down.stored <= LIMIT, `${down.stored} events held > event_limit ${LIMIT}`);
  assert.ok(settled <= LIMIT, `${settled} events held > event_limit ${LIMIT}`);
  assert.equal(
    view.handlers.intake.paused_publishers,
    0,
    "the service never holds the gateway's link: the gateway holds A itself",
  );
  assert.equal(aFlushed, false, "A's flush waits: its PING is behind the held event, not read");
  // B's round trips all completed (each within its 5 s timeout) while A was held; their p99 is reported above, not
  // asserted: speed is the benchmarks' (a shared machine makes a timed assertion flaky).
  assert.ok(down.held <= LIMIT, `/handlerz held ${down.held} > event_limit ${LIMIT}`);
  assert.deepEqual(
    heard.data(),
    Array.from({ length: B_MSGS }, (_, i) => `m${i}`),
    "B's messages, all and in order",
  );

  // The sink comes back: A resumes, and every event it sent is stored and delivered once.
  const after = sampleHeld(handlerz);
  sink.up();
  await within(aFlush, "A's flush completes once room frees", DRAIN_MS);
  const want = Array.from({ length: FLOOD }, (_, i) => `a${i}`);
  await until(
    () => want.every((id) => sink.received.has(id)),
    'every event reaches the sink',
    DRAIN_MS,
    () => `${sink.received.size} of ${FLOOD}`,
  );
  const up = await after.stop();
  const end = await handlerz();
  t.diagnostic(
    `sink up: /handlerz held at most ${up.held} over ${up.samples} samples (a commit group in flight counted twice for a moment: see sampleHeld)`,
  );
  assert.equal(end.handlers.last_seq, FLOOD, 'each stored once');
  assert.equal(gateway.eventCredit.stats().clients_held, 0);
});

test('several gateway clients flooding events at once: the held count never passes event_limit, and every event arrives once the sink is back', async (t) => {
  const { pki, gateway, sink, handlerz } = await atTheLimit(t);
  const producer = await pki.devToken('producer', { pub: { allow: ['events.>'] } });
  const CLIENTS = 4;
  const EACH = 400;
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => externalClient(t, pki, gateway.port, producer)),
  );

  const sampler = sampleHeld(handlerz);
  for (let i = 0; i < EACH; i++) clients.forEach((c, k) => c.publish('events.scanJobUpdated', event(`c${k}-${i}`)));
  const flushed = clients.map((c) => c.flush());
  // Full: every client held, the room all taken (no credit left at the gateway, so nothing reserved for it), and
  // sampled past that point.
  const full = sampler.now().samples;
  await until(
    () =>
      gateway.eventCredit.stats().clients_held === CLIENTS &&
      sampler.now().stored >= LIMIT &&
      sampler.now().samples >= full + 20,
    'every flooding client is held at the gateway, the room taken',
    20_000,
    () => `${JSON.stringify(gateway.eventCredit.stats())}; ${JSON.stringify(sampler.now())}`,
  );
  const down = await sampler.stop();
  const settled = await settledHeld(handlerz);
  const view = await handlerz();
  t.diagnostic(
    `sink down, sampled ${down.samples} times: at most ${down.stored} stored (= held), ${down.held} as /handlerz reports held; settled at ${settled} (event_limit ${LIMIT})`,
  );
  assert.ok(down.samples > 5, `sampled ${down.samples} times`);
  assert.ok(down.stored <= LIMIT, `${down.stored} events held > event_limit ${LIMIT}`);
  assert.ok(settled <= LIMIT, `${settled} events held > event_limit ${LIMIT}`);
  assert.equal(view.handlers.intake.paused_publishers, 0, "the service never holds the gateway's link");

  sink.up();
  await within(Promise.all(flushed), 'every client resumes', DRAIN_MS);
  const want = clients.flatMap((_, k) => Array.from({ length: EACH }, (_, i) => `c${k}-${i}`));
  await until(
    () => want.every((id) => sink.received.has(id)),
    'every event reaches the sink',
    DRAIN_MS,
    () => `${sink.received.size} of ${want.length}`,
  );
  t.diagnostic(`gateway credit at the end: ${JSON.stringify(gateway.eventCredit.stats())}`);
  assert.equal((await handlerz()).handlers.last_seq, want.length, 'each stored once');
  // Credit left over goes back once the clients are quiet: held at the gateway, it is room nobody else could use.
  await until(() => gateway.eventCredit.stats().held === 0, 'unused credit given back after an idle spell', 5000);
  const idle = gateway.eventCredit.stats();
  assert.equal(idle.granted_total - idle.spent_total, idle.returned_total, 'what was not spent was returned');
});

test('through an outage plain events are held at the gateway, not buffered: credit belongs to a link; once the link is back they go on new credit, none lost', async (t) => {
  const sink = await startDownSink(t);
  sink.up();
  const pki = await devPki(t);
  const port = await freePort();
  const leafnodePort = await freePort();
  const dbPath = path.join(tmpDir(t, 'event-credit-outage-'), 'events.db');
  const config = {
    service: { event_limit: 1000 },
    store: { path: dbPath },
    handlers: { event_feed: { url: sink.url } },
  };
  const first = await startService(t, pki, { port, leafnodePort, config });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${leafnodePort}`, {
    config: { upstream: { reconnect_delay: 100, reconnect_max_delay: 300 } },
  });
  await until(() => gateway.eventCredit.stats().active, 'event credit active');
  const producer = await pki.devToken('producer', { pub: { allow: ['events.>'] } });
  const a = await externalClient(t, pki, gateway.port, producer);
  a.publish('events.scanJobUpdated', event('before'));
  await within(a.flush(), 'an event before the outage');
  await until(() => sink.received.has('before'), 'it is delivered');

  await first.close();
  await until(() => !gateway.uplink.up, 'the link is down');
  const N = 100;
  for (let i = 0; i < N; i++) a.publish('events.scanJobUpdated', event(`o${i}`));
  const flushed = a.flush();
  await until(
    () => gateway.eventCredit.stats().clients_held === 1,
    'the producer is held at the gateway during the outage',
  );
  const during = { credit: gateway.eventCredit.stats(), buffered: gateway.uplink.counters.bufferedMsgs };
  t.diagnostic(`during the outage: ${JSON.stringify(during)}`);
  assert.equal(during.credit.held, 0, 'no credit through an outage: the service forgot it with the link');
  assert.equal(during.buffered, 0, 'no event buffered for the new link');

  await startService(t, pki, { port, leafnodePort, config });
  await within(gateway.uplink.waitUntilUp(5000), 'the link comes back', 6000);
  await within(flushed, 'the producer resumes once the new link grants credit', 10_000);
  const want = Array.from({ length: N }, (_, i) => `o${i}`);
  await until(
    () => want.every((id) => sink.received.has(id)),
    'every event held through the outage is delivered',
    20_000,
    () => `${sink.received.size - 1} of ${N}`,
  );
});

test('a client whose header block grows past the service max_payload once stamped (bare-LF lines) is dropped at the gateway, and its credit is not lost: other clients go on', async (t) => {
  const sink = await startDownSink(t);
  sink.up();
  const pki = await devPki(t);
  const SMALL_LIMIT = 16;
  const service = await startService(t, pki, {
    config: {
      service: { event_limit: SMALL_LIMIT, max_payload: 65_536 },
      store: { path: path.join(tmpDir(t, 'event-credit-grow-'), 'events.db') },
      handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } },
    },
  });
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
  await until(() => gateway.eventCredit.stats().active, 'the gateway sees the service answer event credit');
  const raw = await rawTls(gateway.port, { ca: pki.ca, ...pki.client });
  t.after(() => raw.socket.destroy());
  const token = await pki.devToken('mallory', { pub: { allow: ['events.>'] } });
  raw.socket.write(`${connectLine({ auth_token: token, headers: true })}PING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');
  // Within the client's max_payload as sent; a quarter larger once each bare-LF line is rewritten CRLF with the stamp.
  const hdr = `NATS/1.0\n${'a:1\n'.repeat(15_000)}\r\n`;
  const body = JSON.stringify({ specversion: '1.0', id: 'grown', source: '/t', type: 'scanJobUpdated' });
  for (let i = 0; i < 4; i++)
    raw.socket.write(`HPUB events.scanJobUpdated ${hdr.length} ${hdr.length + body.length}\r\n${hdr}${body}\r\n`);
  raw.socket.write('PING\r\n');
  assert.match(await raw.readUntil('PONG\r\n'), /PONG\r\n$/);
  await until(
    () => gateway.uplink.counters.droppedOversize >= 4,
    'the grown messages are dropped at the gateway, counted',
    5000,
    () => JSON.stringify(gateway.uplink.counters),
  );

  // Before: each drop spent credit the service never saw, and once that reached a holder's share every request was
  // answered 0 and every client's events were held for good.
  const alice = await externalClient(
    t,
    pki,
    gateway.port,
    await pki.devToken('alice', { pub: { allow: ['events.>'] } }),
  );
  const N = 40;
  for (let i = 0; i < N; i++) alice.publish('events.scanJobUpdated', event(`a${i}`));
  await within(alice.flush(), "alice's events go up", 30_000);
  await until(
    () => Array.from({ length: N }, (_, i) => `a${i}`).every((id) => sink.received.has(id)),
    "every one of alice's events reaches the sink",
    DRAIN_MS,
    () => `${sink.received.size} received`,
  );
  assert.equal(service.stats().events_reserved <= Math.ceil(SMALL_LIMIT / 8), true);
});
