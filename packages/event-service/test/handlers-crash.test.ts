// At-least-once across a crash: a child-process event service (the CLI) is killed with SIGKILL in the middle of a
// stream of acknowledged events, then restarted on the same store; every acknowledged event reaches the sink,
// duplicates allowed and flagged by the same webhook-id. And the sink worker thread exiting inside a running service:
// restarted with each sink once, after a wait that grows while it keeps exiting; the store writer's thread exiting
// in the middle of a commit.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { connect, StringCodec } from 'nats';
import { createLogger } from '@event-broker/shared';
import Database from 'better-sqlite3';
import { resolveServiceConfig } from '../src/config.js';
import { embed } from '../src/embedded.js';
import { EventServer } from '../src/server.js';
import { EventIntake } from '../src/handlers/intake.js';
import { SinkPool } from '../src/handlers/sink-pool.js';
import { SqliteBackend } from '../src/handlers/sqlite-backend.js';
import { StoreWriter } from '../src/handlers/store-writer.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { deferred, quietFor, until, within } from '@event-broker/test-support/wait';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { startCli } from './helpers/cli.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const sc = StringCodec();

test('SIGKILL mid-stream, restart: every acknowledged event reaches the sink, duplicates with the same webhook-id', async (t) => {
  const dir = tmpDir(t, 'crash-test-');
  const seen: string[] = [];
  const sink = await startReceiver(t, { status: (_n, d) => (seen.push(d.id), 200) });
  const conf = path.join(dir, 'service.toml');
  fs.writeFileSync(
    conf,
    [
      '[service]',
      'host = "127.0.0.1"',
      'port = 0',
      '[store]',
      'path = "state/events.db"',
      '[handlers]',
      `event_feed = "${sink.addr}"`,
      '[log]',
      'format = "json"',
    ].join('\n'),
  );
  const first = await startCli(t, ['--config', conf]);
  const nc = await within(connect({ servers: `127.0.0.1:${first.port}`, reconnect: false }), 'connect');
  const acked: string[] = [];
  // Requests in flight while the kill lands: some acknowledged, some never answered.
  let stop = false;
  const pump = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await nc.request(
          'events.scanJobCreated',
          sc.encode(JSON.stringify({ specversion: '1.0', id: `k${i}`, source: '/t', type: 'scanJobCreated' })),
          // The first answer waits for the store to open and the envelope check to compile: seconds on a busy machine.
          { timeout: acked.length === 0 ? 5000 : 1000 },
        );
        acked.push((JSON.parse(sc.decode(r.data)) as { id: string }).id);
      } catch {
        break;
      }
    }
  })();
  await until(
    () => acked.length >= 300,
    'some events acknowledged',
    10_000,
    () => `${acked.length} acknowledged`,
  );
  first.run.child.kill('SIGKILL');
  await within(first.run.exited, 'the killed service exits');
  stop = true;
  await pump;
  await nc.close().catch(() => {});
  const ackedAtKill = [...acked];
  assert.ok(ackedAtKill.length >= 300);
  assert.ok(fs.existsSync(path.join(dir, 'state', 'events.db')), 'the store path resolved against the config file');

  await startCli(t, ['--config', conf]);
  const missing = () => ackedAtKill.filter((id) => !seen.includes(id));
  await until(
    () => missing().length === 0,
    'every acknowledged event delivered after the restart',
    15_000,
    () => `${missing().length} missing`,
  );
  const dups = seen.length - new Set(seen).size;
  t.diagnostic(`acknowledged ${ackedAtKill.length}, deliveries ${seen.length}, duplicates ${dups}`);
});

