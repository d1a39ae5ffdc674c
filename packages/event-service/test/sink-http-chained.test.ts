// The default in-order HTTP sink makes its next POST while one is in flight and sends it as that one's 2xx answer
// is read (sinks/transport.ts postNext, sinks/http.ts prefetch), against real node:http receivers: still never
// before a 2xx, one on the wire at a time; stamped when sent; bytes a receiver sends past an answer are not the next
// POST's answer; an answer closing its connection sends the next on a new one; closing the sink sends neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { until } from '@event-broker/test-support/wait';
import { HttpSink } from '../src/handlers/sinks/http.js';
import { logger, receiver, setup, verify } from './helpers/http-sink.js';

test('the next POST goes only once the one before is answered 2xx: one on the wire, a failed one first again', async (t) => {
  const answered: number[] = [];
  const arrived: number[] = [];
  const sockets = new Set<unknown>();
  const r = await receiver(t, (n, res) => {
    arrived.push(performance.now());
    sockets.add(res.socket);
    res.on('finish', () => (answered[n] = performance.now()));
    res.writeHead(n === 1 ? 500 : 204).end();
  });
  const { store, sink } = setup(t, { url: r.url }, ['e1', 'e2', 'e3', 'e4']);
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e2', 'e3', 'e4'],
  );
  for (let i = 1; i < arrived.length; i++)
    assert.ok(arrived[i]! >= answered[i - 1]!, `request ${i} arrived after answer ${i - 1} was written`);
  assert.deepEqual(sink.stats, { delivered: 4, failedAttempts: 1, retries: 1, dead: 0 });
  for (const g of r.got) assert.doesNotThrow(() => verify(g));
});

test("bytes sent past an answer are not the next POST's answer, a 2xx neither: the next goes on a new connection", async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (n, res) => {
    sockets.add(res.socket);
    // A short answer and, in the same write, a second one nobody asked for.
    if (n === 1)
      return void res.socket?.write(
        'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n',
      );
    // e3's first attempt is refused: were the unasked 200 taken as its answer, it would count delivered.
    res.writeHead(n === 2 ? 503 : 204).end();
  });
  const { store, sink } = setup(t, { url: r.url });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3', 'e3'],
    'e3 not sent on the connection that answered unasked',
  );
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 1, retries: 1, dead: 0 });
  assert.equal(sockets.size, 2, 'the connection that answered unasked was closed');
});

test("an unasked answer begun in the answer's read and ended later is not the next POST's answer", async (t) => {
  // A node:net receiver: each request read whole, then answered in order on its connection (node:http holds a
  // second answer back until the first ends, and this one never does).
  const got: { id: string; conn: number }[] = [];
  let conns = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const conn = ++conns;
    open.add(s);
    s.on('close', () => open.delete(s)).on('error', () => undefined);
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let h = buf.indexOf('\r\n\r\n'); h >= 0; h = buf.indexOf('\r\n\r\n')) {
        const length = Number(/content-length: *(\d+)/i.exec(buf.slice(0, h))?.[1] ?? 0);
        if (buf.length < h + 4 + length) return;
        const id = /webhook-id: *(\S+)/i.exec(buf.slice(0, h))?.[1] ?? '';
        buf = buf.slice(h + 4 + length);
        const first = !got.some((g) => g.id === id);
        got.push({ id, conn });
        // e1's answer and, in the same write, the head of one nobody asked for.
        if (id === 'e1') s.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\nHTTP/1.1 200 OK\r\n');
        // The unasked one ends only once e2 came on its connection; e2's own answer, after it, refuses e2.
        else if (id === 'e2' && first && conn === 1)
          s.write('content-length: 0\r\n\r\nHTTP/1.1 503 No\r\ncontent-length: 0\r\n\r\n');
        else
          s.write(
            id === 'e2' && first ? 'HTTP/1.1 503 No\r\ncontent-length: 0\r\n\r\n' : 'HTTP/1.1 204 No Content\r\n\r\n',
          );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const s of open) s.destroy();
    server.close();
  });
  const { store, sink } = setup(t, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` });
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    got.map((g) => g.id),
    ['e1', 'e2', 'e2', 'e3'],
    'e2 refused first (its 503 not taken for e3), then delivered',
  );
  assert.notEqual(got[1]!.conn, 1, 'e2 not sent on the connection that began an unasked answer');
  assert.deepEqual(sink.stats, { delivered: 3, failedAttempts: 1, retries: 1, dead: 0 });
});

test('a POST made while a slow answer is awaited is stamped (and signed) when it is sent', async (t) => {
  let answeredAt = 0;
  const r = await receiver(t, (n, res) => {
    if (n !== 0) return void res.writeHead(204).end();
    setTimeout(() => {
      answeredAt = Date.now();
      res.writeHead(204).end();
    }, 1100);
  });
  const { store, sink } = setup(t, { url: r.url, timeoutMs: 5000 }, ['e1', 'e2']);
  sink.wake();
  await until(() => store.held === 0, 'both delivered', 5000);
  const e2 = r.got[1]!;
  assert.equal(e2.headers['webhook-id'], 'e2');
  assert.ok(
    Number(e2.headers['webhook-timestamp']) >= Math.floor(answeredAt / 1000),
    'stamped after the answer before it, not when made',
  );
  assert.doesNotThrow(() => verify(e2));
});

test('answers that close their connection (Connection: close): each next POST once, in order, on a new connection', async (t) => {
  const sockets = new Set<unknown>();
  const r = await receiver(t, (_n, res) => {
    sockets.add(res.socket);
    res.writeHead(204, { connection: 'close' }).end();
  });
  const { store, sink } = setup(t, { url: r.url }, ['e1', 'e2', 'e3', 'e4']);
  sink.wake();
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e2', 'e3', 'e4'],
  );
  assert.equal(sockets.size, 4);
  assert.deepEqual(sink.stats, { delivered: 4, failedAttempts: 0, retries: 0, dead: 0 });
});

test('closing with a POST on the wire and the next one made: neither is marked or sent, a new sink sends both in order', async (t) => {
  const r = await receiver(t, (n, res) => {
    if (n !== 0) res.writeHead(204).end(); // the first never answered
  });
  const { store, sink } = setup(t, { url: r.url }, ['e1', 'e2']);
  sink.wake();
  await until(() => r.got.length === 1, 'e1 on the wire');
  sink.close();
  assert.equal(store.held, 2, 'both still pending');
  const again = new HttpSink(store, { name: 'feed', url: r.url, logger, timeoutMs: 1000 });
  t.after(() => again.close());
  again.wake();
  await until(() => store.held === 0, 'both delivered by the new sink');
  assert.deepEqual(
    r.got.map((g) => g.headers['webhook-id']),
    ['e1', 'e1', 'e2'],
    'e2 never sent by the closed sink',
  );
});
