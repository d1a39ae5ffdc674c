// grpc:// sinks on the SQLite backend (sinks/http.ts's pump over sinks/grpc-transport.ts) against a real
// @grpc/grpc-js receiver decoding with the shipped .proto files: each event arrives equal to what was stored, a
// batch goes as PublishBatch, UNAVAILABLE and RESOURCE_EXHAUSTED are retried until delivered, INVALID_ARGUMENT is
// dead-lettered at once, and a receiver that is not there yet gets everything once it is.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { freePort } from '@event-broker/test-support/processes';
import { until } from '@event-broker/test-support/wait';
import { timestamp, toProtoEvent } from '../src/handlers/sinks/grpc-event.js';
import { MAX_ANSWER_BYTES, MAX_DETAILS } from '../src/handlers/sinks/grpc-transport.js';
import { HttpSink } from '../src/handlers/sinks/http.js';
import type { HttpSinkOptions } from '../src/handlers/sinks/options.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { logger } from './helpers/http-sink.js';
import { fromProto, startGrpcReceiver } from './helpers/grpc-receiver.js';

const event = (id: string, more: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id,
  source: '/services/compliance',
  type: 'scanJobCreated',
  ...more,
});

function setup(t: TestContext, opts: Partial<HttpSinkOptions> & { url: string }, events: object[]) {
  const store = new SqliteEventStore(':memory:');
  t.after(() => store.close());
  store.append(
    events.map((e) => ({
      id: (e as { id: string }).id,
      type: 'scanJobCreated',
      body: JSON.stringify(e),
      sinks: ['feed'],
    })),
  );
  const sink = new HttpSink(store, {
    name: 'feed',
    backoffBaseMs: 10,
    backoffCapMs: 50,
    timeoutMs: 2000,
    logger,
    ...opts,
  });
  t.after(() => sink.close());
  sink.wake();
  return { store, sink };
}

/** CloudEventService.Publish with the bytes left as they are: a receiver that answers what a real one would not. */
const RAW_PUBLISH = {
  path: '/io.cloudevents.v1.CloudEventService/Publish',
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};

test('each stored event reaches a gRPC receiver by Publish, decoded with the shipped proto equal to what was stored', async (t) => {
  const r = await startGrpcReceiver(t);
  const stored = [
    event('g1', {
      time: '2026-12-05T10:11:12.123456789Z',
      subject: 'job-7',
      dataschema: 'https://example.com/scan.json',
      producer: { id: 'p1', name: 'compliance', type: 'service' },
      actor: { id: 'u1', object_type: 'user' },
      tags: ['a', 'b'],
      verb: 'create',
      authtype: 'service_user',
      authid: 'alice',
      count: 42,
      ratio: 0.5,
      big: 2 ** 40,
      flag: true,
      data: { nested: { n: 1 }, list: [1, 'two'] },
    }),
    event('g2', { datacontenttype: 'text/plain', data: 'plain words' }),
    event('g3', {
      datacontenttype: 'application/octet-stream',
      data_base64: Buffer.from([0, 1, 255]).toString('base64'),
    }),
    event('g4', { datacontenttype: 'application/json', data: 'a JSON string' }),
    event('g5'),
  ];
  const { store } = setup(t, { url: r.url, headers: { authorization: 'Bearer t0k' } }, stored);
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((c) => c.method),
    ['Publish', 'Publish', 'Publish', 'Publish', 'Publish'],
  );
  assert.deepEqual(r.got[0]!.metadata.get('authorization'), ['Bearer t0k'], 'headers travel as metadata');
  const expected = stored.map((e) =>
    // JSON data without a datacontenttype is labelled application/json on the way.
    'data' in e && !('datacontenttype' in e) ? { ...e, datacontenttype: 'application/json' } : e,
  );
  // Numbers that are not int32 travel as their JSON text: they come back as strings.
  (expected[0] as Record<string, unknown>).ratio = '0.5';
  (expected[0] as Record<string, unknown>).big = String(2 ** 40);
  assert.deepEqual(r.events().map(fromProto), expected);
  const first = r.events()[0]!;
  assert.equal(first.attributes!.time!.attr, 'ce_timestamp');
  assert.deepEqual(first.attributes!.time!.ce_timestamp, {
    seconds: Date.parse('2026-12-05T10:11:12Z') / 1000,
    nanos: 123_456_789,
  });
  assert.equal(first.attributes!.count!.attr, 'ce_integer');
  assert.equal(first.attributes!.flag!.attr, 'ce_boolean');
  assert.equal(first.attributes!.dataschema!.attr, 'ce_uri');
  assert.equal(first.attributes!.producer!.ce_string, '{"id":"p1","name":"compliance","type":"service"}');
  assert.equal(r.events()[1]!.text_data, 'plain words');
  assert.deepEqual([...r.events()[2]!.binary_data!], [0, 1, 255]);
});

