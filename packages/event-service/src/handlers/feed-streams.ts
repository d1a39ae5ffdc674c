// The event feed's live server-sent-event streams (`GET /events/stream`). The cost of the streams must not grow with
// the intake: once per pass (at most one every FANOUT_INTERVAL_MS, triggered by commits) ONE read of the new events
// is shared by every stream that is up to date, each event framed once, each stream written once with what matches
// its filter. A stream that is behind (it resumed from a cursor, or its reader is slow) reads its own pages until it
// is up to date again, so a slow reader neither buffers without bound nor holds the others back. Before, every
// stream ran its own query and framed every event itself on every commit: 500 streams slowed the intake 20-45x.
// How many streams may be open is the monitoring port's (monitor/http.ts, [monitor] max_streams).
import type http from 'node:http';
import type { Logger } from '@event-broker/shared';
import type { EventBackend, FeedFilter, StoredEvent } from './event-backend.js';
import { filterTypes } from './event-store.js';

/** Events read at once, by the shared pass and by a stream catching up. */
const PAGE = 500;
/** A pass reads at most this many pages before yielding to the event loop (the intake's acks wait behind it). */
const PAGES_PER_PASS = 4;
/**
 * The shortest time between two passes. Under a busy intake a stream gets one write per interval instead of one
 * per commit; when the intake is idle the first commit is sent at once. 50 ms is below what a person watching a
 * feed notices.
 */
const FANOUT_INTERVAL_MS = 50;
/** An SSE comment this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

interface Stream {
  readonly res: http.ServerResponse;
  readonly filter: FeedFilter;
  /** Every event up to here has been sent or skipped (the last id sent may be lower: events it filtered out). */
  cursor: number;
}

export interface FeedStreamsOptions {
  backend: () => EventBackend;
  logger: Logger;
  /** The event as the feed shows it (one `data:` line: JSON has no raw newline). */
  frame: (e: StoredEvent) => string;
}

export class FeedStreams {
  private readonly all = new Set<Stream>();
  /** Up to date: served by the shared pass. */
  private readonly live = new Set<Stream>();
  /** The shared pass has read every event up to here (meaningful while `live` is not empty). */
  private tail = 0;
  private passTimer: NodeJS.Timeout | undefined;
  /** close() was called: a stream whose open() was still reading is ended, not added. */
  private isClosed = false;
  /** A pass is reading (its reads are asynchronous): a notify meanwhile makes another once it is done. */
  private passing = false;
  private passAgain = false;
  private lastPassAt = 0;
  private keepalive: NodeJS.Timeout | undefined;

  constructor(private readonly opts: FeedStreamsOptions) {}

  get size(): number {
    return this.all.size;
  }

