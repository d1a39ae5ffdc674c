// The durable store: the conformance suite on SQLite (a file, and in memory), and that what `append` returned for
// survives a SIGKILL of the writing process: the commit is on disk before the caller can acknowledge anything. And
// the store's housekeeping pass (store-housekeeping.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createLogger } from '@event-broker/shared';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { StoreHousekeeping } from '../src/handlers/store-housekeeping.js';
import { until } from '@event-broker/test-support/wait';
import { storeConformance } from './helpers/store-conformance.js';
import { tmpDir } from '@event-broker/test-support/tmp';

let lastFile = '';
storeConformance('SQLite file', {
  open(t) {
    lastFile = path.join(tmpDir(t), 'nested', 'events.db');
    return new SqliteEventStore(lastFile);
  },
  reopen: () => new SqliteEventStore(lastFile),
});

storeConformance('SQLite in memory', { open: () => new SqliteEventStore(':memory:') });

test('every event a killed writer reported stored is there after SIGKILL', async (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const storeModule = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/handlers/store.js');
  // The child appends batches and prints each batch's ids after append returns; it is killed mid-stream.
  const script = `
    const { SqliteEventStore } = await import(${JSON.stringify(storeModule)});
    const s = new SqliteEventStore(${JSON.stringify(file)});
    for (let b = 0; ; b++) {
      const batch = Array.from({ length: 20 }, (_, i) => ({ id: 'e' + b + '-' + i, type: 't', body: '{}', sinks: ['feed'] }));
      s.append(batch);
      process.stdout.write(batch.map((e) => e.id).join('\\n') + '\\n');
      await new Promise((r) => setImmediate(r));
    }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the child stored nothing within 10 s')), 10_000);
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.split('\n').length > 2000) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve();
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const acked = out.split('\n').slice(0, -1); // the last line may be cut
  assert.ok(acked.length >= 2000);
  const s = new SqliteEventStore(file);
  t.after(() => s.close());
  const missing = acked.filter((id) => s.get(id) === undefined);
  assert.deepEqual(missing, [], 'every reported event survived');
  assert.equal(s.held, s.count(), 'every stored event is still held for its sink');
});

test('two connections to one file share the held count; tryDelivered gives way to a held write lock', (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const intake = new SqliteEventStore(file);
  t.after(() => intake.close());
  // The sink worker's connection (sink-pool.ts) adopts the intake's count.
  const sinks = new SqliteEventStore(file, { heldCounter: intake.heldCounter });
  t.after(() => sinks.close());
  const [a, b] = intake.append(['a', 'b'].map((id) => ({ id, type: 't', body: '{}', sinks: ['feed'] })));
  assert.equal(sinks.held, 2);
  // Another writer holds the lock (as the intake does through its commit): the mark neither waits nor writes.
  const other = new Database(file);
  t.after(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  assert.equal(sinks.tryDelivered('feed', [a!.seq]), undefined);
  assert.equal(intake.held, 2);
  other.exec('COMMIT');
  assert.equal(sinks.tryDelivered('feed', [a!.seq]), 1);
  assert.equal(intake.held, 1, 'the mark made on one connection is counted on the other');
  assert.equal(sinks.delivered('feed', [b!.seq]), 1);
  assert.equal(intake.held, 0);
  intake.refresh();
  assert.equal(sinks.held, 0, 'a refresh recounts from the file for both');
  assert.deepEqual(intake.due('feed', Date.now(), 10), []);
});

test('a housekeeping pass recounts what another process made held, applies the retention read now, then re-checks the sinks; none before the store is open; a failed one is logged', async (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const store = new SqliteEventStore(file);
  t.after(() => store.close());
  const body = (id: string) => JSON.stringify({ specversion: '1.0', id, source: 's', type: 't' });
  const [e0] = store.append(
    ['e0', 'e1', 'e2', 'e3'].map((id, i) => ({ id, type: 't', body: body(id), sinks: i === 0 ? ['s'] : [] })),
  );
  store.dead('s', e0!.seq, 'HTTP 500');
  // The dead-letter CLI replays it through a connection (a process) of its own: this store's count does not know.
  const cli = new SqliteEventStore(file);
  assert.equal(cli.replay('s'), 1);
  cli.close();
  assert.equal(store.held, 0);

  const lines: { msg: string; pruned?: number; err?: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  let open = false;
  let maxEvents = 1000;
  let passes = 0;
  const housekeeping = new StoreHousekeeping({
    store: () => store,
    storeOpen: () => open,
    retention: () => ({ maxEvents, maxAgeMs: 3_600_000 }),
    logger: createLogger({ format: 'json', level: 'debug', name: 'test', destination }),
    onPass: () => passes++,
  });
  t.after(() => housekeeping.stop());

  housekeeping.pass();
  assert.equal(passes, 0, 'nothing while the store is not open');
  assert.equal(store.held, 0);

  open = true;
  maxEvents = 1;
  housekeeping.start(); // a pass at once
  housekeeping.stop();
  assert.equal(passes, 1);
  assert.equal(store.held, 1, 'the replayed event counted again');
  assert.deepEqual(
    store.feed({ limit: 10 }).map((e) => e.id),
    ['e0', 'e3'],
    'the newest one kept, and the held one',
  );
  await until(() => lines.some((l) => l.msg === 'event feed retention' && l.pruned === 2), 'the retention logged');

  store.close();
  housekeeping.pass();
  assert.equal(passes, 2, 'the sinks re-check even when the pass failed');
  await until(
    () => lines.some((l) => l.msg === 'event feed retention failed' && l.err !== undefined),
    'the failure logged',
  );
});

test('[store] path: relative to the config file, absolute kept, default data/events.db under the cwd', (t) => {
  const dir = tmpDir(t);
  const conf = path.join(dir, 'conf', 'service.toml');
  fs.mkdirSync(path.dirname(conf));
  fs.writeFileSync(conf, '[store]\npath = "state/events.db"\n');
  assert.equal(
    loadServiceConfig({ configPath: conf }).config.store?.path,
    path.join(dir, 'conf', 'state', 'events.db'),
  );
  fs.writeFileSync(conf, `[store]\npath = ${JSON.stringify(path.join(dir, 'abs.db'))}\n`);
  assert.equal(loadServiceConfig({ configPath: conf }).config.store?.path, path.join(dir, 'abs.db'));
  assert.equal(resolveServiceConfig({}).store, undefined, 'no [store]: no event handlers');
  assert.equal(resolveServiceConfig({ store: {} }).store?.path, path.resolve('data', 'events.db'));
  assert.equal(resolveServiceConfig({ store: { path: 'x/e.db' } }).store?.path, path.resolve('x/e.db'));
  assert.throws(() => resolveServiceConfig({ store: { path: '' } }), /store\.path: must not be empty/);
});

test('a store written before the held table opens with its held events, pending and dead deliveries intact', (t) => {
  const file = path.join(tmpDir(t), 'old.db');
  // Schema 0 as the first release wrote it: the held count a column of events, delivered deliveries kept as state 1.
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  old.exec(`
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
      body TEXT NOT NULL, stored_at INTEGER NOT NULL, pending INTEGER NOT NULL);
    CREATE TABLE deliveries (sink TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES events(seq), state INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL DEFAULT 0, last_error TEXT,
      PRIMARY KEY (sink, seq)) WITHOUT ROWID;
    CREATE INDEX deliveries_due ON deliveries (sink, state, next_at, seq);
    CREATE INDEX deliveries_pending ON deliveries (sink, seq, next_at) WHERE state = 0;
    CREATE INDEX events_held ON events (pending) WHERE pending > 0;
    CREATE INDEX deliveries_seq ON deliveries (seq, state);
    INSERT INTO events (id, type, body, stored_at, pending) VALUES
      ('a', 't', '{"n":1}', 1, 0), ('b', 't', '{"n":2}', 2, 2), ('c', 't', '{"n":3}', 3, 0);
    INSERT INTO deliveries (sink, seq, state, attempts, last_error) VALUES
      ('feed', 1, 1, 1, NULL), ('feed', 2, 0, 3, 'HTTP 500'), ('cfg', 2, 0, 0, NULL), ('feed', 3, 2, 5, 'HTTP 404');
  `);
  old.close();

  const store = new SqliteEventStore(file);
  t.after(() => store.close());
  assert.equal(store.held, 1, 'b is held: two deliveries pending');
  assert.deepEqual(
    store.due('feed', Number.MAX_SAFE_INTEGER, 10).map((d) => [d.id, d.attempts, d.lastError]),
    [['b', 3, 'HTTP 500']],
  );
  assert.deepEqual(store.sinkCounts('feed'), { pending: 1, dead: 1 });
  assert.deepEqual(
    store.deadLetters().map((d) => [d.sink, d.id, d.attempts]),
    [['feed', 'c', 5]],
  );
  // Delivering b to both sinks releases it; a, delivered before, and b can then be pruned, c (a dead letter) not.
  assert.equal(store.delivered('feed', [2]), 1);
  assert.equal(store.held, 1, 'cfg still wants b');
  assert.equal(store.delivered('cfg', [2]), 1);
  assert.equal(store.held, 0);
  assert.equal(store.prune({ maxEvents: 0, olderThan: 0 }), 2);
  assert.deepEqual([store.get('a'), store.get('b'), store.get('c')?.id], [undefined, undefined, 'c']);
  // Appends after the migration keep numbering after the old events.
  assert.equal(store.append([{ id: 'd', type: 't', body: '{}', sinks: ['feed'] }])[0]!.seq, 4);
  store.close();
  const again = new SqliteEventStore(file);
  t.after(() => again.close());
  assert.equal(again.held, 1, 'reopened: already migrated, d held');
});

test('a store file from before the authcontext indexes gets them when opened, and the feed filters use them', (t) => {
  const file = path.join(tmpDir(t), 'pre-auth.db');
  const first = new SqliteEventStore(file);
  first.append([
    { id: 'a', type: 't', body: JSON.stringify({ id: 'a', authtype: 'app_user', authid: 'alice' }), sinks: [] },
    { id: 'b', type: 't', body: JSON.stringify({ id: 'b', authtype: 'api_key' }), sinks: [] },
  ]);
  first.close();
  // The layout before issue 12: the same, without the two indexes.
  const older = new Database(file);
  older.exec('DROP INDEX events_authid; DROP INDEX events_authtype;');
  older.close();

  const store = new SqliteEventStore(file);
  t.after(() => store.close());
  const db = new Database(file, { readonly: true });
  t.after(() => db.close());
  const indexes = db
    .prepare<[], { name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'events_auth%' ORDER BY name",
    )
    .all();
  assert.deepEqual(
    indexes.map((i) => i.name),
    ['events_authid', 'events_authtype'],
  );
  for (const [column, index] of [
    ['authid', 'events_authid'],
    ['authtype', 'events_authtype'],
  ] as const) {
    const plan = db
      .prepare<[], { detail: string }>(
        `EXPLAIN QUERY PLAN SELECT seq FROM events WHERE seq > 0 AND ${column} = 'x' ORDER BY seq LIMIT 10`,
      )
      .all();
    assert.ok(
      plan.some((p) => p.detail.includes(index)),
      `${column}: ${JSON.stringify(plan)}`,
    );
  }
  assert.deepEqual(
    store.feed({ limit: 10, authid: 'alice' }).map((e) => e.id),
    ['a'],
  );
  assert.deepEqual(
    store.feed({ limit: 10, authtype: 'api_key' }).map((e) => e.id),
    ['b'],
  );
});

test('a duplicate id uses up no sequence number, so retention by count keeps exactly the newest max_events', (t) => {
  const store = new SqliteEventStore(path.join(tmpDir(t), 'e.db'));
  t.after(() => store.close());
  const ev = (id: string) => ({ id, type: 't', body: '{}', sinks: [] });
  const [a] = store.append([ev('a')]);
  const [dup, b] = store.append([ev('a'), ev('b')]);
  assert.deepEqual([dup!.duplicate, dup!.seq], [true, a!.seq]);
  assert.equal(b!.seq, a!.seq + 1, 'b follows a with no gap');
  store.append([ev('b'), ev('c'), ev('a'), ev('d')]);
  assert.equal(store.prune({ maxEvents: 3, olderThan: 0 }), 1);
  assert.deepEqual(
    store.feed({ limit: 10 }).map((e) => e.id),
    ['b', 'c', 'd'],
  );
});

test("a body nested past SQLite's JSON depth (its filter columns read with json_extract) fails alone; the rest of its group commits", (t) => {
  const s = new SqliteEventStore(path.join(tmpDir(t), 'events.db'));
  t.after(() => s.close());
  const body = (id: string, data: string) =>
    `{"specversion":"1.0","id":"${id}","source":"/t","type":"t","producer":{"id":"p"},"data":${data}}`;
  const deep = '['.repeat(1000) + ']'.repeat(1000);
  const res = s.append([
    { id: 'a', type: 't', body: body('a', '1'), sinks: ['feed'] },
    { id: 'deep', type: 't', body: body('deep', deep), sinks: ['feed'] },
    { id: 'b', type: 't', body: body('b', '2'), sinks: ['feed'] },
  ]);
  assert.deepEqual(
    res.map((r) => [r.id, r.seq, r.error]),
    [
      ['a', 1, undefined],
      ['deep', 0, 'malformed JSON (SQLITE_ERROR)'],
      ['b', 2, undefined],
    ],
  );
  assert.equal(s.held, 2);
  assert.deepEqual(
    s.feed({ limit: 10, producer: 'p' }).map((e) => e.id),
    ['a', 'b'],
    'the stored ones are indexed',
  );
});

test('a store file removed or replaced while open refuses appends (ESTORE_GONE) naming the file; nothing is written', (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  const s = new SqliteEventStore(file);
  t.after(() => s.close());
  s.append([{ id: 'a', type: 't', body: '{}', sinks: [] }]);
  fs.renameSync(file, path.join(dir, 'moved.db'));
  const gone = (re: RegExp) => (err: Error & { code?: string }) =>
    err.name === 'EventStoreError' &&
    err.code === 'ESTORE_GONE' &&
    err.message.startsWith(`store.path: ${file}: `) &&
    re.test(err.message);
  assert.throws(() => s.append([{ id: 'b', type: 't', body: '{}', sinks: [] }]), gone(/was removed/));
  assert.throws(() => s.verifyFile(), gone(/was removed/));
  fs.writeFileSync(file, 'another file');
  assert.throws(() => s.append([{ id: 'b', type: 't', body: '{}', sinks: [] }]), gone(/was replaced/));
  assert.equal(s.get('b'), undefined);
});

test('the service threads open the file the service created, never a new one; errors name the setting given', (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  assert.throws(
    () => new SqliteEventStore(file, { create: false }),
    (err: Error & { code?: string }) => err.code === 'ESTORE_OPEN' && /does not exist/.test(err.message),
  );
  assert.ok(!fs.existsSync(file));
  fs.writeFileSync(file, '');
  assert.throws(
    () => new SqliteEventStore(file, { key: '--store' }),
    (err: Error) => err.message.startsWith(`--store: ${file}: the file is empty`),
  );
});
