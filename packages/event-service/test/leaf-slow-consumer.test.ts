// A leaf that stops reading, hub side: nats-server applies write_deadline to every kind of connection, leafnode
// links included (client.go flushOutbound: a write blocked past it closes the connection as "Slow Consumer (Write
// Deadline)"). Our hub-side link does the same as a client (slow-consumer.test.ts): once what it owes the leaf has
// made no progress into the socket for write_deadline it is cut, counted as a slow consumer, even though its pending
// bytes stay far below max_pending; the publisher feeding it is not held. A raw socket plays the leaf, so it can
// stop reading exactly when the test says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'nats';
import { startEventService } from '../src/index.js';
import { connectRaw } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';

const HOST = '127.0.0.1';
const MiB = 1024 * 1024;
const WRITE_DEADLINE_MS = 500;
/** Far above what is published: the link can only be closed by the write deadline, never by max_pending. */
const MAX_PENDING = 256 * MiB;
const PAYLOAD = 4096;
/**
 * 32 MiB: more than loopback's socket buffers take from a reader that stopped (the sender's tcp_wmem tops out at
 * 4 MiB; a receive window that never opens stays small), so bytes wait in our socket's buffer.
 */
const MESSAGES = 8192;

test('a leaf that stops reading is closed as a slow consumer once write_deadline passes without progress, far below max_pending', async (t) => {
  const svc = await startEventService({
    service: { host: HOST, port: 0, max_pending: MAX_PENDING, write_deadline: WRITE_DEADLINE_MS },
    leafnodes: { host: HOST, port: 0 },
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  const leaf = await connectRaw({ host: HOST, port: svc.leafnodePort! });
  t.after(() => leaf.close());
  // Its interest is held once the PONG is back: the LS+ was read before the PING.
  leaf.send(
    `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NSTUCKLEAF', name: 'stuck-leaf', headers: true })}\r\nLS+ feed\r\nPING\r\n`,
  );
  await leaf.expect(/PONG\r\n/);
  leaf.pause();

  const pub = await within(connect({ servers: `${HOST}:${svc.port}` }), 'connect the publisher');
  t.after(() => pub.close());
  const payload = new Uint8Array(PAYLOAD).fill(120);
  for (let i = 0; i < MESSAGES; i++) pub.publish('feed', payload);
  await within(pub.flush(), 'the publisher is not held by the stuck leaf', 10_000);

  await until(
    () => svc.stats().slow_consumers === 1,
    `the stuck leaf closed after write_deadline (${WRITE_DEADLINE_MS} ms)`,
    10_000,
  );
  // Paused, the leaf's socket cannot see the close: read what the kernel holds, then expect the end.
  leaf.socket.resume();
  await leaf.expectClosed(5000);
  assert.equal(pub.isClosed(), false, 'the publisher stays connected');
});
