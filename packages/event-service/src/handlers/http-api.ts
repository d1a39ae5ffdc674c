// The handlers' HTTP API, served on the monitoring listener through its hook (monitor/http.ts): the event feed
// (`GET /events`, `/events/{id}`, `/events/stream`) and dead letters (`GET /deadletters`, `POST
// /deadletters/{sink}/replay`). What a page or a replay is belongs to event-feed.ts and the store. Every error is
// `{"error": {"code", "store_code"?, "reason"}}` with a code of error-codes.ts; a store that fails is 503 with its
// code alone (the file and SQLite's message go to the log).
import type http from 'node:http';
import type { Logger } from '@event-broker/shared';
import type { DeadLetterErrorCode, FeedErrorCode } from '../error-codes.js';
import { errorBody, storeFailure, type ErrorReply } from './error-reply.js';
import { FeedQueryError, feedItem, feedPage, parseFeedQuery, type EventFeed } from './event-feed.js';
import type { DeliveryRecord, EventStore } from './event-store.js';

export interface HttpApiOptions {
  store: () => EventStore;
  feed: EventFeed;
  /** Configured sink names: a replay for another name would hold events no sink delivers. */
  sinkNames: () => string[];
  /** After a replay: the sink resumes (even after a 410 stopped it) and delivers now. */
  replayed: (sink: string) => void;
  logger: Logger;
}

export interface DeadLetterView {
  sink: string;
  seq: number;
  id: string;
  type: string;
  attempts: number;
  last_error: string | null;
  event: unknown;
}

export function deadLetterView(d: DeliveryRecord): DeadLetterView {
  return { sink: d.sink, seq: d.seq, id: d.id, type: d.type, attempts: d.attempts, last_error: d.lastError ?? null, event: JSON.parse(d.body) as unknown };
}

const MAX_BODY = 1024 * 1024;

type ApiError = ErrorReply<FeedErrorCode | DeadLetterErrorCode>;

/** A request refused with its status and error (a bad parameter is a FeedQueryError instead: 400, the route's code). */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly error: ApiError,
  ) {
    super(error.reason);
  }
}

export class HandlersHttpApi {
  constructor(private readonly opts: HttpApiOptions) {}

