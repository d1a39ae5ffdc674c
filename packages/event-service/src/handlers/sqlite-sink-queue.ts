// A sink's deliveries in the SQLite store as a SinkQueue (event-backend.ts): what is owed is the sink's pending
// delivery records (store-deliveries.ts), claims are kept in memory by the backend (sqlite-backend.ts), one table of
// them per sink shared by every queue on it, so a claimed delivery is handed to one queue at a time. The service's
// own sinks read the records directly in their worker thread (sink-worker.ts); this is the same store behind the
// contract both backends pass (test/helpers/backend-conformance.ts).
import type { Delivery, SinkQueue, SinkQueueOptions } from './event-backend.js';
import type { DeliveryRecord } from './event-store.js';
import type { SqliteEventStore } from './store.js';

/**
 * How often a waiting next() reads the store again without being told: another connection (the dead-letter CLI, the
 * store writer's thread between its commit and its answer) changes what is due without a word to this one.
 */
const POLL_MS = 250;

/** Wakes every next() waiting: something may have become due (an append, a settle, a replay, a release). */
export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  notify(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Resolves at the next notify(), or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
    });
  }
}

/** What the queues of one backend share: per sink, who holds each claimed sequence. */
export interface QueueShared {
  readonly store: SqliteEventStore;
  /** The claims on this sink, by sequence, whoever holds them. */
  readonly claims: Map<number, SqliteSinkQueue>;
  readonly signal: ChangeSignal;
  /** The backend was closed: nothing is claimed any more. */
  readonly closed: () => boolean;
}

export class SqliteSinkQueue implements SinkQueue {
  private closed = false;

  constructor(
    private readonly sink: string,
    private readonly opts: SinkQueueOptions,
    private readonly shared: QueueShared,
  ) {}

  async next(max: number, waitMs: number): Promise<Delivery[]> {
    const deadline = Date.now() + Math.max(0, waitMs);
    for (;;) {
      if (this.closed || this.shared.closed()) return [];
      const now = Date.now();
      const { got, dueAt } = this.claim(max, now);
      if (got.length > 0 || now >= deadline) return got;
      const untilDue = dueAt === undefined ? POLL_MS : Math.max(1, dueAt - now);
      await this.shared.signal.wait(Math.min(deadline - now, POLL_MS, untilDue));
    }
  }

  /** What can be claimed now, and when the first delivery not yet due will be. */
  private claim(max: number, now: number): { got: Delivery[]; dueAt?: number } {
    const { store, claims } = this.shared;
    const room = Math.min(max, Math.max(1, this.opts.maxInFlight) - claims.size);
    if (room <= 0) return { got: [] };
    if (this.opts.maxInFlight <= 1) {
      // In order: the oldest owed delivery, due or not, is the only one that may go (none is claimed: room was 1).
      const [head] = store.due(this.sink, Number.MAX_SAFE_INTEGER, 1);
      if (head === undefined) return { got: [] };
      if (head.nextAttemptAt > now) return { got: [], dueAt: head.nextAttemptAt };
      return { got: [this.take(head)] };
    }
    const rows = store.due(this.sink, now, room + claims.size).filter((r) => !claims.has(r.seq));
    if (rows.length === 0) return { got: [], dueAt: store.nextDue(this.sink, now) };
    return { got: rows.slice(0, room).map((r) => this.take(r)) };
  }

  private take(r: DeliveryRecord): Delivery {
    this.shared.claims.set(r.seq, this);
    // lastError: the SQLite store keeps the last failure on the record (not part of Delivery, read where present).
    return {
      seq: r.seq,
      id: r.id,
      type: r.type,
      body: r.body,
      attempts: r.attempts,
      ...(r.lastError !== undefined && { lastError: r.lastError }),
    };
  }

  /** Delivered: marked even when this queue no longer holds the claim (it was delivered; a redelivery would repeat it). */
  async ack(d: Delivery): Promise<void> {
    this.shared.store.delivered(this.sink, [d.seq]);
    this.settled(d);
  }

  /** A claim this queue no longer holds (released by close) is left to whoever holds it now. */
  async retry(d: Delivery, delayMs: number, error: string): Promise<void> {
    if (!this.holds(d)) return;
    this.shared.store.failed(this.sink, d.seq, { nextAttemptAt: Date.now() + Math.max(0, delayMs), error });
    this.settled(d);
  }

  async dead(d: Delivery, error: string): Promise<void> {
    if (!this.holds(d)) return;
    this.shared.store.dead(this.sink, d.seq, error);
    this.settled(d);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [seq, holder] of this.shared.claims) if (holder === this) this.shared.claims.delete(seq);
    this.shared.signal.notify();
  }

  private holds(d: Delivery): boolean {
    return this.shared.claims.get(d.seq) === this;
  }

  private settled(d: Delivery): void {
    if (this.holds(d)) this.shared.claims.delete(d.seq);
    this.shared.signal.notify();
  }
}
