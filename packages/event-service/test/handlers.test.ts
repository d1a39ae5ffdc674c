// [handlers] end to end: events requested over NATS reach the HTTP sinks that want them (feed: compliance, scan
// jobs, profiles; cfgingest: client-run data and node terminations; event_feed: everything), signed, and what a
// stopped service still owed is delivered after a restart. Real service, official `nats` client, node:http sinks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { connect, StringCodec } from 'nats';
import { Worker } from 'node:worker_threads';
import { Webhook } from 'standardwebhooks';
import { ConfigError } from '@event-broker/shared';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { startEventService } from '../src/embedded.js';
import { until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';
import { type Receiver, startReceiver } from '@event-broker/test-support/http';
import { freePort } from '@event-broker/test-support/processes';

const sc = StringCodec();
const SECRET = `whsec_${Buffer.from('handlers test secret, 32 bytes..').toString('base64')}`;

/** The event types a receiver got, one per delivery, in order. */
const typesOf = (r: Receiver) => r.got.map((g) => (JSON.parse(g.body) as { type: string }).type);

const ev = (type: string, id: string) => JSON.stringify({ specversion: '1.0', id, source: '/t', type });

test('[handlers] reads an address or a table, and names the key of a bad value', (t) => {
  const c = resolveServiceConfig({
    handlers: {
      feed: '0.0.0.0:10121',
      event_feed: {
        url: 'https://feed.example/in',
        filter: ['scanJob:*', '*:deleted'],
        headers: 'X-A=1, x-b=2',
        secret: [SECRET],
        max_attempts: 3,
      },
    } as never,
  });
  assert.deepEqual(c.handlers?.feed, {
    url: 'http://0.0.0.0:10121/',
    filter: [],
    headers: {},
    secrets: [],
    max_attempts: 10,
    timeout_ms: 10_000,
  });
  assert.deepEqual(c.handlers?.event_feed, {
    url: 'https://feed.example/in',
    filter: ['scanJob:*', '*:deleted'],
    headers: { 'x-a': '1', 'x-b': '2' },
    secrets: [SECRET],
    max_attempts: 3,
    timeout_ms: 10_000,
  });
  const dir = tmpDir(t);
  const file = path.join(dir, 's.toml');
  fs.writeFileSync(file, '[handlers]\nfeed = "nowhere"\ncfgingest = { url = "127.0.0.1:1", filter = ["bad"] }\n');
  const err = (() => {
    try {
      loadServiceConfig({ configPath: file });
    } catch (e) {
      return e as ConfigError;
    }
    return undefined;
  })();
  assert.ok(err instanceof ConfigError);
  assert.match(err.message, /s\.toml:2: handlers\.feed: must be "host:port" or an http\(s\) URL/);
  assert.match(err.message, /s\.toml:3: handlers\.cfgingest\.filter\[0\]: must be "noun:verb"/);
});

test('events reach the sinks that want them, signed, and only those', async (t) => {
  const [feed, cfg, all] = await Promise.all([startReceiver(t), startReceiver(t), startReceiver(t)]);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { feed: feed.addr, cfgingest: cfg.addr, event_feed: { url: all.addr, secret: SECRET } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  const types = ['compliance_ingest', 'scanJobCreated', 'profileUpdate', 'cfgingest', 'nodeTerminated', 'event_feed'];
  for (const [i, type] of types.entries()) {
    const r = await nc.request(`events.${type}`, sc.encode(ev(type, `id${i}`)), { timeout: 3000 });
    assert.deepEqual(JSON.parse(sc.decode(r.data)), { id: `id${i}` });
  }
  await until(() => all.got.length === 6 && feed.got.length === 3 && cfg.got.length === 2, 'every sink got its events');
  assert.deepEqual(typesOf(feed), ['compliance_ingest', 'scanJobCreated', 'profileUpdate']);
  assert.deepEqual(typesOf(cfg), ['cfgingest', 'nodeTerminated']);
  assert.deepEqual(typesOf(all), types);
  for (const g of all.got) new Webhook(SECRET).verify(g.body, g.headers as Record<string, string>);
  assert.equal(feed.got[0]!.headers['webhook-signature'], undefined, 'no secret, no signature');
});

test('what a stopped service still owed a down sink is delivered after a restart, same webhook-id', async (t) => {
  const dir = tmpDir(t);
  const port = await freePort();
  const config = {
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(dir, 'e.db') },
    handlers: { event_feed: `127.0.0.1:${port}` } as never,
    log: { level: 'silent' },
  } as const;
  const first = await startEventService(config);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++)
    ids.push(JSON.parse((await first.request('events.nodeTerminated', ev('nodeTerminated', `r${i}`))).string()).id);
  await first.close();
  const sink = await startReceiver(t, { port });
  const second = await startEventService(config);
  t.after(() => second.close());
  await until(() => sink.got.length >= 5, 'the restarted service delivers what it owed', 10_000);
  assert.deepEqual(new Set(sink.got.map((g) => g.headers['webhook-id'])), new Set(ids));
});

