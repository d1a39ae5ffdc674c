// What the intake, the sinks and the feed need of the durable event store: the records they exchange with it and
// the EventStore interface. SqliteEventStore (store.ts) implements it; test/helpers/store-conformance.ts is the
// suite every implementation passes.

/** An event to store: its id (the idempotency key), type, the serialised envelope, and the sinks that want it. */
export interface NewEvent {
  id: string;
  type: string;
  body: string;
  sinks: readonly string[];
  /**
   * The feed's filter attributes as the intake read them from the event it parsed (feedColumns), stored beside the
   * body for the feed's indexes. Absent: the store reads them from the body (SQLite json_extract, a parse per insert).
   */
  columns?: FeedColumns | undefined;
}

/** producer.id, actor.id, authid, authtype (FeedFilter's names): a string, or null where the event has none. */
export interface FeedColumns {
  producer: string | null;
  actor: string | null;
  authid: string | null;
  authtype: string | null;
}

/**
 * An event's filter attributes, as SQLite's json_extract reads them from its JSON; undefined when one is there but
 * not a string (validation refuses those; the store then reads them from the body itself, as json_extract does).
 */
export function feedColumns(event: {
  producer?: { id?: unknown } | undefined;
  actor?: { id?: unknown } | undefined;
  authid?: unknown;
  authtype?: unknown;
}): FeedColumns | undefined {
  const producer = event.producer?.id ?? null;
  const actor = event.actor?.id ?? null;
  const authid = event.authid ?? null;
  const authtype = event.authtype ?? null;
  const text = (v: unknown): v is string | null => v === null || typeof v === 'string';
  if (!text(producer) || !text(actor) || !text(authid) || !text(authtype)) return undefined;
  return { producer, actor, authid, authtype };
}

export interface AppendResult {
  id: string;
  /** 0 when `error` is set. */
  seq: number;
  /** The id was already stored: nothing was written, the first copy's sequence is returned. */
  duplicate: boolean;
  /** This event alone could not be stored (nothing of it was written; the rest of its group was): why. */
  error?: string;
}

export interface StoredEvent {
  seq: number;
  id: string;
  type: string;
  body: string;
  /** Epoch ms the store accepted it. */
  storedAt: number;
}

/** What a feed query can select on; absent fields match everything. Times are epoch ms of storing. */
export interface FeedFilter {
  /** The type, or any of several (event-feed.ts bounds how many). */
  type?: string | readonly string[];
  /** producer.id */
  producer?: string;
  /** actor.id */
  actor?: string;
  /** authid: who the service verified the publisher as (authcontext.ts) */
  authid?: string;
  /** authtype */
  authtype?: string;
  /** stored_at >= since */
  since?: number;
  /** stored_at < until */
  until?: number;
}

/** A filter's types as a list (one or several), or undefined for any type. */
export function filterTypes(f: FeedFilter): readonly string[] | undefined {
  return typeof f.type === 'string' ? [f.type] : f.type;
}

/**
 * Which way a feed read walks: `asc` (the default) returns events after `cursor`, oldest first; `desc` events before
 * `cursor` (from the newest when it is absent), newest first.
 */
export type FeedOrder = 'asc' | 'desc';

/** A feed read: the filter, where to start (a seq, exclusive), how many at most, which way. */
export interface FeedRead extends FeedFilter {
  cursor?: number;
  limit: number;
  order?: FeedOrder;
}

export type DeliveryState = 'pending' | 'delivered' | 'dead';

export interface DeliveryRecord {
  sink: string;
  seq: number;
  id: string;
  type: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  /** Epoch ms before which no new attempt is due. */
  nextAttemptAt: number;
  lastError?: string;
}

/**
 * The store interface the intake and the sinks use; test/helpers/store-conformance.ts is the suite every
 * implementation passes.
 */
export interface EventStore {
  /**
   * Stores events and their delivery records in one durable commit; duplicates (by id) write nothing. An event the
   * store cannot take fails alone (its result's `error`) and the others are stored; a failure of the commit itself
   * throws, and then nothing of the group was stored.
   */
  append(events: readonly NewEvent[]): AppendResult[];
  get(id: string): StoredEvent | undefined;
  /** Pending deliveries for `sink` that are due at `now`, oldest event first; with `afterSeq`, only later sequences. */
  due(sink: string, now: number, limit: number, afterSeq?: number): DeliveryRecord[];
  /** Epoch ms of the earliest pending delivery for `sink`; with `afterMs`, the earliest due later than that. */
  nextDue(sink: string, afterMs?: number): number | undefined;
  /** Marks deliveries done; returns how many were pending. */
  delivered(sink: string, seqs: readonly number[]): number;
  /**
   * As delivered(), but when another connection holds the write lock it returns undefined at once and writes
   * nothing, instead of waiting: the sink worker keeps delivering meanwhile and tries again (sinks/marks.ts).
   */
  tryDelivered?(sink: string, seqs: readonly number[]): number | undefined;
  /** Records a failed attempt: the attempt count, when to retry, why. */
  failed(sink: string, seq: number, opts: { nextAttemptAt: number; error: string }): void;
  /** Moves a delivery to the dead-letter list. */
  dead(sink: string, seq: number, error: string): void;
  /** Dead letters, oldest first, optionally for one sink, after sequence `after`. */
  deadLetters(opts?: { sink?: string; after?: number; limit?: number }): DeliveryRecord[];
  /** Makes dead letters pending again, due now (all of a sink's, or the given sequences); returns how many. */
  replay(sink: string, seqs?: readonly number[]): number;
  /** A sink's deliveries still pending (its backlog) and dead-lettered. */
  sinkCounts(sink: string): { pending: number; dead: number };
  /** Events with at least one pending delivery: what `event_limit` bounds. */
  readonly held: number;
  /** All stored events. */
  count(): number;
  /** Feed events matching the filters after `cursor` in sequence order, or before it newest first (`desc`). */
  feed(q: FeedRead): StoredEvent[];
  /** The highest sequence stored so far (0 when empty): where a live feed starts. */
  lastSeq(): number;
  /**
   * Feed retention: deletes events beyond the newest `maxEvents` or stored before `olderThan`, except events still
   * held (a delivery pending) or dead-lettered anywhere, which stay until delivered or replayed. Returns how many.
   */
  prune(opts: { maxEvents: number; olderThan: number }): number;
  /** Re-reads what another process may have changed in the file: the held count after a dead-letter CLI replay. */
  refresh(): void;
  close(): void;
}
