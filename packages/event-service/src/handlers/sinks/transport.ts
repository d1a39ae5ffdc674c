// How a sink's deliveries travel, whichever pump drives it (http.ts over the SQLite store, backend-sink.ts over a
// backend's SinkQueue): the SinkTransport interface and the HTTP transport. A delivery is a batch of stored
// events, sent within the sink's timeout, aborted when the sink closes, and answered as a PostOutcome (delivered,
// or why not); what that means for the events is failure.ts's. Which transport a URL's scheme picks is
// transport-by-scheme.ts's; grpc:// and grpcs:// are grpc-transport.ts's.
//
// HTTP: one POST per delivery on a kept-alive connection, its body and headers webhook.ts's, through undici's
// Client (Pool with max_in_flight > 1) and its dispatch API, not node:http's Agent, nor fetch. Measured on the 2-core
// machine (1 KiB POSTs to a node:http receiver in another process, the sender's CPU per request): undici's `request`
// ~45-75 µs, its `dispatch` ~10 µs less, node:http ~100-150 µs, one at a time or 8 at once (fetch, undici under a
// WHATWG layer, ~530 µs). POSTs are pipelined only when the sink asks (`pipelining`, in order: the sink, http.ts,
// keeps the order and sends again what was behind a failed one), redirects are not followed (a 3xx is a failed
// attempt), and an answer's body is read up to MAX_ANSWER_BYTES, then its connection closed (exchange.ts). One at a
// time (the default), the next POST is made while one is in flight and written as that one's 2xx is read (postNext):
// the serial round trip is the whole of an in-order sink's rate, so what lies between an answer and the next request
// is kept to undici's parser and its write.
import { Buffer } from 'node:buffer';
import type * as UndiciModule from 'undici';
import type { buildConnector, Dispatcher } from 'undici';
import type { HttpSinkOptions, SinkLogger } from './options.js';
import type { Socket } from 'node:net';
import { Attempt, CutShort, exchange, StrayAnswer, type Answer } from './exchange.js';
import { TlsFiles, type TlsMaterial } from './tls-files.js';
import type { WebhookFormat, WebhookRequest } from './webhook.js';

export { MAX_ANSWER_BYTES } from './exchange.js';

/**
 * undici, loaded with the first POST rather than with the sink worker: ~120 ms of CPU (its llhttp build included)
 * that a service whose sinks never POST, or one starting under load, does not pay at start.
 */
let undici: Promise<Undici> | undefined;
/** undici once loaded: a POST then dispatches without waiting a microtask (postNext's, from a parser callback). */
let loaded: Undici | undefined;
type Undici = Pick<typeof UndiciModule, 'buildConnector' | 'Client' | 'Pool'>;

/** Idle kept-alive connections close after this: under the 5 s keep-alive of Node's and Apache's servers. */
const IDLE_SOCKET_MS = 4000;
/** A connection closed under a request before its answer: the receiver closing an idle one as it was reused. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

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
  /** Never sent (postNext): the POST before it was not delivered, or the sink closed. Not an attempt. */
  unsent?: boolean;
}

/** One sink's way to its receiver: both pumps drive it the same, whatever the URL's scheme. */
export interface SinkTransport {
  /** Deliveries outstanding now. */
  readonly inFlight: number;
  /** POSTs it takes at once now, when fewer than the sink's window (a pipelining one whose receiver closes). */
  readonly window?: number;
  /** Delivers these stored events (in order; one when unbatched) within the timeout; never rejects. */
  post(batch: readonly { id: string; body: string }[], nowMs: number): Promise<PostOutcome>;
  /** Aborts the deliveries in flight (they end undelivered) and closes the connections. */
  close(): void;
  /** Aborts the deliveries in flight (they end undelivered); the transport goes on (a pipelined POST failed). */
  abortInFlight?(): void;
  /**
   * One POST at a time: the delivery that goes once the one in flight (exactly one) is answered 2xx, made now and
   * sent as that answer is read, before its callbacks run; ends `unsent` when that one is not delivered. Not
   * counted in inFlight until sent. `now` stamps it when sent.
   */
  postNext?(batch: readonly { id: string; body: string }[], now: () => number): Promise<PostOutcome>;
}

export interface SinkTransportOptions {
  url: string;
  /** Connections kept (one per POST in flight). */
  maxSockets: number;
  /** With one connection: POSTs sent on it before the first is answered (HTTP/1.1 pipelining; default 1). */
  pipelining?: number;
  /** false: an https receiver's certificate is not verified (self-signed). Default true. */
  sslVerify?: boolean;
  /** A POST unanswered after this is aborted (default 10 s). */
  timeoutMs?: number;
  /** A private CA and a client certificate (mutual TLS), re-read when renewed (tls-files.ts). */
  tls?: HttpSinkOptions['tls'];
  /** Where a TLS file that does not load is reported, and the sink's name. */
  report?: { logger: SinkLogger; sink: string };
}

