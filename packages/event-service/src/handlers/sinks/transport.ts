// How an HTTP sink's POSTs travel: one request per delivery on a kept-alive connection, bounded by the sink's
// timeout and aborted when the sink closes, answered as a status (or why there was none). What a POST carries is
// webhook.ts's; when one is sent, http.ts's.
//
// node:http(s) with a keep-alive Agent per sink, not fetch. Measured on the 2-core bench machine (1 KiB POST to a
// node:http receiver in another process): fetch (undici) cost ~530 µs of CPU per request in the sink's process,
// node:http ~130 µs; in the `events` bench undici's per-request writes alone were 12% of the service's time.
import http from 'node:http';
import https from 'node:https';
import type { WebhookRequest } from './webhook.js';

/** Idle kept-alive connections close after this: under the 5 s keep-alive of Node's and Apache's servers. */
const IDLE_SOCKET_MS = 4000;

/** A POST's end: the receiver's status (0: no answer) and Retry-After, and the problem a failure reports. */
export interface PostOutcome {
  status: number;
  retryAfter: string | null;
  /** `HTTP <status>`, or why no answer came (a timeout, an unreachable receiver). */
  problem: string;
}

export interface SinkTransportOptions {
  url: string;
  /** Connections kept (one per POST in flight). */
  maxSockets: number;
  /** false: an https receiver's certificate is not verified (self-signed). Default true. */
  sslVerify?: boolean;
  /** A POST unanswered after this is aborted (default 10 s). */
  timeoutMs?: number;
}

export class SinkTransport {
  /** The POSTs outstanding (each aborts on close). */
  private readonly inflight = new Set<AbortController>();
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;
  private readonly timeoutMs: number;

  constructor(private readonly opts: SinkTransportOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    // One connection per POST in flight, kept alive between POSTs. An idle one is closed after IDLE_SOCKET_MS, or a
    // second before a shorter `Keep-Alive: timeout=` the receiver announces (Node's Agent reads it), so we rarely
    // reuse one the receiver is closing; send() retries once on a reused one it closed anyway.
    const secure = opts.url.startsWith('https:');
    this.request = secure ? https.request : http.request;
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets, timeout: IDLE_SOCKET_MS };
    this.agent = secure
      ? new https.Agent({ ...agentOpts, rejectUnauthorized: opts.sslVerify !== false })
      : new http.Agent(agentOpts);
  }

  /** POSTs outstanding now. */
  get inFlight(): number {
    return this.inflight.size;
  }

  /** One delivery's POST, within the timeout; resolves with how it ended, never rejects. */
  async post(req: WebhookRequest): Promise<PostOutcome> {
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = setTimeout(() => ac.abort(), this.timeoutMs);
    try {
      return await this.send(req.headers, req.body, ac.signal);
    } catch (err) {
      const problem = ac.signal.aborted
        ? `timed out after ${this.timeoutMs} ms`
        : `unreachable: ${(err as Error).message}`;
      return { status: 0, retryAfter: null, problem };
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
  ): Promise<PostOutcome> {
    return new Promise((resolve, reject) => {
      const req = this.request(this.opts.url, { method: 'POST', headers, agent: this.agent, signal }, (res) => {
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({
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
