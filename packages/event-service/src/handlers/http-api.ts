// The handlers' HTTP API, mounted on the monitoring port (monitor/http.ts) with shared's router: the event feed
// (`GET /events`, `/events/{id}`, `/events/stream`) and dead letters (`GET /deadletters`, `POST
// /deadletters/{sink}/replay`). What a page or a replay is belongs to event-feed.ts and the backend. Every error is
// `{"error": {"code", "store_code"?, "reason"}}` with a code of error-codes.ts; a store that fails is 503 with its
// code alone (the file and SQLite's message go to the log).
import { Router, jsonResponse, type HttpResponse, type Logger, type RouteRequest } from '@event-broker/shared';
import { DeadLetterErrorCode, FeedErrorCode } from '../error-codes.js';
import { errorBody, storeFailure, type ErrorReply } from './error-reply.js';
import { FeedQueryError, feedItem, feedPage, integer, parseFeedQuery, type EventFeed } from './event-feed.js';
import type { DeliveryRecord, EventBackend } from './event-backend.js';

export interface HttpApiOptions {
  /** The event backend; throws while it cannot be used (503, its code). */
  backend: () => EventBackend;
  eventFeed: EventFeed;
  /** Configured sink names: a replay for another name would make events held that no sink delivers. */
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
  return {
    sink: d.sink,
    seq: d.seq,
    id: d.id,
    type: d.type,
    attempts: d.attempts,
    last_error: d.lastError ?? null,
    event: JSON.parse(d.body) as unknown,
  };
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

/** What each family answers for a bad parameter and for a store that failed. */
interface Family {
  query: FeedErrorCode | DeadLetterErrorCode;
  store: FeedErrorCode | DeadLetterErrorCode;
  what: 'event feed' | 'dead letters';
}

export class HandlersHttpApi {
  /** The routes, for the monitoring port to mount. */
  readonly routes: Router;

  constructor(private readonly opts: HttpApiOptions) {
    // Each feed route asks for the store first: while it cannot be opened the answer is 503, whatever was asked.
    const events = new Router({
      errors: (err, r) =>
        this.failure(err, r, {
          query: FeedErrorCode.EFEED_QUERY,
          store: FeedErrorCode.EFEED_STORE,
          what: 'event feed',
        }),
    })
      .get(['/events', '/events/'], async ({ query }) =>
        jsonResponse(200, await feedPage(this.opts.backend(), parseFeedQuery(query))),
      )
      .get('/events/stream', ({ req, res, query }) => this.stream(req, res, query), { stream: true })
      .get('/events/*id', ({ params }) => this.event(params.id!));
    const deadLetters = new Router({
      errors: (err, r) =>
        this.failure(err, r, {
          query: DeadLetterErrorCode.EDEADLETTER_QUERY,
          store: DeadLetterErrorCode.EDEADLETTER_STORE,
          what: 'dead letters',
        }),
    })
      .get(['/deadletters', '/deadletters/'], ({ query }) => this.deadLetters(query))
      .post('/deadletters/:sink/replay', (r) => this.replay(r))
      .otherwise('/deadletters/*rest', () =>
        error(404, { code: DeadLetterErrorCode.EDEADLETTER_QUERY, reason: 'not found' }),
      );
    this.routes = new Router().use(events).use(deadLetters);
  }

  private async stream(req: RouteRequest['req'], res: RouteRequest['res'], query: URLSearchParams): Promise<undefined> {
    this.opts.backend();
    await this.opts.eventFeed.stream(req, res, parseFeedQuery(query));
    return undefined;
  }

  private async event(encodedId: string): Promise<HttpResponse> {
    const backend = this.opts.backend();
    const id = decodeSegment('id', encodedId, `/events/${encodedId}`);
    const e = await backend.get(id);
    if (e === undefined)
      return error(404, { code: FeedErrorCode.EFEED_NOT_FOUND, reason: `no event ${JSON.stringify(id)}` });
    return jsonResponse(200, feedItem(e));
  }

