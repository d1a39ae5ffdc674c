// A broken store must not say it is healthy (issue 11, finding 5). A store that breaks while the service runs shows
// in /healthz (nats-server's shape: 503 {"status":"unavailable","error":...}) and every request to events.<type> is
// answered EEVENT_STORE with the store's code. Neither a reply nor /healthz nor /handlerz carries the file or
// SQLite's message (anyone reaching the monitoring port would learn the server's file layout): they say which part,
// the code, the setting and a reason; the file and the full message are the log's. The sinks' worker that cannot run
// shows in its pool's health. Real processes, files, sockets, official client. A store refused at start is
// store-health-start.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { connect, StringCodec } from 'nats';
import { createLogger } from '@event-broker/shared';
import { startEventService } from '../src/index.js';
import { SinkPool } from '../src/handlers/sink-pool.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { logLine, signal } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { cli } from './helpers/cli.js';
import { startReceiver } from '@event-broker/test-support/http';

const sc = StringCodec();

/**
 * What /healthz and /handlerz may say of the store: the setting and the code, never the file, its directory or
 * SQLite's own words (`raw`: what the log has that they must not).
 */
function assertPublicStoreProblem(text: string, dir: string, code: string, raw: string[] = []): void {
  assert.ok(!text.includes(dir), `no path: ${text}`);
  assert.ok(!text.includes('events.db'), `no file name: ${text}`);
  assert.ok(!/SQLITE_/.test(text), `no SQLite code: ${text}`);
  for (const r of raw) assert.ok(!text.includes(r), `not "${r}": ${text}`);
  assert.ok(text.includes('store.path'), `the setting: ${text}`);
  assert.ok(text.includes(code), `the code ${code}: ${text}`);
}

/** What a NATS client may read in an EEVENT_STORE reply: no file-system layout, no SQLite message or code. */
function assertNoStoreDetail(reply: unknown, dir: string): void {
  const text = JSON.stringify(reply);
  assert.ok(!text.includes(dir), `no path in the reply: ${text}`);
  assert.ok(!text.includes('events.db'), `no file name in the reply: ${text}`);
  assert.ok(!/SQLITE|sqlite|store\.path/.test(text), `no SQLite message or setting in the reply: ${text}`);
}

test('a store removed while the service runs: requests answered EEVENT_STORE with ESTORE_GONE and no path; /healthz says so without the path; the log line (with the event id) names the file', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  const conf = write(dir, 'service.toml', [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    '[monitor]',
    'host = "127.0.0.1"',
    'port = 0',
    '[store]',
    `path = ${JSON.stringify(file)}`,
    '[log]',
    'format = "json"',
  ]);
  const run = cli(t, ['--config', conf]);
  const port = (await logLine(run, 'listening for client connections')).port as number;
  const monitor = (await logLine(run, 'monitoring listener started')).port as number;
  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'connect');
  t.after(() => nc.close());
  const ask = async (id: string) =>
    JSON.parse(
      sc.decode(
        (
          await nc.request(
            'events.cfgingest',
            sc.encode(JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'cfgingest' })),
            { timeout: 15_000 },
          )
        ).data,
      ),
    ) as { id?: string; error?: { code: string; store_code?: string; reason: string } };
  const healthz = async () => {
    const res = await within(fetch(`http://127.0.0.1:${monitor}/healthz`), 'GET /healthz');
    return { status: res.status, body: await res.text() };
  };
  assert.deepEqual(await ask('before'), { id: 'before' });
  assert.deepEqual(await healthz(), { status: 200, body: '{"status":"ok"}' });

  // The file goes (a mistaken clean-up, an unmounted volume): what the service writes now would be lost at restart.
  fs.rmSync(file);
  const refused = await ask('after');
  t.diagnostic(`reply: ${JSON.stringify(refused)}`);
  // What the requester needs to act: not stored, why in a stable code, and that a retry with the same id is safe.
  assert.equal(refused.error?.code, 'EEVENT_STORE', JSON.stringify(refused));
  assert.equal(refused.error?.store_code, 'ESTORE_GONE');
  assert.match(refused.error!.reason, /not stored/);
  assert.match(refused.error!.reason, /retrying with the same id is safe/);
  assertNoStoreDetail(refused, dir);

  // The detail stays where the operator reads it: the log line, under the event's id.
  const line = await logLine(run, 'event store failed');
  t.diagnostic(`log: ${JSON.stringify(line)}`);
  assert.deepEqual(line.request_ids, ['after']);
  assert.equal(line.store_code, 'ESTORE_GONE');
  assert.ok(String(line.err).includes(`store.path: ${file}: was removed`), String(line.err));
  const h = await healthz();
  assert.equal(h.status, 503);
  const body = JSON.parse(h.body) as { status: string; error: string };
  assert.deepEqual(Object.keys(body), ['status', 'error']);
  assert.equal(body.status, 'unavailable');
  assert.match(body.error, /event store/);
  assert.match(body.error, /was removed/);
  assertPublicStoreProblem(body.error, dir, 'ESTORE_GONE');
  // /healthz found it without a commit: the log names the file for the operator.
  const unusable = await logLine(run, 'event store unavailable');
  assert.ok(String(unusable.err).includes(`store.path: ${file}: was removed`), String(unusable.err));
  assert.ok(!fs.existsSync(file), 'no new, empty store was created in its place');
});