  /** The monitoring listener's hook: true when the path is ours. */
  async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    const isEvents = path === '/events' || path.startsWith('/events/');
    const isDead = path === '/deadletters' || path.startsWith('/deadletters/');
    if (!isEvents && !isDead) return false;
    try {
      if (isEvents) this.events(req, res, url);
      else await this.deadLetters(req, res, url);
    } catch (err) {
      // A stream that failed after its head went out is ended by the listener (monitor/http.ts).
      if (res.headersSent) throw err;
      if (err instanceof Refusal) this.error(res, err.status, err.error);
      else if (err instanceof FeedQueryError) this.error(res, 400, { code: isEvents ? 'EFEED_QUERY' : 'EDEADLETTER_QUERY', reason: err.message });
      else {
        // Anything else came from the store (the code around it only reads parameters): its code, not its detail.
        const log = { logger: this.opts.logger, what: isEvents ? ('event feed' as const) : ('dead letters' as const), request: `${req.method} ${path}` };
        this.error(res, 503, storeFailure(isEvents ? 'EFEED_STORE' : 'EDEADLETTER_STORE', err, log));
      }
    }
    return true;
  }

  private events(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.notAllowed(res, 'GET, HEAD');
    const store = this.opts.store();
    if (url.pathname === '/events' || url.pathname === '/events/') {
      return this.json(res, 200, feedPage(store, parseFeedQuery(url.searchParams)));
    }
    if (url.pathname === '/events/stream') return this.opts.feed.stream(req, res, parseFeedQuery(url.searchParams));
    let id: string;
    try {
      id = decodeURIComponent(url.pathname.slice('/events/'.length));
    } catch {
      throw new FeedQueryError(`id: not a valid percent-encoded path segment: ${url.pathname}`);
    }
    const e = store.get(id);
    if (e === undefined) return this.error(res, 404, { code: 'EFEED_NOT_FOUND', reason: `no event ${JSON.stringify(id)}` });
    return this.json(res, 200, feedItem(e));
  }

  private async deadLetters(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const m = /^\/deadletters\/([^/]+)\/replay$/.exec(url.pathname);
    if (m !== null) {
      if (req.method !== 'POST') return this.notAllowed(res, 'POST');
      // application/json required even with no body: a browser cannot send it cross-origin without a CORS
      // preflight (which this listener never approves), so a web page cannot trigger a replay.
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return this.error(res, 415, { code: 'EDEADLETTER_QUERY', reason: 'send content-type: application/json (the body, optional, is {"ids": [...]})' });
      }
      const body = await readBody(req);
      let sink: string;
      try {
        sink = decodeURIComponent(m[1]!);
      } catch {
        throw new FeedQueryError(`sink: not a valid percent-encoded path segment: ${m[1]}`);
      }
      // The store first: while it cannot be opened no sink runs, and "no sink" would be the wrong answer.
      const store = this.opts.store();
      if (!this.opts.sinkNames().includes(sink)) {
        return this.error(res, 404, { code: 'EDEADLETTER_SINK', reason: `no sink ${JSON.stringify(sink)} (configured: ${this.opts.sinkNames().join(', ') || 'none'})` });
      }
      let ids: string[] | undefined;
      if (body.length > 0) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch (err) {
          return this.error(res, 400, { code: 'EDEADLETTER_QUERY', reason: `not JSON: ${(err as Error).message}` });
        }
        const raw = (parsed as { ids?: unknown } | null)?.ids;
        if (raw !== undefined && (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string'))) {
          return this.error(res, 400, { code: 'EDEADLETTER_QUERY', reason: 'ids: must be an array of event ids' });
        }
        ids = raw as string[] | undefined;
      }
      const seqs = ids?.map((id) => store.get(id)?.seq).filter((s): s is number => s !== undefined);
      const replayed = store.replay(sink, seqs);
      this.opts.logger.info({ sink, replayed }, 'dead letters replayed');
      if (replayed > 0) this.opts.replayed(sink);
      return this.json(res, 200, { sink, replayed });
    }
    if (url.pathname !== '/deadletters' && url.pathname !== '/deadletters/') return this.error(res, 404, { code: 'EDEADLETTER_QUERY', reason: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.notAllowed(res, 'GET, HEAD');
    const q = url.searchParams;
    const sink = q.get('sink') || undefined;
    const after = numberParam(q.get('after'), 'after', 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const limit = numberParam(q.get('limit'), 'limit', 1, 1000) ?? 100;
    const rows = this.opts.store().deadLetters({ ...(sink !== undefined && { sink }), after, limit: limit + 1 });
    const more = rows.length > limit;
    if (more) rows.length = limit;
    return this.json(res, 200, { deadletters: rows.map(deadLetterView), next_after: String(rows.at(-1)?.seq ?? after), more });
  }

  private notAllowed(res: http.ServerResponse, allow: string): void {
    res.writeHead(405, { allow, 'content-type': 'text/plain' }).end('method not allowed\n');
  }

  /** An error body, what it echoes of the request clipped (error-reply.ts). */
  private error(res: http.ServerResponse, status: number, error: ApiError): void {
    this.json(res, status, errorBody(error));
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body, null, 2);
    // No CORS header of its own: the monitoring listener sets one for listed origins only ([monitor] allowed_origins).
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(res.req.method === 'HEAD' ? undefined : text);
  }
}

function numberParam(v: string | null, name: string, min: number, max: number): number | undefined {
  if (v === null || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new FeedQueryError(`${name}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return n;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  let size = 0;
  const parts: Buffer[] = [];
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) throw new Refusal(413, { code: 'EDEADLETTER_QUERY', reason: `the body exceeds ${MAX_BODY} bytes` });
      parts.push(chunk);
    }
  } catch (err) {
    if (err instanceof Refusal) throw err;
    // The request stream failed (the client went away): no store involved.
    throw new Refusal(400, { code: 'EDEADLETTER_QUERY', reason: `the body could not be read: ${(err as Error).message}` });
  }
  return Buffer.concat(parts).toString('utf8').trim();
}