  private async deadLetters(q: URLSearchParams): Promise<HttpResponse> {
    const sink = q.get('sink') || undefined;
    const after = integer('after', q.get('after'), 0, Number.MAX_SAFE_INTEGER) ?? 0;
    const limit = integer('limit', q.get('limit'), 1, 1000) ?? 100;
    const rows = await this.opts
      .backend()
      .deadLetters({ ...(sink !== undefined && { sink }), after, limit: limit + 1 });
    const more = rows.length > limit;
    if (more) rows.length = limit;
    return jsonResponse(200, {
      deadletters: rows.map(deadLetterView),
      next_after: String(rows.at(-1)?.seq ?? after),
      more,
    });
  }

  private async replay({ req, params }: RouteRequest): Promise<HttpResponse> {
    // application/json required even with no body: a browser cannot send it cross-origin without a CORS
    // preflight (which this port never approves), so a web page cannot trigger a replay.
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
      return error(415, {
        code: DeadLetterErrorCode.EDEADLETTER_QUERY,
        reason: 'send content-type: application/json (the body, optional, is {"ids": [...]})',
      });
    }
    const body = await readBody(req);
    const sink = decodeSegment('sink', params.sink!, params.sink!);
    // The backend first: while it cannot be used no sink runs, and "no sink" would be the wrong answer.
    const backend = this.opts.backend();
    if (!this.opts.sinkNames().includes(sink)) {
      return error(404, {
        code: DeadLetterErrorCode.EDEADLETTER_SINK,
        reason: `no sink ${JSON.stringify(sink)} (configured: ${this.opts.sinkNames().join(', ') || 'none'})`,
      });
    }
    let ids: string[] | undefined;
    if (body.length > 0) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch (err) {
        return error(400, {
          code: DeadLetterErrorCode.EDEADLETTER_QUERY,
          reason: `not JSON: ${(err as Error).message}`,
        });
      }
      const raw = (parsed as { ids?: unknown } | null)?.ids;
      if (raw !== undefined && (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string'))) {
        return error(400, {
          code: DeadLetterErrorCode.EDEADLETTER_QUERY,
          reason: 'ids: must be an array of event ids',
        });
      }
      ids = raw as string[] | undefined;
    }
    const replayed = await backend.replay(sink, ids);
    this.opts.logger.info({ sink, replayed }, 'dead letters replayed');
    if (replayed > 0) this.opts.replayed(sink);
    return jsonResponse(200, { sink, replayed });
  }

  /**
   * What a route threw: a refusal as it says, a bad parameter 400; anything else came from the store (the code around
   * it only reads parameters): 503, its code, not its detail.
   */
  private failure(err: unknown, { req, url }: RouteRequest, family: Family): HttpResponse {
    if (err instanceof Refusal) return error(err.status, err.error);
    if (err instanceof FeedQueryError) return error(400, { code: family.query, reason: err.message });
    return error(
      503,
      storeFailure(family.store, err, {
        logger: this.opts.logger,
        what: family.what,
        request: `${req.method} ${url.pathname}`,
      }),
    );
  }
}

/**
 * An error body, what it echoes of the request clipped (error-reply.ts). No CORS header of its own: the monitoring
 * port sets one for listed origins only ([monitor] allowed_origins).
 */
function error(status: number, e: ApiError): HttpResponse {
  return jsonResponse(status, errorBody(e));
}

/** A path parameter decoded; a bad percent-encoding is a bad parameter, naming what was sent. */
function decodeSegment(name: string, encoded: string, shown: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new FeedQueryError(`${name}: not a valid percent-encoded path segment: ${shown}`);
  }
}

async function readBody(req: RouteRequest['req']): Promise<string> {
  let size = 0;
  const parts: Buffer[] = [];
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY)
        throw new Refusal(413, {
          code: DeadLetterErrorCode.EDEADLETTER_QUERY,
          reason: `the body exceeds ${MAX_BODY} bytes`,
        });
      parts.push(chunk);
    }
  } catch (err) {
    if (err instanceof Refusal) throw err;
    // The request stream failed (the client went away): no store involved.
    throw new Refusal(400, {
      code: DeadLetterErrorCode.EDEADLETTER_QUERY,
      reason: `the body could not be read: ${(err as Error).message}`,
    });
  }
  return Buffer.concat(parts).toString('utf8').trim();
}