test('with batch_size above 1 the events go by PublishBatch, in order', async (t) => {
  const r = await startGrpcReceiver(t);
  const stored = ['b1', 'b2', 'b3', 'b4', 'b5'].map((id) => event(id, { data: { id } }));
  const { store } = setup(t, { url: r.url, batchSize: 3 }, stored);
  await until(() => store.held === 0, 'all delivered');
  assert.deepEqual(
    r.got.map((c) => [c.method, c.events.map((e) => e.id)]),
    [
      ['PublishBatch', ['b1', 'b2', 'b3']],
      ['PublishBatch', ['b4', 'b5']],
    ],
  );
});

test('UNAVAILABLE and RESOURCE_EXHAUSTED are retried with backoff until the receiver answers OK', async (t) => {
  const answers = [grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.DEADLINE_EXCEEDED];
  const r = await startGrpcReceiver(t, { answer: (n) => answers[n] ?? grpc.status.OK });
  const { store, sink } = setup(t, { url: r.url }, [event('r1'), event('r2')]);
  await until(() => store.held === 0, 'delivered after retries');
  assert.deepEqual(
    r.got.map((c) => c.events[0]!.id),
    ['r1', 'r1', 'r1', 'r1', 'r2'],
    'the same event retried, in order, then the next',
  );
  assert.equal(sink.stats.failedAttempts, 3);
  assert.equal(sink.stats.delivered, 2);
  assert.equal(store.deadLetters().length, 0);
  assert.match(sink.lastError?.message ?? '', /^gRPC DEADLINE_EXCEEDED: /);
});

