// What the jetstream-sink*.test.ts files share: a real nats-server with JetStream (its own store directory), the
// official client connected to it, the deps a sink queue is given, the streams made from the layout and events
// published as the JetStream backend appends them (headers per layout.ts, Nats-Msg-Id = event id). The streams are
// made here until the backend (jetstream/backend.ts) creates them; then createStreams gives way to it.
//
// Their cleanups go on one stack per test (cleanup(t)), undone last first: node:test runs `t.after` hooks first
// registered first and skips the rest once one throws. Registered on `t`, the store directory was removed under a
// live nats-server (which can write a file into it meanwhile: ENOTEMPTY), and that failure skipped the server's
// kill and the connections' and sinks' close: a failed test then held the file until the runner's timeout.
import { connect, headers as natsHeaders, type NatsConnection } from 'nats';
import { createLogger } from '@event-broker/shared';
import { startNatsServer, type NatsServer } from '@event-broker/test-support/nats-server';
import { tmpDir, type AfterHook } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import type { JetStreamDeps } from '../../src/handlers/jetstream/deps.js';
import { HEADERS, streamLayout } from '../../src/handlers/jetstream/layout.js';
import { ev } from './http-sink.js';

export const SINK = 'feed';

/** How long one cleanup step may take before it is reported and the next one runs. */
const CLEANUP_STEP_MS = 10_000;

const stacks = new WeakMap<AfterHook, AfterHook>();

/**
 * The test's cleanup stack: steps run last registered first (sinks and queues close while their connection and
 * server are up; the server is killed before its store directory goes), each bounded, every one whatever the
 * others did; their failures are thrown together at the end.
 */
export function cleanup(t: AfterHook, stepMs = CLEANUP_STEP_MS): AfterHook {
  const known = stacks.get(t);
  if (known !== undefined) return known;
  const steps: (() => void | Promise<void>)[] = [];
  t.after(async () => {
    const failures: unknown[] = [];
    for (const step of steps.splice(0).reverse()) {
      try {
        await within(Promise.resolve().then(step), `cleanup ${String(step)}`, stepMs);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) throw new AggregateError(failures, `${failures.length} cleanup steps failed`);
  });
  const stack: AfterHook = { after: (fn) => void steps.push(fn) };
  stacks.set(t, stack);
  return stack;
}

/** nats-server -js on a free loopback port with its store in a directory removed after the test (and the server). */
export async function startJetStream(t: AfterHook): Promise<NatsServer> {
  const dir = tmpDir(cleanup(t), 'jetstream-sink-');
  return startNatsServer(cleanup(t), [`jetstream { store_dir: ${JSON.stringify(dir)} }`]);
}

export async function connectTo(t: AfterHook, server: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: `${server.host}:${server.port}`, reconnect: false });
  cleanup(t).after(() => nc.close());
  return nc;
}

/** The deps of one "instance": its own connection; `settled` counts the settlements it is told of. */
export async function instance(t: AfterHook, server: NatsServer) {
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
