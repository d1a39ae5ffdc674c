// A grpc:// sink on the JetStream backend (handlers/backend-sink.ts over jetstream/sink-queue.ts, its transport
// sinks/grpc-transport.ts): a real nats-server with JetStream, events published as the backend appends them, a
// real @grpc/grpc-js receiver. Each event delivered once and acked after an UNAVAILABLE retry; INVALID_ARGUMENT
// dead-lettered at once with its error.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { eventually, until } from '@event-broker/test-support/wait';
import { BackendSink, sinkQueueOptions } from '../src/handlers/backend-sink.js';
import { deadLetters, sinkCounts } from '../src/handlers/jetstream/dead-letters.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import type { HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { fromProto, startGrpcReceiver } from './helpers/grpc-receiver.js';
import { ev, logger } from './helpers/http-sink.js';
import { cleanup, createStreams, instance, publishEvents, SINK, startJetStream } from './helpers/jetstream-sink.js';

const skip = natsServerSkip();

type Deps = Awaited<ReturnType<typeof instance>>['deps'];

async function setup(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }) {
  const server = await startJetStream(t);
  const { deps } = await instance(t, server);
  await createStreams(deps);
  const start = () => {
    const q = new JetStreamSinkQueue(deps, SINK, sinkQueueOptions(opts));
    const s = new BackendSink(q, {
      name: SINK,
      backoffBaseMs: 50,
      backoffCapMs: 100,
      timeoutMs: 2000,
      logger,
      ...opts,
    });
    cleanup(t).after(() => s.close());
    return s;
  };
  return { deps, start };
}

const owed = async (deps: Deps) => (await sinkCounts(deps, SINK)).pending;

test(
  'a gRPC receiver gets each event once, equal to what was stored, after an UNAVAILABLE retry; all acked',
  { skip },
  async (t) => {
    const r = await startGrpcReceiver(t, { answer: (n) => (n === 0 ? grpc.status.UNAVAILABLE : grpc.status.OK) });
    const { deps, start } = await setup(t, { url: r.url });
    await publishEvents(deps, ['j1', 'j2', 'j3']);
    const s = start();
    await until(() => s.stats.delivered === 3, 'three delivered');
    assert.deepEqual(
      r.events().map((e) => e.id),
      ['j1', 'j1', 'j2', 'j3'],
    );
    // The stored body (helpers/http-sink.ts ev) back from the protobuf form; JSON data labelled on the way.
    assert.deepEqual(
      r.events().slice(1).map(fromProto),
      ['j1', 'j2', 'j3'].map((id) => ({ ...(JSON.parse(ev(id)) as object), datacontenttype: 'application/json' })),
    );
    assert.equal(s.stats.failedAttempts, 1);
    await eventually(
      () => owed(deps),
      (n) => n === 0,
      'all acked',
    );
  },
);

test('INVALID_ARGUMENT is dead-lettered at once on JetStream, its error listed', { skip }, async (t) => {
  const r = await startGrpcReceiver(t, { answer: () => grpc.status.INVALID_ARGUMENT });
  const { deps, start } = await setup(t, { url: r.url, maxAttempts: 5 });
  await publishEvents(deps, ['x1']);
  const s = start();
  const dead = await eventually(
    () => deadLetters(deps, { sink: SINK }),
    (l) => l.length === 1,
    'dead-lettered',
  );
  assert.equal(dead[0]!.id, 'x1');
  assert.equal(dead[0]!.attempts, 1);
  assert.match(dead[0]!.lastError ?? '', /^gRPC INVALID_ARGUMENT: .*not retried/);
  assert.equal(r.got.length, 1, 'one attempt only');
  assert.equal(s.stats.dead, 1);
});
