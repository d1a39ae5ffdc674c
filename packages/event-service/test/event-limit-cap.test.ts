// event_limit as a hard cap and listener_limit as a user's (issue 12): a real service with a real sink receiver
// that is down, several official `nats` clients flooding plain events, the held count sampled on every turn of
// the event loop. Before the gate, four publishers put 597 and 729 events under a limit of 50.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startDownSink } from '@event-broker/test-support/http';
import { startNatsLeaf } from '@event-broker/test-support/nats-server';
import { connectAndHandshake, connectRaw } from '@event-broker/test-support/raw';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { EventServiceError, startEventService } from '../src/embedded.js';
import type { EventService } from '../src/api.js';
import type { FeedPage } from '../src/handlers/event-feed.js';

const sc = StringCodec();
/** Draining goes through the sink's backoff after the outage: bounded generously. */
const DRAIN_MS = 90_000;

/**
 * Samples, on every turn of the event loop until stop(), the held count as the service computes it for the limit
 * (events held and room promised as credit); stop() gives the most seen.
 */
function sampleHeld(t: TestContext, svc: EventService): { stop(): number } {
  let max = 0;
  let sampling = true;
  const sample = () => {
    const s = svc.stats();
    max = Math.max(max, s.events_held + s.events_reserved);
    if (sampling) setImmediate(sample);
  };
  sample();
  t.after(() => (sampling = false));
  return {
    stop: () => {
      sampling = false;
      return max;
    },
  };
}

const ev = (id: string, pad: string) =>
  JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'scanJobUpdated', data: { pad } });

test('four connections flooding plain events: the held count never passes event_limit, publishers resume in order, every event reaches the sink', async (t) => {
  const sink = await startDownSink(t);
  const LIMIT = 50;
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, event_limit: LIMIT, ping_interval: 300, ping_max: 3 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());

  const held = sampleHeld(t, svc);
  let maxHeldPublishers = 0;

  const PUBLISHERS = 4;
  const EACH = 300;
  const pad = 'x'.repeat(512);
  const conns: NatsConnection[] = [];
  for (let p = 0; p < PUBLISHERS; p++) {
    const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect a publisher');
    t.after(() => nc.close());
    conns.push(nc);
  }
  // Each publisher writes its whole burst at once: the service reads far more than the limit off the sockets.
  const flushes = conns.map((nc, p) => {
    for (let i = 0; i < EACH; i++) nc.publish('events.scanJobUpdated', sc.encode(ev(`p${p}-${i}`, pad)));
    return nc.flush();
  });
  const varz = async () =>
    (await (await within(fetch(`http://127.0.0.1:${svc.monitorPort}/varz`), 'GET /varz')).json()) as Record<
      string,
      number
    >;
  await until(
    () => svc.stats().events_held === LIMIT,
    'the limit is reached',
    10_000,
    () => `${svc.stats().events_held} held`,
  );
  // Let the held publishers push against the limit for a while: each turn samples, none may pass it.
  const handlerz = async () =>
    (
      (await (await within(fetch(`http://127.0.0.1:${svc.monitorPort}/handlerz`), 'GET /handlerz')).json()) as {
        handlers: { intake: { paused_publishers: number } };
      }
    ).handlers;
  for (let i = 0; i < 20; i++) {
    const v = await varz();
    assert.ok(v['events_held']! <= LIMIT, `/varz events_held ${v['events_held']}`);
    maxHeldPublishers = Math.max(maxHeldPublishers, (await handlerz()).intake.paused_publishers);
  }
  assert.equal(maxHeldPublishers, PUBLISHERS, 'every publisher is held at the limit');
  assert.equal((await varz())['event_limit'], LIMIT);
  assert.equal(sink.received.size, 0);

  sink.up();
  await within(Promise.all(flushes), 'every publisher flush completes once there is room', DRAIN_MS);
  const total = PUBLISHERS * EACH;
  await until(
    () => sink.received.size === total,
    'every event reaches the sink',
    DRAIN_MS,
    () => `${sink.received.size} of ${total}`,
  );
  const maxHeld = held.stop();
  assert.ok(maxHeld <= LIMIT, `held never above event_limit: at most ${maxHeld} of ${LIMIT}`);
  assert.equal(maxHeld, LIMIT, 'the limit was reached');

  // Stored in each publisher's own order: a held message was taken first when its publisher went on.
  const seqs = new Map<string, number>();
  for (let cursor = '0'; ;) {
    const page = (await (
      await within(fetch(`http://127.0.0.1:${svc.monitorPort}/events?limit=1000&cursor=${cursor}`), 'GET /events')
    ).json()) as FeedPage;
    for (const e of page.events) seqs.set((e.event as { id: string }).id, e.seq);
    cursor = page.next_cursor;
    if (!page.more) break;
  }
  assert.equal(seqs.size, total, 'each event stored once');
  for (let p = 0; p < PUBLISHERS; p++) {
    for (let i = 1; i < EACH; i++)
      assert.ok(seqs.get(`p${p}-${i}`)! > seqs.get(`p${p}-${i - 1}`)!, `publisher ${p}'s event ${i} after ${i - 1}`);
  }
});

