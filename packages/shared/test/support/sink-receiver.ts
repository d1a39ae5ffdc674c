// Test support for handler-sink tests across packages: a real node:http receiver that is down (503) until told it
// is up, then accepts (200) and records each delivery's webhook-id and body. Exported as
// `@event-broker/shared/testing/sink-receiver`; the event service's and the gateway's event_limit tests use it.
// Closed in `t.after`.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export interface SinkReceiver {
  /** `http://127.0.0.1:<port>/`, for a [handlers] entry's url. */
  readonly url: string;
  /** The webhook-ids of the deliveries accepted since up(). */
  readonly received: ReadonlySet<string>;
  /** The body of each delivery accepted since up(), by webhook-id (the latest one). */
  readonly bodies: ReadonlyMap<string, string>;
  /** Deliveries answered 503 while down. */
  readonly refused: number;
  /** From now on, deliveries are accepted. */
  up(): void;
}

/** A receiver that answers 503 until up() (a sink that is down), then 200. */
export async function startDownSink(t: TestContext): Promise<SinkReceiver> {
  let up = false;
  let refused = 0;
  const received = new Set<string>();
  const bodies = new Map<string, string>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      if (up) body += d;
    });
    req.on('end', () => {
      if (!up) {
        refused++;
        res.writeHead(503).end();
        return;
      }
      const id = String(req.headers['webhook-id']);
      received.add(id);
      bodies.set(id, body);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    bodies,
    get refused() {
      return refused;
    },
    up: () => {
      up = true;
    },
  };
}
