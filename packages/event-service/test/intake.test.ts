// Event intake on `events.>` against a real service with the official `nats` client: requests are answered with the
// id only once the event is durably stored, bad events get a reply naming the field, and `event_limit` refuses
// requests and pauses plain publishers until the sinks free room. Ours only: nats-server has no event intake.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { createLogger, type EventEnvelope } from '@event-broker/shared';
import { resolveServiceConfig } from '../src/config.js';
import { embed, startEventService } from '../src/embedded.js';
import { EventServer } from '../src/server.js';
import { EventIntake } from '../src/handlers/intake.js';
import { SqliteBackend } from '../src/handlers/sqlite-backend.js';
import { EventStoreError } from '../src/handlers/store-file.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { quietFor, until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();

const event = (type: string, extra: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  source: '/test',
  type,
  producer: { id: 'p1', name: 'tester', type: 'service' },
  data: { n: 1 },
  ...extra,
});

async function nats(t: TestContext, port: number): Promise<NatsConnection> {
  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'nats connect');
  t.after(() => nc.close());
  return nc;
}

async function ask(nc: NatsConnection, subject: string, body: unknown): Promise<Record<string, unknown>> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  const m = await nc.request(subject, sc.encode(data), { timeout: 3000 });
  return JSON.parse(sc.decode(m.data)) as Record<string, unknown>;
}

test('the service stores a requested event and replies with its id only after the commit', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'data', 'events.db');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: file },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await nats(t, svc.port);
  const r = await ask(nc, 'events.scanJobCreated', event('scanJobCreated', { id: 'job-1' }));
  assert.deepEqual(r, { id: 'job-1' });
  // The reply came after the commit: a second connection to the same file sees the event at once.
  const reader = new SqliteEventStore(file);
  t.after(() => reader.close());
  const stored = reader.get('job-1');
  assert.equal(stored?.type, 'scanJobCreated');
  assert.deepEqual(JSON.parse(stored!.body).producer, { id: 'p1', name: 'tester', type: 'service' });
});

