// The HTTP sink's client (handlers/sinks/transport.ts, undici) against real node:http receivers: what it keeps of
// node:http's behaviour beyond the order and retry tests: an answer's body read up to MAX_ANSWER_BYTES and no
// further (the status is the answer), a URL's userinfo sent as Basic credentials, redirects not followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
