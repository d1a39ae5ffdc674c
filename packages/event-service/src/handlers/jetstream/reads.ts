// Reading events back from the stream: one by id (a last-by-subject read of each subject its id may have, one per
// routing), the feed (events after a cursor, in stream-sequence order, through a short-lived consumer filtered to
// event subjects), and where the feed's live end is. The stream sequence is the cursor: JetStream assigns it when it
// stores a message and a consumer delivers in that order, so a page never repeats or skips one while others append.
//
// get(id) reads the literal subjects (8 with 3 slots, in parallel) rather than one wildcard last-by-subject
// (`e.*.*.*.<id>`): nats-server 2.9 answers a wildcard by scanning every subject of the stream under its lock, so on
// 200,000 events each such read took ~50 ms and raised the appends' PubAck latency from 0.2 ms (median) to 33 ms
// while they ran (measured on 2.9.10); a literal one is a map lookup (~1 ms). lastSeq's wildcard finds its answer in
// the last block.
import { AckPolicy, DeliverPolicy, nanos, type JsMsg, type JetStreamClient, type JetStreamManager } from 'nats';
import type { FeedFilter, StoredEvent } from '../event-store.js';
import { matches, parseBody } from '../feed-streams.js';
import { HEADERS, type StreamLayout } from './layout.js';

/** JetStream's error for a read of a message that is not there (nats-server errors.json JSNoMessageFoundErr). */
const NO_MESSAGE_FOUND = 10037;
/** The id header JetStream deduplicates by: the event id (backend.ts append). */
const MSG_ID = 'Nats-Msg-Id';

/**
 * Messages asked for at once while scanning under a filter: large enough to amortise the round trip. The stream has
 * no index on type, producer or time, so a filter is applied to each event in turn, and a page ends only when it is
 * full or the stream's end (as it was when the call began) is reached: a page that stopped short at a scan bound
 * would read as "nothing more" (event-feed.ts next_cursor, feed-streams.ts catchUp) and skip what lay beyond it.
 */
const SCAN_CHUNK = 500;

export interface Reads {
  get(id: string): Promise<StoredEvent | undefined>;
  /** The event stored on this literal subject (an append's duplicate: its first copy), if any. */
  atSubject(subject: string, id: string): Promise<StoredEvent | undefined>;
  feed(q: FeedFilter & { cursor?: number; limit: number }): Promise<StoredEvent[]>;
  lastSeq(): Promise<number>;
}

export function streamReads(
  deps: { js: JetStreamClient; jsm: JetStreamManager; layout: StreamLayout },
  requestTimeoutMs: number,
): Reads {
  const { js, jsm, layout } = deps;
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
      const { cursor = 0, limit, ...filter } = q;
      if (limit <= 0) return [];
      const unfiltered = Object.values(filter).every((v) => v === undefined);
      const info = await jsm.consumers.add(layout.stream, {
        filter_subject: layout.eventFilter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: cursor + 1,
        ack_policy: AckPolicy.None,
        mem_storage: true,
        num_replicas: 1,
        // Removed by the server if this process dies before deleting it.
        inactive_threshold: nanos(Math.max(30_000, requestTimeoutMs * 2)),
      });
      const name = info.name;
      try {
        // What is there now: events stored meanwhile are the next call's.
        let budget = info.num_pending;
        const out: StoredEvent[] = [];
        const consumer = await js.consumers.get(layout.stream, name);
        while (budget > 0 && out.length < limit) {
          const ask = unfiltered ? Math.min(budget, limit - out.length) : Math.min(budget, SCAN_CHUNK);
          const batch = await consumer.fetch({ max_messages: ask, expires: requestTimeoutMs });
          let got = 0;
          for await (const m of batch) {
            got++;
            const e = toEvent(m);
            if (out.length < limit && matches(filter, e, () => parseBody(e.body))) out.push(e);
            if (got === ask) break;
          }
          // Fewer than asked within the timeout: the stream has no more for us (messages removed by max_age).
          if (got < ask) break;
          budget -= got;
        }
        return out;
      } finally {
        await jsm.consumers.delete(layout.stream, name).catch(() => undefined);
      }
    },
  };
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
