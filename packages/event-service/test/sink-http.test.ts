// HTTP sink delivery against real node:http receivers: signatures checked by the `standardwebhooks` package,
// retries until success, 429 Retry-After honoured, 410 stops the sink, dead letters after max_attempts and their
// replay, a receiver down at first, and one dead sink not delaying another; strict order over one kept-alive
// connection, and max_in_flight's concurrent, unordered deliveries.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { ConfigError, createLogger } from '@event-broker/shared';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { HttpSink } from '../src/handlers/sinks/http.js';
import { httpSinkOptions, type HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { batchWebhookId, retryAfterMs, signWebhook } from '../src/handlers/sinks/webhook.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { pace, quietFor, until } from '@event-broker/test-support/wait';
import { type Delivery, startReceiver } from '@event-broker/test-support/http';
import { tmpDir } from '@event-broker/test-support/tmp';
import { freePort } from '@event-broker/test-support/processes';

const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });
const SECRET = `whsec_${Buffer.from('a test secret of 32 bytes length').toString('base64')}`;
const OLD_SECRET = `whsec_${Buffer.from('the previous secret, rotated out').toString('base64')}`;

type Received = Delivery;

/** A receiver whose answer to the n-th request (0-based) `answer` decides. */
const receiver = (t: TestContext, answer: (n: number, res: http.ServerResponse) => void, port = 0) =>
  startReceiver(t, { answer, port, path: '/hook' });

function setup(
  t: TestContext,
  opts: Partial<HttpSinkOptions> & { url: string; name?: string },
  ids = ['e1', 'e2', 'e3'],
) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  const name = opts.name ?? 'feed';
  store.append(
    ids.map((id) => ({
      id,
      type: 'scanJobCreated',
      body: JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated' }),
      sinks: [name],
    })),
  );
  const sink = new HttpSink(store, {
    name,
    secrets: [SECRET],
    backoffBaseMs: 10,
    backoffCapMs: 50,
    timeoutMs: 1000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  return { store, sink };
}

test('deliveries are signed as Standard Webhooks and verify with the standardwebhooks package, old secret too', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(204).end());
  const { store, sink } = setup(t, { url: r.url, secrets: [SECRET, OLD_SECRET], headers: { 'x-tenant': 'a' } });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3'],
    'in order, the event id as webhook-id',
  );
  for (const g of r.got) {
    for (const secret of [SECRET, OLD_SECRET]) {
      const payload = new Webhook(secret).verify(g.body, g.headers as Record<string, string>) as { id: string };
      assert.equal(payload.id, g.headers['webhook-id']);
    }
    assert.equal(g.headers['x-tenant'], 'a');
    assert.equal(g.headers['content-type'], 'application/json');
  }
  assert.throws(() =>
    new Webhook(`whsec_${Buffer.from('wrong').toString('base64')}`).verify(
      r.got[0]!.body,
      r.got[0]!.headers as Record<string, string>,
    ),
  );
  assert.equal(sink.stats.delivered, 3);
});

test('signWebhook matches the standardwebhooks package byte for byte', () => {
  const wh = new Webhook(SECRET);
  assert.equal(
    signWebhook([SECRET], 'msg_1', 1700000000, '{"a":1}'),
    wh.sign('msg_1', new Date(1700000000 * 1000), '{"a":1}'),
  );
});

test('a receiver answering 500 is retried with backoff until it answers 200, attempts counted', async (t) => {
  const r = await receiver(t, (n, res) => res.writeHead(n < 3 ? 500 : 200).end());
  const { store, sink } = setup(t, { url: r.url }, ['only']);
  sink.wake();
  await until(() => store.held === 0, 'delivered after retries');
  assert.equal(r.got.length, 4);
  assert.deepEqual(
    new Set(r.got.map((g) => g.headers['webhook-id'])),
    new Set(['only']),
    'every retry carries the same webhook-id',
  );
  assert.equal(sink.stats.failedAttempts, 3);
});

