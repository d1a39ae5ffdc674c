// An in-order HTTP sink with `pipelining` (HTTP/1.1 pipelining on its one connection) against real node:http
// receivers (helpers/http-sink.ts): several POSTs on the wire before the first answer, first attempts in order, and
// after a failed POST the ones pipelined behind it dropped (whatever their answer) and sent again after it, in
// order; the config's range and the settings it refuses (max_in_flight > 1, grpc URLs); the key reaching the sink
// worker of a running service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { ConfigError } from '@event-broker/shared';
import { startReceiver } from '@event-broker/test-support/http';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { loadServiceConfig } from '../src/config.js';
import { startEventService } from '../src/embedded.js';
import { httpSinkOptions } from '../src/handlers/sinks/options.js';
import { many, receiver } from './helpers/http-sink.js';

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `m${from + i}`);

test('pipelining puts several POSTs on the one connection before the first is answered, answered in order', async (t) => {
  // Answers nothing until three requests are open together: only pipelining gets past the first (one connection).
  const held: http.ServerResponse[] = [];
  const sockets = new Set<unknown>();
  let open = false;
  const r = await receiver(t, (_n, res) => {
    // The request's socket: a pipelined answer gets its socket only once those before it are written.
    sockets.add(res.req.socket);
    if (open) return void res.writeHead(204).end();
    held.push(res);
    if (held.length === 3) {
      open = true;
      for (const h of held.splice(0)) h.writeHead(204).end();
    }
  });
  const { store, sink } = many(t, { url: r.url, pipelining: 4 }, 50);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.deepEqual(
    r.got.map((g) => g.id),
    ids(50),
    'in order, none twice',
  );
  assert.deepEqual(sink.stats, { delivered: 50, failedAttempts: 0, retries: 0, dead: 0 });
  assert.equal(sockets.size, 1, 'one connection');
  assert.deepEqual(sink.stats, { delivered: 50, failedAttempts: 0, retries: 0, dead: 0 });
});

test('a failed POST mid-stream: the ones pipelined behind it are dropped and go again after it, in order', async (t) => {
  let failedAt = -1;
  const r = await receiver(t, (n, res) => {
    // The first time m10 arrives it is refused; everything else is taken.
    if (failedAt < 0 && r.got[n]!.id === 'm10') {
      failedAt = n;
      return void res.writeHead(503).end();
    }
    res.writeHead(204).end();
  });
  const { store, sink } = many(t, { url: r.url, pipelining: 8 }, 40);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  const got = r.got.map((g) => g.id);
  assert.ok(failedAt === 10, `m10 refused on its first attempt, in order after m0..m9: ${got.join(' ')}`);
  assert.deepEqual(got.slice(0, 10), ids(10), 'first attempts in order');
  // Behind the failed m10: only later events (pipelined before its answer), then m10 again and everything after it
  // once each, in order.
  const again = got.indexOf('m10', failedAt + 1);
  assert.ok(again > failedAt, `m10 sent again: ${got.join(' ')}`);
  for (const id of got.slice(failedAt + 1, again))
    assert.ok(Number(id.slice(1)) > 10, `only later events between: ${got.join(' ')}`);
  assert.deepEqual(got.slice(again), ids(30, 10), `then m10..m39 in order: ${got.join(' ')}`);
  assert.deepEqual(sink.stats, { delivered: 40, failedAttempts: 1, retries: 1, dead: 0 });
});

test('a receiver that closes its connection after each answer: POSTs go one at a time, not each sent once per pipelined slot', async (t) => {
  // Node's server reads (and hands over) the requests pipelined behind an answer it closes after; undici sends them
  // again on the next connection. Pipelining on regardless, every event reached this receiver up to 4 times.
  const r = await receiver(t, (_n, res) => {
    res.setHeader('connection', 'close');
    res.writeHead(204).end();
  });
  const { store, sink } = many(t, { url: r.url, pipelining: 4 }, 20);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  const got = r.got.map((g) => g.id);
  // The three already behind the first answer go again with each answer that closes (undici's queue: 3 + 2 + 1
  // more), then one POST per event, in order.
  assert.ok(got.length <= 26, `${got.length} POSTs for 20 events: ${got.join(' ')}`);
  assert.deepEqual(got.slice(-16), ids(16, 4), `then in order: ${got.join(' ')}`);
  assert.deepEqual(sink.stats, { delivered: 20, failedAttempts: 0, retries: 0, dead: 0 });
});

