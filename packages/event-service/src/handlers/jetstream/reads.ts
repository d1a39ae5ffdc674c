// Reading events back from the stream: one by id (a last-by-subject read of each subject its id may have, one per
// routing), the feed (events after a cursor, in stream-sequence order, through an ephemeral consumer filtered to
// event subjects, kept for the read that goes on from where it stopped), and where the feed's live end is. The stream sequence is the cursor: JetStream assigns it when it
// stores a message and a consumer delivers in that order, so a page never repeats or skips one while others append.
//
// get(id) reads the literal subjects (8 with 3 slots, in parallel) rather than one wildcard last-by-subject
// (`e.*.*.*.<id>`): nats-server 2.9 answers a wildcard by scanning every subject of the stream under its lock, so on
// 200,000 events each such read took ~50 ms and raised the appends' PubAck latency from 0.2 ms (median) to 33 ms
// while they ran (measured on 2.9.10); a literal one is a map lookup (~1 ms). lastSeq's wildcard finds its answer in
// the last block.
//
// A kept reader against one per call (measured, one local nats-server 2.9.10, reading the 5 events appended since
// the last read, as the live feed's pass does): median 3.0 ms against 5-14 ms (a create, an info, a fetch, a delete;
// on a cluster the create and the delete are meta-leader proposals besides).
import { AckPolicy, DeliverPolicy, nanos } from 'nats';
import type { Consumer, JsMsg, JetStreamClient, JetStreamManager } from 'nats';
import type { FeedFilter, FeedRead, FeedResult, StoredEvent } from '../event-backend.js';
import { matches, parseBody } from '../feed-streams.js';
import { HEADERS, type StreamLayout } from './layout.js';

/** JetStream's error for a read of a message that is not there (nats-server errors.json JSNoMessageFoundErr). */
const NO_MESSAGE_FOUND = 10037;
/** The id header JetStream deduplicates by: the event id (backend.ts append). */
const MSG_ID = 'Nats-Msg-Id';

/** Messages asked for at once while scanning under a filter: large enough to amortise the round trip. */
const SCAN_CHUNK = 500;
/**
 * The most one filtered read scans, in messages and in body bytes: the stream has no index on type, producer or
 * time, so a filter is applied to each event in turn, and a sparse one (`type=nosuch`) would otherwise read the whole
 * stream over the leaf link in one request. A read that stops at either bound with room left in its page says where
 * (FeedResult.scannedTo), and the next read starts there: event-feed.ts answers it as next_cursor with `more`,
 * feed-streams.ts reads on.
 */
export const SCAN_MAX_MESSAGES = 5000;
const SCAN_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Read consumers kept between calls, each where its last read stopped: a read that starts there (the live feed's
 * pass reading on from its tail, a stream catching up, the next page of a sparse filter) reuses one (its info, then
 * its fetch) instead of creating and deleting one (on a cluster each a meta-leader proposal).
 */
const IDLE_READERS = 4;
/**
 * The first bound on one step of taking a reader (a kept one's info, a create), as a fraction of request_timeout;
 * each create tried again gets twice the last bound, the last what is left. A create answers in a few ms, but
 * nats-server 2.9 places an R1 consumer on any peer of the stream, a node SIGKILLed moments ago included (for a
 * minute or more after: it is not marked offline), and a create placed there is never answered: waited out whole,
 * about one read in three answered 503 after request_timeout (cluster-node-kill; jetstream-reads-node-kill). Tried
 * again, the create is placed afresh.
 */
const READ_ATTEMPT = { fraction: 1 / 32, minMs: 100 };

export interface Reads {
  get(id: string): Promise<StoredEvent | undefined>;
  /** The event stored on this literal subject (an append's duplicate: its first copy), if any. */
  atSubject(subject: string, id: string): Promise<StoredEvent | undefined>;
  feed(q: FeedRead): Promise<FeedResult>;
  lastSeq(): Promise<number>;
  /** Deletes the read consumers kept (the server would after their inactive threshold). */
  close(): Promise<void>;
}