test('after max_attempts a delivery is dead-lettered, listed, and replay delivers it once the receiver recovers', async (t) => {
  let healthy = false;
  const r = await receiver(t, (_n, res) => res.writeHead(healthy ? 200 : 503).end());
  const { store, sink } = setup(t, { url: r.url, maxAttempts: 3 }, ['d1', 'd2']);
  sink.wake();
  await until(() => store.deadLetters({ sink: 'feed' }).length === 2, 'both dead-lettered');
  const dead = store.deadLetters({ sink: 'feed' });
  assert.deepEqual(
    dead.map((d) => [d.id, d.attempts, d.lastError]),
    [
      ['d1', 3, 'HTTP 503 after 3 attempts'],
      ['d2', 3, 'HTTP 503 after 3 attempts'],
    ],
  );
  assert.equal(r.got.length, 6);
  assert.equal(store.held, 0, 'dead letters are not held');
  healthy = true;
  assert.equal(store.replay('feed'), 2);
  sink.wake();
  await until(() => store.held === 0 && store.deadLetters().length === 0, 'replayed and delivered');
  assert.equal(sink.stats.delivered, 2);
});

test('429 with Retry-After waits that long before the next attempt', async (t) => {
  const r = await receiver(t, (n, res) =>
    n === 0 ? res.writeHead(429, { 'retry-after': '1' }).end() : res.writeHead(200).end(),
  );
  const { store, sink } = setup(t, { url: r.url }, ['slow']);
  sink.wake();
  await until(() => store.held === 0, 'delivered after Retry-After', 5000);
  assert.equal(r.got.length, 2);
  assert.ok(r.got[1]!.at - r.got[0]!.at >= 950, `waited ${r.got[1]!.at - r.got[0]!.at} ms`);
  assert.equal(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:58 GMT')), 2000);
  assert.equal(retryAfterMs('soon', 0), undefined);
});

test('410 Gone dead-letters the delivery and stops the sink; the rest stay pending', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(410).end());
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => sink.state === 'stopped', 'sink stopped');
  // The point: no request follows for a while.
  await quietFor(100);
  assert.equal(r.got.length, 1, 'no request after the 410');
  assert.deepEqual(
    store.deadLetters().map((d) => [d.id, d.lastError]),
    [['e1', 'HTTP 410 Gone: sink stopped']],
  );
  assert.deepEqual(
    store.due('feed', Date.now(), 10).map((d) => d.id),
    ['e2', 'e3'],
  );
});

test('a timeout counts as a failed attempt; a receiver down at first gets everything once it is up', async (t) => {
  // Find a free port, leave it closed, then start the receiver there later.
  const port = await freePort();
  const { store, sink } = setup(t, { url: `http://127.0.0.1:${port}/hook`, backoffBaseMs: 20, backoffCapMs: 100 });
  sink.wake();
  await until(() => sink.stats.failedAttempts >= 2, 'connection refused counted as failures');
  assert.match(store.due('feed', Date.now() + 1000, 1)[0]!.lastError!, /unreachable/);
  const r = await receiver(t, (_n, res) => res.writeHead(200).end(), port);
  await until(() => store.held === 0, 'all delivered once the receiver is up', 5000);
  assert.deepEqual([...new Set(r.got.map((g) => g.headers['webhook-id']))], ['e1', 'e2', 'e3']);

  const hang = await receiver(t, () => {}); // never answers
  const slow = setup(t, { url: hang.url, name: 'slow', timeoutMs: 100, maxAttempts: 1 }, ['t1']);
  slow.sink.wake();
  await until(() => slow.store.deadLetters().length === 1, 'timed-out delivery dead-lettered');
  assert.match(slow.store.deadLetters()[0]!.lastError!, /timed out after 100 ms after 1 attempts/);
});

