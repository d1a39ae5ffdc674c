// The event feed: stored events read back by people and programs, by cursor-paged query (HTTP and the NATS subject
// `$EVENTS.FEED.QUERY`) and as a live server-sent-event stream. The events are the backend's own (event-backend.ts:
// SQLite rows or the JetStream stream; the sequence is the cursor, so a page never repeats or skips one while new
// events arrive); the HTTP routing is http-api.ts's, retention by count and age store-housekeeping.ts's (SQLite) or
// the stream's own limits (JetStream).
import type http from 'node:http';
import type { Logger } from '@event-broker/shared';
import type { Msg, Subscription } from '../api.js';
import { FeedErrorCode } from '../error-codes.js';
import { errorReplyText, storeFailure, type ErrorReply } from './error-reply.js';
import { FeedStreams } from './feed-streams.js';
import type { EventBackend, FeedOrder, FeedRead, StoredEvent } from './event-backend.js';

/** The NATS request subject: a JSON query in (the HTTP parameters as fields), a JSON page out. */
export const FEED_QUERY_SUBJECT = '$EVENTS.FEED.QUERY';
export const FEED_DEFAULT_LIMIT = 100;
export const FEED_MAX_LIMIT = 1000;
/**
 * Most types one query may name (`type=a,b`): each is one index walk of up to a page on SQLite; the catalogue's
 * built-in types fit with room for a custom catalogue's.
 */
export const FEED_MAX_TYPES = 32;

export type FeedQuery = FeedRead;

export interface FeedItem {
  seq: number;
  stored_at: string;
  event: unknown;
}

export interface FeedPage {
  events: FeedItem[];
  /**
   * Pass back as `cursor` for the next page; after the last page it is where new events will follow. With
   * `order=desc` the next page holds older events, and after the last (`more` false) nothing is below it.
   */
  next_cursor: string;
  /**
   * More may follow: more events matched than fit this page, or the read stopped scanning short of the end (a sparse
   * filter on JetStream: the page may then hold fewer events than asked, even none). Read on from next_cursor.
   */
  more: boolean;
}

/** A bad query parameter: the HTTP API answers 400, the NATS responder an error reply. */
export class FeedQueryError extends Error {
  readonly code = FeedErrorCode.EFEED_QUERY;
}

/** An error answered by the feed (error-codes.ts FEED_ERROR_CODES). */
export type FeedError = ErrorReply<FeedErrorCode>;

/** The query's parameters over HTTP (`GET /events`, `/events/stream`); the NATS query takes `id` too. */
export const FEED_PARAMETERS = [
  'type',
  'producer',
  'actor',
  'authid',
  'authtype',
  'since',
  'until',
  'cursor',
  'limit',
  'order',
] as const;
const NATS_FIELDS: readonly string[] = [...FEED_PARAMETERS, 'id'];
const ORDERS: readonly FeedOrder[] = ['asc', 'desc'];

function text(name: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new FeedQueryError(`${name}: must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** An integer parameter or field from min to max (digits only, as text); absent or empty is undefined. */
export function integer(name: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new FeedQueryError(`${name}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** RFC 3339 text or epoch milliseconds. */
function time(name: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)))
    return integer(name, v, 0, Number.MAX_SAFE_INTEGER);
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  if (Number.isNaN(ms))
    throw new FeedQueryError(`${name}: must be an RFC 3339 time or epoch milliseconds, got ${JSON.stringify(v)}`);
  return ms;
}

/** `type`: one type, several comma-separated (`a,b`), or (NATS) an array of them; duplicates dropped. */
function types(v: unknown): string[] | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const list = typeof v === 'string' ? v.split(',') : v;
  if (!Array.isArray(list) || list.some((t) => typeof t !== 'string' || t === '')) {
    throw new FeedQueryError(
      `type: must be a type or comma-separated types (over NATS also an array of them), got ${JSON.stringify(v)}`,
    );
  }
  // Over NATS `[]` would read as "none of these": a page of nothing, after scanning a JetStream read's bound for it.
  if (list.length === 0) throw new FeedQueryError('type: an empty list names no type (leave type out for every type)');
  const unique = [...new Set(list as string[])];
  if (unique.length > FEED_MAX_TYPES) {
    throw new FeedQueryError(`type: names ${unique.length} types, more than ${FEED_MAX_TYPES}`);
  }
  return unique;
}

