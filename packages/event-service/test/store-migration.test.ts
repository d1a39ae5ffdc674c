// The feed's filter columns (store-schema.ts FEED_COLUMNS): a store made by the layout before them (schema 1, the
// filters as json_extract indexes) is migrated when opened, its feed answering as before; and the columns the intake
// fills from the event it parsed (event-store.ts feedColumns) hold what SQLite's json_extract reads from the body.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { exitOf, spawnCli } from '@event-broker/test-support/child';
import { tmpDir } from '@event-broker/test-support/tmp';
import { SqliteEventStore } from '../src/handlers/store.js';
import { feedColumns, type FeedRead, type NewEvent } from '../src/handlers/event-store.js';

/** Schema 1 as store-schema.ts had it before the filter columns (the tables and indexes a migration meets). */
const SCHEMA_1 = `
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  stored_at INTEGER NOT NULL
);
CREATE TABLE held (seq INTEGER PRIMARY KEY, pending INTEGER NOT NULL);
CREATE TABLE deliveries (
  sink TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES events(seq),
  state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  PRIMARY KEY (sink, seq)
) WITHOUT ROWID;
CREATE INDEX deliveries_pending ON deliveries (sink, seq, next_at) WHERE state = 0;
CREATE INDEX deliveries_next ON deliveries (sink, next_at) WHERE state = 0;
CREATE INDEX deliveries_dead ON deliveries (sink, seq) WHERE state = 2;
CREATE INDEX deliveries_dead_seq ON deliveries (seq) WHERE state = 2;
CREATE INDEX events_type ON events (type, seq);
CREATE INDEX events_producer ON events (json_extract(body, '$.producer.id'), seq);
CREATE INDEX events_actor ON events (json_extract(body, '$.actor.id'), seq);
CREATE INDEX events_authid ON events (json_extract(body, '$.authid'), seq);
CREATE INDEX events_authtype ON events (json_extract(body, '$.authtype'), seq);
CREATE INDEX events_stored_at ON events (stored_at);
CREATE TABLE probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL);
`;

const BODIES: Record<string, unknown>[] = [
  { id: 'e1', type: 'a', producer: { id: 'p1' }, actor: { id: 'u1' }, authtype: 'app_user', authid: 'alice' },
  { id: 'e2', type: 'a', producer: { id: 'p2' }, authtype: 'api_key' },
  { id: 'e3', type: 'b', producer: { id: 'p1' }, actor: { id: 'u2' }, authtype: 'app_user', authid: 'bob' },
  { id: 'e4', type: 'b', authtype: 'unauthenticated' },
  // Not what validation lets through, but what a store may hold: each compares as json_extract's value did.
  { id: 'e5', type: 'b', producer: { id: 7 }, actor: { id: true }, authid: { x: 'y' } },
  { id: 'e6', type: 'a', producer: { id: 'p1' }, actor: { id: 'u1' }, authtype: 'app_user', authid: 'alice' },
];

/** Every filter the feed takes on these bodies' attributes, each way round. */
const READS: FeedRead[] = [
  ...['p1', 'p2', '7', 'none'].map((producer) => ({ limit: 10, producer })),
  ...['u1', 'u2', '1', 'true'].map((actor) => ({ limit: 10, actor })),
  ...['alice', 'bob', '{"x":"y"}'].map((authid) => ({ limit: 10, authid })),
  ...['app_user', 'api_key', 'unauthenticated'].map((authtype) => ({ limit: 10, authtype })),
  { limit: 10, producer: 'p1', actor: 'u1', authid: 'alice', authtype: 'app_user', order: 'desc' },
  { limit: 2, producer: 'p1', cursor: 1 },
  { limit: 10, type: 'a', authtype: 'app_user' },
];

/** What the schema-1 store's feed answered: the same filters as json_extract over the bodies. */
function schema1Feed(db: Database.Database, q: FeedRead): string[] {
  const where = ['seq > ?'];
  const args: unknown[] = [q.cursor ?? 0];
  if (q.order === 'desc') {
    where[0] = 'seq < ?';
    args[0] = q.cursor ?? Number.MAX_SAFE_INTEGER;
  }
  const paths = { producer: '$.producer.id', actor: '$.actor.id', authid: '$.authid', authtype: '$.authtype' };
  for (const [key, at] of Object.entries(paths)) {
    const value = q[key as keyof typeof paths];
    if (value === undefined) continue;
    where.push(`json_extract(body, '${at}') = ?`);
    args.push(value);
  }
  if (typeof q.type === 'string') {
    where.push('type = ?');
    args.push(q.type);
  }
  const order = q.order === 'desc' ? 'DESC' : '';
  return db
    .prepare<unknown[], { id: string }>(
      `SELECT id FROM events WHERE ${where.join(' AND ')} ORDER BY seq ${order} LIMIT ?`,
    )
    .all(...args, q.limit)
    .map((r) => r.id);
}

