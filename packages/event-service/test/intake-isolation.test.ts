// One event must not fail another (issue 11, finding 3): a real service with a store file, the official `nats`
// client sending one hostile event among 40 requests and 40 plain publishes in one write (so one group commit), and
// the store file read back. An event the store cannot take fails alone, with a reply naming why; every request to
// events.<type> is answered, whatever happens inside. Ours only: nats-server has no event intake.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { MAX_EVENT_DEPTH } from '@event-broker/shared';
import { startEventService, type EventService } from '../src/index.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';

const sc = StringCodec();
const NEIGHBOURS = 40;

const event = (id: string, data: string = '{"n":1}') =>
  `{"specversion":"1.0","id":${JSON.stringify(id)},"source":"/t","type":"scanJobUpdated","data":${data}}`;

/** `data` as `depth` nested arrays: `[[[...]]]`, 2 bytes a level. */
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

async function service(t: TestContext, file: string, extra: { max_payload?: number } = {}): Promise<EventService> {
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0, ...extra },
    store: { path: file },
    monitor: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  return svc;
}

async function client(t: TestContext, port: number): Promise<NatsConnection> {
  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'nats connect');
  t.after(() => nc.close());
  return nc;
}

type Reply = {
  id?: string;
  duplicate?: boolean;
  error?: { code: string; field?: string; store_code?: string; reason: string };
};

/**
 * Sends, in one synchronous burst (one socket write, one group at the intake): `hostile` in the middle of 40
 * requests and 40 plain publishes interleaved. Resolves with the hostile event's reply and the neighbours' replies.
 */
async function burst(nc: NatsConnection, hostile: string, tag: string): Promise<{ hostile: Reply; requests: Reply[] }> {
  const ask = (body: string) =>
    nc.request('events.scanJobUpdated', sc.encode(body), { timeout: 8000 }).then(
      (m) => JSON.parse(sc.decode(m.data)) as Reply,
      (err: Error) => ({ error: { code: 'NO_REPLY', reason: err.message } }),
    );
  const requests: Promise<Reply>[] = [];
  let bad: Promise<Reply> | undefined;
  for (let i = 0; i < NEIGHBOURS; i++) {
    nc.publish('events.scanJobUpdated', sc.encode(event(`${tag}-p${i}`)));
    requests.push(ask(event(`${tag}-r${i}`)));
    if (i === NEIGHBOURS / 2) bad = ask(hostile);
  }
  return { hostile: await bad!, requests: await Promise.all(requests) };
}

/** The neighbours' ids a second connection to the store file finds, once the intake had time to commit them. */
async function storedNeighbours(
  nc: NatsConnection,
  file: string,
  tag: string,
): Promise<{ requests: number; plain: number }> {
  await within(nc.flush(), 'flush');
  const reader = new SqliteEventStore(file);
  try {
    const count = (kind: string) =>
      Array.from({ length: NEIGHBOURS }, (_, i) => reader.get(`${tag}-${kind}${i}`)).filter(Boolean).length;
    // Plain publishes are committed after the flush's PONG at the latest by one group: wait for them, bounded.
    await until(() => count('p') === NEIGHBOURS, 'the plain publishes stored', 3000).catch(() => undefined);
    return { requests: count('r'), plain: count('p') };
  } finally {
    reader.close();
  }
}

test('an event nested 1,000 deep is refused alone (EEVENT_INVALID); the 40 requests and 40 plain publishes beside it are stored and answered', async (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const svc = await service(t, file);
  const nc = await client(t, svc.port);
  // ~2 KB: SQLite's JSON parser (json_extract in the feed's indexes) refuses nesting past 1,000 levels.
  const { hostile, requests } = await burst(nc, event('deep-1000', nested(1000)), 'a');
  assert.deepEqual(
    requests.map((r) => r.error?.code ?? 'ok'),
    Array(NEIGHBOURS).fill('ok'),
    'every neighbour request answered with its id',
  );
  assert.deepEqual(
    requests.map((r) => r.id),
    Array.from({ length: NEIGHBOURS }, (_, i) => `a-r${i}`),
  );
  assert.equal(hostile.error?.code, 'EEVENT_INVALID', JSON.stringify(hostile));
  assert.equal(hostile.error?.field, 'data');
  assert.match(hostile.error!.reason, new RegExp(`nests deeper than ${MAX_EVENT_DEPTH} levels`));
  assert.deepEqual(await storedNeighbours(nc, file, 'a'), { requests: NEIGHBOURS, plain: NEIGHBOURS });
});