export class HttpTransport implements SinkTransport {
  /** The POSTs outstanding (each aborts on close). */
  private readonly inflight = new Set<Attempt>();
  private readonly timeoutMs: number;
  /** POSTs are pipelined on the one connection (SinkTransportOptions.pipelining > 1). */
  private readonly pipelined: boolean;
  /** One POST at a time on one connection: the next may be queued behind it (postNext). */
  private readonly chained: boolean;
  /** The POST that goes when the one in flight is answered 2xx (postNext). */
  private queued: Queued | undefined;
  /** The connection made last: the one a chained POST's answer came on (one connection at a time). */
  private socket: Socket | undefined;
  /**
   * The receiver closes its connection after an answer (`Connection: close`, or an HTTP/1.0 answer closed after it):
   * the POSTs pipelined behind it go again on the next connection (the receiver may have read them), so one at a
   * time until a connection carries a second answer.
   */
  private closing = false;
  /** Answers on the pipelining connection open now (0 again when it closes). */
  private answersOnConnection = 0;
  private readonly origin: string;
  private readonly path: string;
  /** Basic credentials from the URL's userinfo, as node:http sent them (unless a configured header sets its own). */
  private readonly auth: string | undefined;
  /** A private CA and client certificate, re-read when renewed: each renewal makes a new dispatcher. */
  private readonly files: TlsFiles | undefined;
  private dispatcher: Dispatcher | undefined;
  private closed = false;
  /** The TLS files' version the dispatcher connects with. */
  private tlsVersion = 0;
  /** Connections made so far (all dispatchers), each numbered in order. */
  private connections = 0;
  /**
   * The number of the connection closed last. A request failing on a reset was on that one (undici fails it from
   * the connection's close, after this is set): made before the request, it was a kept-alive one, reused.
   */
  private lastClosed = 0;

  constructor(
    private readonly opts: SinkTransportOptions,
    private readonly format: WebhookFormat,
  ) {
    // Bounded by what a timer holds: a longer one would fire at once, timing out every POST.
    this.timeoutMs = Math.min(opts.timeoutMs ?? 10_000, 2 ** 31 - 1);
    this.pipelined = opts.maxSockets <= 1 && (opts.pipelining ?? 1) > 1;
    this.chained = opts.maxSockets <= 1 && !this.pipelined;
    const url = new URL(opts.url);
    this.origin = url.origin;
    this.path = `${url.pathname}${url.search}`;
    this.auth =
      url.username === '' && url.password === ''
        ? undefined
        : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    if (url.protocol === 'https:' && opts.tls !== undefined) this.files = new TlsFiles(opts.tls, opts.report);
  }

  /** POSTs outstanding now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /**
   * Pipelining: its depth, or 1 while the receiver closes its connection after each answer, or while the POSTs
   * pipelined before the TLS files were renewed end (current(): the new files make a new connection).
   */
  get window(): number | undefined {
    return this.pipelined && (this.closing || this.renewed()) ? 1 : undefined;
  }

  /** The TLS files changed since the dispatcher was made (false while they cannot be used: current() says why). */
  private renewed(): boolean {
    if (this.files === undefined || this.dispatcher === undefined) return false;
    try {
      return this.files.current().version !== this.tlsVersion;
    } catch {
      return false;
    }
  }

  /** One delivery's POST, within the timeout; resolves with how it ended, never rejects. */
  post(batch: readonly { id: string; body: string }[], nowMs: number): Promise<PostOutcome> {
    return this.postNow(this.request(batch, nowMs));
  }

  /**
   * The delivery that goes when the POST in flight is answered 2xx, made now (its body, headers, signature): sent
   * from that answer's last parser callback, so no promise, microtask or event-loop turn of the sink lies between
   * the answer and the next request's bytes (an answer closing its connection sends it after, on a new one).
   */
  postNext(batch: readonly { id: string; body: string }[], now: () => number): Promise<PostOutcome> {
    if (!this.chained || this.inflight.size !== 1 || this.queued !== undefined)
      throw new Error('postNext: one POST in flight, none queued, no pipelining');
    const nowMs = now();
    const req = this.request(batch, nowMs);
    return new Promise((resolve) => {
      this.queued = { batch, req, second: Math.floor(nowMs / 1000), now, resolve };
    });
  }