test('sink worker exits: a sink added before the restart runs once, every event reaches each sink once; restarts back off', async (t) => {
  const dir = tmpDir(t, 'sink-restart-');
  const store = new SqliteEventStore(path.join(dir, 'events.db'));
  t.after(() => store.close());
  const seen: string[] = [];
  // Answers late, so two instances of one sink would both have the same events in flight.
  const receiver = await startReceiver(t, {
    answer: (_n, res, d) => {
      seen.push(`${d.url} ${d.id}`);
      setTimeout(() => res.writeHead(200).end(), 100);
    },
  });
  const base = `http://${receiver.addr}`;
  const restarts: number[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as { msg: string; restart_ms?: number };
        if (o.msg === 'sink worker exited: restarting') restarts.push(o.restart_ms!);
      }
      done();
    },
  });
  const pool = new SinkPool({
    file: store.file,
    heldCounter: store.heldCounter,
    logger: createLogger({ format: 'json', level: 'error', name: 'test', destination: logs }),
    onResolved: () => {},
  });
  t.after(() => pool.close());
  const publish = (ids: string[], sinks: string[]): void => {
    store.append(
      ids.map((id) => ({
        id,
        type: 't',
        body: JSON.stringify({ specversion: '1.0', id, source: '/t', type: 't' }),
        sinks,
      })),
    );
    pool.wake();
  };
  const ids = (prefix: string) => Array.from({ length: 5 }, (_, i) => `${prefix}${i}`);

  pool.add({ name: 'a', url: `${base}/a` });
  publish(ids('x'), ['a']);
  await until(
    () => store.held === 0,
    'delivered before the exit',
    5000,
    () => `${store.held} held`,
  );

  await pool.terminateWorker();
  await until(() => restarts.length === 1, 'the restart scheduled');
  // Inside the restart's wait: a reload adds a sink and events arrive for both.
  pool.add({ name: 'b', url: `${base}/b` });
  publish(ids('y'), ['a', 'b']);
  await until(
    () => store.held === 0,
    'delivered after the restart',
    5000,
    () => `${store.held} held`,
  );
  // Room for a second instance's deliveries, were there one (each is answered 100 ms after it arrives): that none
  // comes is the point.
  await quietFor(500);
  const expected = [...ids('x').map((id) => `/a ${id}`), ...ids('y').flatMap((id) => [`/a ${id}`, `/b ${id}`])];
  assert.deepEqual([...seen].sort(), expected.sort(), 'each event once to each of its sinks');
  assert.deepEqual(
    pool.sinks.map((s) => [s.name, s.stats.delivered]),
    [
      ['a', 5],
      ['b', 5],
    ],
    'the restarted worker reports each sink once',
  );

  // An exit soon after the restart: the next wait doubles.
  await pool.terminateWorker();
  await until(() => restarts.length === 2, 'the second restart scheduled');
  assert.deepEqual(restarts, [1000, 2000]);
});