test('one sink that never answers does not delay another', async (t) => {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  const stuck = await receiver(t, () => {});
  const fast = await receiver(t, (_n, res) => res.writeHead(200).end());
  const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
  store.append(ids.map((id) => ({ id, type: 'nodeTerminated', body: `{"id":"${id}"}`, sinks: ['stuck', 'fast'] })));
  const a = new HttpSink(store, { name: 'stuck', url: stuck.url, timeoutMs: 30_000, logger });
  const b = new HttpSink(store, { name: 'fast', url: fast.url, logger });
  t.after(() => {
    a.close();
    b.close();
  });
  a.wake();
  b.wake();
  await until(() => fast.got.length === 20, 'the fast sink got everything while the other hangs');
  // The receiver counts a request before the sink has read its response and recorded the delivery: wait for that.
  await until(() => store.due('fast', Date.now(), 100).length === 0, 'every fast delivery recorded');
  assert.equal(stuck.got.length, 1);
  assert.equal(store.held, 20, 'still held for the stuck sink');
});

// --- delivery options: extra_args, flatten_payload, send_as_list, batching, ssl_verify ---

const ev = (id: string, data: unknown = { n: id }) =>
  JSON.stringify({ specversion: '1.0', id, source: 's', type: 'scanJobCreated', producer: { id: 'p' }, data });

function optSetup(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, events: Array<[string, unknown?]>) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  store.append(events.map(([id, data]) => ({ id, type: 'scanJobCreated', body: ev(id, data), sinks: ['feed'] })));
  const sink = new HttpSink(store, {
    name: 'feed',
    secrets: [SECRET],
    backoffBaseMs: 10,
    backoffCapMs: 50,
    timeoutMs: 2000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  return { store, sink };
}

const verify = (g: Received) => new Webhook(SECRET).verify(g.body, g.headers as Record<string, string>);

test('extra_args adds fields to the envelope (the event wins a clash), signed over the sent body', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const { store, sink } = optSetup(t, { url: r.url, extraArgs: { env: 'prod', id: 'forged', nested: { a: 1 } } }, [
    ['e1'],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'delivered');
  const body = verify(r.got[0]!) as Record<string, unknown>;
  assert.equal(body.env, 'prod');
  assert.deepEqual(body.nested, { a: 1 });
  assert.equal(body.id, 'e1', 'the event id is not overridden');
  assert.equal(body.specversion, '1.0');
  assert.equal(r.got[0]!.headers['webhook-id'], 'e1');
});

test('flatten_payload sends data at top level (non-object data as { data }), send_as_list wraps it in an array', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const { store, sink } = optSetup(t, { url: r.url, flattenPayload: true, sendAsList: true, extraArgs: { src: 'x' } }, [
    ['e1', { a: 1, b: 'two' }],
    ['e2', 42],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'delivered');
  assert.equal(r.got.length, 2, 'batch_size 1: one event per POST');
  assert.deepEqual(verify(r.got[0]!), [{ src: 'x', a: 1, b: 'two' }]);
  assert.deepEqual(verify(r.got[1]!), [{ src: 'x', data: 42 }]);
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2'],
  );
});

test('batch_size sends events in order as JSON arrays; a batch is retried whole under the same webhook-id', async (t) => {
  const r = await receiver(t, (n, res) => res.writeHead(n === 0 ? 503 : 200).end());
  const ids = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6', 'b7'];
  const { store, sink } = optSetup(
    t,
    { url: r.url, batchSize: 3 },
    ids.map((id) => [id]),
  );
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  const bodies = r.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id));
  assert.deepEqual(bodies, [['b1', 'b2', 'b3'], ['b1', 'b2', 'b3'], ['b4', 'b5', 'b6'], ['b7']]);
  assert.equal(
    r.got[0]!.headers['webhook-id'],
    r.got[1]!.headers['webhook-id'],
    'the retry carries the same webhook-id',
  );
  assert.equal(r.got[0]!.headers['webhook-id'], batchWebhookId(['b1', 'b2', 'b3']));
  assert.match(String(r.got[0]!.headers['webhook-id']), /^batch_[0-9a-f]{32}$/);
  assert.equal(r.got[3]!.headers['webhook-id'], 'b7', 'a batch of one is the event id');
  assert.deepEqual(sink.stats, { delivered: 7, failedAttempts: 1, retries: 1, dead: 0 });
  for (const id of ids) assert.equal(store.get(id) !== undefined, true);
});

