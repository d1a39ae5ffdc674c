// The `events` scenario: our durable event intake and delivery, end to end, with no nats-server equivalent.
// Our service runs as a child (servers.ts startOurs) with a [store] in a temporary directory (FULL fsync, the
// default) and one [handlers] sink, `event_feed`, pointing at a node:http receiver in this process that answers
// 204. The generator sends `count` CloudEvents of ~1 KiB (each with an id of its own) as requests to
// `events.scanJobCreated`, `inflight` unanswered at a time; a request completes when the service replies, which it
// does only after the event's commit (the acknowledgement). The native generator's `requests` mode does it over a
// raw socket for a few % of a core; with the Node generator the official `nats` client does (about a core of its
// own at these rates, taken from the service on 2 cores). Figures:
//   acked/s      acknowledged events over the intake window (first request → last reply);
//   delivered/s  events the receiver got over the delivery window (first request → last delivery);
//   backlog      events acknowledged but not yet delivered when the last reply came (0 = delivery kept up);
//   drain        time from the last reply to the last delivery.
// main.ts runs it in its own process; the receiver answers on a worker thread of its own, so a delivery's round trip
// does not wait for this loop: the figures say whether the service keeps up, not whether the bench does. The
// service parses the intake on its main thread, commits it on a store writer thread (handlers/store-writer.ts) and
// delivers from a sink worker thread (handlers/sink-pool.ts). With one
// event per POST and max_in_flight 1 the delivery rate is one round trip per event: batch_size (or max_in_flight,
// giving up the order) is what lets delivery keep up with intake. `events-grpc` rows deliver to a grpc:// sink
// instead (grpc-receiver.ts: a grpc-js CloudEventService counting the same way).
import { Worker } from 'node:worker_threads';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Generator } from './generators.js';
import { startGrpcReceiver } from './grpc-receiver.js';
import { workerReceiver } from './worker-receiver.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { startOurs, type RunningServer } from './servers.js';

const DRAIN_MS = 30_000;
export const TYPE = 'scanJobCreated';

// The native generator's per-request number goes where this is (loadgen.c ID_MARK).
export const ID_MARK = '##########';

export function eventBody(i: number | string, size: number): string {
  const base = {
    specversion: '1.0',
    id: `bench-${i}`,
    source: '/bench',
    type: TYPE,
    producer: { id: 'bench', name: 'bench', type: 'service' },
    data: { n: String(i), pad: '' },
  };
  const len = JSON.stringify(base).length;
  base.data.pad = 'x'.repeat(Math.max(0, size - len));
  return JSON.stringify(base);
}

