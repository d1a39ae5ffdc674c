// The jetstream sink tests' cleanup stack (helpers/jetstream-sink.ts cleanup): node:test runs `t.after` hooks first
// registered first and skips the rest once one throws, so the store directory used to be removed under a live
// nats-server (ENOTEMPTY when the server wrote into it meanwhile) and the skipped hooks left the server, the
// connections and the sinks running: the file hung until the runner's 120 s timeout. Here the stack is run by hand
// (a stand-in for `t`), to see its order, its bounds, and a real sink's cleanup end promptly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { startReceiver } from '@event-broker/test-support/http';
import { until } from '@event-broker/test-support/wait';
import { BackendSink, sinkQueueOptions } from '../src/handlers/backend-sink.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { logger, SECRET } from './helpers/http-sink.js';
import { cleanup, createStreams, instance, publishEvents, SINK, startJetStream } from './helpers/jetstream-sink.js';

const skip = natsServerSkip();

/** A stand-in for a test's `t`: its after hooks are kept for the test to run. */
function host() {
  const hooks: (() => void | Promise<void>)[] = [];
  return { hooks, after: (fn: () => void | Promise<void>) => void hooks.push(fn) };
}

test('cleanup steps run last registered first, every one after a failure, each bounded; failures reported', async () => {
  const t = host();
  const stack = cleanup(t, 200);
  assert.equal(cleanup(t), stack, 'one stack per test');
  const ran: string[] = [];
  stack.after(() => void ran.push('first'));
  stack.after(() => {
    ran.push('throws');
    throw new Error('step failed');
  });
  stack.after(() => {
    ran.push('hangs');
    return new Promise<void>(() => undefined);
  });
  stack.after(() => void ran.push('last'));
  assert.equal(t.hooks.length, 1, 'one t.after for the whole stack');
  const started = Date.now();
  await assert.rejects(
    async () => t.hooks[0]!(),
    (err: unknown) => {
      assert.ok(err instanceof AggregateError);
      assert.deepEqual(
        err.errors.map((e: Error) => e.message.replace(/cleanup .*/s, 'cleanup …')),
        ['timed out after 200 ms: cleanup …', 'step failed'],
      );
      return true;
    },
  );
  assert.deepEqual(ran, ['last', 'hangs', 'throws', 'first']);
  assert.ok(Date.now() - started < 2000, `the hanging step held the rest ${Date.now() - started} ms`);
});

test(
  "a sink test's cleanup with a POST in flight ends promptly: sink, connection, server, then its store directory",
  { skip },
  async (t) => {
    const th = host();
    const server = await startJetStream(th);
    // Cleaned by hand below; should an assertion fail first, the stack still runs after this test.
    t.after(() => (th.hooks.length > 0 ? th.hooks.splice(0)[0]!() : undefined));
    const store = /Store Directory:\s+"([^"]+)"/.exec(server.log())?.[1];
    assert.ok(store !== undefined && fs.existsSync(store), `the server logs its store directory:\n${server.log()}`);
    const { deps } = await instance(th, server);
    await createStreams(deps);
    const r = await startReceiver(t);
    r.hold();
    await publishEvents(deps, ['c1', 'c2']);
    const opts = { name: SINK, url: r.url, secrets: [SECRET], timeoutMs: 10_000, logger };
    const s = new BackendSink(new JetStreamSinkQueue(deps, SINK, sinkQueueOptions({ maxInFlight: 1 })), opts);
    cleanup(th).after(() => s.close());
    await until(() => r.got.length === 1, 'a POST in flight, its claim held');
    const started = Date.now();
    await th.hooks.splice(0)[0]!();
    const took = Date.now() - started;
    assert.ok(took < 5000, `cleanup took ${took} ms`);
    assert.equal(server.alive(), false, 'the server is killed');
    assert.ok(deps.nc.isClosed(), 'the connection is closed');
    assert.equal(fs.existsSync(store), false, 'its store directory is removed');
    r.release();
  },
);
