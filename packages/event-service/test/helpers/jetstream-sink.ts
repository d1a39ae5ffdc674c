// What the jetstream-sink*.test.ts files share: a real nats-server with JetStream (its own store directory), the
// official client connected to it, the deps a sink queue is given, the streams made from the layout and events
// published as the JetStream backend appends them (headers per layout.ts, Nats-Msg-Id = event id). The streams are
// made here until the backend (jetstream/backend.ts) creates them; then createStreams gives way to it.
import type { TestContext } from 'node:test';
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { createLogger } from '@event-broker/shared';
import { startNatsServer, type NatsServer } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import type { JetStreamDeps } from '../../src/handlers/jetstream/deps.js';
import { HEADERS, streamLayout } from '../../src/handlers/jetstream/layout.js';
import { ev } from './http-sink.js';

export const SINK = 'feed';

/** nats-server -js on a free loopback port with its store in a directory removed after the test. */
export async function startJetStream(t: TestContext): Promise<NatsServer> {
  const dir = tmpDir(t, 'jetstream-sink-');
  return startNatsServer(t, [`jetstream { store_dir: ${JSON.stringify(dir)} }`]);
}

export async function connectTo(t: TestContext, server: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: `${server.host}:${server.port}`, reconnect: false });
  t.after(() => nc.close());
  return nc;
}

/** The deps of one "instance": its own connection; `settled` counts the settlements it is told of. */
export async function instance(t: TestContext, server: NatsServer) {
  const nc = await connectTo(t, server);
  const settled = { count: 0 };
  const deps: JetStreamDeps = {
    nc,
    js: nc.jetstream(),
    jsm: await nc.jetstreamManager(),
    layout: streamLayout(),
    logger: createLogger({ format: 'text', level: 'silent', name: 'test' }),
    settled: () => void settled.count++,
  };
  return { deps, settled };
}

/** The events stream and the dead-letter stream, as the backend makes them. */
export async function createStreams(deps: JetStreamDeps): Promise<void> {
  const { jsm, layout } = deps;
  await jsm.streams.add({ name: layout.stream, subjects: [...layout.subjects] });
  await jsm.streams.add({ name: layout.deadStream, subjects: [...layout.deadSubjects] });
}

/** Appends events as the backend does; returns their stream sequences. */
export async function publishEvents(
  deps: JetStreamDeps,
  ids: readonly string[],
  sinks: readonly string[] = [SINK],
): Promise<number[]> {
  const seqs: number[] = [];
  for (const id of ids) {
    const h = natsHeaders();
    h.set(HEADERS.type, 'scanJobCreated');
    h.set(HEADERS.sinks, sinks.join(','));
    const ack = await deps.js.publish(deps.layout.event(id, sinks), ev(id), { headers: h, msgID: id });
    seqs.push(ack.seq);
  }
  return seqs;
}