  /**
   * Serves a stream: `text/event-stream`, one `id: <seq>` message per new event matching the filter, after
   * `resumeAfter` when given, else from now.
   */
  async open(res: http.ServerResponse, filter: FeedFilter, resumeAfter: number | undefined): Promise<void> {
    // Read before the head is written: a backend that cannot be used is the route's 503.
    const s: Stream = { res, filter, cursor: resumeAfter ?? (await this.opts.backend().lastSeq()) };
    if (res.destroyed) return; // the reader left while it was read
    // The feed closed while it was read (a JetStream read is a network round trip): end the response, add nothing.
    if (this.isClosed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.write(': event feed\n\n');
    this.all.add(s);
    res.on('close', () => this.closed(s));
    if (this.keepalive === undefined) {
      this.keepalive = setInterval(() => {
        for (const x of this.all) x.res.write(': keepalive\n\n');
      }, KEEPALIVE_MS);
      this.keepalive.unref();
    }
    if (resumeAfter === undefined && this.goLive(s)) return;
    void this.catchUp(s);
  }

  /** New events were committed: a pass is scheduled (at once when the last was long enough ago). */
  notify(): void {
    if (this.passing) {
      this.passAgain = true;
      return;
    }
    if (this.live.size === 0 || this.passTimer !== undefined) return;
    const wait = Math.max(0, this.lastPassAt + FANOUT_INTERVAL_MS - Date.now());
    this.passTimer = setTimeout(() => void this.pass(), wait);
  }

  close(): void {
    this.isClosed = true;
    clearTimeout(this.passTimer);
    this.passTimer = undefined;
    clearInterval(this.keepalive);
    this.keepalive = undefined;
    for (const s of this.all) s.res.end();
    this.all.clear();
    this.live.clear();
  }

  private closed(s: Stream): void {
    this.all.delete(s);
    this.live.delete(s);
    if (this.all.size === 0) {
      clearInterval(this.keepalive);
      this.keepalive = undefined;
    }
  }

  /**
   * Joins the shared pass. Alone, the tail starts from this stream's cursor; with others, only once the stream has
   * seen everything up to the tail (events at or below it were already handed out by earlier passes).
   */
  private goLive(s: Stream): boolean {
    if (this.live.size === 0) this.tail = s.cursor;
    else if (s.cursor < this.tail) return false;
    this.live.add(s);
    // A commit noticed while no stream was live scheduled nothing: look once for what it brought.
    this.notify();
    return true;
  }

  /** The shared pass: one read of what is new, handed to every live stream; one pass at a time. */
  private async pass(): Promise<void> {
    this.passTimer = undefined;
    this.lastPassAt = Date.now();
    if (this.live.size === 0) return;
    this.passing = true;
    let more = false;
    try {
      const backend = this.opts.backend();
      for (let page = 0; page < PAGES_PER_PASS; page++) {
        const { events: rows, scannedTo } = await backend.feed({ cursor: this.tail, limit: PAGE });
        // Where this read ends: its last event, or further when its scan stopped short of the end (read on).
        const end = scannedTo ?? rows.at(-1)?.seq;
        if (end === undefined || this.live.size === 0) break;
        this.handOut(rows, end);
        this.tail = end;
        const full = rows.length === PAGE || scannedTo !== undefined;
        more = full && page === PAGES_PER_PASS - 1;
        if (!full) break;
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'event feed streams: reading new events failed');
    } finally {
      this.passing = false;
    }
    // More than a pass's worth: the rest on the next turn, after the intake had its share.
    if (more && this.live.size > 0 && this.passTimer === undefined)
      this.passTimer = setTimeout(() => void this.pass(), 0);
    else if (this.passAgain) {
      this.passAgain = false;
      this.notify();
    }
  }

  /** Hands out `rows` (perhaps none), every event up to `last` having been read. */
  private handOut(rows: StoredEvent[], last: number): void {
    const frames: (string | undefined)[] = new Array(rows.length);
    const bodies: ({ value: unknown } | undefined)[] = new Array(rows.length);
    for (const s of this.live) {
      let out = '';
      for (let i = 0; i < rows.length; i++) {
        const e = rows[i]!;
        if (e.seq <= s.cursor || !matches(s.filter, e, () => (bodies[i] ??= { value: parseBody(e.body) }).value))
          continue;
        out += frames[i] ??= this.opts.frame(e);
      }
      s.cursor = Math.max(s.cursor, last);
      if (out === '' || s.res.destroyed) continue;
      if (!s.res.write(out)) {
        // A slow reader: it leaves the shared pass and reads its own pages once its socket drains.
        this.live.delete(s);
        void drained(s.res).then(() => this.catchUp(s));
      }
    }
  }

  /** Reads this stream's own pages (its filter in SQL) until it is up to date, then joins the shared pass. */
  private async catchUp(s: Stream): Promise<void> {
    try {
      const backend = this.opts.backend();
      for (;;) {
        if (s.res.destroyed || !this.all.has(s)) return;
        // Every event at or below `upper` is visible to the read that follows (sequences commit in order).
        const upper = await backend.lastSeq();
        const { events: rows, scannedTo } = await backend.feed({ ...s.filter, cursor: s.cursor, limit: PAGE });
        if (s.res.destroyed || !this.all.has(s)) return;
        let ok = true;
        for (const e of rows) ok = s.res.write(this.opts.frame(e)) && ok;
        if (rows.length > 0) s.cursor = rows[rows.length - 1]!.seq;
        // The read stopped scanning short of the end (JetStream, a sparse filter): on from where it stopped.
        if (scannedTo !== undefined) s.cursor = Math.max(s.cursor, scannedTo);
        if (!ok) await drained(s.res);
        if (rows.length === PAGE || scannedTo !== undefined) continue;
        s.cursor = Math.max(s.cursor, upper);
        if (this.goLive(s)) return;
      }
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message }, 'event feed stream failed');
      s.res.destroy();
    }
  }
}

/** The store's filter (store.ts feed), applied to an event in hand: the same columns, the same equality. */
export function matches(f: FeedFilter, e: StoredEvent, body: () => unknown): boolean {
  const types = filterTypes(f);
  if (types !== undefined && !types.includes(e.type)) return false;
  if (f.since !== undefined && e.storedAt < f.since) return false;
  if (f.until !== undefined && e.storedAt >= f.until) return false;
  // json_extract(body, '$.producer.id') = ?: a string parameter equals only a JSON string of the same text.
  if (f.producer !== undefined && idOf(body(), 'producer') !== f.producer) return false;
  if (f.actor !== undefined && idOf(body(), 'actor') !== f.actor) return false;
  if (f.authid !== undefined && textOf(body(), 'authid') !== f.authid) return false;
  if (f.authtype !== undefined && textOf(body(), 'authtype') !== f.authtype) return false;
  return true;
}

function textOf(body: unknown, key: 'authid' | 'authtype'): string | undefined {
  const v = (body as Record<string, unknown> | null)?.[key];
  return typeof v === 'string' ? v : undefined;
}

function idOf(body: unknown, key: 'producer' | 'actor'): string | undefined {
  const v = (body as Record<string, unknown> | null)?.[key];
  const id = typeof v === 'object' && v !== null ? (v as Record<string, unknown>).id : undefined;
  return typeof id === 'string' ? id : undefined;
}

export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function drained(res: http.ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