/** An ephemeral consumer on event subjects (no acks), and the last stream sequence it delivered. */
interface Reader {
  name: string;
  consumer: Consumer;
  position: number;
}

export function streamReads(
  deps: { js: JetStreamClient; jsm: JetStreamManager; layout: StreamLayout },
  requestTimeoutMs: number,
): Reads {
  const { jsm, layout } = deps;
  const readers = readerPool(deps, requestTimeoutMs);
  const atSubject = async (subject: string, id: string): Promise<StoredEvent | undefined> => {
    try {
      const m = await jsm.streams.getMessage(layout.stream, { last_by_subj: subject });
      return {
        seq: m.seq,
        id,
        type: m.header?.get(HEADERS.type) ?? '',
        body: text(m.data),
        storedAt: m.time.getTime(),
      };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  };
  return {
    atSubject,

    async get(id) {
      const found = await Promise.all(layout.eventSubjects(id).map((subject) => atSubject(subject, id)));
      // One at most, unless a retry beyond the duplicate window came with another routing (backend.ts append):
      // the first copy is the event.
      let first: StoredEvent | undefined;
      for (const e of found) if (e !== undefined && (first === undefined || e.seq < first.seq)) first = e;
      return first;
    },

    async lastSeq() {
      // The last message on any event subject (replay copies after it are not events).
      try {
        return (await jsm.streams.getMessage(layout.stream, { last_by_subj: layout.eventFilter })).seq;
      } catch (err) {
        if (notFound(err)) return 0;
        throw err;
      }
    },

    async feed(q) {
      const { cursor = 0, limit, order, ...filter } = q;
      if (limit <= 0) return { events: [] };
      if (order === 'desc') return feedBackwards(deps, readers, requestTimeoutMs, q);
      const unfiltered = Object.values(filter).every((v) => v === undefined);
      const { reader, pending } = await readers.take(cursor);
      let done = false;
      try {
        // What is there now: events stored meanwhile are the next call's.
        let budget = pending;
        const out: StoredEvent[] = [];
        let scanned = 0;
        let bytes = 0;
        let stoppedShort = false;
        while (budget > 0 && out.length < limit) {
          if (!unfiltered && (scanned >= SCAN_MAX_MESSAGES || bytes >= SCAN_MAX_BYTES)) {
            stoppedShort = true;
            break;
          }
          const ask = unfiltered
            ? Math.min(budget, limit - out.length)
            : Math.min(budget, SCAN_CHUNK, SCAN_MAX_MESSAGES - scanned);
          const batch = await reader.consumer.fetch({ max_messages: ask, expires: requestTimeoutMs });
          let got = 0;
          for await (const m of batch) {
            got++;
            reader.position = m.seq;
            bytes += m.data.byteLength;
            const e = toEvent(m);
            if (out.length < limit && matches(filter, e, () => parseBody(e.body))) out.push(e);
            if (got === ask) break;
          }
          scanned += got;
          // Fewer than asked within the timeout: the stream has no more for us (messages removed by max_age).
          if (got < ask) break;
          budget -= got;
        }
        done = true;
        // Stopped at a bound with room left: every message up to the consumer's position was looked at.
        return stoppedShort && out.length < limit ? { events: out, scannedTo: reader.position } : { events: out };
      } finally {
        // A read that failed part way leaves its consumer's position in doubt: not kept.
        if (done) readers.put(reader);
        else readers.drop(reader);
      }
    },

    close: () => readers.close(),
  };
}

/** The read consumers kept (IDLE_READERS), by position; one in use is taken out, so no two reads share one. */
function readerPool(
  deps: { js: JetStreamClient; jsm: JetStreamManager; layout: StreamLayout },
  requestTimeoutMs: number,
) {
  const { js, jsm, layout } = deps;
  const idle = new Map<number, Reader>();
  let closed = false;
  const remove = (r: Pick<Reader, 'name'>) => void jsm.consumers.delete(layout.stream, r.name).catch(() => undefined);
  /** A new reader at `cursor`; one created after `ms` (its create timed out here) is deleted then. */
  const create = async (cursor: number, ms: number): Promise<{ reader: Reader; pending: number }> => {
    const created = jsm.consumers.add(layout.stream, {
      filter_subject: layout.eventFilter,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: cursor + 1,
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      // Removed by the server once unused this long (kept idle too long, or this process died).
      inactive_threshold: nanos(Math.max(30_000, requestTimeoutMs * 2)),
    });
    const info = await bounded(created, ms, (late) => remove({ name: late.name }));
    try {
      const consumer = await js.consumers.get(layout.stream, info.name);
      return { reader: { name: info.name, consumer, position: cursor }, pending: info.num_pending };
    } catch (err) {
      await jsm.consumers.delete(layout.stream, info.name).catch(() => undefined);
      throw err;
    }
  };
  return {
    /**
     * A reader standing at `cursor` and how many events it has to deliver (reused, or created there), within
     * request_timeout: a kept one that does not answer its first attempt's bound is dropped, a create that does not
     * is made again with a longer bound (READ_ATTEMPT).
     */
    async take(cursor: number, opts: { fresh?: boolean } = {}): Promise<{ reader: Reader; pending: number }> {
      const attempts = attemptBounds(requestTimeoutMs);
      const kept = opts.fresh ? undefined : idle.get(cursor);
      if (kept !== undefined) {
        idle.delete(cursor);
        try {
          return { reader: kept, pending: (await bounded(kept.consumer.info(), attempts.next())).num_pending };
        } catch {
          // Gone (its inactive threshold passed, or deleted), or its node down: a new one.
          remove(kept);
        }
      }
      for (;;) {
        const ms = attempts.next();
        try {
          return await create(cursor, ms);
        } catch (err) {
          if (!timedOut(err) || attempts.left() <= 0) throw err;
        }
      }
    },
    /** Kept where it stands (the oldest kept is deleted beyond IDLE_READERS). */
    put(r: Reader): void {
      if (closed) return remove(r);
      const other = idle.get(r.position);
      // Two reads ended at the same place: one reader there is enough.
      if (other !== undefined) {
        idle.delete(r.position);
        remove(other);
      }
      idle.set(r.position, r);
      if (idle.size > IDLE_READERS) {
        const [position, oldest] = idle.entries().next().value as [number, Reader];
        idle.delete(position);
        remove(oldest);
      }
    },
    drop: remove,
    async close(): Promise<void> {
      closed = true;
      const all = [...idle.values()];
      idle.clear();
      await Promise.all(all.map((r) => jsm.consumers.delete(layout.stream, r.name).catch(() => undefined)));
    },
  };
}

type ReaderPool = ReturnType<typeof readerPool>;

/**
 * A feed read newest first (`order=desc`). A consumer delivers only forwards, so the stream is read in windows from
 * the top down: a fresh reader started at a window's first sequence fetches up to its last, the window is matched
 * newest first, and the next window ends just below it. A window is the rest of the page when nothing is filtered
 * (one window a page, unless replay copies or removed messages thin it), SCAN_CHUNK under a filter; the reads are
 * bounded as forward ones are (SCAN_MAX_MESSAGES sequences, SCAN_MAX_BYTES), and one stopped there says where
 * (scannedTo: the lowest sequence it looked at; the next read goes on below it). Each window costs a consumer create
 * and delete, as a forward read's first page does; its reader is not kept (no forward read goes on from there).
 */
async function feedBackwards(
  deps: { jsm: JetStreamManager; layout: StreamLayout },
  readers: ReaderPool,
  requestTimeoutMs: number,
  q: FeedRead,
): Promise<FeedResult> {
  const { cursor, limit, order: _order, ...filter } = q;
  const unfiltered = Object.values(filter).every((v) => v === undefined);
  const { state } = await deps.jsm.streams.info(deps.layout.stream);
  const first = Math.max(1, state.first_seq);
  // The top: the stream's last message (a replay copy above the last event is skipped by the readers' filter).
  let upper = cursor === undefined ? state.last_seq : Math.min(cursor - 1, state.last_seq);
  const out: StoredEvent[] = [];
  let scanned = 0;
  let bytes = 0;
  while (upper >= first && out.length < limit) {
    if (scanned >= SCAN_MAX_MESSAGES || bytes >= SCAN_MAX_BYTES) return { events: out, scannedTo: upper + 1 };
    const size = unfiltered ? limit - out.length : Math.min(SCAN_CHUNK, SCAN_MAX_MESSAGES - scanned);
    const lo = Math.max(first, upper - size + 1);
    const window = await readWindow(readers, lo, upper, requestTimeoutMs);
    scanned += upper - lo + 1;
    bytes += window.bytes;
    for (let i = window.events.length - 1; i >= 0 && out.length < limit; i--) {
      const e = window.events[i]!;
      if (matches(filter, e, () => parseBody(e.body))) out.push(e);
    }
    upper = lo - 1;
  }
  return { events: out };
}

/** The events stored from `lo` to `upper`, oldest first, through a reader of their own. */
async function readWindow(
  readers: ReaderPool,
  lo: number,
  upper: number,
  requestTimeoutMs: number,
): Promise<{ events: StoredEvent[]; bytes: number }> {
  const { reader, pending } = await readers.take(lo - 1, { fresh: true });
  try {
    const events: StoredEvent[] = [];
    let bytes = 0;
    // No more than it has pending, so the fetch never waits for events to come; those past the window end it.
    const ask = Math.min(pending, upper - lo + 1);
    if (ask === 0) return { events, bytes };
    const batch = await reader.consumer.fetch({ max_messages: ask, expires: requestTimeoutMs });
    let got = 0;
    for await (const m of batch) {
      got++;
      if (m.seq > upper) break;
      bytes += m.data.byteLength;
      events.push(toEvent(m));
      if (got === ask) break;
    }
    batch.stop();
    return { events, bytes };
  } finally {
    readers.drop(reader);
  }
}

/** The bounds of the steps of one take: READ_ATTEMPT's, doubling, together request_timeout. */
function attemptBounds(requestTimeoutMs: number) {
  const deadline = Date.now() + requestTimeoutMs;
  let bound = Math.max(READ_ATTEMPT.minMs, requestTimeoutMs * READ_ATTEMPT.fraction);
  const left = () => deadline - Date.now();
  return {
    left,
    /** The next step's bound: all that is left once less than two of it is. */
    next(): number {
      const ms = left() < 2 * bound ? Math.max(left(), READ_ATTEMPT.minMs) : bound;
      bound *= 2;
      return ms;
    },
  };
}

/** A step of a take that did not answer within its bound. */
class ReadStepTimeout extends Error {
  readonly code = 'TIMEOUT';
}

/** `p`, or a ReadStepTimeout after `ms`; what `p` resolves to after that goes to `late`. */
async function bounded<T>(p: Promise<T>, ms: number, late: (v: T) => void = () => undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      reject(new ReadStepTimeout(`no answer from JetStream within ${Math.round(ms)} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, expiry]);
  } finally {
    clearTimeout(timer);
    if (expired) p.then(late, () => undefined);
  }
}

/** Our bound or the client's request timeout (nats.js NatsError code TIMEOUT). */
function timedOut(err: unknown): boolean {
  return (err as { code?: unknown }).code === 'TIMEOUT';
}

function toEvent(m: JsMsg): StoredEvent {
  return {
    seq: m.seq,
    id: m.headers?.get(MSG_ID) ?? '',
    type: m.headers?.get(HEADERS.type) ?? '',
    body: text(m.data),
    // JetStream's own timestamp of storing: what `since` and `until` compare.
    storedAt: Math.floor(m.info.timestampNanos / 1e6),
  };
}

function notFound(err: unknown): boolean {
  return (err as { api_error?: { err_code?: number } }).api_error?.err_code === NO_MESSAGE_FOUND;
}

function text(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}
