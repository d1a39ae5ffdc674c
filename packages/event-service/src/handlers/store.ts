// The durable event store: every accepted event and, per handler sink that wants it, a delivery record, written
// and fsynced before the intake acknowledges. Delivery and the feed read from here; what to deliver where is theirs.
//
// Library: SQLite through better-sqlite3. It is synchronous (a commit returns when the data is on disk, so "ack
// after commit" is a plain statement order), transactions batch many events into one fsync, WAL lets readers run
// beside the writer, and the feed's queries (by type, producer, time, cursor) are SQL indexes rather than
// hand-kept key layouts as LMDB would need. It compiles from source with node-gyp here (about a minute, once per
// fresh install; see root package.json pnpm.onlyBuiltDependencies). The interface it implements is event-store.ts's.
import Database from 'better-sqlite3';
import { EventStoreError, checkSameFile, checkStorePath, identityOf, storeError, type FileIdentity } from './store-file.js';
import type { AppendResult, DeliveryRecord, DeliveryState, EventStore, FeedFilter, NewEvent, StoredEvent } from './event-store.js';
import { migrate, prepareStatements, SCHEMA, type DeliveryRow, type FeedRow, type Statements } from './store-schema.js';
import { newHeldCounter, recount, UNCOUNTED_SLOT } from './held-counter.js';

// Code 1 (delivered) is no longer stored: a delivered delivery's row is deleted (SCHEMA).
const STATE_NAME: DeliveryState[] = ['pending', 'delivered', 'dead'];

export interface SqliteStoreOptions {
  /**
   * `FULL` (default) fsyncs the WAL at every commit: an acknowledged event survives power loss. `NORMAL` survives a
   * process kill (the WAL is written before commit returns) but not power loss.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /**
   * The held count shared with the other connections of this process to the same file (held-counter.ts). Releases
   * change it inside their write transaction, appends right after their commit. Given: adopted as it is; absent: a
   * new one, counted from the file.
   */
  heldCounter?: Int32Array;
  /**
   * The store writer's thread: appends add to UNCOUNTED_SLOT inside their transaction, not to the count, and say what
   * they added (lastAppendedHeld); the main thread counts it as it takes the answer (held-counter.ts).
   */
  deferAppendedHeld?: boolean;
  /** PRAGMA wal_autocheckpoint: the WAL pages after which a commit checkpoints. Default WAL_AUTOCHECKPOINT_PAGES. */
  autocheckpointPages?: number;
  /** PRAGMA journal_size_limit: the -wal file is truncated to this when it is reset. Default WAL_LIMIT_BYTES. */
  walLimitBytes?: number;
  /**
   * Create the file (and its directory) when missing; default true. The service's other threads open what its main
   * thread created, never a new store: a file removed under them is an error, not a fresh start.
   */
  create?: boolean;
  /** The setting that names the file, in errors (store-file.ts); default `store.path`. */
  key?: string;
}

/**
 * Routine checkpoints run on a thread of their own in the service (store-checkpointer.ts, PASSIVE, every 100 ms),
 * not inside a commit: each connection checkpoints itself only once the WAL holds this many pages (~40 MiB) since
 * its last reset, SQLite's default being 1,000. Under a sustained intake a PASSIVE checkpoint rarely finds every
 * frame copied at the moment a commit starts, which is what lets the WAL start over, so it is this bound that keeps
 * the -wal file from growing (41-45 MB through 15-20 s of 40-67k events/s on this machine). Past WAL_LIMIT_BYTES
 * the file is truncated when it starts over.
 */
const WAL_AUTOCHECKPOINT_PAGES = 10_000;
const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/** Retention deletes at most this many events per transaction. */
const PRUNE_BATCH = 2000;

/** How long a write waits for another connection's (the sink worker's, or the intake's fsynced commit) lock. */
const BUSY_TIMEOUT_MS = 5000;

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