  /** The queued POST goes now (the one before it was answered 2xx), stamped again if a second has passed since. */
  private launch(attempt = new Attempt()): void {
    const q = this.queued;
    if (q === undefined) return;
    this.queued = undefined;
    const nowMs = q.now();
    const req = Math.floor(nowMs / 1000) === q.second ? q.req : this.request(q.batch, nowMs);
    q.resolve(this.postNow(req, attempt));
  }

  /**
   * launch() from the 2xx answer's last parser callback: the POST is written on its connection (undici still counts
   * the answered one running, so no turn of the event loop first), corked until undici has parsed the rest of what
   * it read (the next tick). Bytes parsed as an answer meanwhile came unasked (exchange.ts StrayAnswer): the
   * connection is closed with the POST unsent, and it goes on a new one. undici's own check of a reused connection
   * (a setImmediate before the write) covers what comes later no better: bytes that arrive after it are an answer.
   */
  private readonly launchHeld = (): void => {
    const socket = this.socket !== undefined && !this.socket.destroyed ? this.socket : undefined;
    if (this.queued === undefined || socket === undefined) return this.launch();
    const attempt = new Attempt();
    attempt.held = true;
    socket.cork();
    this.launch(attempt);
    process.nextTick(() => {
      attempt.held = false;
      socket.uncork();
    });
  };

  /** The queued POST is not sent (the one before it was not delivered, or the sink closes). */
  private unqueue(): void {
    const q = this.queued;
    if (q === undefined) return;
    this.queued = undefined;
    q.resolve({ delivered: false, unsent: true, id: q.req.id, status: 0, retryAfter: null, problem: 'not sent' });
  }

  /** A delivery's request: webhook.ts's, with the URL's credentials unless a configured header sets its own. */
  private request(batch: readonly { id: string; body: string }[], nowMs: number): WebhookRequest {
    const req = this.format.request(batch, nowMs);
    if (this.auth !== undefined && !Object.keys(req.headers).some((h) => h.toLowerCase() === 'authorization'))
      req.headers.authorization = this.auth;
    return req;
  }

  private async postNow(req: WebhookRequest, attempt = new Attempt()): Promise<PostOutcome> {
    this.inflight.add(attempt);
    const timer = setTimeout(() => attempt.abort(), this.timeoutMs);
    let outcome: PostOutcome;
    try {
      outcome = { ...(await this.send(req.headers, req.body, attempt)), id: req.id };
    } catch (err) {
      const problem = attempt.aborted
        ? `timed out after ${this.timeoutMs} ms`
        : `unreachable: ${(err as Error).message}`;
      outcome = { delivered: false, id: req.id, status: 0, retryAfter: null, problem };
    } finally {
      clearTimeout(timer);
      this.inflight.delete(attempt);
    }
    // Queued and not sent from the answer (it closed its connection, or its body went past the limit): now, or never.
    if (outcome.delivered) this.launch();
    else this.unqueue();
    return outcome;
  }

  /** Aborts the POSTs in flight (a connection with one on the wire closes under it). */
  abortInFlight(): void {
    for (const a of this.inflight) a.abort();
  }

  /** Aborts the POSTs in flight and closes the connections. */
  close(): void {
    this.closed = true;
    this.unqueue();
    this.abortInFlight();
    void this.dispatcher?.destroy().catch(() => undefined);
    this.dispatcher = undefined;
  }

  /** One POST; a kept-alive connection the receiver closed just as it was reused is retried once on a new one. */
  private async send(
    headers: Record<string, string>,
    body: Buffer,
    attempt: Attempt,
    again = false,
  ): Promise<Omit<PostOutcome, 'id'>> {
    const dispatcher = this.current(loaded ?? (await loadUndici()));
    const madeBefore = this.connections;
    let answer: Answer;
    try {
      // idempotent: what lets undici pipeline a POST (it never does otherwise); the sink (http.ts) keeps the order
      // and sends again what was behind a failed one.
      // Chained: the next POST is written while undici still counts this one running (postNext), which it allows
      // an idempotent request only.
      const idempotent = this.pipelined || this.chained;
      const opts = { path: this.path, method: 'POST' as const, headers, body, idempotent };
      answer = await exchange(dispatcher, opts, attempt, this.chained ? this.launchHeld : undefined);
    } catch (err) {
      // Answered, then cut short (or timed out) while its body was read: a failed attempt, not sent again at
      // once (the receiver got it).
      if (err instanceof CutShort) throw err;
      // Held back while an unasked answer was parsed (launchHeld): never sent, so sent now on a new connection.
      if (err instanceof StrayAnswer && !again && !attempt.aborted) return this.send(headers, body, attempt, true);
      const code = (err as NodeJS.ErrnoException).code ?? '';
      const reused = this.lastClosed !== 0 && this.lastClosed <= madeBefore;
      // Not when pipelining: the POSTs behind this one are on the wire already, and a retry would go after them.
      if (!again && reused && !this.pipelined && RESET_CODES.has(code) && !attempt.aborted)
        return this.send(headers, body, attempt, true);
      throw err;
    }
    if (this.pipelined) {
      this.answersOnConnection++;
      if (answer.closes) this.closing = true;
      else if (this.answersOnConnection >= 2) this.closing = false;
    }
    return {
      delivered: answer.status >= 200 && answer.status < 300,
      status: answer.status,
      retryAfter: answer.retryAfter,
      problem: `HTTP ${answer.status}`,
    };
  }