test('a missing id is assigned and returned; a repeated id is acknowledged as a duplicate', async (t) => {
  const dir = tmpDir(t);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(dir, 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await nats(t, svc.port);
  const r = await ask(nc, 'events.nodeTerminated', event('nodeTerminated'));
  assert.match(String(r.id), /^[0-9a-f-]{36}$/);
  assert.deepEqual(await ask(nc, 'events.nodeTerminated', event('nodeTerminated', { id: r.id })), {
    id: r.id,
    duplicate: true,
  });
});

test('bad events get a reply naming the problem and do not disturb good events in flight', async (t) => {
  const dir = tmpDir(t);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, max_payload: 4096 },
    store: { path: path.join(dir, 'e.db') },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await nats(t, svc.port);
  const replies = await Promise.all([
    ask(nc, 'events.profileUpdate', event('profileUpdate', { id: 'good-1' })),
    ask(nc, 'events.profileUpdate', '{not json'),
    ask(nc, 'events.noSuchType', event('noSuchType')),
    ask(nc, 'events.profileUpdate', { specversion: '1.0', type: 'profileUpdate' }),
    ask(nc, 'events.profileUpdate', event('profileUpdate', { producer: { id: 7, name: 'n', type: 't' } })),
    ask(nc, 'events.profileDeleted', event('profileUpdate')),
    ask(nc, 'events.profileUpdate', event('profileUpdate', { id: 'good-2' })),
  ]);
  const errors = replies.map((r) => r.error as { code: string; field: string; reason: string } | undefined);
  assert.deepEqual(replies[0], { id: 'good-1' });
  assert.equal(errors[1]?.field, '');
  assert.match(errors[1]!.reason, /^not JSON/);
  assert.deepEqual([errors[2]?.code, errors[2]?.field], ['EEVENT_INVALID', 'type']);
  assert.match(
    errors[2]!.reason,
    /^unknown event type "noSuchType"; known types: compliance_ingest, .*nodeTerminated, k8s_audit$/,
  );
  assert.deepEqual([errors[3]?.field, errors[3]?.reason], ['source', 'is required']);
  assert.equal(errors[4]?.field, 'producer.id');
  assert.equal(errors[5]?.field, 'type');
  assert.match(errors[5]!.reason, /subject's last token "profileDeleted"/);
  assert.deepEqual(replies[6], { id: 'good-2' });
  // Oversized: the protocol refuses it before the intake sees it (max_payload), as nats-server would.
  await assert.rejects(
    nc.request('events.profileUpdate', sc.encode(JSON.stringify(event('profileUpdate', { data: 'x'.repeat(5000) }))), {
      timeout: 1000,
    }),
  );
});

/** A service without its own handlers, and an intake the test drives with one sink named "sink". */
async function limitedIntake(t: TestContext, eventLimit: number) {
  const config = resolveServiceConfig({
    service: { host: '127.0.0.1', port: 0, event_limit: eventLimit },
    log: { level: 'silent' },
  });
  const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
  const server = new EventServer(config, logger, { handlers: false });
  await server.listen();
  const svc = embed(server, logger);
  t.after(() => svc.close());
  const store = new SqliteEventStore(path.join(tmpDir(t), 'e.db'));
  t.after(() => store.close());
  const intake = new EventIntake(svc, {
    store: () => store,
    eventLimit: () => eventLimit,
    addGate: (g) => server.broker.addGate(g),
    sinksFor: () => ['sink'],
    logger,
  });
  intake.start();
  t.after(() => intake.stop());
  /** The sink delivers everything held; the intake is told there is room. */
  const drain = () => {
    const due = store.due('sink', Date.now(), 1_000_000);
    store.delivered(
      'sink',
      due.map((d) => d.seq),
    );
    intake.released();
    return due.length;
  };
  return { svc, store, intake, drain };
}

test('at event_limit a request gets the limit error, and is accepted again once the sink frees room', async (t) => {
  const { svc, store, drain } = await limitedIntake(t, 3);
  const nc = await nats(t, svc.port);
  for (let i = 0; i < 3; i++)
    assert.deepEqual(await ask(nc, 'events.cfgingest', event('cfgingest', { id: `e${i}` })), { id: `e${i}` });
  const refused = await ask(nc, 'events.cfgingest', event('cfgingest', { id: 'e3' }));
  assert.equal((refused.error as { code: string }).code, 'EEVENT_LIMIT');
  assert.match((refused.error as { reason: string }).reason, /event_limit 3 reached/);
  assert.equal(store.get('e3'), undefined, 'a refused event is not stored');
  assert.equal(drain(), 3);
  assert.deepEqual(await ask(nc, 'events.cfgingest', event('cfgingest', { id: 'e3' })), { id: 'e3' });
});

test('at event_limit a plain publisher is paused until room frees, and nothing it sent is lost', async (t) => {
  // event_limit 50: still 60 pauses over 3,000 events, each resumed only by a drain (5 made it 600 rounds: seconds under load).
  const { svc, store, intake, drain } = await limitedIntake(t, 50);
  const pub = await nats(t, svc.port);
  // 1 KiB events, enough of them to span many socket reads: a pause takes effect at the next read.
  const TOTAL = 3000;
  const pad = 'x'.repeat(1024);
  for (let i = 0; i < TOTAL; i++)
    pub.publish(
      'events.scanJobUpdated',
      sc.encode(JSON.stringify(event('scanJobUpdated', { id: `p${i}`, data: pad }))),
    );
  const flushed = pub.flush();
  await until(() => intake.stats.parkedPublishers === 1, 'the publisher paused at the limit');
  // While paused, its socket is not read: the flush's PONG cannot come, and the count stops growing.
  const before = store.count();
  // The point: nothing more arrives for a while (a paused socket never says so).
  await quietFor(100);
  assert.equal(store.count(), before, 'nothing more is read from a paused publisher');
  assert.ok(before < TOTAL, `paused before the end (${before} stored)`);
  let delivered = 0;
  await until(
    () => {
      delivered += drain();
      return store.count() === TOTAL && store.held === 0;
    },
    'everything drains once the sink delivers',
    10_000,
    () => `stored ${store.count()}, held ${store.held}`,
  );
  await within(flushed, 'the publisher flush completes after resuming');
  delivered += drain();
  assert.equal(delivered, TOTAL, 'every event delivered once');
  for (let i = 0; i < TOTAL; i++) assert.ok(store.get(`p${i}`), `p${i} stored`);
  assert.equal(intake.stats.parkedPublishers, 0);
});

test('events published in-process reach the intake like network ones', async (t) => {
  const { svc, store } = await limitedIntake(t, 100);
  const reply = await svc.request('events.profileCreated', JSON.stringify(event('profileCreated', { id: 'inproc' })));
  assert.deepEqual(reply.json(), { id: 'inproc' });
  svc.publish('events.profileCreated', JSON.stringify(event('profileCreated', { id: 'inproc-plain' })));
  await until(() => store.get('inproc-plain') !== undefined, 'the plain in-process event stored');
  assert.equal((JSON.parse(store.get('inproc')!.body) as EventEnvelope).type, 'profileCreated');
});

test('a burst larger than one group is committed in several, in order, none lost', async (t) => {
  const { svc, store, intake } = await limitedIntake(t, 100_000);
  const N = 5000;
  // Published in one turn: the intake receives them all before its first commit starts.
  for (let i = 0; i < N; i++)
    svc.publish('events.nodeTerminated', JSON.stringify(event('nodeTerminated', { id: `b${i}` })));
  await until(
    () => store.count() === N,
    'every event stored',
    10_000,
    () => `${store.count()} stored`,
  );
  assert.ok(intake.stats.commits >= 2, `${intake.stats.commits} commits`);
  const seqs = Array.from({ length: N }, (_, i) => store.get(`b${i}`)!.seq);
  assert.ok(
    seqs.every((s, i) => i === 0 || s === seqs[i - 1]! + 1),
    'stored in the order published, without gaps',
  );
});

test('a commit that settles while the store cannot be opened and a publisher is paused: no unhandled rejection, the publisher resumes once the store is back', async (t) => {
  // What EventHandlers.store does while a reload's store cannot be opened: the accessor throws EventStoreError.
  const config = resolveServiceConfig({
    service: { host: '127.0.0.1', port: 0, event_limit: 5 },
    log: { level: 'silent' },
  });
  const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
  const server = new EventServer(config, logger, { handlers: false });
  await server.listen();
  const svc = embed(server, logger);
  t.after(() => svc.close());
  const file = path.join(tmpDir(t), 'e.db');
  const store = new SqliteEventStore(file);
  t.after(() => store.close());
  let unusable = false;
  let wentDown = false;
  const storeOrThrow = () => {
    if (unusable) throw new EventStoreError('ESTORE_OPEN', file, 'cannot be opened');
    return store;
  };
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  t.after(() => process.off('unhandledRejection', onRejection));
  const intake = new EventIntake(svc, {
    store: storeOrThrow,
    // The store stops opening right after a commit made while a publisher is paused: that commit settles with it down.
    commit: async (events) => {
      const results = store.append(events);
      if (intake.stats.parkedPublishers > 0 && !wentDown) unusable = wentDown = true;
      return results;
    },
    eventLimit: () => 5,
    addGate: (g) => server.broker.addGate(g),
    sinksFor: () => ['sink'],
    logger,
  });
  intake.start();
  t.after(() => intake.stop());

  const pub = await nats(t, svc.port);
  const TOTAL = 500;
  for (let i = 0; i < TOTAL; i++)
    pub.publish(
      'events.scanJobUpdated',
      sc.encode(JSON.stringify(event('scanJobUpdated', { id: `p${i}`, data: 'x'.repeat(1024) }))),
    );
  const flushed = pub.flush();
  await until(() => unusable, 'a commit settles with the store down and a publisher paused');
  await until(
    () => intake.stats.commits > 0 && (rejections.length > 0 || intake.stats.parkedPublishers === 1),
    'the commit settled',
  );
  // A turn or two for a rejection to be reported as unhandled: that none is, is the point.
  await quietFor(50);
  assert.deepEqual(
    rejections.map((r) => String(r)),
    [],
    'no unhandled rejection',
  );
  assert.equal(intake.stats.parkedPublishers, 1, 'the publisher stays paused while the store cannot say there is room');

  // The store opens again and the sink delivers what it held (telling no one): the intake's own re-check resumes
  // the publisher, and nothing it sent is lost.
  const storedWhileDown = store.count();
  unusable = false;
  const deliver = () =>
    store.delivered(
      'sink',
      store.due('sink', Date.now(), 1_000_000).map((d) => d.seq),
    );
  // Resumed, the publisher is read again (and paused again at the limit): more of its events are stored.
  await until(
    () => {
      deliver();
      return store.count() > storedWhileDown;
    },
    'the publisher resumed by the re-check',
    5000,
    () => `held ${store.held}, stored ${store.count()}, ${intake.stats.parkedPublishers} paused`,
  );
  await until(
    () => {
      deliver();
      intake.released();
      return store.count() === TOTAL;
    },
    'everything stored once the store is back',
    10_000,
    () => `${store.count()} stored, ${intake.stats.parkedPublishers} paused`,
  );
  await within(flushed, 'the publisher flush completes');
  assert.deepEqual(rejections, []);
});

test('with several groups in flight on the writer thread, each event is answered only once stored, in publish order', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'data', 'events.db');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: file },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await nats(t, svc.port);
  const reader = new SqliteEventStore(file);
  t.after(() => reader.close());
  // Requests sent back to back on one connection: the intake makes many groups of them and sends the next group
  // to the writer before the last is answered (sqlite-backend.ts commitDepth).
  const n = 3000;
  const ids = Array.from({ length: n }, (_, i) => `pipelined-${i}`);
  const unstoredAtReply: string[] = [];
  await Promise.all(
    ids.map(async (id) => {
      const r = await ask(nc, 'events.scanJobCreated', event('scanJobCreated', { id }));
      assert.deepEqual(r, { id });
      // Read on another connection the moment the reply arrives: an answer before the commit would miss it.
      if (reader.get(id) === undefined) unstoredAtReply.push(id);
    }),
  );
  assert.deepEqual(unstoredAtReply, []);
  const stored = reader.feed({ limit: n + 1 }).map((e) => e.id);
  assert.deepEqual(stored, ids, 'sequences follow the order the events were published in');
});