test('commits that fail as a whole: /healthz 503 naming the store, without path or SQLite text, until a probe commit succeeds; requests answered EEVENT_STORE with ESTORE_WRITE, no path', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: file },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  const ask = async (id: string) =>
    JSON.parse(
      sc.decode(
        (
          await nc.request(
            'events.cfgingest',
            sc.encode(JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'cfgingest' })),
            { timeout: 15_000 },
          )
        ).data,
      ),
    ) as { id?: string; error?: { code: string; store_code?: string; reason: string } };
  const healthz = async () => {
    const res = await within(fetch(`http://127.0.0.1:${svc.monitorPort}/healthz`), 'GET /healthz', 5000);
    return { status: res.status, body: JSON.parse(await res.text()) as { status: string; error?: string } };
  };
  assert.deepEqual(await ask('before'), { id: 'before' });

  // Every write now fails as a whole: RAISE(ROLLBACK) undoes the transaction, as a full disk or an I/O error does.
  const db = new Database(file);
  t.after(() => db.close());
  db.exec(`
    CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ROLLBACK, 'writes refused'); END;
    CREATE TRIGGER refuse_probe BEFORE INSERT ON probe BEGIN SELECT RAISE(ROLLBACK, 'writes refused'); END;
  `);
  const refused = await ask('during');
  assert.equal(refused.error?.code, 'EEVENT_STORE');
  assert.equal(refused.error?.store_code, 'ESTORE_WRITE');
  assertNoStoreDetail(refused, dir);
  assert.ok(!refused.error!.reason.includes('writes refused'), `no SQLite message: ${refused.error!.reason}`);
  const down = await healthz();
  assert.equal(down.status, 503);
  assert.match(down.body.error!, /event store commits fail \(since .*\): store\.path: /);
  assertPublicStoreProblem(down.body.error!, dir, 'ESTORE_WRITE', ['writes refused']);
  assert.equal((await healthz()).status, 503, 'still: the probe commit fails too');
  t.diagnostic(`/healthz: ${JSON.stringify(down.body)}`);

  // The store works again: with no event to prove it, the next /healthz's probe does.
  db.exec('DROP TRIGGER refuse_events; DROP TRIGGER refuse_probe;');
  assert.deepEqual(await healthz(), { status: 200, body: { status: 'ok' } });
  assert.deepEqual(await ask('during'), { id: 'during' }, 'the refused event, sent again, is stored');
});

