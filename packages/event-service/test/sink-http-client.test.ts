// The HTTP sink's client (handlers/sinks/transport.ts, undici) against real node:http receivers: what it keeps of
// node:http's behaviour beyond the order and retry tests: an answer's body read up to MAX_ANSWER_BYTES and no
// further (the status is the answer), a URL's userinfo sent as Basic credentials, redirects not followed; an
// answer cut short or stalled is a failed attempt (never delivered), the timeout bounds a connection still being
// made, and connections stay within max_in_flight and close with the sink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { until } from '@event-broker/test-support/wait';
import { MAX_ANSWER_BYTES } from '../src/handlers/sinks/transport.js';
import { receiver, setup } from './helpers/http-sink.js';

test('a 2xx answer with a body past MAX_ANSWER_BYTES delivers; the connection is closed, the next POST opens one', async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (n, res) => {
    sockets.add(res.socket);
    if (n !== 0) return void res.writeHead(204).end();
    // Four times the bound, in chunks: the sink stops reading past it.
    res.writeHead(200, { 'content-type': 'text/plain' });
    const chunk = 'x'.repeat(MAX_ANSWER_BYTES / 4);
    for (let i = 0; i < 16; i++) res.write(chunk);
    res.end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 0, retries: 0, dead: 0 });
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3'],
  );
  assert.equal(sockets.size, 2, 'the first connection closed after the long answer, the next one reused');
});

test("a URL's userinfo goes as Basic credentials; a 3xx is a failed attempt, its Location not followed", async (t) => {
  const r = await receiver(t, (n, res) => {
    if (n === 0) return void res.writeHead(302, { location: '/elsewhere' }).end();
    res.writeHead(204).end();
  });
  const url = r.url.replace('http://', 'http://hook%20user:p%40ss@');
  const { store, sink } = setup(t, { url }, ['e1']);
  sink.wake();
  await until(() => store.held === 0, 'delivered after the redirect answer');
  assert.deepEqual(
    r.got.map((g) => [g.url, g.headers.authorization]),
    [
      ['/hook', `Basic ${Buffer.from('hook user:p@ss').toString('base64')}`],
      ['/hook', `Basic ${Buffer.from('hook user:p@ss').toString('base64')}`],
    ],
  );
  assert.deepEqual(sink.stats, { delivered: 1, failedAttempts: 1, retries: 1, dead: 0 });
  assert.match(sink.lastError?.message ?? '', /HTTP 302/);
});

test('a 2xx answer cut short on a kept-alive connection is a failed attempt, retried later, not sent again at once', async (t) => {
  const r = await receiver(t, (n, res) => {
    if (n !== 1) return void res.writeHead(204).end();
    // The second POST, on the first POST's connection: 10 of the 100 bytes announced, then the connection closes.
    res.writeHead(200, { 'content-length': '100' });
    res.write('x'.repeat(10), () => res.socket?.destroy());
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e2', 'e3'],
  );
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 1, retries: 1, dead: 0 });
  assert.match(sink.lastError?.message ?? '', /cut short/);
});

test('a 2xx answer whose body stalls past the timeout is a failed attempt, retried', async (t) => {
  const r = await receiver(t, (n, res) => {
    if (n !== 0) return void res.writeHead(204).end();
    res.writeHead(200);
    res.write('the rest never comes');
  });
  const { store, sink } = setup(t, { url: r.url, timeoutMs: 300 }, ['e1']);
  sink.wake();
  await until(() => store.held === 0, 'delivered on the second attempt');
  assert.deepEqual(sink.stats, { delivered: 1, failedAttempts: 1, retries: 1, dead: 0 });
  assert.match(sink.lastError?.message ?? '', /timed out after 300 ms/);
});

test('content-length lies: one past the bound closes the connection at once (the status counts); bytes past a short one are not an answer', async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (n, res) => {
    sockets.add(res.socket);
    if (n === 0) {
      // Announces ten times the bound, sends a little, never ends: not waited for (the timeout is 1 s).
      res.writeHead(200, { 'content-length': String(10 * MAX_ANSWER_BYTES) });
      return void res.write('a little');
    }
    // Two bytes announced, more sent: the answer is the two, the rest is no answer to the next POST.
    if (n === 1) return void res.socket?.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 500 No\r\n\r\n');
    res.writeHead(204).end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 0, retries: 0, dead: 0 });
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3'],
  );
  assert.equal(sockets.size, 3, 'each lying answer closed its connection');
});

test('the timeout bounds a connection whose TLS handshake never ends, and closes it', async (t) => {
  const held = new Set<net.Socket>();
  // Reads what comes (the ClientHello) and never answers; reading, it sees the sink's end of the connection.
  const server = net.createServer((s) => {
    held.add(s);
    s.on('close', () => held.delete(s)).resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of held) s.destroy();
    server.close();
  });
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const { store, sink } = setup(t, { url, timeoutMs: 300, maxAttempts: 1 }, ['e1']);
  sink.wake();
  // undici's own connect timeout is 10 s: this fails if the POST waits for it.
  await until(() => store.deadLetters().length === 1, 'timed out and dead-lettered', 5000);
  assert.match(store.deadLetters()[0]!.lastError!, /timed out after 300 ms/);
  await until(() => held.size === 0, 'the half-made connection closed', 5000);
});

test('a receiver that never answers holds at most max_in_flight connections; the sink closing closes them', async (t) => {
  const open = new Set<net.Socket>();
  const r = await receiver(t, () => {});
  r.server.on('connection', (s: net.Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  let most = 0;
  const { sink } = setup(t, { url: r.url, timeoutMs: 200, maxInFlight: 2 }, ['e1', 'e2', 'e3', 'e4']);
  sink.wake();
  await until(() => {
    most = Math.max(most, open.size);
    return sink.stats.failedAttempts >= 6;
  }, 'six timed-out attempts');
  assert.ok(most <= 2, `${most} connections open at once`);
  sink.close();
  await until(() => open.size === 0, 'connections closed with the sink');
});

test("a program configuring `Content-Type` (not lower-cased by a config) replaces the sink's content-type, not sent beside it", async (t) => {
  const r = await receiver(t, (_n, res) => res.writeHead(204).end());
  const { store, sink } = setup(t, { url: r.url, headers: { 'Content-Type': 'application/cloudevents+json' } }, ['e1']);
  sink.wake();
  await until(() => store.held === 0, 'delivered');
  // Node's server keeps the first of two content-types: the sink's own, had both gone.
  assert.equal(r.got[0]!.headers['content-type'], 'application/cloudevents+json');
});
