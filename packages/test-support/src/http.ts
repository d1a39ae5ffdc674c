// Real node:http receivers for the handler sinks' tests (no mock of the HTTP side): a receiver records every
// request (headers, body, webhook-id, when) and answers it as the test says, by status or by hand, at once or held
// back. startDownSink is the receiver that is down (503) until told it is up. Closed in `t.after`.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { HOST } from './processes.js';
import type { AfterHook } from './tmp.js';

export interface Delivery {
  /** The request's path (and query). */
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** The webhook-id header (`undefined` as text when there is none). */
  readonly id: string;
  /** When the request's body had arrived (Date.now()). */
  readonly at: number;
  /** What it was answered (by `status`), or undefined while held or answered by hand. */
  status?: number;
}

export interface ReceiverOptions {
  /** The status for the n-th request (0-based); default 200. */
  status?: (n: number, d: Delivery) => number;
  /** Or the whole answer, by hand (headers, a body, never answering). */
  answer?: (n: number, res: http.ServerResponse, d: Delivery) => void;
  /** Default 0: any free port. */
  port?: number;
  /** The path in `url`; default `/`. */
  path?: string;
  /** Serve HTTPS with this certificate (PEM); the url says https://. */
  tls?: { cert: string; key: string };
}

export interface Receiver {
  /** `http://127.0.0.1:<port><path>` (https:// with `tls`), for a [handlers] entry's url. */
  readonly url: string;
  /** `127.0.0.1:<port>`, the short form a [handlers] entry takes. */
  readonly addr: string;
  readonly port: number;
  /** Every request, in arrival order. */
  readonly got: Delivery[];
  readonly server: http.Server;
  /** The webhook-ids of the deliveries answered 2xx, in arrival order. */
  accepted(): string[];
  /** Answers wait from now on (by status), until release(). */
  hold(): void;
  /** Answers the held requests and stops holding. */
  release(): void;
  close(): void;
}

/** A receiver on 127.0.0.1, closed after the test (or by close(), without `t`). */
export async function startReceiver(t: AfterHook | undefined, opts: ReceiverOptions = {}): Promise<Receiver> {
  const got: Delivery[] = [];
  let held = false;
  const waiting: (() => void)[] = [];
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const n = got.length;
      const d: Delivery = {
        url: req.url ?? '',
        headers: req.headers,
        body,
        id: String(req.headers['webhook-id']),
        at: Date.now(),
      };
      got.push(d);
      if (opts.answer !== undefined) return opts.answer(n, res, d);
      const code = opts.status?.(n, d) ?? 200;
      const answer = () => {
        d.status = code;
        res.writeHead(code).end();
      };
      if (held) waiting.push(answer);
      else answer();
    });
  };
  const server: http.Server =
    opts.tls === undefined ? http.createServer(onRequest) : https.createServer(opts.tls, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, HOST, resolve);
  });
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  t?.after(close);
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls === undefined ? 'http' : 'https'}://${HOST}:${port}${opts.path ?? '/'}`,
    addr: `${HOST}:${port}`,
    port,
    got,
    server,
    accepted: () => got.filter((d) => d.status !== undefined && d.status < 300).map((d) => d.id),
    hold: () => void (held = true),
    release: () => {
      held = false;
      for (const w of waiting.splice(0)) w();
    },
    close,
  };
}

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
export async function startDownSink(t: AfterHook): Promise<SinkReceiver> {
  let up = false;
  let refused = 0;
  const received = new Set<string>();
  const bodies = new Map<string, string>();
  const r = await startReceiver(t, {
    status: (_n, d) => {
      if (!up) {
        refused++;
        return 503;
      }
      received.add(d.id);
      bodies.set(d.id, d.body);
      return 200;
    },
  });
  return {
    url: r.url,
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