test('an event nested 20,000 deep gets an EEVENT_INVALID reply (no stack overflow swallowed without an answer)', async (t) => {
  const svc = await service(t, path.join(tmpDir(t), 'events.db'));
  const nc = await client(t, svc.port);
  const m = await within(
    nc.request('events.scanJobUpdated', sc.encode(event('deep-20000', nested(20_000))), { timeout: 5000 }),
    'the reply',
  );
  const reply = JSON.parse(sc.decode(m.data)) as Reply;
  assert.equal(reply.error?.code, 'EEVENT_INVALID');
  assert.equal(reply.error?.field, 'data');
  assert.match(reply.error!.reason, /nests deeper than/);
  // The service goes on: a normal event is stored.
  assert.deepEqual(
    JSON.parse(
      sc.decode((await nc.request('events.scanJobUpdated', sc.encode(event('after')), { timeout: 3000 })).data),
    ),
    { id: 'after' },
  );
});

test('an event the store itself refuses fails alone with EEVENT_STORE (ESTORE_REFUSED, no SQLite message); its group is retried and every neighbour stored once', async (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  // A real store file whose database refuses one id (a trigger, as a constraint or a corrupt index entry would):
  // the intake's validation passes it, the store's insert fails for that event only.
  new SqliteEventStore(file).close();
  const db = new Database(file);
  db.exec(
    `CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused by a trigger'); END`,
  );
  db.close();
  const svc = await service(t, file);
  const nc = await client(t, svc.port);
  const { hostile, requests } = await burst(nc, event('poison'), 'b');
  assert.deepEqual(
    requests.map((r) => r.error?.code ?? 'ok'),
    Array(NEIGHBOURS).fill('ok'),
    'every neighbour request answered with its id',
  );
  assert.equal(hostile.error?.code, 'EEVENT_STORE', JSON.stringify(hostile));
  assert.equal(hostile.error?.store_code, 'ESTORE_REFUSED', JSON.stringify(hostile));
  // SQLite's message (here the trigger's) is the service's log's, not the requester's.
  assert.doesNotMatch(hostile.error!.reason, /poison refused by a trigger|SQLITE/);
  assert.match(hostile.error!.reason, /not stored/);
  assert.deepEqual(await storedNeighbours(nc, file, 'b'), { requests: NEIGHBOURS, plain: NEIGHBOURS });
  // Stored once each, with consecutive sequences (retention relies on no gaps): the retry wrote nothing twice.
  const reader = new SqliteEventStore(file);
  t.after(() => reader.close());
  assert.equal(reader.count(), 2 * NEIGHBOURS);
  assert.equal(reader.lastSeq(), 2 * NEIGHBOURS, 'sequences without gaps');
  // A retry of one of the answered requests is a duplicate: it was stored exactly once.
  const again = JSON.parse(
    sc.decode((await nc.request('events.scanJobUpdated', sc.encode(event('b-r3')), { timeout: 3000 })).data),
  ) as Reply;
  assert.deepEqual(again, { id: 'b-r3', duplicate: true });
});

test('a refusal that would echo more than max_payload is still answered, shortened to fit', async (t) => {
  const MAX = 4096;
  const svc = await service(t, path.join(tmpDir(t), 'events.db'), { max_payload: MAX });
  const nc = await client(t, svc.port);
  // An unknown attribute whose name fills the payload: the refusal names the field, which alone would not fit.
  const name = 'X'.repeat(MAX - 80);
  const body = `{"specversion":"1.0","source":"/t","type":"cfgingest",${JSON.stringify(name)}:1}`;
  assert.ok(Buffer.byteLength(body) <= MAX);
  const m = await within(nc.request('events.cfgingest', sc.encode(body), { timeout: 3000 }), 'the reply');
  assert.ok(m.data.length <= MAX, `reply of ${m.data.length} bytes fits max_payload`);
  const reply = JSON.parse(sc.decode(m.data)) as Reply;
  assert.equal(reply.error?.code, 'EEVENT_INVALID');
  assert.ok(reply.error!.field!.startsWith('XXXX'), 'the field is named, shortened');
  assert.ok(reply.error!.field!.length < name.length);
});
