// One HTTP sink: POSTs the stored events its delivery records name, signed the Standard Webhooks way
// (standard-webhooks spec.md), retrying with capped full-jitter backoff (AWS Architecture Blog "Exponential Backoff
// And Jitter"), honouring 429 Retry-After, stopping on 410 Gone, and dead-lettering after max_attempts. Each sink
// runs on its own, so one slow or dead receiver never delays another.
//
// Order: with `maxInFlight` 1 (the default) one POST is outstanding at a time, oldest pending event first, and
// while it backs off the sink waits (strict order; a failing receiver is retried at the backoff's pace). The next
// POST is made while one is in flight and goes as its 2xx is read (transport.ts postNext), never before; the
// answer's bookkeeping (figures, marks, the read-ahead) runs while the next is on the wire. With
// `pipelining` N, N POSTs go in order on the one connection before the first answer; when one fails, those behind
// it are aborted and not counted whatever their answer (stale: `generation`), and nothing more goes until they
// ended, then the failed one again and what follows it, in order (first attempts in order, at least once). With more,
// up to that many POSTs are outstanding on as many keep-alive connections: deliveries may arrive out of order, each
// is retried and dead-lettered on its own, and after a failure the sink as a whole pauses for a backoff that grows
// with consecutive failures, so a dead receiver is not hit once per queued event.
//
// This module is the pump: what is due, how many POSTs at once, in which order, when to pause, and what an answer
// means for the sink. Body options (`extraArgs`, `flattenPayload`, `sendAsList`, batching) and what a delivery
// carries on the wire (its webhook-id, signature, Retry-After) are webhook.ts's; how a POST travels (node:http,
// keep-alive, timeout) transport.ts's; what the store is told of deliveries (delivered marks, retries, dead
// letters) marks.ts's; the figures, what a failure means for them and the backoff account.ts's (shared with
// backend-sink.ts); the rate limit rate.ts's (a batch due while the bucket is short waits, in order, on the timer).
import type { DeliveryRecord, EventStore } from '../event-store.js';
import { batchLength, DEFAULT_BATCH_BYTES, SinkAccount } from './account.js';
import { DeliveryMarks } from './marks.js';
import { sinkBucket, type TokenBucket } from './rate.js';
import type { HttpSinkOptions, HttpSinkState } from './options.js';
import type { PostOutcome, SinkTransport } from './transport.js';
import { createSinkTransport } from './transport-by-scheme.js';

/** The longest a timer waits: a far retry is re-checked at least once a minute. */
const MAX_TIMER_MS = 60_000;
/** Pending records are read this many at a time (at least a batch), not one query per POST. */
const READ_AHEAD = 64;