function order(v: unknown): FeedOrder | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !(ORDERS as readonly string[]).includes(v))
    throw new FeedQueryError(`order: must be asc or desc, got ${JSON.stringify(v)}`);
  return v as FeedOrder;
}

/**
 * Reads a query from URL parameters or a NATS request's JSON object; throws FeedQueryError naming the field. A
 * parameter the feed does not know is refused rather than ignored (a misspelt filter would otherwise answer every
 * event), and so is one given twice (which of the two applies would be a guess).
 */
export function parseFeedQuery(input: URLSearchParams | Record<string, unknown>): FeedQuery & { id?: string } {
  const get = (k: string): unknown => (input instanceof URLSearchParams ? (input.get(k) ?? undefined) : input[k]);
  if (input instanceof URLSearchParams) {
    for (const k of new Set(input.keys())) {
      if (!(FEED_PARAMETERS as readonly string[]).includes(k))
        throw new FeedQueryError(`${clip(k)}: unknown parameter (known: ${FEED_PARAMETERS.join(', ')})`);
      if (input.getAll(k).length > 1) throw new FeedQueryError(`${k}: given more than once`);
    }
  } else {
    for (const k of Object.keys(input)) {
      if (!NATS_FIELDS.includes(k))
        throw new FeedQueryError(`${clip(k)}: unknown field (known: ${NATS_FIELDS.join(', ')})`);
    }
  }
  const q: FeedQuery & { id?: string } = {
    limit: integer('limit', get('limit'), 1, FEED_MAX_LIMIT) ?? FEED_DEFAULT_LIMIT,
  };
  const set = <K extends keyof (FeedQuery & { id?: string })>(
    k: K,
    v: (FeedQuery & { id?: string })[K] | undefined,
  ) => {
    if (v !== undefined) q[k] = v;
  };
  set('type', types(get('type')));
  set('producer', text('producer', get('producer')));
  set('actor', text('actor', get('actor')));
  set('authid', text('authid', get('authid')));
  set('authtype', text('authtype', get('authtype')));
  set('id', text('id', get('id')));
  set('since', time('since', get('since')));
  set('until', time('until', get('until')));
  set('cursor', integer('cursor', get('cursor'), 0, Number.MAX_SAFE_INTEGER));
  set('order', order(get('order')));
  return q;
}