test("a [handlers] entry's body and batch options reach its sink in the running service", async (t) => {
  const [flat, batched] = await Promise.all([startReceiver(t), startReceiver(t)]);
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: {
      feed: { url: flat.addr, flatten_payload: true, extra_args: { site: 'lab' }, send_as_list: true },
      event_feed: { url: batched.addr, batch_size: 50, batch_wait_ms: 300 },
    } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const nc = await within(connect({ servers: `127.0.0.1:${svc.port}` }), 'connect');
  t.after(() => nc.close());
  const withData = (i: number) =>
    JSON.stringify({ specversion: '1.0', id: `b${i}`, source: '/t', type: 'scanJobCreated', data: { job: i } });
  await Promise.all(
    Array.from({ length: 5 }, (_, i) => nc.request('events.scanJobCreated', sc.encode(withData(i)), { timeout: 3000 })),
  );
  await until(
    () => flat.got.length === 5 && batched.got.reduce((n, g) => n + (JSON.parse(g.body) as unknown[]).length, 0) === 5,
    'both sinks got all five',
  );
  // feed: each event alone, as a one-element list of its data with the extra field.
  const bodies = flat.got.map((g) => JSON.parse(g.body) as unknown);
  for (const b of bodies) assert.ok(Array.isArray(b) && b.length === 1);
  assert.deepEqual(
    new Set(bodies.map((b) => JSON.stringify((b as unknown[])[0]))),
    new Set([0, 1, 2, 3, 4].map((i) => JSON.stringify({ site: 'lab', job: i }))),
  );
  // event_feed: fewer POSTs than events, each an in-order array of whole envelopes.
  assert.ok(batched.got.length < 5, `batched into ${batched.got.length} POSTs`);
  const ids = batched.got.flatMap((g) => (JSON.parse(g.body) as { id: string }[]).map((e) => e.id));
  assert.deepEqual(new Set(ids), new Set(['b0', 'b1', 'b2', 'b3', 'b4']));
});

test('max_in_flight in a [handlers] entry lets its sink keep several POSTs open in the running service', async (t) => {
  // The receiver answers nothing until three requests are open at once: only a sink with max_in_flight >= 3 gets on.
  const held: http.ServerResponse[] = [];
  const got: string[] = [];
  let open = false;
  const server = await startReceiver(t, {
    answer: (_n, res, d) => {
      got.push(d.id);
      if (open) return void res.writeHead(204).end();
      held.push(res);
      if (held.length === 3) {
        open = true;
        for (const h of held.splice(0)) h.writeHead(204).end();
      }
    },
  });
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: server.addr, max_in_flight: 3 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const ids: string[] = [];
  for (let i = 0; i < 6; i++)
    ids.push(JSON.parse((await svc.request('events.nodeTerminated', ev('nodeTerminated', `f${i}`))).string()).id);
  await until(() => got.length === 6, 'all six delivered');
  assert.deepEqual([...got].sort(), [...ids].sort());
});

test("sinks deliver while the service's event loop is blocked: they run on a thread of their own", async (t) => {
  // The receiver runs in a worker thread of the test too (this thread is the one blocked). It holds every POST
  // until `go` is set, and counts what it answered in `done`: slot 0 arrived, 1 go, 2 answered.
  const shared = new Int32Array(new SharedArrayBuffer(12));
  const receiver = new Worker(
    `const http = require('node:http');
     const { workerData, parentPort } = require('node:worker_threads');
     const s = workerData;
     http.createServer((req, res) => {
       req.resume();
       req.on('end', () => {
         Atomics.add(s, 0, 1);
         const answer = () => (Atomics.load(s, 1) === 1 ? (res.writeHead(204).end(), Atomics.add(s, 2, 1), Atomics.notify(s, 2)) : setTimeout(answer, 5));
         answer();
       });
     }).listen(0, '127.0.0.1', function () { parentPort.postMessage(this.address().port); });`,
    { eval: true, workerData: shared },
  );
  t.after(() => receiver.terminate());
  const port = await within(new Promise<number>((r) => receiver.once('message', r)), 'the receiver listens');
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: `127.0.0.1:${port}` } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const EVENTS = 50;
  for (let i = 0; i < EVENTS; i++) await svc.request('events.nodeTerminated', ev('nodeTerminated', `w${i}`));
  await until(() => Atomics.load(shared, 0) > 0, 'the first POST arrived and is held', 10_000);
  // From here this thread does nothing but wait (bounded): every delivery is the sink worker's work.
  Atomics.store(shared, 1, 1);
  const end = Date.now() + 20_000;
  for (let n; (n = Atomics.load(shared, 2)) < EVENTS && Date.now() < end;) Atomics.wait(shared, 2, n, 100);
  assert.equal(Atomics.load(shared, 2), EVENTS, "every event delivered while the service's loop was blocked");
});