test('batch_bytes caps a batch (one oversized event still goes alone); batch_wait_ms lets a partial batch fill', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const one = Buffer.byteLength(ev('c1'));
  const { store, sink } = optSetup(t, { url: r.url, batchSize: 10, batchBytes: one * 2 + 10 }, [
    ['c1'],
    ['c2'],
    ['c3'],
    ['c4'],
    ['big', 'x'.repeat(one * 3)],
  ]);
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id)),
    [['c1', 'c2'], ['c3', 'c4'], ['big']],
  );

  const w = await receiver(t, (_n, res) => res.writeHead(200).end());
  const s2 = optSetup(t, { url: w.url, batchSize: 5, batchWaitMs: 300 }, [['w1']]);
  s2.sink.wake();
  // The rest arrives later, still inside batch_wait_ms.
  await pace(50);
  s2.store.append(['w2', 'w3'].map((id) => ({ id, type: 'scanJobCreated', body: ev(id), sinks: ['feed'] })));
  s2.sink.wake();
  await until(() => s2.store.held === 0, 'all delivered');
  assert.deepEqual(
    w.got.map((g) => (verify(g) as Array<{ id: string }>).map((e) => e.id)),
    [['w1', 'w2', 'w3']],
  );
});

test('a batch failing max_attempts times is dead-lettered event by event, and replays', async (t) => {
  let ok = false;
  const r = await receiver(t, (_n, res) => res.writeHead(ok ? 200 : 500).end());
  const { store, sink } = optSetup(t, { url: r.url, batchSize: 2, maxAttempts: 2 }, [['d1'], ['d2'], ['d3']]);
  sink.wake();
  await until(() => store.held === 0, 'all dead-lettered');
  assert.deepEqual(
    store.deadLetters({ sink: 'feed' }).map((d) => [d.id, d.attempts]),
    [
      ['d1', 2],
      ['d2', 2],
      ['d3', 2],
    ],
  );
  ok = true;
  assert.equal(store.replay('feed'), 3);
  sink.resume();
  await until(() => store.held === 0 && store.sinkCounts('feed').dead === 0, 'replayed');
  assert.deepEqual(
    (verify(r.got.at(-1)!) as Array<{ id: string }>).map((e) => e.id),
    ['d3'],
  );
});

/** An https receiver whose certificate no trusted CA signed. */
async function httpsReceiver(t: TestContext) {
  const ca = await createCertificateAuthority({ commonName: 'sink test CA (not trusted)' });
  return startReceiver(t, { tls: await createServerCertificate(ca), path: '/hook' });
}

test('ssl_verify = false delivers to an https receiver whose certificate no trusted CA signed; verified refuses it', async (t) => {
  const r = await httpsReceiver(t);
  const strict = optSetup(t, { url: r.url, maxAttempts: 1 }, [['s1']]);
  strict.sink.wake();
  await until(() => strict.store.held === 0, 'dead-lettered');
  assert.equal(r.got.length, 0, 'verification on: no request reached the receiver');
  assert.match(strict.store.deadLetters()[0]!.lastError ?? '', /unreachable/);

  const lax = optSetup(t, { url: r.url, sslVerify: false, batchSize: 2, headers: { 'x-k': 'v' } }, [['s1'], ['s2']]);
  lax.sink.wake();
  await until(() => lax.store.held === 0, 'delivered');
  assert.equal(r.got.length, 1);
  assert.deepEqual(
    (verify(r.got[0]!) as Array<{ id: string }>).map((e) => e.id),
    ['s1', 's2'],
  );
  assert.equal(r.got[0]!.headers['x-k'], 'v');
  assert.equal(r.got[0]!.headers['content-type'], 'application/json');
});

