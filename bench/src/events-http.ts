// The `events-http` scenarios: our durable intake fed over HTTP ([intake.http], CloudEvents structured mode) instead
// of NATS requests, the figure to read beside `events`' acked/s. The service is the same child as `events`
// (servers.ts startOurs, [store] with FULL fsync) with a batching sink (batch_size 100, so delivery does not hold
// the store's event_limit) and the listener on loopback (allow_anonymous: the bench measures the intake, not token
// checks). The load: `inflight` keep-alive node:http connections, each POSTing one event (256 of them, as NATS `events` keeps 512 requests in flight)
// (`application/cloudevents+json`) or a batch of `batch` (`application/cloudevents-batch+json`) and waiting for the
// answer, which comes only after the commit. acked/s counts the events answered as stored over the window.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventBody, intakeResult, measureIntake, startReceiver } from './events.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { freePort } from '@event-broker/test-support/processes';
import { startOurs } from './servers.js';

function postOnce(
  agent: http.Agent,
  port: number,
  body: string,
  batch: boolean,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/events',
        method: 'POST',
        agent,
        headers: {
          'content-type': batch ? 'application/cloudevents-batch+json' : 'application/cloudevents+json',
          'content-length': Buffer.byteLength(body),
        },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    // Nagle's delay on a body written after its headers would be the figure's latency, not the service's.
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function runEventsHttp(
  spec: GenSpec,
  limits: Limits,
  onServerCpu: (s: number) => void,
): Promise<GenResult> {
  const size = spec.size ?? 1024;
  const perPost = spec.batch ?? 1;
  const inflight = spec.inflight ?? 64;
  const count = spec.count ?? 50_000;
  const warmup = spec.warmup ?? 5_000;
  const capNs = BigInt(spec.capMs ?? 5000) * 1_000_000n;
  const receiver = await startReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-events-http-'));
  const port = await freePort();
  const server = await startOurs(
    limits,
    { event_limit: 10_000_000 },
    {
      store: { path: path.join(dir, 'events.db') },
      handlers: { event_feed: { url: `127.0.0.1:${receiver.port}`, batch_size: 100 } },
      intake: { http: { port, allow_anonymous: true, max_connections: inflight + 16 } },
    },
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: inflight });
  let bad = 0;
  let timeouts = 0;
  // Sends `n` events numbered from `from`, `perPost` a request, `inflight` requests at a time, until the deadline.
  async function send(from: number, n: number, deadline: bigint): Promise<number> {
    let next = 0;
    let acked = 0;
    const worker = async () => {
      while (next < n && process.hrtime.bigint() < deadline) {
        const first = from + next;
        const k = Math.min(perPost, n - next);
        next += k;
        const events = Array.from({ length: k }, (_, j) => eventBody(first + j, size));
        const body = perPost > 1 ? `[${events.join(',')}]` : events[0]!;
        try {
          const a = await postOnce(agent, port, body, perPost > 1);
          if (a.status === 200) acked += k;
          else bad += k;
        } catch {
          timeouts += k;
        }
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    return acked;
  }
  try {
    const w = await measureIntake(send, { warmup, count, capNs, receiver, server, onServerCpu });
    return intakeResult(w, receiver, {
      generator: `node:http keep-alive x${inflight}, ${perPost > 1 ? `batches of ${perPost}` : 'one event a POST'} + node:http receiver (own thread)`,
      requests: Math.ceil((w.acked + bad + timeouts) / perPost),
      timeouts,
      refused: bad,
      count,
      size,
      batch: perPost,
    });
  } finally {
    agent.destroy();
    await server.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