test('stop() with two groups on the writer thread returns once both are answered: nothing left in flight, every acknowledged event stored', async (t) => {
  const config = resolveServiceConfig({ service: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } });
  const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
  const server = new EventServer(config, logger, { handlers: false });
  await server.listen();
  const svc = embed(server, logger);
  t.after(() => svc.close());
  const store = new SqliteEventStore(path.join(tmpDir(t), 'e.db'));
  const backend = new SqliteBackend(store, logger);
  t.after(() => backend.close());
  const intake = new EventIntake(svc, {
    store: () => backend,
    eventLimit: () => 1_000_000,
    addGate: (g) => server.broker.addGate(g),
    sinksFor: () => ['sink'],
    logger,
  });
  intake.start();
  const nc = await nats(t, svc.port);
  const N = 6000;
  const answers = Array.from({ length: N }, (_, i) =>
    nc
      .request('events.scanJobCreated', sc.encode(JSON.stringify(event('scanJobCreated', { id: `s${i}` }))), {
        timeout: 10_000,
      })
      .then(
        (m) => JSON.parse(sc.decode(m.data)) as { id?: string },
        (): { id?: string } => ({}), // sent after stop() unsubscribed: no responders
      ),
  );
  await until(() => intake.stats.commits >= 1, 'a group committed');
  await within(intake.stop(), 'stop');
  // Counted as in flight or waiting (intake.ts held): zero once stop() has answered what it received.
  assert.equal(intake.held - store.held, 0, 'no group in flight after stop()');
  const commits = intake.stats.commits;
  const acked = (await within(Promise.all(answers), 'every request settled')).flatMap((r) => (r.id ? [r.id] : []));
  t.diagnostic(`${acked.length} of ${N} acknowledged in ${commits} groups before stop() returned`);
  assert.equal(intake.stats.commits, commits, 'no commit after stop()');
  assert.deepEqual(
    acked.filter((id) => store.get(id) === undefined),
    [],
  );
});
