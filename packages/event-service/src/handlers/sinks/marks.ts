// What an HTTP sink writes to the store about its deliveries: delivered sequences, marked together and around
// another connection's lock; failed attempts, as a retry time or a dead letter. What is sent when, and what a
// receiver's answer means for the sink, are http.ts's.
import type { DeliveryRecord, EventStore } from '../event-store.js';
import type { SinkLogger } from './options.js';

/**
 * Delivered events are marked in the store together: at most this long after the first of them, or at once when
 * this many wait or the sink has nothing more to send. A mark alone cost ~130 µs of the service's loop (its WAL
 * commit's writes and locks are syscalls, slow on this VM), ten in one transaction ~35 µs each; in the
 * delivery-only micro-bench a 5 ms window took ~20% off the sink's CPU per unbatched delivery (20 ms now: see
 * MARK_BATCHES). MARK_BATCH also bounds the busy set the unordered read-ahead filters (http.ts).
 */
const MARK_WINDOW_MS = 20;
const MARK_BATCH = 64;
/**
 * An in-order sink marks up to this many at once: its read-ahead reads on past the busy sequences rather than
 * filtering them, so more waiting costs it nothing there, and a mark's fixed cost (the transaction, its WAL write,
 * the pragmas around it) is shared by more: ~4 against ~7.5 µs an event at 64 (marks-only micro-bench, FULL store,
 * load 11). A crash before the mark redelivers up to this many, under their webhook-ids (at least once).
 */
const MARK_BATCH_ORDERED = 256;
/**
 * A batching sink marks after this many of its batches at most (not after every POST, as MARK_BATCH 64 alone did
 * with batch_size 100). Each mark takes the store's write lock, which the intake then waits for: in the
 * events-batch bench, window 5 ms and a mark per POST made 7-15 such waits a second (100-150 ms of the intake's
 * second); window 20 ms and 4 batches per mark: 16.8k acked/s and 14.4k delivered/s, against 13.7-14.5k and
 * 10.9-11.4k before (quiet machine, a run or two each).
 */
const MARK_BATCHES = 4;
/**
 * With the store shared (the sink worker's connection beside the intake's), a mark that finds the file locked is
 * tried again MARK_RETRY_MS later (or with the next delivery), for up to MARK_DEFER_MS; then it waits for the
 * lock. Waiting at once stalled the worker's loop: the intake holds the lock through each commit's fsync, and in
 * the `events` bench the marks' waits (10-110 ms each, ~500 ms of every second) left ~200 deliveries/s during a
 * flat-out intake.
 */
const MARK_RETRY_MS = 2;
const MARK_DEFER_MS = 250;

export interface DeliveryMarksOptions {
  /** The sink's name: its delivery records' key. */
  sink: string;
  /** Events per POST: a batching sink marks after MARK_BATCHES of its batches. */
  batchSize: number;
  /** The sink delivers in order (max_in_flight 1): it marks MARK_BATCH_ORDERED at once. */
  ordered?: boolean;
  logger: SinkLogger;
  /**
   * Marks were written, or could not be (`failed`: the events are still pending in the store and go out again,
   * same webhook-ids, once read again). Either way the sequences are the sink's to take again.
   */
  onFlushed(seqs: readonly number[], failed: boolean): void;
}

export class DeliveryMarks {
  /** Delivered sequences not yet marked in the store, and the timer that marks them. */
  private marks: number[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** When (performance.now()) a mark first found the store locked by another connection (MARK_DEFER_MS). */
  private lockedSince: number | undefined;
  /** Marks waiting before they are written at once. */
  private readonly batch: number;

  constructor(
    private readonly store: EventStore,
    private readonly opts: DeliveryMarksOptions,
  ) {
    this.batch = Math.max(opts.ordered === true ? MARK_BATCH_ORDERED : MARK_BATCH, MARK_BATCHES * opts.batchSize);
  }

  /** Delivered sequences waiting for their mark. */
  get waiting(): number {
    return this.marks.length;
  }

  /**
   * These records were delivered: their marks go to the store together (flush): MARK_WINDOW_MS after the first, at
   * once when enough wait or the sink is idle. Without their own fsync (store.delivered), so a mark lost to a crash
   * is a redelivery under the same webhook-id, which at-least-once allows; the window adds at most MARK_WINDOW_MS of
   * those.
   */
  delivered(batch: readonly DeliveryRecord[]): void {
    for (const r of batch) this.marks.push(r.seq);
    if (this.marks.length >= this.batch) return this.flush();
    this.flushTimer ??= setTimeout(() => this.flush(), MARK_WINDOW_MS);
  }

  /** Marks what was delivered; unless `wait`, a store another connection has locked is tried again soon. */
  flush(wait = false): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const seqs = this.marks;
    if (seqs.length === 0) return;
    let failed = false;
    try {
      if (
        !wait &&
        this.store.tryDelivered !== undefined &&
        performance.now() - (this.lockedSince ?? performance.now()) < MARK_DEFER_MS
      ) {
        if (this.store.tryDelivered(this.opts.sink, seqs) === undefined) {
          // Still busy (never taken again) and kept: the next POST goes on meanwhile.
          this.lockedSince ??= performance.now();
          this.flushTimer = setTimeout(() => this.flush(), MARK_RETRY_MS);
          return;
        }
      } else this.store.delivered(this.opts.sink, seqs);
    } catch (err) {
      // Still pending in the store: they go out again (same webhook-ids) once read again.
      failed = true;
      this.opts.logger.error(
        { sink: this.opts.sink, events: seqs.length, err: (err as Error).message },
        'cannot record deliveries',
      );
    }
    this.marks = [];
    this.lockedSince = undefined;
    this.opts.onFlushed(seqs, failed);
  }

  /** These records failed an attempt and are tried again at `nextAttemptAt`: the store counts the attempt. */
  retry(records: readonly DeliveryRecord[], nextAttemptAt: number, error: string): void {
    for (const r of records) this.store.failed(this.opts.sink, r.seq, { nextAttemptAt, error });
  }

  /** These records go to the dead-letter list, each with its reason. */
  dead(records: readonly DeliveryRecord[], reason: (r: DeliveryRecord) => string): void {
    for (const r of records) this.store.dead(this.opts.sink, r.seq, reason(r));
  }

  /** The sink stops: what was delivered is marked now, waiting for the lock if it must. */
  close(): void {
    this.flush(true);
  }
}
