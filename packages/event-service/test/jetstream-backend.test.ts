// The JetStream EventBackend (handlers/jetstream/backend.ts) against the EventBackend conformance suite, on one
// real nats-server with JetStream: each test gets a stream of its own (made here first with a 4 KiB message bound,
// which the backend accepts, so one event can be refused alone) and its sinks' durable consumers.
import { after, before } from 'node:test';
import { DiscardPolicy, type NatsConnection } from 'nats';
import type { EventBackend } from '../src/handlers/event-backend.js';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { JetStreamSinkQueue } from '../src/handlers/jetstream/sink-queue.js';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { backendConformance } from './helpers/backend-conformance.js';
import { connectTo, openBackend, startJetStream, type JetStreamServer } from './helpers/jetstream.js';

const skip = natsServerSkip();
const cleanups: (() => unknown)[] = [];
let server: JetStreamServer | undefined;
let nc: NatsConnection | undefined;
let streams = 0;

if (!skip) {
  before(async () => {
    const hook = { after: (fn: () => unknown) => void cleanups.push(fn) };
    server = await startJetStream(hook);
    nc = await connectTo(hook, server.port);
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  backendConformance('JetStream', {
    async open(t, { sinks }): Promise<EventBackend> {
      const layout = streamLayout(`CONF${++streams}`);
      const jsm = await nc!.jetstreamManager();
      await jsm.streams.add({
        name: layout.stream,
        subjects: [...layout.subjects],
        discard: DiscardPolicy.New,
        max_msg_size: 4096,
      });
      const backend = await openBackend(t, nc!, { store: { stream: layout.stream } });
      // The sinks' consumers, made before any event is routed to them (as the handlers' pumps make them at start).
      for (const sink of sinks) {
        const q = backend.sinkQueue(sink, { maxInFlight: 1 }) as JetStreamSinkQueue;
        await q.ready();
        await q.close();
      }
      return backend;
    },
    unstorable: (id) => ({ id, type: 'x', body: JSON.stringify({ id, pad: 'x'.repeat(5000) }), sinks: ['feed'] }),
    // Longer than the sink queue's shortest pull (1 s).
    retryDelayMs: 1500,
  });
}