test('a store of the layout before the filter columns is migrated when opened: columns filled, column indexes read, the feed answers as before', (t) => {
  const file = path.join(tmpDir(t), 'schema1.db');
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.exec(SCHEMA_1);
  const insert = old.prepare('INSERT INTO events (id, type, body, stored_at) VALUES (?, ?, ?, ?)');
  BODIES.forEach((b, i) => insert.run(b.id, b.type, JSON.stringify(b), 1000 + i));
  old.exec(
    "INSERT INTO held (seq, pending) VALUES (1, 1); INSERT INTO deliveries (sink, seq, state) VALUES ('s', 1, 0)",
  );
  const before = READS.map((q) => schema1Feed(old, q));
  old.close();
  assert.ok(
    before.some((ids) => ids.length > 1),
    'the reads select something',
  );

  const store = new SqliteEventStore(file);
  t.after(() => store.close());
  assert.equal(store.migrated, true);
  assert.deepEqual(
    READS.map((q) => store.feed(q).map((e) => e.id)),
    before,
    'every filter answers as on schema 1',
  );
  assert.equal(store.held, 1, 'held kept');
  assert.deepEqual(
    store.due('s', Date.now(), 10).map((d) => d.id),
    ['e1'],
    'deliveries kept',
  );

  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  const indexes = db
    .prepare<[], { name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name IN ('events_producer', 'events_actor', 'events_authid', 'events_authtype') ORDER BY name",
    )
    .all();
  assert.equal(indexes.length, 4);
  for (const i of indexes) assert.doesNotMatch(i.sql, /json_extract/, i.name);
  for (const column of ['producer', 'actor', 'authid', 'authtype']) {
    const plan = db
      .prepare<[], { detail: string }>(
        `EXPLAIN QUERY PLAN SELECT seq FROM events WHERE seq > 0 AND ${column} = 'x' ORDER BY seq LIMIT 10`,
      )
      .all();
    assert.ok(
      plan.some((p) => p.detail.includes(`events_${column}`)),
      `${column}: ${JSON.stringify(plan)}`,
    );
  }

  // Appends after it, given the columns as the intake gives them, are filtered with the rest.
  const body = { id: 'e7', type: 'a', producer: { id: 'p2' }, authtype: 'api_key' };
  store.append([{ id: 'e7', type: 'a', body: JSON.stringify(body), sinks: [], columns: feedColumns(body) }]);
  assert.deepEqual(
    store.feed({ limit: 10, producer: 'p2' }).map((e) => e.id),
    ['e2', 'e7'],
  );
  store.close();
  const again = new SqliteEventStore(file);
  assert.equal(again.migrated, false, 'migrated once');
  again.close();
});

test("the columns the intake gives hold what SQLite's json_extract reads from the body; any but a string, it reads them", (t) => {
  const given = new SqliteEventStore(path.join(tmpDir(t), 'given.db'));
  const read = new SqliteEventStore(path.join(tmpDir(t), 'read.db'));
  t.after(() => {
    given.close();
    read.close();
  });
  assert.equal(feedColumns(BODIES[4]!), undefined, 'not strings: left to the store');
  const events = (withColumns: boolean): NewEvent[] =>
    BODIES.map((b) => ({
      id: b.id as string,
      type: b.type as string,
      body: JSON.stringify(b),
      sinks: [],
      ...(withColumns && { columns: feedColumns(b) }),
    }));
  given.append(events(true));
  read.append(events(false));
  const rows = (s: SqliteEventStore) => {
    const db = new Database(s.file, { readonly: true });
    try {
      return db
        .prepare(
          'SELECT id, producer, typeof(producer) AS tp, actor, typeof(actor) AS ta, authid, typeof(authid) AS ti, authtype FROM events ORDER BY seq',
        )
        .all();
    } finally {
      db.close();
    }
  };
  const fromBody = rows(read);
  assert.deepEqual(rows(given), fromBody);
  assert.ok(JSON.stringify(fromBody).includes('"tp":"integer"'), 'a number stays a number');
  for (const q of READS) {
    assert.deepEqual(
      given.feed(q).map((e) => e.id),
      read.feed(q).map((e) => e.id),
      JSON.stringify(q),
    );
  }
});