test('a reload that adds [handlers] while the store cannot be opened: the service stays up, /healthz 503 and /handlerz say so without the path, events answered EEVENT_STORE with ESTORE_OPEN, no path; once it opens, events are stored and delivered', async (t) => {
  const dir = tmpDir(t);
  const delivered: string[] = [];
  const receiver = await startReceiver(t, { status: (_n, d) => (delivered.push(d.id), 204) });
  // [handlers] without [store]: the store's default place, data/events.db under the working directory, where a
  // regular file named `data` is in the way.
  fs.writeFileSync(path.join(dir, 'data'), 'not a directory');
  const base = [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    'data_dir = "run"',
    '[monitor]',
    'host = "127.0.0.1"',
    'port = 0',
    '[log]',
    'format = "json"',
  ];
  const conf = write(dir, 'service.toml', base);
  const run = cli(t, ['--config', conf], dir);
  const port = (await logLine(run, 'listening for client connections')).port as number;
  const monitor = (await logLine(run, 'monitoring listener started')).port as number;
  write(dir, 'service.toml', [...base, '[handlers]', `event_feed = "${receiver.addr}"`]);
  await signal(run, 'SIGHUP');
  await logLine(run, 'event store cannot be opened: events are refused until it can');
  const file = path.join(dir, 'data', 'events.db');
  const res = await within(fetch(`http://127.0.0.1:${monitor}/healthz`), 'GET /healthz');
  const body = (await res.json()) as { status: string; error: string };
  assert.equal(res.status, 503);
  assert.equal(body.status, 'unavailable');
  assert.match(body.error, /event store cannot be opened: store\.path: its directory cannot be made/);
  assertPublicStoreProblem(body.error, dir, 'ESTORE_OPEN');
  const handlerz = (await (await within(fetch(`http://127.0.0.1:${monitor}/handlerz`), 'GET /handlerz')).json()) as {
    handlers: { store_error?: { store_code: string; setting: string; reason: string } };
  };
  t.diagnostic(`/handlerz store_error: ${JSON.stringify(handlerz.handlers.store_error)}`);
  assert.deepEqual(handlerz.handlers.store_error, {
    store_code: 'ESTORE_OPEN',
    setting: 'store.path',
    reason: 'its directory cannot be made: a file is in the way',
  });
  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'connect');
  t.after(() => nc.close());
  const m = await within(
    nc.request(
      'events.cfgingest',
      sc.encode(JSON.stringify({ specversion: '1.0', id: 'x', source: '/t', type: 'cfgingest' })),
      { timeout: 5000 },
    ),
    'the reply',
  );
  const reply = JSON.parse(sc.decode(m.data)) as { error?: { code: string; store_code?: string; reason: string } };
  assert.equal(reply.error?.code, 'EEVENT_STORE');
  assert.equal(reply.error?.store_code, 'ESTORE_OPEN');
  assertNoStoreDetail(reply, dir);
  // The log has it, under the event's id.
  const line = await logLine(run, 'event store cannot be used: event refused', { fields: { id: 'x' } });
  assert.ok(String(line.err).includes(`store.path: ${file}: its directory cannot be made`), String(line.err));

  // The obstacle goes: the store opens on a later try (at most a second apart), the sink worker starts with it.
  fs.rmSync(path.join(dir, 'data'));
  const send = async () =>
    JSON.parse(
      sc.decode(
        (
          await nc.request(
            'events.cfgingest',
            sc.encode(JSON.stringify({ specversion: '1.0', id: 'y', source: '/t', type: 'cfgingest' })),
            { timeout: 5000 },
          )
        ).data,
      ),
    ) as {
      id?: string;
      error?: { code: string };
    };
  // Until it opens, every attempt is refused for the store.
  const stored = await eventually(
    send,
    (r) => {
      if (r.id !== 'y') assert.equal(r.error?.code, 'EEVENT_STORE');
      return r.id === 'y';
    },
    'the store opens and the event is stored',
  );
  assert.deepEqual(stored, { id: 'y' }, 'an event stored once the store opens');
  assert.ok(fs.statSync(file).size > 0);
  await until(() => delivered.includes('y'), 'the sink, started with the store, delivers it', 10_000);
  assert.equal((await within(fetch(`http://127.0.0.1:${monitor}/healthz`), 'GET /healthz')).status, 200);
});

