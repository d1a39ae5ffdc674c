// How a sink's deliveries travel, whichever pump drives it (http.ts over the SQLite store, backend-sink.ts over a
// backend's SinkQueue): the SinkTransport interface and the HTTP transport. A delivery is a batch of stored
// events, sent within the sink's timeout, aborted when the sink closes, and answered as a PostOutcome (delivered,
// or why not); what that means for the events is failure.ts's. Which transport a URL's scheme picks is
// transport-by-scheme.ts's; grpc:// and grpcs:// are grpc-transport.ts's.
//
// HTTP: one POST per delivery on a kept-alive connection, its body and headers webhook.ts's. node:http(s) with a
// keep-alive Agent per sink, not fetch. Measured on the 2-core bench machine (1 KiB POST to a
// node:http receiver in another process): fetch (undici) cost ~530 µs of CPU per request in the sink's process,
// node:http ~130 µs; in the `events` bench undici's per-request writes alone were 12% of the service's time.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { HttpSinkOptions, SinkLogger } from './options.js';
import { TlsFiles } from './tls-files.js';
import type { WebhookFormat } from './webhook.js';

/** Idle kept-alive connections close after this: under the 5 s keep-alive of Node's and Apache's servers. */
const IDLE_SOCKET_MS = 4000;

/** How a delivery ended: taken by the receiver, or the problem a failure reports and what it means. */
export interface PostOutcome {
  /** The receiver took the events (HTTP 2xx, gRPC OK). */
  delivered: boolean;
  /** The delivery's id in logs: the webhook-id (the event id, or a digest of a batch's ids). */
  id: string;
  /** The HTTP status (0: no answer, or not HTTP): 410 stops the sink, 429's Retry-After sets the retry's delay. */
  status: number;
  retryAfter: string | null;
  /** `HTTP <status>`, `gRPC <STATUS>: <details>`, or why no answer came (a timeout, an unreachable receiver). */
  problem: string;
  /** The receiver refused the events for good (a gRPC status other than the retried ones): dead-lettered at once. */
  permanent?: boolean;
}

/** One sink's way to its receiver: both pumps drive it the same, whatever the URL's scheme. */
export interface SinkTransport {
  /** Deliveries outstanding now. */
  readonly inFlight: number;
  /** Delivers these stored events (in order; one when unbatched) within the timeout; never rejects. */
  post(batch: readonly { id: string; body: string }[], nowMs: number): Promise<PostOutcome>;
  /** Aborts the deliveries in flight (they end undelivered) and closes the connections. */
  close(): void;
}

export interface SinkTransportOptions {
  url: string;
  /** Connections kept (one per POST in flight). */
  maxSockets: number;
  /** false: an https receiver's certificate is not verified (self-signed). Default true. */
  sslVerify?: boolean;
  /** A POST unanswered after this is aborted (default 10 s). */
  timeoutMs?: number;
  /** A private CA and a client certificate (mutual TLS), re-read when renewed (tls-files.ts). */
  tls?: HttpSinkOptions['tls'];
  /** Where a TLS file that does not load is reported, and the sink's name. */
  report?: { logger: SinkLogger; sink: string };
}

/** An https.Agent whose new connections take the TLS files as they are now (renewed ones included). */
class TlsFilesAgent extends https.Agent {
  private version = 0;

  constructor(
    opts: https.AgentOptions,
    private readonly files: TlsFiles,
  ) {
    // No session resumption: a resumed session would skip the certificates the renewed files hold.
    super({ ...opts, maxCachedSessions: 0 });
  }

  override createConnection(
    options: http.ClientRequestArgs,
    cb?: (err: Error | null, s: Duplex) => void,
  ): Duplex | null | undefined {
    const m = this.files.current(); // throws without usable files: the request fails, the delivery is retried
    if (m.version !== this.version) {
      // Renewed: idle connections made with the old files are not reused.
      if (this.version !== 0)
        for (const list of Object.values(this.freeSockets)) for (const s of list ?? []) s.destroy();
      this.version = m.version;
    }
    const tlsOpts = { ...options, ca: m.ca, cert: m.cert, key: m.key };
    return super.createConnection(tlsOpts, cb);
  }
}

export class HttpTransport implements SinkTransport {
  /** The POSTs outstanding (each aborts on close). */
  private readonly inflight = new Set<AbortController>();
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly timeoutMs: number;

  constructor(
    private readonly opts: SinkTransportOptions,
    private readonly format: WebhookFormat,
  ) {
    // Bounded by what a timer holds: a longer one would fire at once, timing out every POST.
    this.timeoutMs = Math.min(opts.timeoutMs ?? 10_000, 2 ** 31 - 1);
    // One connection per POST in flight, kept alive between POSTs. An idle one is closed after IDLE_SOCKET_MS, or a
    // second before a shorter `Keep-Alive: timeout=` the receiver announces (Node's Agent reads it), so we rarely
    // reuse one the receiver is closing; send() retries once on a reused one it closed anyway.
    const secure = opts.url.startsWith('https:');
    this.request = secure ? https.request : http.request;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, timeout: IDLE_SOCKET_MS };
    const httpsOpts = { ...agentOpts, rejectUnauthorized: opts.sslVerify !== false };
    this.agent = !secure
      ? new http.Agent(agentOpts)
      : opts.tls !== undefined
        ? new TlsFilesAgent(httpsOpts, new TlsFiles(opts.tls, opts.report))
        : new https.Agent(httpsOpts);
  }

  /** POSTs outstanding now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** One delivery's POST, within the timeout; resolves with how it ended, never rejects. */
  async post(batch: readonly { id: string; body: string }[], nowMs: number): Promise<PostOutcome> {
    const req = this.format.request(batch, nowMs);
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), this.timeoutMs);
    try {
      return { ...(await this.send(req.headers, req.body, ac.signal)), id: req.id };
    } catch (err) {
      const problem = ac.signal.aborted
        ? `timed out after ${this.timeoutMs} ms`
        : `unreachable: ${(err as Error).message}`;
      return { delivered: false, id: req.id, status: 0, retryAfter: null, problem };
    } finally {
      clearTimeout(timer);
      this.inflight.delete(ac);
    }
  }

  /** Aborts the POSTs in flight and closes the connections. */
  close(): void {
    for (const ac of this.inflight) ac.abort();
    this.agent.destroy();
  }

  /** One POST; a keep-alive connection the receiver closed just as it was reused is retried once on a new one. */
  private send(
    headers: Record<string, string>,
    body: string,
    signal: AbortSignal,
    again = false,
  ): Promise<Omit<PostOutcome, 'id'>> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.opts.url, { method: 'POST', headers, agent: this.agent, signal }, (res) => {
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({
            delivered: status >= 200 && status < 300,
            status,
            retryAfter: (res.headers['retry-after'] as string | undefined) ?? null,
            problem: `HTTP ${status}`,
          });
        });
        res.on('close', () => {
          if (!res.complete) reject(new Error('the response was cut short'));
        });
        res.resume();
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (!again && req.reusedSocket && err.code === 'ECONNRESET' && !signal.aborted)
          this.send(headers, body, signal, true).then(resolve, reject);
        else reject(err);
      });
      req.end(body);
    });
  }
}