/** Schema 0 as the first release wrote it (store.test.ts has its migration): the held count a column of events. */
const SCHEMA_0 = `
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  body TEXT NOT NULL, stored_at INTEGER NOT NULL, pending INTEGER NOT NULL DEFAULT 0);
CREATE TABLE deliveries (sink TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES events(seq), state INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
  PRIMARY KEY (sink, seq)) WITHOUT ROWID;
CREATE INDEX deliveries_due ON deliveries (sink, state, next_at, seq);
CREATE INDEX events_held ON events (pending) WHERE pending > 0;
CREATE INDEX events_producer ON events (json_extract(body, '$.producer.id'), seq);
`;

/**
 * A store of `layout` with 30,000 events, opened by two processes at once: what each said (whether it migrated the
 * store, how many events its feed finds by producer). Enough rows that the migration outlasts the second process's
 * start: it finds the layout old, then waits for the first's write lock.
 */
async function openedTogether(t: TestContext, layout: string): Promise<{ migrated: boolean; p1: number }[]> {
  const dir = tmpDir(t);
  const file = path.join(dir, 'old.db');
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.exec(layout);
  const insert = old.prepare('INSERT INTO events (id, type, body, stored_at) VALUES (?, ?, ?, ?)');
  const pad = 'x'.repeat(500);
  old.transaction(() => {
    for (let i = 0; i < 30_000; i++) {
      const body = { id: `e${i}`, type: 'a', producer: { id: `p${i % 10}` }, authtype: 'app_user', data: { pad } };
      insert.run(body.id, body.type, JSON.stringify(body), i);
    }
  })();
  old.close();
  const script = path.join(dir, 'open.mjs');
  const store = new URL('../src/handlers/store.js', import.meta.url).href;
  fs.writeFileSync(
    script,
    `const { SqliteEventStore } = await import(${JSON.stringify(store)});
const s = new SqliteEventStore(process.argv[2], { create: false });
console.log(JSON.stringify({ migrated: s.migrated, p1: s.feed({ limit: 10000, producer: 'p1' }).length }));
s.close();
`,
  );
  const runs = [spawnCli(t, script, [file]), spawnCli(t, script, [file])];
  const outs = await Promise.all(runs.map((r) => exitOf(r)));
  for (const o of outs) assert.equal(o.code, 0, o.stderr);
  return outs.map((o) => JSON.parse(o.stdout) as { migrated: boolean; p1: number });
}

for (const [name, layout] of [
  ['schema 1 (before the filter columns)', SCHEMA_1],
  ['schema 0 (before the held table)', SCHEMA_0],
] as const) {
  test(`two processes opening one store of ${name} together: one migrates it, the other waits, opens it, and says it did not`, async (t) => {
    const said = await openedTogether(t, layout);
    assert.deepEqual(
      said.map((s) => s.p1),
      [3000, 3000],
      'each reads the filter column',
    );
    assert.deepEqual(said.map((s) => s.migrated).sort(), [false, true], 'one migrated it');
  });
}

test('a store of a layout newer than this one is refused when opened, untouched; this layout is written in the file', (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const made = new SqliteEventStore(file);
  made.append([{ id: 'e1', type: 'a', body: '{"id":"e1","type":"a"}', sinks: ['s'] }]);
  made.close();
  const db = new Database(file);
  t.after(() => db.close());
  assert.equal(db.pragma('user_version', { simple: true }), 2, 'the layout the store was made with');
  // What a later version would write: its own layout, tables this one does not know.
  db.exec('CREATE TABLE later (x); PRAGMA user_version = 3');
  assert.throws(
    () => new SqliteEventStore(file),
    (err: Error & { code?: unknown }) =>
      err.code === 'ESTORE_OPEN' && /layout 3 .*newer than this version's \(2\)/.test(err.message),
  );
  assert.equal(db.pragma('user_version', { simple: true }), 3, 'left as it was');
  assert.equal(db.prepare('SELECT COUNT(*) AS n FROM events').pluck().get(), 1);
});