export async function runEvents(
  spec: GenSpec,
  limits: Limits,
  generator: Generator,
  onServerCpu: (s: number) => void,
): Promise<GenResult> {
  const size = spec.size ?? 1024;
  const batch = spec.batch ?? 1;
  const parallel = spec.maxInFlight ?? 1;
  const grpc = spec.sink === 'grpc';
  const receiver = grpc ? await startGrpcReceiver() : await startReceiver();
  const sinkPort = receiver.port;
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-events-'));
  const server = await startOurs(
    limits,
    { event_limit: 10_000_000 },
    {
      store: { path: path.join(dir, 'events.db') },
      ...(spec.sink !== 'none' && {
        handlers: {
          event_feed:
            batch > 1 || parallel > 1 || grpc
              ? {
                  url: grpc ? `grpc://127.0.0.1:${sinkPort}` : `127.0.0.1:${sinkPort}`,
                  ...(batch > 1 && { batch_size: batch }),
                  ...(parallel > 1 && { max_in_flight: parallel }),
                }
              : `127.0.0.1:${sinkPort}`,
        },
      }),
    },
  );
  try {
    if (generator.name.startsWith('c-')) {
      const bodyFile = path.join(dir, 'body.json');
      writeFileSync(bodyFile, eventBody(ID_MARK, size));
      return await nativeRequests(
        generator,
        { ...spec, mode: 'requests', subject: `events.${TYPE}`, bodyFile },
        server,
        receiver,
        onServerCpu,
      );
    }
    return await clientRequests(spec, server, receiver, onServerCpu);
  } finally {
    await server.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export type Receiver = Awaited<ReturnType<typeof startReceiver>>;

async function waitDelivered(receiver: Receiver, target: number): Promise<void> {
  const start = Date.now();
  while (receiver.delivered() < target && Date.now() - start < DRAIN_MS) await new Promise((r) => setTimeout(r, 5));
}

// The native generator's `requests` mode: warm-up, then the measured window, marked on its stdout.
export async function nativeRequests(
  generator: Generator,
  spec: GenSpec,
  server: RunningServer,
  receiver: Receiver,
  onServerCpu: (s: number) => void,
): Promise<GenResult> {
  let t0 = 0n;
  let t1 = 0n;
  let srvCpu0 = 0;
  let deliveredAtEnd = 0;
  const r = await generator.run(spec, server.port, {
    onWindow(phase) {
      if (phase === 'start') {
        srvCpu0 = server.cpuSeconds();
        t0 = process.hrtime.bigint();
      } else {
        t1 = process.hrtime.bigint();
        onServerCpu(server.cpuSeconds() - srvCpu0);
        deliveredAtEnd = receiver.delivered();
      }
    },
  });
  const acked = r.acked ?? 0;
  // The warm-up runs straight into the window (one generator run): the window's events are taken to be the
  // receiver's count past the warm-up's. In order (max_in_flight 1) that is exact; with several POSTs at once a few
  // warm-up events may still be in flight at the end, so the backlog may read a few events short.
  const base = r.warmup_acked ?? 0;
  const backlog = acked - Math.max(0, deliveredAtEnd - base);
  if (spec.sink !== 'none') await waitDelivered(receiver, base + acked);
  // Not even the warm-up's events delivered by the drain bound: none of the window's were.
  const got = Math.max(0, receiver.delivered() - base);
  const t2 = got > 0 ? receiver.lastDelivery() : t1;
  return {
    ...r,
    generator: `${r.generator} requests + node:http receiver (own thread)`,
    mode: 'events',
    sent: acked,
    requests: r.requests ?? 0,
    received: got,
    // No sink (`sink: 'none'`): nothing was to be delivered.
    expected: spec.sink === 'none' ? 0 : acked,
    lost: spec.sink === 'none' ? 0 : acked - got,
    backlog_at_end: backlog,
    delivery_ns: Number(t2 - t0),
    drain_ns: Number(t2 > t1 ? t2 - t1 : 0n),
    batch: spec.batch ?? 1,
    batch_posts: receiver.arrays(),
    redelivered: receiver.redelivered(),
  };
}

/** One measured intake window: what was acknowledged and delivered, when, and the CPU it took. */
export interface IntakeWindow {
  acked: number;
  got: number;
  backlog: number;
  t0: bigint;
  t1: bigint;
  t2: bigint;
  cpu: NodeJS.CpuUsage;
  total: NodeJS.CpuUsage;
}

/**
 * Warms up with `warmup` events, then sends `count` (from `warmup` on) through `send` until the cap, and waits for the
 * receiver to have every acknowledged one. The service's CPU over the intake window goes to `onServerCpu` (the bench
 * table's "server CPU" column). Shared by the NATS (clientRequests) and HTTP (events-http.ts) intakes.
 */
export async function measureIntake(
  send: (from: number, n: number, deadline: bigint) => Promise<number>,
  o: {
    warmup: number;
    count: number;
    capNs: bigint;
    receiver: Receiver;
    server: { cpuSeconds(): number };
    onServerCpu: (s: number) => void;
    /** false: no sink was configured (`sink: 'none'`), nothing to wait for. */
    delivering?: boolean;
  },
): Promise<IntakeWindow> {
  const { receiver, server } = o;
  const delivering = o.delivering ?? true;
  const warm = await send(0, o.warmup, process.hrtime.bigint() + o.capNs);
  if (delivering) await waitDelivered(receiver, warm);
  const base = receiver.delivered();
  const cpu0 = process.cpuUsage();
  const srvCpu0 = server.cpuSeconds();
  const t0 = process.hrtime.bigint();
  const acked = await send(o.warmup, o.count, t0 + o.capNs);
  const t1 = process.hrtime.bigint();
  o.onServerCpu(server.cpuSeconds() - srvCpu0);
  const backlog = acked - (receiver.delivered() - base);
  if (delivering) await waitDelivered(receiver, base + acked);
  const got = receiver.delivered() - base;
  const t2 = got > 0 ? receiver.lastDelivery() : t1;
  return { acked, got, backlog, t0, t1, t2, cpu: process.cpuUsage(cpu0), total: process.cpuUsage() };
}

/** A measured window as the bench's result row. */
export function intakeResult(
  w: IntakeWindow,
  receiver: Receiver,
  o: {
    generator: string;
    requests: number;
    timeouts: number;
    refused: number;
    count: number;
    size: number;
    batch: number;
    /** false: no sink was configured, nothing counts as undelivered. */
    delivering?: boolean;
  },
): GenResult {
  const { acked, got, t0, t1, t2 } = w;
  return {
    generator: o.generator,
    mode: 'events',
    window_ns: Number(t1 - t0),
    window_cpu_s: (w.cpu.user + w.cpu.system) / 1e6,
    cpu_user_s: w.total.user / 1e6,
    cpu_sys_s: w.total.system / 1e6,
    sent: acked,
    requests: o.requests,
    timeouts: o.timeouts,
    refused: o.refused,
    received: got,
    expected: o.delivering === false ? 0 : acked,
    lost: o.delivering === false ? 0 : acked - got,
    capped: acked + o.refused + o.timeouts < o.count,
    size: o.size,
    backlog_at_end: w.backlog,
    delivery_ns: Number(t2 - t0),
    drain_ns: Number(t2 > t1 ? t2 - t1 : 0n),
    batch: o.batch,
    batch_posts: receiver.arrays(),
    redelivered: receiver.redelivered(),
  };
}

// Without the native generator: the official client's requests, `inflight` at a time.
export async function clientRequests(
  spec: GenSpec,
  server: RunningServer,
  receiver: Receiver,
  onServerCpu: (s: number) => void,
): Promise<GenResult> {
  const { connect } = await import('nats');
  const count = spec.count ?? 50_000;
  const warmup = spec.warmup ?? 5_000;
  const size = spec.size ?? 1024;
  const inflight = spec.inflight ?? 256;
  const capNs = BigInt(spec.capMs ?? 5000) * 1_000_000n;
  const batch = spec.batch ?? 1;
  const nc = await connect({ port: server.port, maxPingOut: 100 });
  try {
    let bad = 0;
    let timeouts = 0;
    // Sends `n` events numbered from `from`, `inflight` at a time; stops early at the deadline.
    async function send(from: number, n: number, deadline: bigint): Promise<number> {
      let next = 0;
      let done = 0;
      const worker = async () => {
        while (next < n && process.hrtime.bigint() < deadline) {
          const i = from + next++;
          try {
            const m = await nc.request(`events.${TYPE}`, eventBody(i, size), { timeout: 10_000 });
            if ((m.json() as { error?: unknown }).error !== undefined) bad++;
            else done++;
          } catch {
            timeouts++;
          }
        }
      };
      await Promise.all(Array.from({ length: inflight }, worker));
      return done;
    }
    const delivering = spec.sink !== 'none';
    const w = await measureIntake(send, { warmup, count, capNs, receiver, server, onServerCpu, delivering });
    return intakeResult(w, receiver, {
      generator: 'nats.js requests + node:http receiver (own thread)',
      delivering,
      requests: w.acked + bad + timeouts,
      timeouts,
      refused: bad,
      count,
      size,
      batch,
    });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

// The sink's receiver, on its own thread: counts distinct events by id (a JSON array is a batch; a single event's id
// is its webhook-id), so a redelivery (at least once) never stands in for an event that never came; answers 204;
// shares its counts through a SharedArrayBuffer: [0] distinct events, [1] array bodies, [4] redeliveries; the
// BigInt view holds the last delivery time.
const RECEIVER_SOURCE = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const counts = new Int32Array(workerData, 0, 2);
const last = new BigInt64Array(workerData, 8, 1);
const again = new Int32Array(workerData, 16, 1);
const seen = new Set();
const count = (id) => {
  if (seen.has(id)) Atomics.add(again, 0, 1);
  else {
    seen.add(id);
    Atomics.add(counts, 0, 1);
  }
};
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    if (chunks[0] && chunks[0][0] === 0x5b) {
      Atomics.add(counts, 1, 1);
      for (const e of JSON.parse(Buffer.concat(chunks).toString('utf8'))) count(e.id);
    } else count(req.headers['webhook-id']);
    Atomics.store(last, 0, process.hrtime.bigint());
    res.writeHead(204).end();
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
`;

export async function startReceiver() {
  const shared = new SharedArrayBuffer(24);
  return workerReceiver(new Worker(RECEIVER_SOURCE, { eval: true, workerData: shared }), shared);
}
