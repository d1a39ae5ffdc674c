// A sink's delivery records in the store (store.ts): what is due, delivered marks, failed attempts, dead letters
// and their replay, and the held count each change releases or holds again. When to deliver is the sinks'
// (sinks/http.ts); the intake writes the records with the events (store.ts append).
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { DeliveryRecord, DeliveryState } from './event-store.js';
import type { HeldLedger } from './held-counter.js';
import type { DeliveryRow, StoreConnection } from './store-schema.js';

// Code 1 (delivered) is no longer stored: a delivered delivery's row is deleted (SCHEMA).
const STATE_NAME: DeliveryState[] = ['pending', 'delivered', 'dead'];

function toRecord(r: DeliveryRow): DeliveryRecord {
  return {
    sink: r.sink,
    seq: r.seq,
    id: r.id,
    type: r.type,
    body: r.body,
    state: STATE_NAME[r.state]!,
    attempts: r.attempts,
    nextAttemptAt: r.next_at,
    ...(r.last_error !== null && { lastError: r.last_error }),
  };
}

/**
 * Marks for a set of sequences, each statement once per mark rather than once per sequence (the sequences as a JSON
 * array, json_each): three statements per event made ~15 µs of an in-order sink's ~90 µs of CPU per delivery in the
 * delivery-only micro-bench. Prepared here (the marking side's own), with the connection.
 */
interface MarkStatements {
  /** The pending deliveries among these sequences, deleted: the sequences delivered now. */
  deleteDelivered: Statement<[string, string], { seq: number }>;
  /** One delivery fewer pending for each of these events: their counts left. */
  releaseHeld: Statement<[string], { seq: number; pending: number }>;
  /** These events' held rows whose count reached 0. */
  dropReleased: Statement<[string]>;
}

function markStatements(db: Database.Database): MarkStatements {
  return {
    deleteDelivered: db.prepare(
      'DELETE FROM deliveries WHERE sink = ? AND state = 0 AND seq IN (SELECT value FROM json_each(?)) RETURNING seq',
    ),
    releaseHeld: db.prepare(
      'UPDATE held SET pending = pending - 1 WHERE seq IN (SELECT value FROM json_each(?)) RETURNING seq, pending',
    ),
    dropReleased: db.prepare('DELETE FROM held WHERE seq IN (SELECT value FROM json_each(?)) AND pending <= 0'),
  };
}

export class DeliveryRecords {
  private readonly marks: MarkStatements;

  constructor(
    private readonly conn: StoreConnection,
    private readonly opts: { held: HeldLedger; /** synchronous = FULL: each commit fsyncs. */ full: boolean },
  ) {
    this.marks = markStatements(conn.db);
  }

  due(sink: string, now: number, limit: number, afterSeq: number): DeliveryRecord[] {
    return this.conn.stmts.due.all(sink, now, afterSeq, limit).map(toRecord);
  }

  nextDue(sink: string, afterMs: number): number | undefined {
    return this.conn.stmts.nextDue.get(sink, afterMs)?.next ?? undefined;
  }

  delivered(sink: string, seqs: readonly number[]): number {
    // Without its own fsync: a delivered mark lost to a power cut only means a redelivery (at least once, same
    // webhook-id), and the next acknowledged append's fsync covers it anyway (WAL frames are written in order).
    // One fsync per mark was most of the cost of unbatched delivery (about 240 µs of the service's loop each);
    // the sinks also group their marks, several per call (sinks/marks.ts MARK_WINDOW_MS).
    if (!this.opts.full) return this.markDelivered(sink, seqs);
    this.conn.db.pragma('synchronous = NORMAL');
    try {
      return this.markDelivered(sink, seqs);
    } finally {
      this.conn.db.pragma('synchronous = FULL');
    }
  }

  private markDelivered(sink: string, seqs: readonly number[]): number {
    if (seqs.length === 0) return 0;
    const list = JSON.stringify(seqs);
    return this.conn.write(() => {
      const done = this.marks.deleteDelivered.all(sink, list);
      if (done.length === 0) return 0;
      // Sequences already delivered or dead-lettered (a replay raced the mark) release nothing.
      const doneList = done.length === seqs.length ? list : JSON.stringify(done.map((r) => r.seq));
      let released = 0;
      for (const r of this.marks.releaseHeld.all(doneList)) if (r.pending <= 0) released++;
      if (released > 0) {
        this.marks.dropReleased.run(doneList);
        this.opts.held.add(-released);
      }
      return done.length;
    });
  }

  failed(sink: string, seq: number, opts: { nextAttemptAt: number; error: string }): void {
    this.conn.stmts.failed.run(opts.nextAttemptAt, opts.error, sink, seq);
  }

  dead(sink: string, seq: number, error: string): void {
    this.conn.write(() => {
      if (this.conn.stmts.markDead.run(error, sink, seq).changes > 0) this.release(seq);
    });
  }

  deadLetters(opts: { sink?: string; after?: number; limit?: number }): DeliveryRecord[] {
    const sink = opts.sink ?? null;
    return this.conn.stmts.deadLetters.all(sink, sink, opts.after ?? 0, opts.limit ?? 100).map(toRecord);
  }

  replay(sink: string, seqs?: readonly number[]): number {
    const { stmts } = this.conn;
    return this.conn.write(() => {
      const now = Date.now();
      const wanted = seqs ?? stmts.deadSeqs.all(sink).map((r) => r.seq);
      let n = 0;
      for (const seq of wanted) {
        if (stmts.revive.run(now, sink, seq).changes > 0) {
          n++;
          if (stmts.holdAgain.get(seq)!.pending === 1) this.opts.held.add(1);
        }
      }
      return n;
    });
  }

  sinkCounts(sink: string): { pending: number; dead: number } {
    return { pending: this.conn.stmts.pendingCount.get(sink)!.n, dead: this.conn.stmts.deadCount.get(sink)!.n };
  }

  /** One of the event's deliveries is no longer pending; the event stops being held with its last. */
  private release(seq: number): void {
    const r = this.conn.stmts.releaseHeld.get(seq);
    if (r !== undefined && r.pending <= 0) {
      this.conn.stmts.dropHeld.run(seq);
      this.opts.held.add(-1);
    }
  }
}