test("the sinks' worker that cannot open the store shows in the pool's health until a restart succeeds", async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  fs.writeFileSync(file, Buffer.alloc(8192, 'garbage '));
  const logger = createLogger({ format: 'json', level: 'silent', name: 'test' });
  const pool = new SinkPool({
    file,
    heldCounter: new Int32Array(new SharedArrayBuffer(4)),
    logger,
    onResolved: () => {},
  });
  t.after(() => pool.close());
  pool.add({ name: 'event_feed', url: 'http://127.0.0.1:9/' });
  await until(() => pool.health() !== undefined, 'the worker failure shows', 5000);
  assert.match(pool.health()!, /sink worker cannot run/);
  assert.match(pool.health()!, /not an SQLite database, or damaged/);
  // SQLite's own text ("file is not a database") and the file are the log's ('sink worker failed').
  assertPublicStoreProblem(pool.health()!, dir, 'ESTORE_CORRUPT', ['file is not a database']);
  // The file is put right: the next restart (1 s after the first exit) opens it and the pool is healthy again.
  fs.rmSync(file);
  new SqliteEventStore(file).close();
  await until(
    () => pool.health() === undefined,
    'the restarted worker runs',
    10_000,
    () => String(pool.health()),
  );
});

test("while a reload's store cannot be opened, the feed and dead-letter APIs answer 503 / EFEED_STORE with the store's code, never the path; the log has it", async (t) => {
  const dir = tmpDir(t);
  fs.writeFileSync(path.join(dir, 'data'), 'not a directory');
  // data_dir elsewhere: its patches directory must not be under the `data` file in the store's way.
  const base = [
    '[service]',
    'host = "127.0.0.1"',
    'port = 0',
    'data_dir = "run"',
    '[monitor]',
    'host = "127.0.0.1"',
    'port = 0',
    '[log]',
    'format = "json"',
  ];
  const conf = write(dir, 'service.toml', base);
  const run = cli(t, ['--config', conf], dir);
  const port = (await logLine(run, 'listening for client connections')).port as number;
  const monitor = (await logLine(run, 'monitoring listener started')).port as number;
  write(dir, 'service.toml', [...base, '[handlers]', 'event_feed = "127.0.0.1:9"']);
  await signal(run, 'SIGHUP');
  await logLine(run, 'event store cannot be opened: events are refused until it can');
  const file = path.join(dir, 'data', 'events.db');
  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'connect');
  t.after(() => nc.close());

  for (const q of [{}, { id: 'x' }]) {
    const m = await within(
      nc.request('$EVENTS.FEED.QUERY', sc.encode(JSON.stringify(q)), { timeout: 5000 }),
      'the feed reply',
    );
    const reply = JSON.parse(sc.decode(m.data)) as { error?: { code: string; store_code?: string; reason: string } };
    t.diagnostic(`$EVENTS.FEED.QUERY ${JSON.stringify(q)}: ${JSON.stringify(reply)}`);
    assert.equal(reply.error?.code, 'EFEED_STORE');
    assert.equal(reply.error?.store_code, 'ESTORE_OPEN');
    assertNoStoreDetail(reply, dir);
  }
  const api = async (url: string, code: string, init?: RequestInit) => {
    const res = await within(fetch(`http://127.0.0.1:${monitor}${url}`, init), `${init?.method ?? 'GET'} ${url}`);
    const text = await res.text();
    t.diagnostic(`${init?.method ?? 'GET'} ${url}: ${res.status} ${text}`);
    assert.equal(res.status, 503, text);
    const body = JSON.parse(text) as { error: { code: string; store_code?: string } };
    assert.equal(body.error.code, code);
    assert.equal(body.error.store_code, 'ESTORE_OPEN');
    assertNoStoreDetail(body, dir);
  };
  await api('/events', 'EFEED_STORE');
  await api('/events/x', 'EFEED_STORE');
  await api('/events/stream', 'EFEED_STORE');
  await api('/deadletters', 'EDEADLETTER_STORE');
  await api('/deadletters/event_feed/replay', 'EDEADLETTER_STORE', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
  });
  const line = await logLine(run, 'event feed request failed: the event store cannot be used');
  assert.ok(String(line.err).includes(`store.path: ${file}: its directory cannot be made`), String(line.err));
});