test('[handlers] reads the delivery options (headers as "k=v,k=v" too) and names a bad one', (t) => {
  const c = resolveServiceConfig({
    handlers: {
      feed: {
        url: 'https://127.0.0.1:9/x',
        headers: 'Authorization=Bearer abc, X-Env=prod',
        ssl_verify: false,
        extra_args: { env: 'prod', n: 3n, list: [1n, 'a'] },
        flatten_payload: true,
        send_as_list: true,
        batch_size: 50n,
        batch_bytes: 65536,
        batch_wait_ms: 0,
        max_in_flight: 8n,
      },
    } as never,
  });
  const feed = c.handlers!.feed!;
  assert.deepEqual(feed.headers, { authorization: 'Bearer abc', 'x-env': 'prod' });
  assert.deepEqual(
    {
      ssl_verify: feed.ssl_verify,
      extra_args: feed.extra_args,
      flatten_payload: feed.flatten_payload,
      send_as_list: feed.send_as_list,
    },
    { ssl_verify: false, extra_args: { env: 'prod', n: 3, list: [1, 'a'] }, flatten_payload: true, send_as_list: true },
  );
  assert.deepEqual([feed.batch_size, feed.batch_bytes, feed.batch_wait_ms, feed.max_in_flight], [50, 65536, 0, 8]);
  const o = httpSinkOptions(feed);
  assert.deepEqual(
    [o.sslVerify, o.flattenPayload, o.sendAsList, o.batchSize, o.batchBytes, o.batchWaitMs, o.maxInFlight],
    [false, true, true, 50, 65536, 0, 8],
  );
  assert.deepEqual(o.extraArgs, { env: 'prod', n: 3, list: [1, 'a'] });

  const dir = tmpDir(t, 'sink-opts-');
  const cases: Array<[string, RegExp]> = [
    ['ssl_verify = "no"', /ssl_verify/],
    ['batch_size = 0', /batch_size/],
    ['batch_wait_ms = -1', /batch_wait_ms/],
    ['extra_args = "x=1"', /extra_args/],
    ['max_in_flight = 0', /max_in_flight/],
    ['max_in_flight = 257', /max_in_flight/],
    ['send_as_lists = true', /send_as_lists/],
  ];
  for (const [line, want] of cases) {
    const file = path.join(dir, 's.toml');
    fs.writeFileSync(file, `[handlers]\nfeed = { url = "127.0.0.1:1", ${line} }\n`);
    assert.throws(
      () => loadServiceConfig({ configPath: file }),
      (e: unknown) => e instanceof ConfigError && want.test(e.message),
      line,
    );
  }
});

// --- order, connections and max_in_flight ---

function many(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, n: number) {
  return setup(
    t,
    opts,
    Array.from({ length: n }, (_, i) => `m${i}`),
  );
}

test('strict order by default: every event once, oldest first, over one kept-alive connection', async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (_n, res) => {
    sockets.add(res.socket);
    res.writeHead(204).end();
  });
  const { store, sink } = many(t, { url: r.url }, 200);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    Array.from({ length: 200 }, (_, i) => `m${i}`),
    'in order, none twice',
  );
  assert.equal(sockets.size, 1, 'one connection, reused');
  assert.deepEqual(sink.stats, { delivered: 200, failedAttempts: 0, retries: 0, dead: 0 });
});

