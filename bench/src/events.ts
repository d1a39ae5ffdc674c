// The `events` scenario: our durable event intake and delivery, end to end, with no nats-server equivalent.
// Our service runs as a child (servers.ts startOurs) with a [store] in a temporary directory (FULL fsync, the
// default) and one [handlers] sink, `event_feed`, pointing at a node:http receiver in this process that answers
// 204. The official `nats` client here sends `count` CloudEvents of ~1 KiB as requests to `events.scanJobCreated`,
// `inflight` at a time; a request completes when the service replies, which it does only after the event's
// commit (the acknowledgement). Figures:
//   acked/s      acknowledged events over the intake window (first request → last reply);
//   delivered/s  events the receiver got over the delivery window (first request → last delivery);
//   backlog      events acknowledged but not yet delivered when the last reply came (0 = delivery kept up);
//   drain        time from the last reply to the last delivery.
// main.ts runs it in its own process (the receiver and the client share the bench's core, the service has the other:
// its intake on the main thread, its sinks on a worker thread, handlers/sink-pool.ts). With one event per POST and
// max_in_flight 1 the delivery rate is one round trip per event, and the round trip includes this process's loop,
// busy with the client's requests during the intake window: batch_size is what lets delivery keep up with intake.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { GenResult, GenSpec, Limits } from './scenarios.js';
import { startOurs } from './servers.js';

const DRAIN_MS = 30_000;
const TYPE = 'scanJobCreated';

function eventBody(i: number, size: number): string {
  const base = { specversion: '1.0', id: `bench-${i}`, source: '/bench', type: TYPE, producer: { id: 'bench', name: 'bench', type: 'service' }, data: { n: i, pad: '' } };
  const len = JSON.stringify(base).length;
  base.data.pad = 'x'.repeat(Math.max(0, size - len));
  return JSON.stringify(base);
}

export async function runEvents(spec: GenSpec, limits: Limits, onServerCpu: (s: number) => void): Promise<GenResult> {
  const { connect } = await import('nats');
  const count = spec.count ?? 50_000;
  const warmup = spec.warmup ?? 5_000;
  const size = spec.size ?? 1024;
  const inflight = spec.inflight ?? 256;
  const capNs = BigInt(spec.capMs ?? 5000) * 1_000_000n;

  let delivered = 0;
  let lastDelivery = 0n;
  const batch = spec.batch ?? 1;
  let arrays = 0;
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      // A batch is a JSON array of events; without batching each POST is one event.
      const first = chunks[0]?.[0];
      if (first === 0x5b) {
        arrays++;
        delivered += (JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[]).length;
      } else delivered++;
      lastDelivery = process.hrtime.bigint();
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const sinkPort = (receiver.address() as AddressInfo).port;
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-events-'));
  const server = await startOurs(limits, { event_limit: 10_000_000 }, {
    store: { path: path.join(dir, 'events.db') },
    handlers: { event_feed: batch > 1 ? { url: `127.0.0.1:${sinkPort}`, batch_size: batch } : `127.0.0.1:${sinkPort}` },
  });
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
    async function waitDelivered(target: number): Promise<void> {
      const start = Date.now();
      while (delivered < target && Date.now() - start < DRAIN_MS) await new Promise((r) => setTimeout(r, 5));
    }
    const warm = await send(0, warmup, process.hrtime.bigint() + capNs);
    await waitDelivered(warm);
    const base = delivered;

    const cpu0 = process.cpuUsage();
    const srvCpu0 = server.cpuSeconds();
    const t0 = process.hrtime.bigint();
    const acked = await send(warmup, count, t0 + capNs);
    const t1 = process.hrtime.bigint();
    // The service's CPU over the intake window (the bench table's "server CPU" column).
    onServerCpu(server.cpuSeconds() - srvCpu0);
    const backlog = acked - (delivered - base);
    await waitDelivered(base + acked);
    const got = delivered - base;
    const t2 = got > 0 ? lastDelivery : t1;
    const cpu = process.cpuUsage(cpu0);
    const total = process.cpuUsage();
    return {
      generator: 'nats.js requests + node:http receiver',
      mode: 'events',
      window_ns: Number(t1 - t0),
      window_cpu_s: (cpu.user + cpu.system) / 1e6,
      cpu_user_s: total.user / 1e6,
      cpu_sys_s: total.system / 1e6,
      sent: acked,
      requests: acked + bad + timeouts,
      timeouts,
      refused: bad,
      received: got,
      expected: acked,
      lost: acked - got,
      capped: acked + bad + timeouts < count,
      size,
      backlog_at_end: backlog,
      delivery_ns: Number(t2 - t0),
      drain_ns: Number(t2 > t1 ? t2 - t1 : 0n),
      batch,
      batch_posts: arrays,
    };
  } finally {
    await nc.close().catch(() => undefined);
    await server.stop();
    receiver.closeAllConnections();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