export class HttpSink {
  state: HttpSinkState = 'running';
  private timer: NodeJS.Timeout | undefined;
  /** batch_wait_ms: a partial batch is waiting to fill; `filled` lets the next take go as it is. */
  private fillTimer: NodeJS.Timeout | undefined;
  private filled = false;
  private closed = false;
  /** Sequences in flight, or delivered and waiting for their mark: never taken again meanwhile. */
  private readonly busy = new Set<number>();
  /** Pending records read ahead (readAhead), oldest first, none busy. */
  private ahead: DeliveryRecord[] = [];
  /** The next read starts at the oldest pending record (events older than the read-ahead became pending again). */
  private rescan = false;
  /** Figures, failures and backoff (account.ts). */
  private readonly account: SinkAccount;
  private readonly transport: SinkTransport;
  private readonly marks: DeliveryMarks;
  private readonly ordered: boolean;
  /** POSTs outstanding at once: max_in_flight, or in order the pipelining depth (1 unless configured). */
  private readonly maxInFlight: number;
  /** In order and pipelined: bumped by each failure; a POST sent before it is stale, its answer not counted. */
  private generation = 0;
  /** Stale POSTs still outstanding: nothing is sent until they end (what follows the failed one goes again). */
  private staleLeft = 0;
  /** attempt()s waiting for their answer (counted here, not by the transport: ended in the order answered). */
  private outstanding = 0;
  /**
   * One POST at a time (in order, no pipelining, no rate limit): the next is made while one is in flight and the
   * transport sends it as that one's 2xx is read (postNext), so the answer's bookkeeping (figures, marks, the next
   * read-ahead) runs while the next POST is on the wire, not between the two.
   */
  private readonly chains: boolean;
  /** The batch queued with the transport (postNext) and not known to be sent yet; busy. */
  private next: DeliveryRecord[] | undefined;
  private readonly batchSize: number;
  private readonly now: () => number;
  /** `rate`/`burst`: undefined when unlimited. */
  private readonly bucket: TokenBucket | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly opts: HttpSinkOptions,
  ) {
    this.now = opts.now ?? Date.now;
    const parallel = Math.max(1, opts.maxInFlight ?? 1);
    this.ordered = parallel === 1;
    this.maxInFlight = this.ordered ? Math.max(1, opts.pipelining ?? 1) : parallel;
    this.account = new SinkAccount(opts, this.ordered);
    this.batchSize = Math.max(1, opts.batchSize ?? 1);
    this.bucket = sinkBucket(opts);
    this.transport = createSinkTransport(opts, parallel);
    this.chains =
      this.ordered && this.maxInFlight === 1 && this.bucket === undefined && this.transport.postNext !== undefined;
    this.marks = new DeliveryMarks(store, {
      sink: opts.name,
      batchSize: this.batchSize,
      ordered: this.ordered,
      logger: opts.logger,
      onFlushed: (seqs, failed) => this.marked(seqs, failed),
    });
  }

  get name(): string {
    return this.opts.name;
  }
  /** Since start: accepted deliveries, failed attempts, failed attempts scheduled again, dead letters made. */
  get stats(): SinkAccount['stats'] {
    return this.account.stats;
  }
  /** The latest failed attempt since start (the status page and /handlerz show it); cleared by nothing. */
  get lastError(): SinkAccount['lastError'] {
    return this.account.lastError;
  }
  /** Epoch ms of the latest successful delivery since start. */
  get lastDeliveredAt(): number | undefined {
    return this.account.lastDeliveredAt;
  }
  get url(): string {
    return this.opts.url;
  }

  /** Something may be due (new events stored, a replay): deliver it now rather than at the next timer. */
  wake(): void {
    this.pump();
  }

  /** Reads the store afresh (a dead-letter replay, by the CLI too, may have made older events pending) and delivers. */
  recheck(): void {
    this.rescan = true;
    this.ahead = [];
    this.pump();
  }

  /** Runs again after a 410 stopped it (a dead-letter replay), and delivers what is due. */
  resume(): void {
    this.state = 'running';
    this.opts.onChange?.();
    this.recheck();
  }

  /** Stops: attempts in flight are aborted and stay pending; deliveries already answered are marked first. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.marks.close();
    clearTimeout(this.timer);
    clearTimeout(this.fillTimer);
    this.transport.close();
  }

  /** POSTs outstanding at once now: maxInFlight, or fewer when the transport says so (transport.ts window). */
  private get window(): number {
    return Math.min(this.maxInFlight, this.transport.window ?? this.maxInFlight);
  }

  /** Starts attempts while the window has room and something is due; else arms a timer for the next due time. */
  private pump(): void {
    if (this.closed || this.state !== 'running' || this.fillTimer !== undefined || this.staleLeft > 0) return;
    if (this.transport.inFlight >= this.window) {
      // Called on every intake commit: cheap when full.
      if (this.chains) this.prefetch();
      return;
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    const paused = this.account.pausedFor(now);
    if (paused > 0) {
      this.arm(paused);
      return;
    }
    while (this.transport.inFlight < this.window) {
      const batch = this.take(now);
      if (batch.length === 0) break;
      if (
        !this.filled &&
        batch.length < this.batchSize &&
        (this.opts.batchWaitMs ?? 0) > 0 &&
        batch[0]!.attempts === 0
      ) {
        // A partial first-try batch waits once for more events (a retry goes as it was).
        this.ahead.unshift(...batch); // taken from the read-ahead: put back
        this.fillTimer = setTimeout(() => {
          this.fillTimer = undefined;
          this.filled = true;
          this.pump();
        }, this.opts.batchWaitMs);
        return;
      }
      // Rate limited: the batch goes back (in order) and the timer pumps again when the bucket has its tokens.
      const wait = this.bucket?.waitMs(batch.length) ?? 0;
      if (wait > 0) {
        this.ahead.unshift(...batch);
        if (this.transport.inFlight === 0 && this.marks.waiting > 0) this.marks.flush();
        this.arm(wait);
        return;
      }
      this.bucket?.take(batch.length);
      this.filled = false;
      this.start(batch, false);
    }
    if (this.chains) this.prefetch();
    if (this.transport.inFlight === 0 && this.marks.waiting > 0)
      this.marks.flush(); // idle: no reason to wait
    else this.scheduleNext(now);
  }

  /** The next batch: in order, the head (which must be due) and the due events right after it; else any due ones. */
  private take(now: number): DeliveryRecord[] {
    if (this.ahead.length < this.batchSize) this.ahead = this.readAhead(now);
    if (this.ahead[0] === undefined || this.ahead[0].nextAttemptAt > now) return [];
    const limit = this.opts.batchBytes ?? DEFAULT_BATCH_BYTES;
    return this.ahead.splice(
      0,
      batchLength(this.ahead, 0, this.batchSize, limit, (r) => r.nextAttemptAt <= now),
    );
  }

  /**
   * Pending records that are not busy, oldest first: in order all of them (the head decides), unordered the due
   * ones. Read READ_AHEAD (at least a batch) at a time; the records stay valid while read ahead, because only this sink
   * changes them (a failure drops the read-ahead) or a replay makes older ones pending (recheck() rescans).
   */
  private readAhead(now: number): DeliveryRecord[] {
    const want = Math.max(READ_AHEAD, this.batchSize);
    if (this.ordered && !this.rescan) {
      // In order, everything busy sorts before what is still to send (one POST at a time, oldest first): read on
      // from the last busy sequence, no filter needed.
      let after = 0;
      for (const seq of this.busy) after = Math.max(after, seq);
      return this.store.due(this.opts.name, Number.MAX_SAFE_INTEGER, want, after);
    }
    this.rescan = false;
    const rows = this.store.due(this.opts.name, this.ordered ? Number.MAX_SAFE_INTEGER : now, want + this.busy.size);
    return this.busy.size === 0 ? rows : rows.filter((r) => !this.busy.has(r.seq));
  }

  /** Nothing more to start now: wake up when the next pending delivery is due (or an attempt's end pumps again). */
  private scheduleNext(now: number): void {
    if (this.closed || this.state !== 'running' || this.transport.inFlight >= this.window) return;
    let next: number | undefined;
    if (this.ordered) {
      if (this.transport.inFlight > 0) return; // its end pumps again
      // The head's retry time, not the earliest of all: later records wait behind it.
      next = this.ahead[0]?.nextAttemptAt;
    } else {
      // What is due now is busy or read ahead (and taken otherwise): the earliest retry still to come.
      next = this.store.nextDue(this.opts.name, now);
    }
    if (next !== undefined) this.arm(next - now);
  }

  private arm(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
  }

  /**
   * Chained (one POST at a time): the next batch, queued with the transport behind the POST in flight, goes as that
   * one's 2xx is read. Only what pump() would send then: the head, due, a whole batch.
   */
  private prefetch(): void {
    if (this.next !== undefined || this.transport.inFlight !== 1) return;
    const now = this.now();
    if (this.account.pausedFor(now) > 0) return;
    const batch = this.take(now);
    if (batch.length === 0) return;
    if (batch.length < this.batchSize) {
      // A partial batch goes when this one ends (pump()): fuller by then, or waiting to fill (batch_wait_ms).
      this.ahead.unshift(...batch);
      return;
    }
    this.next = batch;
    this.start(batch, true);
  }

  private start(batch: DeliveryRecord[], queued: boolean): void {
    void this.attempt(batch, queued).catch((err: unknown) => {
      this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink delivery failed');
    });
  }

  /** One POST of `batch`, now or (`queued`) once the one in flight is answered 2xx, and what its answer means. */
  private async attempt(batch: DeliveryRecord[], queued: boolean): Promise<void> {
    for (const r of batch) this.busy.add(r.seq);
    const generation = this.generation;
    // Counted in flight from here, before the first await: pump() starts no more than maxInFlight.
    this.outstanding++;
    const outcome = await (queued ? this.transport.postNext!(batch, this.now) : this.transport.post(batch, this.now()));
    this.outstanding--;
    if (this.closed) return; // shutting down: the records stay pending and are retried after restart
    if (outcome.unsent === true) {
      // Queued behind a POST that was not delivered: read again after it (that one's failure dropped the read-ahead).
      if (this.next === batch) this.dropNext();
      return;
    }
    // Sent (postNext): in flight or answered, no longer queued.
    if (this.next === batch) this.next = undefined;
    if (generation !== this.generation) {
      // Pipelined behind a POST that failed: whatever its answer (a 2xx too, then a redelivery under the same
      // webhook-id), it stays pending and goes again after the failed one, in order. Not a failed attempt.
      for (const r of batch) this.busy.delete(r.seq);
      this.staleLeft--;
      this.pump();
      return;
    }
    if (outcome.delivered) {
      // The sequences stay busy until marked: the next POST went (chained: as this answer was read) or goes now,
      // the store write comes after.
      this.next = undefined;
      this.account.delivered(batch.length);
      this.opts.onChange?.();
      this.marks.delivered(batch);
      this.pump();
      return;
    }
    for (const r of batch) this.busy.delete(r.seq);
    // Chained: the next one was not sent; before the read-ahead is read again, which reads on past what is busy.
    this.dropNext();
    if (this.ordered && this.maxInFlight > 1 && this.outstanding > 0) {
      // Pipelined: the POSTs behind this one (answered after it, on the same connection) are dropped and read again
      // after it; aborted, so the receiver gets no more of them meanwhile.
      this.generation++;
      this.staleLeft = this.outstanding;
      this.rescan = true;
      this.transport.abortInFlight?.();
    }
    this.failed(batch, outcome, outcome.id);
    this.opts.onChange?.();
    this.pump();
  }

  /** The queued batch (postNext) was not sent: its events may be taken again, in order. */
  private dropNext(): void {
    if (this.next === undefined) return;
    for (const r of this.next) this.busy.delete(r.seq);
    this.next = undefined;
  }

  /** Marks were written (or could not be: the events are read again): the sequences may be taken again. */
  private marked(seqs: readonly number[], failed: boolean): void {
    if (failed) {
      this.rescan = true;
      this.ahead = [];
    }
    for (const s of seqs) this.busy.delete(s);
    this.opts.onResolved?.();
    if (!this.closed) this.pump();
  }

  /** A failed attempt: a 410 stops the sink; else each event is retried after a backoff or dead-lettered. */
  private failed(batch: DeliveryRecord[], f: PostOutcome, webhookId: string): void {
    // In order, the failed head goes first again: what was read after it is read again after it.
    this.ahead = [];
    const plan = this.account.failed(batch, f, webhookId);
    if (plan.gone) {
      // The receiver says it is gone for good: stop, and leave the rest pending for a replay or a new config.
      this.marks.dead(batch, () => plan.error);
      this.state = 'stopped';
      this.opts.onResolved?.();
      return;
    }
    // Each event of a batch counts its own attempts: one that reached max_attempts is dead-lettered, the rest wait.
    this.marks.dead(plan.dead, plan.deadError);
    // One retry time for the whole batch, so it is taken again as it was.
    if (plan.retry.length > 0) this.marks.retry(plan.retry, this.now() + plan.retryDelayMs, f.problem);
    if (plan.dead.length > 0) this.opts.onResolved?.();
  }
}
