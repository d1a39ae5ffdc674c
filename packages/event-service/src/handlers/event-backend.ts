// The event store as the handlers see it whatever keeps it: one machine's SQLite file (sqlite-backend.ts over
// store.ts) or a JetStream stream on a NATS cluster (jetstream/backend.ts). Asynchronous because JetStream answers
// over the network; test/helpers/backend-conformance.ts is the suite both implementations pass.
import type { AppendResult, DeliveryRecord, FeedRead, NewEvent, StoredEvent } from './event-store.js';

export type {
  AppendResult,
  DeliveryRecord,
  FeedFilter,
  FeedOrder,
  FeedRead,
  NewEvent,
  StoredEvent,
} from './event-store.js';

export type BackendKind = 'sqlite' | 'jetstream';

/** A feed read. */
export interface FeedResult {
  events: StoredEvent[];
  /**
   * Set only when the read stopped scanning before the end of what was stored, with fewer than `limit` events (a
   * bound on the work of one read: JetStream and a sparse filter). Every matching event after the cursor and up to
   * this seq is in `events`, none after it was looked at: the next read starts here (as its cursor). Absent:
   * `events` is every match up to the end (fewer than `limit`), or the page is full (its last event is the cursor).
   * Read `desc`, the same downwards: every match below the cursor and down to this seq is in `events`, none below it
   * was looked at, and the next read (its cursor this seq) goes on below it; absent, the read reached the first event.
   */
  scannedTo?: number;
}

/** One delivery a sink has claimed: an event owed to it, and how many attempts it already failed. */
export interface Delivery {
  /** The event's sequence (SQLite row, JetStream stream sequence of the event itself, never of a replay copy). */
  seq: number;
  id: string;
  type: string;
  body: string;
  /** Failed attempts before this one. */
  attempts: number;
}

/**
 * A sink's deliveries: what is owed to it, claimed a few at a time, each settled once (ack, retry or dead). Shared by
 * every instance using the same backend: with JetStream a durable consumer per sink, so any instance can deliver and
 * each delivery is claimed by one at a time. With `maxInFlight = 1` deliveries are claimed in sequence order and the
 * next is not claimed while one is unsettled (a retry included): order per sink holds.
 */
export interface SinkQueue {
  /** Claims up to `max` deliveries that are due, waiting up to `waitMs` for the first; [] when none came. */
  next(max: number, waitMs: number): Promise<Delivery[]>;
  /** Delivered (the receiver answered 2xx): never delivered again. */
  ack(d: Delivery): Promise<void>;
  /** Failed, worth retrying: due again after `delayMs`, its attempts counted, `error` kept as its last error. */
  retry(d: Delivery, delayMs: number, error: string): Promise<void>;
  /** Given up: moved to the dead letters (listed, replayable), never delivered again unless replayed. */
  dead(d: Delivery, error: string): Promise<void>;
  /** Stops claiming; unsettled claims are released to be claimed again (by this or another instance). */
  close(): Promise<void>;
  /**
   * Calls `replayed` whenever the sink's dead letters are replayed, on whichever instance (a backend several
   * instances share announces it to all), until close(). Absent: only the instance serving the replay knows.
   */
  watchReplays?(replayed: () => void): void;
}

export interface SinkQueueOptions {
  /** Claims outstanding at once (a sink's max_in_flight × batch_size); 1 keeps order. */
  maxInFlight: number;
}

export interface EventBackend {
  readonly kind: BackendKind;
  /**
   * Stores a group durably and resolves after it is (SQLite: the commit's fsync; JetStream: every PubAck, so after
   * the stream's replicas have it). One result per event, in order; a duplicate (same id, at any time) writes
   * nothing and returns the first copy's seq; an event refused alone has `error` (nothing of it stored). Rejects when
   * whether the group is stored is unknown (SQLite: its commit failed; JetStream: some publish got no answer): the
   * caller counts none of it as stored, though part of it may be, so a retry with the same ids is safe (answered as
   * duplicates for what was).
   */
  append(events: readonly NewEvent[]): Promise<AppendResult[]>;
  /** Appends that may be in flight at once, answered in order (default 1: the next waits for the last's answer). */
  readonly commitDepth?: number;
  get(id: string): Promise<StoredEvent | undefined>;
  /**
   * Events after `cursor` (a seq) in sequence order, matching the filter, up to `limit`; sequences never repeat or
   * skip. `order: 'desc'`: events before `cursor` (all when it is absent), newest first. A backend without an index
   * for the filter (JetStream) may stop scanning before the end: `scannedTo` says where (read on from there).
   */
  feed(q: FeedRead): Promise<FeedResult>;
  /** The highest event sequence stored (0 when empty): where a live feed starts. */
  lastSeq(): Promise<number>;
  /**
   * Events not yet delivered to every sink they were routed to (what event_limit bounds), as last read: read
   * synchronously on every publish, refreshed by the backend (after each append and settle, and by polling where
   * other instances change it).
   */
  readonly held: number;
  /** Re-reads `held` now (SQLite: from the file; JetStream: from the consumers). */
  refreshHeld(): Promise<number>;
  sinkQueue(sink: string, opts: SinkQueueOptions): SinkQueue;
  /** Dead letters, oldest first, optionally for one sink, after sequence `after` (an event seq). */
  deadLetters(opts?: { sink?: string; after?: number; limit?: number }): Promise<DeliveryRecord[]>;
  /** Makes a sink's dead letters (all, or those of the given event ids) owed to it again, due now; how many. */
  replay(sink: string, ids?: readonly string[]): Promise<number>;
  /** A sink's deliveries still owed (its backlog, claimed ones included) and dead-lettered. */
  sinkCounts(sink: string): Promise<{ pending: number; dead: number }>;
  close(): Promise<void>;
}