test('INVALID_ARGUMENT dead-letters the event at once with its error; the next one is delivered', async (t) => {
  const r = await startGrpcReceiver(t, {
    answer: (_n, c) => (c.events[0]!.id === 'bad' ? grpc.status.INVALID_ARGUMENT : grpc.status.OK),
  });
  const { store, sink } = setup(t, { url: r.url, maxAttempts: 5 }, [event('bad'), event('good')]);
  await until(() => store.held === 0, 'resolved');
  assert.deepEqual(
    r.got.map((c) => c.events[0]!.id),
    ['bad', 'good'],
    'no second attempt',
  );
  const dead = store.deadLetters({ sink: 'feed' });
  assert.deepEqual(
    dead.map((d) => [d.id, d.attempts]),
    [['bad', 1]],
  );
  assert.match(dead[0]!.lastError ?? '', /^gRPC INVALID_ARGUMENT: told to answer INVALID_ARGUMENT \(not retried/);
  assert.equal(sink.stats.dead, 1);
  assert.equal(sink.stats.delivered, 1);
});

test('a gRPC receiver that is down is retried (UNAVAILABLE) and gets everything once it is up', async (t) => {
  const port = await freePort();
  const { store, sink } = setup(t, { url: `grpc://127.0.0.1:${port}`, maxAttempts: 1000 }, [event('d1'), event('d2')]);
  await until(() => sink.stats.failedAttempts >= 2, 'retried while down');
  assert.match(sink.lastError?.message ?? '', /^gRPC UNAVAILABLE/);
  assert.equal(store.held, 2, 'still owed');
  const r = await startGrpcReceiver(t, { port });
  await until(() => store.held === 0, 'delivered once up');
  assert.deepEqual(
    r.events().map((e) => e.id),
    ['d1', 'd2'],
  );
});

test('a time with an offset or a long fraction becomes the same instant as a Timestamp; an unreadable one stays a string', () => {
  assert.deepEqual(timestamp('2026-01-01T02:00:00.5+02:00'), {
    seconds: Date.parse('2026-01-01T00:00:00Z') / 1000,
    nanos: 500_000_000,
  });
  assert.deepEqual(timestamp('2026-01-01T00:00:00.1234567891Z'), {
    seconds: Date.parse('2026-01-01T00:00:00Z') / 1000,
    nanos: 123_456_789,
  });
  assert.equal(timestamp('soon'), undefined);
  assert.deepEqual(toProtoEvent(JSON.stringify(event('t', { time: 'soon' }))).attributes.time, { ce_string: 'soon' });
  assert.throws(() => toProtoEvent('[1]'), /not a JSON object/);
});

test('unordered (max_in_flight 2), a permanent refusal does not pause the sink: the rest go at once', async (t) => {
  const r = await startGrpcReceiver(t, {
    answer: (_n, c) => (c.events[0]!.id === 'p0' ? grpc.status.PERMISSION_DENIED : grpc.status.OK),
  });
  const ids = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
  // Were it paused, the pause would be ~10 s (backoff 10 s, randomness at its top): past this wait.
  const { store, sink } = setup(
    t,
    { url: r.url, maxInFlight: 2, backoffBaseMs: 10_000, backoffCapMs: 10_000, random: () => 0.99 },
    ids.map((id) => event(id)),
  );
  await until(() => store.held === 0, 'all resolved without a pause', 5000);
  assert.deepEqual(
    r
      .events()
      .map((e) => e.id)
      .sort(),
    ids,
  );
  assert.equal(sink.stats.dead, 1);
  assert.match(store.deadLetters()[0]!.lastError ?? '', /^gRPC PERMISSION_DENIED/);
});

test("a receiver's long status details are cut short in the dead letter, the last error and the log", async (t) => {
  const r = await startGrpcReceiver(t, {
    answer: () => grpc.status.INVALID_ARGUMENT,
    details: () => 'x'.repeat(MAX_DETAILS * 50),
  });
  const lines: string[] = [];
  const line = (obj: object, msg: string) => void lines.push(JSON.stringify(obj) + msg);
  const capture = { error: line, warn: line };
  const { store, sink } = setup(t, { url: r.url, logger: capture }, [event('long')]);
  await until(() => store.held === 0, 'dead-lettered');
  const dead = store.deadLetters({ sink: 'feed' });
  assert.equal(dead.length, 1);
  const error = dead[0]!.lastError ?? '';
  assert.ok(error.length < MAX_DETAILS + 100, `dead letter error of ${error.length} characters`);
  assert.match(error, /^gRPC INVALID_ARGUMENT: x+… \(\d+ characters\) \(not retried; attempt 1\)$/);
  assert.ok((sink.lastError?.message.length ?? 0) < MAX_DETAILS + 100);
  assert.ok(lines.length > 0 && lines.every((l) => l.length < MAX_DETAILS + 500), 'log lines bounded');
});

test('an answer larger than MAX_ANSWER_BYTES is refused, not buffered: the events stay owed and are retried', async (t) => {
  // A receiver whose Publish answers 1 MiB instead of an Empty (the service's own path, its own serializer).
  const server = new grpc.Server();
  let calls = 0;
  server.addService({ Publish: RAW_PUBLISH } as grpc.ServiceDefinition, {
    Publish: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      calls++;
      cb(null, Buffer.alloc(1024 * 1024, 0x0a));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  t.after(() => server.forceShutdown());
  const { store, sink } = setup(t, { url: `grpc://127.0.0.1:${port}`, maxAttempts: 1000 }, [event('big')]);
  await until(() => sink.stats.failedAttempts >= 2, 'retried');
  assert.ok(calls >= 2);
  assert.match(sink.lastError?.message ?? '', /^gRPC RESOURCE_EXHAUSTED: .*larger than max/);
  assert.ok(MAX_ANSWER_BYTES < 1024 * 1024);
  assert.equal(store.held, 1, 'still owed');
  assert.equal(sink.stats.delivered, 0);
});

test('a receiver shutting down with the call in flight (CANCELLED) is retried, not dead-lettered', async (t) => {
  // A receiver that takes the call and, before answering, is shut down (a deploy): grpc-js cancels its calls.
  const first = new grpc.Server();
  let arrived = false;
  first.addService({ Publish: RAW_PUBLISH } as grpc.ServiceDefinition, {
    Publish: () => void (arrived = true),
  });
  const port = await new Promise<number>((resolve, reject) =>
    first.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  t.after(() => first.forceShutdown());
  const { store, sink } = setup(t, { url: `grpc://127.0.0.1:${port}`, maxAttempts: 1000 }, [event('c1')]);
  await until(() => arrived, 'the call reached the first receiver');
  first.forceShutdown();
  await until(() => sink.stats.failedAttempts >= 1, 'the cancelled call failed');
  assert.equal(store.deadLetters({ sink: 'feed' }).length, 0, 'not dead-lettered');
  const r = await startGrpcReceiver(t, { port });
  await until(() => store.held === 0, 'delivered to the receiver back up');
  assert.deepEqual(
    r.events().map((e) => e.id),
    ['c1'],
  );
  assert.equal(store.deadLetters({ sink: 'feed' }).length, 0);
});