test('at event_limit an in-process plain publish is refused (EVENT_LIMIT) and a request gets EEVENT_LIMIT; neither is stored', async (t) => {
  const sink = await startDownSink(t);
  const LIMIT = 3;
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, event_limit: LIMIT },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: sink.url, max_attempts: 1000 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  for (let i = 0; i < LIMIT; i++) {
    const r = JSON.parse((await svc.request('events.scanJobUpdated', ev(`r${i}`, ''))).string()) as { id?: string };
    assert.equal(r.id, `r${i}`, JSON.stringify(r));
  }
  assert.throws(
    () => svc.publish('events.scanJobUpdated', ev('in-process', '')),
    (err: unknown) =>
      err instanceof EventServiceError && err.code === 'EVENT_LIMIT' && /event_limit 3/.test(err.message),
  );
  const over = JSON.parse((await svc.request('events.scanJobUpdated', ev('r-over', ''))).string()) as {
    error?: { code: string };
  };
  assert.equal(over.error?.code, 'EEVENT_LIMIT');
  assert.equal(svc.stats().events_held, LIMIT);
  // Other subjects are not the intake's: never refused for the limit.
  svc.publish('greet.x', 'hi');
});

test("listener_limit = 5 with the handlers on: a user gets exactly 5 listeners; the service's own subscriptions are shown apart", async (t) => {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, listener_limit: 5 },
    monitor: { host: '127.0.0.1', port: 0 },
    leafnodes: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  assert.equal(svc.stats().listeners, 0, 'an idle service has no listeners');
  assert.ok(
    svc.stats().system_subscriptions >= 3,
    `the intake, the feed and the responders: ${svc.stats().system_subscriptions}`,
  );

  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  for (let i = 0; i < 5; i++) nc.subscribe(`user.${i}`);
  await within(nc.flush(), 'five subscriptions');
  assert.equal(svc.stats().listeners, 5);
  // The sixth, on the wire: nats-server's text, the connection open.
  const raw = await connectAndHandshake({ host: '127.0.0.1', port: svc.port });
  t.after(() => raw.close());
  raw.send('SUB user.5 1\r\nPING\r\n');
  await raw.expect(/^-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n/);
  assert.equal(svc.stats().listeners, 5);

  const varz = (await (await within(fetch(`http://127.0.0.1:${svc.monitorPort}/varz`), 'GET /varz')).json()) as Record<
    string,
    number
  >;
  assert.equal(varz['subscriptions'], 5);
  assert.equal(varz['listener_limit'], 5);
  assert.equal(varz['system_subscriptions'], svc.stats().system_subscriptions);
});

test('a nats-server leaf publishing plain events at event_limit: its link is held (it asks for no credit), the held count never passes the limit, nothing is lost', async (t) => {
  const sink = await startDownSink(t);
  const LIMIT = 20;
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, event_limit: LIMIT },
    leafnodes: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: sink.url, max_attempts: 1000, timeout_ms: 5000 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const leaf = await startNatsLeaf(svc.leafnodePort!);
  t.after(() => leaf.stop());
  // The leaf learns our interest in events.> over the link before its client publishes.
  const nc = await within(connect({ servers: `127.0.0.1:${leaf.clientPort}` }), 'connect to the leaf');
  t.after(() => nc.close());
  const held = sampleHeld(t, svc);
  await until(
    () => {
      nc.publish('events.scanJobUpdated', sc.encode(ev('probe', '')));
      return svc.stats().events_held > 0;
    },
    'the leaf forwards events',
    10_000,
  );
  const N = 200;
  for (let i = 0; i < N; i++) nc.publish('events.scanJobUpdated', sc.encode(ev(`l${i}`, 'x'.repeat(256))));
  await within(nc.flush(), 'the leaf took the burst');
  await until(() => svc.stats().events_held === LIMIT, 'the limit is reached', 10_000);
  sink.up();
  await until(
    () => sink.received.size === N + 1,
    'every event reaches the sink',
    DRAIN_MS,
    () => `${sink.received.size} of ${N + 1}`,
  );
  const maxHeld = held.stop();
  assert.ok(maxHeld <= LIMIT, `held never above event_limit: at most ${maxHeld} of ${LIMIT}`);
});