test('a kept-alive connection reset before its answer is retried at once on a new one, not counted as a failure', async (t) => {
  const perSocket = new Map<unknown, number>();
  const r = await receiver(t, (_n, res) => {
    const seen = (perSocket.get(res.socket) ?? 0) + 1;
    perSocket.set(res.socket, seen);
    // The second request on the first connection: reset, as a receiver closing an idle connection races a reuse.
    if (perSocket.size === 1 && seen === 2) res.socket!.resetAndDestroy();
    else res.writeHead(200).end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e2', 'e3'],
    'e2 again on a new connection',
  );
  assert.equal(perSocket.size, 2);
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 0, retries: 0, dead: 0 });
});

test('max_in_flight keeps that many POSTs outstanding at once, each signed with its own event id', async (t) => {
  // Answers nothing until four requests are open together, then everything: only concurrency gets past the first.
  const held: http.ServerResponse[] = [];
  let open = false;
  let most = 0;
  const r = await receiver(t, (_n, res) => {
    if (open) return void res.writeHead(204).end();
    held.push(res);
    most = Math.max(most, held.length);
    if (held.length === 4) {
      open = true;
      for (const h of held.splice(0)) h.writeHead(204).end();
    }
  });
  const { store, sink } = many(t, { url: r.url, maxInFlight: 4 }, 40);
  sink.wake();
  await until(() => store.held === 0, 'all delivered', 10_000);
  assert.equal(most, 4);
  const ids = r.got.map((g) => String(g.headers['webhook-id']));
  assert.deepEqual([...ids].sort(), Array.from({ length: 40 }, (_, i) => `m${i}`).sort(), 'each event once');
  for (const g of r.got) assert.equal((verify(g) as { id: string }).id, g.headers['webhook-id']);
  assert.equal(sink.stats.delivered, 40);
});

test('max_in_flight: a failing event is retried and dead-lettered on its own while the others are delivered', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(200).end());
  const attemptsOfBad: number[] = [];
  r.server.removeAllListeners('request');
  r.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    req.on('end', () => {
      r.got.push({
        url: req.url ?? '',
        headers: req.headers,
        body: '',
        id: String(req.headers['webhook-id']),
        at: Date.now(),
      });
      if (req.headers['webhook-id'] === 'm3') {
        attemptsOfBad.push(Date.now());
        res.writeHead(500).end();
      } else res.writeHead(200).end();
    });
  });
  const { store, sink } = many(t, { url: r.url, maxInFlight: 3, maxAttempts: 3 }, 12);
  sink.wake();
  await until(() => store.held === 0, 'all resolved', 10_000);
  assert.deepEqual(
    store.deadLetters({ sink: 'feed' }).map((d) => [d.id, d.attempts, d.lastError]),
    [['m3', 3, 'HTTP 500 after 3 attempts']],
  );
  const delivered = r.got.map((g) => String(g.headers['webhook-id'])).filter((id) => id !== 'm3');
  assert.deepEqual(
    delivered.sort(),
    Array.from({ length: 12 }, (_, i) => `m${i}`)
      .filter((id) => id !== 'm3')
      .sort(),
    'the others once each',
  );
  assert.equal(attemptsOfBad.length, 3);
  assert.deepEqual(sink.stats, { delivered: 11, failedAttempts: 3, retries: 2, dead: 1 });
});

test('max_in_flight: a receiver that fails everything pauses the whole sink, not one attempt per queued event', async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(503).end());
  // random() = 1: each backoff is its full ceiling, 1 s after the first failure in a row.
  const { sink } = many(
    t,
    { url: r.url, maxInFlight: 4, backoffBaseMs: 1000, backoffCapMs: 1000, random: () => 1 },
    50,
  );
  sink.wake();
  await until(() => sink.stats.failedAttempts >= 1, 'a failure');
  // The point: no more than the first window goes out in the first 300 ms.
  await quietFor(300);
  assert.ok(r.got.length <= 4, `${r.got.length} requests in the first 300 ms: at most the first window of 4`);
  await until(() => r.got.length > 4, 'attempts resume after the pause', 5000);
});