  /** The dispatcher, made again when the TLS files were renewed (throws while they cannot be used). */
  private current(u: Undici): Dispatcher {
    if (this.closed) throw new Error('the sink is closed');
    if (this.files === undefined) return (this.dispatcher ??= this.connectWith(u, undefined));
    const m = this.files.current();
    // Pipelined: not while earlier POSTs are on the old connection (window() holds new ones back until they end):
    // a second connection beside it would have POSTs answered, and counted, ahead of older ones that may fail.
    if (this.pipelined && this.dispatcher !== undefined && this.inflight.size > 1) return this.dispatcher;
    if (this.dispatcher === undefined || m.version !== this.tlsVersion) {
      // Renewed: POSTs on the old connections finish there; new ones connect with the new files.
      void this.dispatcher?.close().catch(() => undefined);
      this.dispatcher = this.connectWith(u, m);
      this.tlsVersion = m.version;
    }
    return this.dispatcher;
  }

  /** One connection per POST in flight, kept alive between POSTs for IDLE_SOCKET_MS (or a second under a shorter
   * `Keep-Alive: timeout=` the receiver announces, undici's keepAliveTimeoutThreshold). */
  private connectWith(u: Undici, m: TlsMaterial | undefined): Dispatcher {
    const connector = u.buildConnector({
      rejectUnauthorized: this.opts.sslVerify !== false,
      // A connection (TLS handshake included) not made within a POST's timeout is given up, not kept for 10 s.
      timeout: this.timeoutMs,
      // No session resumption with TLS files: a resumed session would skip the certificates renewed files hold.
      ...(m !== undefined && { ca: m.ca, cert: m.cert, key: m.key, maxCachedSessions: 0 }),
    });
    const connect: buildConnector.connector = (o, cb) =>
      connector(o, (...args) => {
        // On failure undici passes the error alone (no socket, not the null its types say).
        const [err, socket] = args;
        if (err === null && socket) {
          const no = ++this.connections;
          this.socket = socket;
          // Before undici's own listener: set when the request it carried fails.
          socket.once('close', () => (this.lastClosed = no));
        }
        cb(...args);
      });
    const options = {
      connect,
      keepAliveTimeout: IDLE_SOCKET_MS,
      keepAliveMaxTimeout: IDLE_SOCKET_MS,
      // The POST's own timer (timeoutMs) bounds the whole exchange.
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    if (this.opts.maxSockets > 1) return new u.Pool(this.origin, { ...options, connections: this.opts.maxSockets });
    // Chained (postNext): 2, so that the next POST, dispatched from the answer's last parser callback while undici
    // still counts the answered one running, is written at once (with 1 it waits a setImmediate, then another to
    // check the idle connection). The sink never has more than that one outstanding.
    if (!this.pipelined) return new u.Client(this.origin, { ...options, pipelining: 2 });
    const client = new u.Client(this.origin, { ...options, pipelining: this.opts.pipelining });
    // Closed by undici after an answer that does not keep it (the `reset` it closes with): the receiver closes
    // after each answer when that was the connection's only one.
    client.on('disconnect', (_origin, _targets, err) => {
      if (err.message === 'reset' && this.answersOnConnection <= 1) this.closing = true;
      this.answersOnConnection = 0;
    });
    return client;
  }
}

/** A POST made ahead (postNext), waiting for the answer to the one in flight. */
interface Queued {
  batch: readonly { id: string; body: string }[];
  req: WebhookRequest;
  /** The second its webhook-timestamp says. */
  second: number;
  now: () => number;
  resolve: (outcome: PostOutcome | Promise<PostOutcome>) => void;
}

/** undici, loaded once (`loaded` from then on). */
async function loadUndici(): Promise<Undici> {
  return (loaded = await (undici ??= import('undici')));
}