/** A name echoed in a refusal, cut short when long: the list of known names after it must survive the reply's clip. */
function clip(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}...` : name;
}

export function feedItem(e: StoredEvent): FeedItem {
  return { seq: e.seq, stored_at: new Date(e.storedAt).toISOString(), event: JSON.parse(e.body) as unknown };
}

/**
 * One page: up to `limit` events after `cursor`, oldest first; `order: 'desc'`, before `cursor` (from the newest
 * without one), newest first. Either way next_cursor is the last event's seq, and the next page goes on past it.
 */
export async function feedPage(backend: EventBackend, q: FeedQuery): Promise<FeedPage> {
  const { id: _id, ...read } = q as FeedQuery & { id?: string };
  const { events: rows, scannedTo } = await backend.feed({ ...read, limit: q.limit + 1 });
  const full = rows.length > q.limit;
  if (full) rows.length = q.limit;
  // A read that stopped short resumes where its scan did: nothing up to there is left out, nothing read twice.
  // Downwards with nothing found, the cursor stays (0 when there was none: nothing is below 0).
  const last = (full ? undefined : scannedTo) ?? rows.at(-1)?.seq ?? q.cursor ?? 0;
  return { events: rows.map(feedItem), next_cursor: String(last), more: full || scannedTo !== undefined };
}

export interface EventFeedOptions {
  /** The event backend; throws while it cannot be used (answered EFEED_STORE). */
  backend: () => EventBackend;
  logger: Logger;
  /** The largest reply the NATS responder may send ([service] max_payload, read live). */
  maxPayloadBytes?: () => number;
  /** The queue group the query responder subscribes in (with leafnode remotes: one instance of several answers). */
  queue?: string;
}

export class EventFeed {
  private readonly streams: FeedStreams;
  private sub: Subscription | undefined;

  constructor(private readonly opts: EventFeedOptions) {
    this.streams = new FeedStreams({ backend: opts.backend, logger: opts.logger, frame: sseFrame });
  }

  start(conn: {
    subscribe(subject: string, opts: { callback: (msg: Msg) => void; queue?: string }): Subscription;
  }): void {
    const queue = this.opts.queue;
    this.sub = conn.subscribe(FEED_QUERY_SUBJECT, { callback: (msg) => this.answer(msg), ...(queue && { queue }) });
  }

  close(): void {
    this.sub?.unsubscribe();
    this.streams.close();
  }

  /** New events were committed: the live streams get them (feed-streams.ts: one shared read per pass). */
  notify(): void {
    this.streams.notify();
  }

  /**
   * `$EVENTS.FEED.QUERY`: `{}` or a query object in; a page, the event for `id`, or `{error}` out. Every answer fits
   * max_payload (a reply too large would never be sent): a page is cut down, an error's echo clipped, an event too
   * large with its feed fields answered EFEED_TOO_LARGE.
   */
  private async answer(msg: Msg): Promise<void> {
    if (msg.reply === undefined || msg.status !== undefined) return;
    const max = this.opts.maxPayloadBytes?.() ?? Number.POSITIVE_INFINITY;
    let text: string;
    try {
      const out = await this.query(msg, max);
      text = typeof out === 'string' ? out : errorReplyText(out, max);
    } catch (err) {
      let error: FeedError;
      if (err instanceof FeedQueryError) error = { code: FeedErrorCode.EFEED_QUERY, reason: err.message };
      else
        error = storeFailure(FeedErrorCode.EFEED_STORE, err, {
          logger: this.opts.logger,
          what: 'event feed',
          request: FEED_QUERY_SUBJECT,
        });
      text = errorReplyText(error, max);
    }
    try {
      msg.respond(text);
    } catch (err) {
      // Only an error reply under a max_payload of a few dozen bytes gets here.
      this.opts.logger.warn({ err: (err as Error).message }, 'cannot answer a feed query');
    }
  }

  /** The answer's JSON (a page or one event), or the error to answer; throws what the query or the store threw. */
  private async query(msg: Msg, max: number): Promise<string | FeedError> {
    let raw: unknown = {};
    try {
      if (msg.data.length > 0) raw = JSON.parse(msg.string());
    } catch (err) {
      // The request's own JSON; a stored body that fails to parse below is the store's failure.
      throw new FeedQueryError(`not JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      throw new FeedQueryError('the query must be a JSON object');
    const q = parseFeedQuery(raw as Record<string, unknown>);
    if (q.id !== undefined) {
      const e = await this.opts.backend().get(q.id);
      if (e === undefined) return { code: FeedErrorCode.EFEED_NOT_FOUND, reason: `no event ${JSON.stringify(q.id)}` };
      const text = JSON.stringify(feedItem(e));
      // Stored within max_payload, but its seq and stored_at make it larger (or max_payload was lowered since).
      return Buffer.byteLength(text) <= max ? text : tooLarge(e.seq, max);
    }
    // A page must fit one message: halve it until it does (`more` then tells the reader to go on).
    for (let limit = q.limit; ; limit = Math.max(1, Math.floor(limit / 2))) {
      const page = await feedPage(this.opts.backend(), { ...q, limit });
      const text = JSON.stringify(page);
      if (Buffer.byteLength(text) <= max) return text;
      if (limit === 1) return tooLarge(page.events[0]?.seq, max);
    }
  }

  /**
   * Serves a live stream: `text/event-stream`, one `id: <seq>` message per new event matching the filter, from
   * `cursor` (or the Last-Event-ID a reconnecting EventSource sends), or from now when neither is given.
   */
  stream(req: http.IncomingMessage, res: http.ServerResponse, q: FeedQuery): Promise<void> {
    const lastId = req.headers['last-event-id'];
    const resume = typeof lastId === 'string' && /^\d+$/.test(lastId) ? Number(lastId) : q.cursor;
    if (q.order === 'desc') throw new FeedQueryError('order: a stream follows new events as they come: only asc');
    const { cursor: _c, limit: _l, order: _o, ...filter } = q;
    return this.streams.open(res, filter, resume);
  }
}

function tooLarge(seq: number | undefined, max: number): FeedError {
  return {
    code: FeedErrorCode.EFEED_TOO_LARGE,
    reason: `event ${seq} does not fit max_payload (${max} bytes) with its feed fields: read it over HTTP`,
  };
}

/** One event as an SSE message: its sequence as the id (what a reconnecting EventSource sends back). */
function sseFrame(e: StoredEvent): string {
  return `id: ${e.seq}\nevent: event\ndata: ${JSON.stringify(feedItem(e))}\n\n`;
}