test('an HTTP/1.0 receiver (each connection closed after its answer, no Connection header): one POST at a time too', async (t) => {
  // A node:net receiver, as HTTP/1.0 servers answer (Python's http.server by default): no node:http server does.
  const got: string[] = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      // Every request read counts (those pipelined behind the first too); only the first is answered.
      for (let h = buf.indexOf('\r\n\r\n'); h >= 0; h = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, h);
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < h + 4 + length) return;
        got.push(/webhook-id: *(\S+)/i.exec(head)?.[1] ?? '');
        buf = buf.slice(h + 4 + length);
        if (!s.writableEnded) s.end('HTTP/1.0 204 No Content\r\n\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const { store, sink } = many(t, { url, pipelining: 4 }, 20);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  // As with Connection: close, those behind the first answers go again (74 POSTs before: each event ~4 times).
  assert.ok(got.length <= 30, `${got.length} POSTs for 20 events: ${got.join(' ')}`);
  assert.deepEqual(got.slice(-10), ids(10, 10), `then one at a time, in order: ${got.join(' ')}`);
  assert.deepEqual(sink.stats, { delivered: 20, failedAttempts: 0, retries: 0, dead: 0 });
});

test('pipelining resumes once the receiver keeps its connection again', async (t) => {
  // Closes after its first two answers; from the tenth request on, answers three at a time (the last alone), only
  // once three are open together: one POST at a time would stall there.
  const held: http.ServerResponse[] = [];
  const r = await receiver(t, (n, res) => {
    if (n < 2) return void res.writeHead(204, { connection: 'close' }).end();
    if (n < 10) return void res.writeHead(204).end();
    held.push(res);
    if (held.length === 3 || r.got[n]!.id === 'm29') for (const h of held.splice(0)) h.writeHead(204).end();
  });
  const { store, sink } = many(t, { url: r.url, pipelining: 4, timeoutMs: 5000 }, 30);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.deepEqual(sink.stats, { delivered: 30, failedAttempts: 0, retries: 0, dead: 0 });
});

test('pipelining is a sink key from 1 to 64, for in-order http(s) sinks only: each misuse is refused at load', (t) => {
  const dir = tmpDir(t);
  const file = write(dir, 'pipe.toml', [
    '[handlers.feed]', // 1
    'url = "127.0.0.1:9"', // 2
    'pipelining = 65', // 3
    '[handlers.cfgingest]', // 4
    'url = "127.0.0.1:9"', // 5
    'max_in_flight = 4', // 6
    'pipelining = 4', // 7
    '[handlers.event_feed]', // 8
    'url = "grpc://127.0.0.1:9"', // 9
    'pipelining = 4', // 10
  ]);
  let err: unknown;
  try {
    loadServiceConfig({ configPath: file });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, new RegExp(`${file}:3: handlers\\.feed\\.pipelining: must be an integer from 1 to 64`));
  assert.match(err.message, new RegExp(`${file}:7: handlers\\.cfgingest\\.pipelining: is for in-order sinks`));
  assert.match(err.message, new RegExp(`${file}:10: handlers\\.event_feed\\.pipelining: is for http\\(s\\) receivers`));
  assert.equal(err.problems.length, 3, err.message);

  const ok = write(dir, 'ok.toml', ['[handlers.feed]', 'url = "127.0.0.1:9"', 'pipelining = 16']);
  const feed = loadServiceConfig({ configPath: ok }).config.handlers?.feed;
  assert.ok(feed !== undefined);
  assert.equal(httpSinkOptions(feed).pipelining, 16);
});

test('pipelining in a [handlers] entry reaches the running service: its sink (on the sink worker) pipelines, in order', async (t) => {
  // Answers nothing until three requests are open together: only a pipelining sink gets past the first.
  const held: http.ServerResponse[] = [];
  let open = false;
  const server = await startReceiver(t, {
    answer: (_n, res) => {
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
    handlers: { event_feed: { url: server.addr, pipelining: 4 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const sent: string[] = [];
  for (let i = 0; i < 6; i++) {
    const event = JSON.stringify({ specversion: '1.0', id: `p${i}`, source: '/t', type: 'nodeTerminated' });
    sent.push((JSON.parse((await svc.request('events.nodeTerminated', event)).string()) as { id: string }).id);
  }
  await until(() => server.got.length === 6, 'all six delivered');
  assert.deepEqual(
    server.got.map((g) => g.id),
    sent,
    'in order',
  );
});
