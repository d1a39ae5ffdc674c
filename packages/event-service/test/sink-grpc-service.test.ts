// A grpc:// sink configured in a real service ([handlers] entry, the sink worker thread, the store): events
// published to the service reach a real @grpc/grpc-js receiver, and one the receiver refuses with INVALID_ARGUMENT
// is listed by GET /deadletters after one attempt, its error the receiver's status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { eventually, until, within } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';
import { startEventService } from '../src/embedded.js';
import { startGrpcReceiver } from './helpers/grpc-receiver.js';

const ev = (id: string) =>
  JSON.stringify({ specversion: '1.0', id, source: '/t', type: 'nodeTerminated', data: { id } });

interface DeadList {
  deadletters: { sink: string; id: string; attempts: number; last_error: string }[];
}

test('a service delivers to a grpc:// sink; INVALID_ARGUMENT is in /deadletters after one attempt', async (t) => {
  const r = await startGrpcReceiver(t, {
    answer: (_n, c) => (c.events[0]!.id === 'bad' ? grpc.status.INVALID_ARGUMENT : grpc.status.OK),
  });
  const svc = await startEventService({
    service: { host: '127.0.0.1', port: 0 },
    monitor: { host: '127.0.0.1', port: 0 },
    store: { path: path.join(tmpDir(t), 'e.db') },
    handlers: { event_feed: { url: r.url, max_attempts: 5 } } as never,
    log: { level: 'silent' },
  });
  t.after(() => svc.close());
  for (const id of ['ok1', 'bad', 'ok2']) await svc.request('events.nodeTerminated', ev(id));
  await until(() => r.got.length === 3, 'three calls');
  assert.deepEqual(
    r.events().map((e) => [e.id, e.type, e.text_data]),
    [
      ['ok1', 'nodeTerminated', '{"id":"ok1"}'],
      ['bad', 'nodeTerminated', '{"id":"bad"}'],
      ['ok2', 'nodeTerminated', '{"id":"ok2"}'],
    ],
  );
  const base = `http://127.0.0.1:${svc.monitorPort}`;
  const dead = await eventually(
    async () => (await (await within(fetch(`${base}/deadletters`), 'GET /deadletters')).json()) as DeadList,
    (d) => d.deadletters.length === 1,
    'one dead letter',
  );
  assert.deepEqual(
    dead.deadletters.map((d) => [d.sink, d.id, d.attempts]),
    [['event_feed', 'bad', 1]],
  );
  assert.match(dead.deadletters[0]!.last_error, /^gRPC INVALID_ARGUMENT: told to answer INVALID_ARGUMENT/);
  assert.equal(r.got.length, 3, 'the refused event was not tried again');
});