/** Another connection holds the lock (SQLITE_BUSY and its extended codes, SQLITE_LOCKED). */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** SQLite's message with its code: what a refused event's requester is told. */
function sqliteMessage(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  return typeof e.code === 'string' ? `${message} (${e.code})` : message;
}

/** The SQLite implementation. `path` may be `:memory:` (tests; nothing durable). */
export class SqliteEventStore implements EventStore {
  private readonly db: Database.Database;
  private readonly full: boolean;
  /** Slot 0: the held count (SqliteStoreOptions.heldCounter). */
  readonly heldCounter: Int32Array;
  /** What the latest append added to the held count, or would have (SqliteStoreOptions.deferAppendedHeld). */
  lastAppendedHeld = 0;
  private readonly deferAppendedHeld: boolean;
  /** Opening brought a store of the earlier layout to this one (migrate()). */
  readonly migrated: boolean;
  private readonly stmts: Statements;

  /** The file opened (not for `:memory:`), to tell whether the path still names it (verifyFile). */
  private readonly identity: FileIdentity | undefined;
  private readonly key: string | undefined;

  constructor(
    readonly file: string,
    opts: SqliteStoreOptions = {},
  ) {
    this.key = opts.key;
    const create = opts.create ?? true;
    if (file !== ':memory:') checkStorePath(file, { create, ...(opts.key !== undefined && { key: opts.key }) });
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { fileMustExist: !create });
      this.db = db;
      // The first statement is where SQLite reads the file (SQLITE_NOTADB for one that is not a database).
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.full = (opts.synchronous ?? 'FULL') === 'FULL';
      this.db.pragma('foreign_keys = ON');
      // Another connection (the sink worker) may hold the write lock: wait for it rather than fail with SQLITE_BUSY.
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.db.pragma(`wal_autocheckpoint = ${opts.autocheckpointPages ?? WAL_AUTOCHECKPOINT_PAGES}`);
      this.db.pragma(`journal_size_limit = ${opts.walLimitBytes ?? WAL_LIMIT_BYTES}`);
      this.migrated = migrate(this.db);
      this.db.exec(SCHEMA);
      this.stmts = prepareStatements(db);
      this.identity = file === ':memory:' ? undefined : identityOf(file);
    } catch (err) {
      db?.close();
      // SQLite's "unable to open database file" or "file is not a database" name neither the file nor the setting.
      throw storeError(err, file, { opening: true, ...(opts.key !== undefined && { key: opts.key }) });
    }
    this.heldCounter = opts.heldCounter ?? newHeldCounter();
    this.deferAppendedHeld = opts.deferAppendedHeld ?? false;
    if (opts.heldCounter === undefined) Atomics.store(this.heldCounter, 0, this.stmts.held.get()!.n);
  }

  get held(): number {
    return Atomics.load(this.heldCounter, 0);
  }

  /**
   * A write transaction taking the write lock at once (BEGIN IMMEDIATE): a deferred one that reads first could not
   * upgrade after another connection committed (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not wait out). The
   * held count's changes made inside are undone if it rolls back.
   */
  private write<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const tx = this.db.transaction(fn);
    return (...args: A): R => {
      const before = this.txHeld;
      this.txHeld = 0;
      const uncountedBefore = this.txUncounted;
      this.txUncounted = 0;
      try {
        return tx.immediate(...args);
      } catch (err) {
        Atomics.sub(this.heldCounter, 0, this.txHeld);
        Atomics.sub(this.heldCounter, UNCOUNTED_SLOT, this.txUncounted);
        throw err;
      } finally {
        this.txHeld = before;
        this.txUncounted = uncountedBefore;
      }
    };
  }

  /** The held count's change in the write transaction running now. */
  private txHeld = 0;
  /** What the write transaction running now added to slot 1 (SqliteStoreOptions.deferAppendedHeld). */
  private txUncounted = 0;

  private addHeld(n: number): void {
    this.txHeld += n;
    // Changed before the commit, for the other connections to see at once. A thread killed inside the transaction
    // (the sink worker terminated, the process is not) rolls it back without the undo in write(): the shared count
    // stays off by txHeld until housekeeping's refresh() recounts it from the file.
    Atomics.add(this.heldCounter, 0, n);
  }

  readonly append = (events: readonly NewEvent[]): AppendResult[] => {
    this.verifyFile();
    try {
      return this.appendTx(events, false);
    } catch (err) {
      // The write lock (tryAppend's caller waits it out) and a file that is gone concern the whole group.
      if (isBusy(err) || err instanceof EventStoreError) throw err;
      // One event may be what failed (SQLite's JSON depth limit, met by the feed's json_extract indexes, failed the
      // whole group for one deep event): the group again, each event in a savepoint of its own, so one that fails
      // again is rolled back alone and its neighbours commit. Still one commit and one fsync; only a group that
      // failed pays for the savepoints.
      return this.appendTx(events, true);
    }
  };

  /** One small durable write (the probe table): throws what a commit would meet now. */
  probe(): void {
    this.verifyFile();
    this.write(() => void this.stmts.probe.run(Date.now()))();
  }

  /** Throws ESTORE_GONE when the path no longer names the file this store opened (store-file.ts checkSameFile). */
  verifyFile(): void {
    if (this.identity !== undefined) checkSameFile(this.file, this.identity, this.key);
  }

  private readonly appendTx = (() => {
    let now = 0;
    let held = 0;
    const one = (e: NewEvent): AppendResult => {
      const sinks = [...new Set(e.sinks)];
      // Looked up first: an INSERT that meets the UNIQUE id would still use up a sequence number, and retention
      // relies on sequences without gaps (prune).
      const known = this.stmts.seqOf.get(e.id);
      if (known !== undefined) return { id: e.id, seq: known.seq, duplicate: true };
      const res = this.stmts.insert.run(e.id, e.type, e.body, now);
      const seq = Number(res.lastInsertRowid);
      for (const sink of sinks) this.stmts.addDelivery.run(sink, seq);
      if (sinks.length > 0) {
        this.stmts.addHeld.run(seq, sinks.length);
        held++;
      }
      return { id: e.id, seq, duplicate: false };
    };
    // One transaction (one fsync) for the whole batch: the intake's group commit. `isolate`: each event in a
    // savepoint (better-sqlite3 nests a transaction function called inside another as SAVEPOINT ... RELEASE).
    const tx = (events: readonly NewEvent[], isolate: boolean): AppendResult[] => {
      now = Date.now();
      held = 0;
      const out: AppendResult[] = [];
      for (const e of events) {
        if (!isolate) {
          out.push(one(e));
          continue;
        }
        const heldBefore = held;
        try {
          out.push((alone ??= this.db.transaction(one))(e));
        } catch (err) {
          // SQLite rolled the whole transaction back itself (a full disk, an I/O error): nothing is left to commit.
          if (!this.db.inTransaction) throw err;
          held = heldBefore;
          out.push({ id: e.id, seq: 0, duplicate: false, error: sqliteMessage(err) });
        }
      }
      appendedHeld = held;
      if (this.deferAppendedHeld) {
        // Inside the transaction: a refresh() (under the write lock) sees either neither the group nor this, or both.
        this.txUncounted += held;
        Atomics.add(this.heldCounter, UNCOUNTED_SLOT, held);
      }
      return out;
    };
    let alone: ((e: NewEvent) => AppendResult) | undefined;
    let appendedHeld = 0;
    // Built on first use: field initialisers run before the constructor opens the database.
    let run: ((events: readonly NewEvent[], isolate: boolean) => AppendResult[]) | undefined;
    return (events: readonly NewEvent[], isolate: boolean) => {
      const out = (run ??= this.write(tx))(events, isolate);
      // Counted once committed, not inside the transaction as releases are: until its answer reaches the intake,
      // the group also counts there as in flight (intake.ts held), and counting it before the fsync too refused
      // events a whole group short of event_limit.
      this.lastAppendedHeld = appendedHeld;
      if (!this.deferAppendedHeld) Atomics.add(this.heldCounter, 0, appendedHeld);
      return out;
    };
  })();

  get(id: string): StoredEvent | undefined {
    const r = this.stmts.get.get(id);
    return r === undefined ? undefined : { seq: r.seq, id: r.id, type: r.type, body: r.body, storedAt: r.stored_at };
  }

  due(sink: string, now: number, limit: number, afterSeq = 0): DeliveryRecord[] {
    return this.stmts.due.all(sink, now, afterSeq, limit).map(toRecord);
  }

  nextDue(sink: string, afterMs = Number.MIN_SAFE_INTEGER): number | undefined {
    return this.stmts.nextDue.get(sink, afterMs)?.next ?? undefined;
  }

  delivered(sink: string, seqs: readonly number[]): number {
    // Without its own fsync: a delivered mark lost to a power cut only means a redelivery (at least once, same
    // webhook-id), and the next acknowledged append's fsync covers it anyway (WAL frames are written in order).
    // One fsync per mark was most of the cost of unbatched delivery (about 240 µs of the service's loop each);
    // the sinks also group their marks, several per call (sinks/marks.ts MARK_WINDOW_MS).
    if (!this.full) return this.markDelivered(sink, seqs);
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.markDelivered(sink, seqs);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  tryDelivered(sink: string, seqs: readonly number[]): number | undefined {
    return this.unlessLocked(() => this.delivered(sink, seqs));
  }

  /** As append(), but when another connection holds the write lock it returns undefined at once, writing nothing. */
  tryAppend(events: readonly NewEvent[]): AppendResult[] | undefined {
    return this.unlessLocked(() => this.append(events));
  }

  private unlessLocked<R>(fn: () => R): R | undefined {
    this.db.pragma('busy_timeout = 0');
    try {
      return fn();
    } catch (err) {
      if ((err as { code?: unknown }).code === 'SQLITE_BUSY') return undefined;
      throw err;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  private markDelivered(sink: string, seqs: readonly number[]): number {
    return this.write(() => {
      let n = 0;
      for (const seq of seqs) {
        const r = this.stmts.markDelivered.run(sink, seq);
        if (r.changes > 0) {
          n++;
          this.release(seq);
        }
      }
      return n;
    })();
  }

  failed(sink: string, seq: number, opts: { nextAttemptAt: number; error: string }): void {
    this.stmts.failed.run(opts.nextAttemptAt, opts.error, sink, seq);
  }

  dead(sink: string, seq: number, error: string): void {
    this.write(() => {
      if (this.stmts.markDead.run(error, sink, seq).changes > 0) this.release(seq);
    })();
  }

  deadLetters(opts: { sink?: string; after?: number; limit?: number } = {}): DeliveryRecord[] {
    const sink = opts.sink ?? null;
    return this.stmts.deadLetters.all(sink, sink, opts.after ?? 0, opts.limit ?? 100).map(toRecord);
  }

  replay(sink: string, seqs?: readonly number[]): number {
    return this.write(() => {
      const now = Date.now();
      const wanted = seqs ?? this.stmts.deadSeqs.all(sink).map((r) => r.seq);
      let n = 0;
      for (const seq of wanted) {
        if (this.stmts.revive.run(now, sink, seq).changes > 0) {
          n++;
          if (this.stmts.hold.get(seq)!.pending === 1) this.addHeld(1);
        }
      }
      return n;
    })();
  }

  sinkCounts(sink: string): { pending: number; dead: number } {
    return { pending: this.stmts.pendingCount.get(sink)!.n, dead: this.stmts.deadCount.get(sink)!.n };
  }

  count(): number {
    return this.stmts.count.get()!.n;
  }

  private readonly feedStmts = new Map<string, Database.Statement<unknown[], FeedRow>>();

  feed(q: FeedFilter & { cursor?: number; limit: number }): StoredEvent[] {
    // One prepared statement per combination of filters present (at most 128), so each uses its index.
    const where = ['seq > ?'];
    const args: unknown[] = [q.cursor ?? 0];
    if (q.type !== undefined) where.push('type = ?'), args.push(q.type);
    if (q.producer !== undefined) where.push("json_extract(body, '$.producer.id') = ?"), args.push(q.producer);
    if (q.actor !== undefined) where.push("json_extract(body, '$.actor.id') = ?"), args.push(q.actor);
    if (q.authid !== undefined) where.push("json_extract(body, '$.authid') = ?"), args.push(q.authid);
    if (q.authtype !== undefined) where.push("json_extract(body, '$.authtype') = ?"), args.push(q.authtype);
    if (q.since !== undefined) where.push('stored_at >= ?'), args.push(q.since);
    if (q.until !== undefined) where.push('stored_at < ?'), args.push(q.until);
    const sql = `SELECT seq, id, type, body, stored_at FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    let stmt = this.feedStmts.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare<unknown[], FeedRow>(sql);
      this.feedStmts.set(sql, stmt);
    }
    return stmt.all(...args, q.limit).map((r) => ({ seq: r.seq, id: r.id, type: r.type, body: r.body, storedAt: r.stored_at }));
  }

  refresh(): void {
    // Under the write lock: no other connection's change to the count is half done (made, not yet committed).
    this.write(() => recount(this.heldCounter, this.stmts.held.get()!.n))();
  }

  lastSeq(): number {
    return this.stmts.lastSeq.get()?.seq ?? 0;
  }

  prune(opts: { maxEvents: number; olderThan: number }): number {
    // The candidates are read outside the write lock (in WAL a reader does not hold up the writers), and a pass
    // that finds none takes no lock at all.
    // Sequences are consecutive (AUTOINCREMENT; a duplicate or a rolled-back commit takes none) and retention only
    // deletes from the old end, so the newest maxEvents are those above lastSeq - maxEvents: no count, no walk.
    const countCut = Math.max(0, this.lastSeq() - opts.maxEvents);
    // An event deleted here has no delivery rows (none pending: not held; none dead: checked; delivered ones are
    // deleted when delivered), so the foreign key from deliveries has nothing to find; enforcing it would scan the
    // deliveries table once per event (no index on seq alone: each would cost every delivery insert and delete).
    this.db.pragma('foreign_keys = OFF');
    try {
      return this.pruneBatches(countCut, opts.olderThan);
    } finally {
      this.db.pragma('foreign_keys = ON');
    }
  }

  private pruneBatches(countCut: number, olderThan: number): number {
    let total = 0;
    for (;;) {
      const byCount = countCut > 0 ? this.stmts.pruneByCount.all(countCut, PRUNE_BATCH) : [];
      const byAge = this.stmts.pruneByAge.all(olderThan, PRUNE_BATCH);
      const seqs = [...new Set([...byCount, ...byAge].map((r) => r.seq))];
      if (seqs.length === 0) return total;
      // Batches keep each transaction (and the commits waiting behind it) short.
      const deleted = this.write(() => {
        let n = 0;
        for (const seq of seqs) n += this.stmts.deleteEvent.run({ seq }).changes;
        return n;
      })();
      total += deleted;
      // Nothing deleted: what was read is no longer prunable, and reading again would find the same.
      if (deleted === 0 || (byCount.length < PRUNE_BATCH && byAge.length < PRUNE_BATCH)) return total;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** One of the event's deliveries is no longer pending; the event stops being held with its last. */
  private release(seq: number): void {
    const r = this.stmts.release.get(seq);
    if (r !== undefined && r.pending <= 0) {
      this.stmts.unhold.run(seq);
      this.addHeld(-1);
    }
  }
}
