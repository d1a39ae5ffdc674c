// feed-streams.ts: a live stream whose opening read (the backend's lastSeq, a network round trip on JetStream) is
// still pending when the feed closes is ended, never added to a feed that no longer runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@event-broker/shared';
import type { EventBackend } from '../src/handlers/event-backend.js';
import { FeedStreams } from '../src/handlers/feed-streams.js';
import { until } from '@event-broker/test-support/wait';

test('a stream opened while the feed closes is ended with 503, not left open', async (t) => {
  let release!: (seq: number) => void;
  const lastSeq = new Promise<number>((r) => (release = r));
  const backend = { lastSeq: () => lastSeq } as unknown as EventBackend;
  const streams = new FeedStreams({
    backend: () => backend,
    logger: createLogger({ level: 'silent' }),
    frame: () => '',
  });
  let opened: Promise<void> | undefined;
  const server = http.createServer((_req, res) => {
    opened = streams.open(res, {}, undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const answer = new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/' }, resolve).on('error', reject),
  );
  // The request reached open(), which waits on lastSeq: close the feed meanwhile, then let the read finish.
  await until(() => opened !== undefined, 'the request to reach the feed');
  streams.close();
  release(7);
  await opened;
  const res = await answer;
  assert.equal(res.statusCode, 503);
  res.resume();
  await new Promise((r) => res.on('end', r));
  assert.equal(streams.size, 0);
});