test("closing the sink pool leaves the event loop free and resolves once the answered deliveries are marked, while another connection holds the store's lock", async (t) => {
  const dir = tmpDir(t, 'sink-close-');
  const store = new SqliteEventStore(path.join(dir, 'events.db'));
  t.after(() => store.close());
  const seen: string[] = [];
  // The first request is answered once the test holds the store's write lock: every mark then finds it locked.
  const gate = deferred();
  const receiver = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(String(req.headers['webhook-id']));
      void gate.promise.then(() => res.writeHead(200).end());
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  t.after(() => {
    receiver.closeAllConnections();
    receiver.close();
  });
  const logger = createLogger({ format: 'json', level: 'silent', name: 'test' });
  const pool = new SinkPool({ file: store.file, heldCounter: store.heldCounter, logger, onResolved: () => {} });
  t.after(() => pool.close());
  const ids = Array.from({ length: 5 }, (_, i) => `c${i}`);
  store.append(
    ids.map((id) => ({
      id,
      type: 't',
      body: JSON.stringify({ specversion: '1.0', id, source: '/t', type: 't' }),
      sinks: ['a'],
    })),
  );
  pool.add({ name: 'a', url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/` });
  await until(() => seen.length === 1, 'the first delivery in flight');

  const locked = new Database(store.file);
  t.after(() => locked.close());
  locked.exec('BEGIN IMMEDIATE');
  gate.resolve();
  await until(
    () => seen.length === ids.length,
    'every event answered',
    5000,
    () => `${seen.length} answered`,
  );
  assert.equal(store.held, ids.length, 'answered, not marked: the store is locked');

  // The lock is released by this thread while the pool closes: a close that blocked the event loop could not see it.
  let turns = 0;
  const release = setTimeout(() => {
    turns++;
    locked.exec('COMMIT');
  }, 50);
  t.after(() => clearTimeout(release));
  await within(pool.close(), 'the pool closed', 5000);
  assert.equal(turns, 1, 'the event loop ran while the pool closed');
  assert.equal(store.held, 0, 'every answered delivery marked before close resolved');
  assert.deepEqual(store.sinkCounts('a'), { pending: 0, dead: 0 });
  assert.deepEqual([...seen].sort(), ids, 'each event delivered once');
});

/** A store file in a temporary directory and a StoreWriter on it, both closed after the test. */
function storeWithWriter(t: TestContext) {
  const dir = tmpDir(t, 'store-writer-');
  const store = new SqliteEventStore(path.join(dir, 'events.db'));
  t.after(() => store.close());
  const logger = createLogger({
    format: 'json',
    level: 'fatal',
    name: 'test',
    destination: new Writable({ write: (_c, _e, done) => done() }),
  });
  const writer = new StoreWriter({ file: store.file, heldCounter: store.heldCounter }, logger);
  t.after(() => writer.close());
  return { store, writer };
}

test('the store writer commits the intake: durable and counted when append resolves; one exiting mid-commit refuses it, the next starts a writer', async (t) => {
  const { store, writer } = storeWithWriter(t);
  const batch = (prefix: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      id: `${prefix}${i}`,
      type: 't',
      body: JSON.stringify({ n: i, pad: 'x'.repeat(1000) }),
      sinks: ['a'],
    }));

  const first = await writer.append(batch('x', 3));
  assert.deepEqual(
    first.map((r) => [r.id, r.duplicate]),
    [
      ['x0', false],
      ['x1', false],
      ['x2', false],
    ],
  );
  assert.equal(store.get('x2')?.seq, first[2]!.seq, 'visible to the main thread connection once resolved');
  assert.equal(store.held, 3, 'held counted through the shared counter');

  // The main connection holds the write lock for a while (as the sink worker's marks do): the commit waits and
  // goes through once it is released.
  const locked = new Database(store.file);
  locked.exec('BEGIN IMMEDIATE');
  const waiting = writer.append(batch('w', 2));
  // The point: it stays uncommitted for a while.
  await quietFor(50);
  assert.equal(store.get('w0'), undefined, 'not committed while the lock is held');
  locked.exec('COMMIT');
  locked.close();
  assert.deepEqual(
    (await within(waiting, 'the commit after the lock')).map((r) => r.duplicate),
    [false, false],
  );

  // A large commit and an exit at once: either it was committed before the exit (then it is all there) or it is
  // refused (then nothing of it is): never acknowledged and missing.
  const big = batch('y', 5000);
  const inFlight = writer.append(big).then(
    () => 'committed',
    (err: Error) => err.message,
  );
  await writer.terminateWorker();
  const outcome = await inFlight;
  const stored = big.filter((e) => store.get(e.id) !== undefined).length;
  if (outcome === 'committed') assert.equal(stored, big.length);
  else {
    assert.match(outcome, /event store writer exited/);
    assert.equal(stored, 0, 'a refused commit left nothing behind');
  }
  t.diagnostic(`in-flight commit at the exit: ${outcome}`);

  // The next commit starts a writer again, and a retry of the same ids is idempotent.
  const again = await within(writer.append(big.slice(0, 10)), 'a commit after the exit');
  assert.deepEqual(
    again.map((r) => r.duplicate),
    Array(10).fill(outcome === 'committed'),
  );
  // A thread killed between counting and committing leaves the shared count off until housekeeping's refresh.
  store.refresh();
  assert.equal(store.held, 5 + (outcome === 'committed' ? big.length : 10));
});

test('checkpoints run beside the store writer: committed pages reach the database file without a writer checkpoint', async (t) => {
  const { store, writer } = storeWithWriter(t);
  const before = fs.statSync(store.file).size;
  // ~3 MiB: far under the writer's own automatic checkpoint (~40 MiB of WAL), so only the checkpointer moves it.
  for (let b = 0; b < 4; b++) {
    await writer.append(
      Array.from({ length: 500 }, (_, i) => ({
        id: `e${b}-${i}`,
        type: 't',
        body: JSON.stringify({ pad: 'x'.repeat(1400) }),
        sinks: [],
      })),
    );
  }
  await until(
    () => fs.statSync(store.file).size - before > 2 * 1024 * 1024,
    'the pages checkpointed into the database file',
    5000,
    () => `${fs.statSync(store.file).size} bytes`,
  );
});

test('the store writer exits with two intake groups in flight: every request is answered, none acknowledged and missing, nothing left counted as in flight, sequences in publish order', async (t) => {
  const config = resolveServiceConfig({ service: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } });
  const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
  const server = new EventServer(config, logger, { handlers: false });
  await server.listen();
  const svc = embed(server, logger);
  t.after(() => svc.close());
  const store = new SqliteEventStore(path.join(tmpDir(t, 'writer-depth-'), 'events.db'));
  const backend = new SqliteBackend(store, logger);
  t.after(() => backend.close());
  assert.equal(backend.commitDepth, 2, 'a file store takes two groups at once');
  const intake = new EventIntake(svc, {
    store: () => backend,
    eventLimit: () => 1_000_000,
    addGate: (g) => server.broker.addGate(g),
    sinksFor: () => ['sink'],
    logger,
  });
  intake.start();
  t.after(() => intake.stop());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'nats connect');
  t.after(() => nc.close());

  const locked = new Database(store.file);
  t.after(() => locked.open && locked.close());
  locked.exec('BEGIN IMMEDIATE');
  const N = 2000;
  const ids = Array.from({ length: N }, (_, i) => `d${i}`);
  const body = (id: string) =>
    sc.encode(
      JSON.stringify({
        specversion: '1.0',
        source: '/test',
        type: 'scanJobCreated',
        id,
        producer: { id: 'p1', name: 'tester', type: 'service' },
        data: { pad: 'x'.repeat(1024) },
      }),
    );
  const answers = ids.map((id) =>
    nc
      .request('events.scanJobCreated', body(id), { timeout: 10_000 })
      .then((m) => JSON.parse(sc.decode(m.data)) as { id?: string; error?: { code: string; store_code?: string } }),
  );
  // Another connection holds the write lock (as the sink worker's marks do, briefly): the writer waits on the first
  // group while the intake sends the second, and its thread is killed with both owed an answer.
  const writer = () =>
    (backend as unknown as { writer?: { waiting: Map<number, unknown>; terminateWorker(): Promise<number> } }).writer;
  await until(() => (writer()?.waiting.size ?? 0) >= 2, 'two groups sent to the writer');
  assert.equal(writer()!.waiting.size, 2, 'no more than commitDepth groups in flight');
  await writer()!.terminateWorker();
  locked.exec('COMMIT');
  locked.close();
  const replies = await within(Promise.all(answers), 'every request answered', 20_000);

  const refused = ids.filter((_, i) => replies[i]!.error !== undefined);
  t.diagnostic(`${refused.length} of ${N} refused at the exit, ${intake.stats.commits} groups`);
  for (const r of replies.filter((r) => r.error !== undefined))
    assert.deepEqual([r.error!.code, r.error!.store_code], ['EEVENT_STORE', 'ESTORE_WRITE']);
  assert.deepEqual(
    refused,
    ids.slice(0, refused.length),
    'the two groups in flight, the first events published, are refused',
  );
  assert.equal(intake.stats.storeFailures, refused.length);
  assert.ok(refused.length >= 2, 'both groups refused, none lost');
  assert.deepEqual(
    refused.filter((id) => store.get(id) !== undefined),
    [],
    'nothing of them committed (the lock was held)',
  );
  const acked = replies.filter((r) => r.error === undefined).map((r) => r.id!);
  assert.equal(acked.length + refused.length, N);
  assert.deepEqual(
    acked.filter((id) => store.get(id) === undefined),
    [],
    'every acknowledged event is stored',
  );
  assert.equal(intake.held, store.held, 'no group left counted as in flight');
  const order = store.feed({ limit: N + 1 }).map((e) => Number(e.id.slice(1)));
  assert.ok(
    order.every((n, i) => i === 0 || n > order[i - 1]!),
    'stored in the order published, across the writer restart',
  );
});