test('credit goes only to a link that says it takes it (a gateway): a plain client and a plain leaf are granted none, and nothing is reserved for them', async (t) => {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, event_limit: 16, listener_limit: 100 },
    leafnodes: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  for (const kind of ['events', 'listeners']) {
    const r = JSON.parse(
      sc.decode((await nc.request(`$EVENTS.CREDIT.${kind}`, sc.encode('{"want":1000}'), { timeout: 2000 })).data),
    ) as { granted: number };
    assert.equal(r.granted, 0, `${kind} credit to a plain client`);
  }
  // A leaf whose CONNECT does not say it takes credit (as a nats-server leaf's never does).
  const leaf = await connectRaw({ host: '127.0.0.1', port: svc.leafnodePort! });
  t.after(() => leaf.close());
  leaf.send(`CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NPLAINLEAF', headers: true })}\r\nPING\r\n`);
  await leaf.expect(/PONG\r\n/);
  leaf.send(
    'LS+ reply.plain\r\nLMSG $EVENTS.CREDIT.events reply.plain 13\r\n{"want":1000}\r\nLMSG $EVENTS.CREDIT.listeners reply.plain 13\r\n{"want":1000}\r\n',
  );
  await leaf.expect(/LMSG reply\.plain 13\r\n\{"granted":0\}\r\n[^]*LMSG reply\.plain 13\r\n\{"granted":0\}\r\n/);
  const s = svc.stats();
  assert.equal(s.events_reserved, 0);
  assert.equal(s.listener_credit, 0);
});

test('an event spent on credit and refused as invalid frees its room at once: the publisher held for it goes on', async (t) => {
  const sink = await startDownSink(t);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, event_limit: 1 },
    monitor: { host: '127.0.0.1', port: 0 },
    leafnodes: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: sink.url, max_attempts: 1000 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  // A gateway's link, raw: it takes the one event of room as credit.
  const gw = await connectRaw({ host: '127.0.0.1', port: svc.leafnodePort! });
  t.after(() => gw.close());
  gw.send(
    `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NRAWGATEWAY', headers: true, credit: true })}\r\nPING\r\n`,
  );
  await gw.expect(/PONG\r\n/);
  gw.send('LS+ reply.gw\r\nLMSG $EVENTS.CREDIT.events reply.gw 10\r\n{"want":1}\r\n');
  await gw.expect(/LMSG reply\.gw 13\r\n\{"granted":1\}\r\n/);
  assert.equal(svc.stats().events_reserved, 1);
  // A plain publisher finds no room: held before its event.
  const p = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => p.close());
  p.publish('events.scanJobUpdated', sc.encode(ev('p1', '')));
  let flushed = false;
  const flush = p.flush().then(() => (flushed = true));
  const heldPublishers = async () =>
    (
      (await (await within(fetch(`http://127.0.0.1:${svc.monitorPort}/handlerz`), 'GET /handlerz')).json()) as {
        handlers: { intake: { paused_publishers: number } };
      }
    ).handlers.intake.paused_publishers;
  await until(async () => (await heldPublishers()) === 1, 'the publisher is held');
  assert.equal(await heldPublishers(), 1, 'the publisher is held');
  assert.equal(flushed, false);
  // The credit is spent on an event the intake refuses: nothing is held, and the publisher must go on.
  gw.send('LMSG events.scanJobUpdated 8\r\nnot json\r\n');
  await within(flush, 'the held publisher goes on once the credit is spent on nothing', 5000);
  await until(() => svc.stats().events_held === 1, 'its event is held for the sink');
});
