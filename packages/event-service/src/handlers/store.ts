// The durable event store: every accepted event and, per handler sink that wants it, a delivery record, written
// and fsynced before the intake acknowledges. Delivery and the feed read from here; what to deliver where is theirs.
//
// Library: SQLite through better-sqlite3. It is synchronous (a commit returns when the data is on disk, so "ack
// after commit" is a plain statement order), transactions batch many events into one fsync, WAL lets readers run
// beside the writer, and the feed's queries (by type, producer, time, cursor) are SQL indexes rather than
// hand-kept key layouts as LMDB would need. It compiles from source with node-gyp here (about a minute, once per
// fresh install; see root package.json pnpm.onlyBuiltDependencies). The interface it implements is event-store.ts's.
//
// This module opens the connection and commits the intake's events; the rest is its parts': the delivery records
// (store-deliveries.ts), the feed's query (store-feed.ts), retention (store-retention.ts, run by
// store-housekeeping.ts), the held count (held-counter.ts), the layout and statements (store-schema.ts).
import Database from 'better-sqlite3';
import {
  EventStoreError,
  checkSameFile,
  checkStorePath,
  identityOf,
  storeError,
  type FileIdentity,
} from './store-file.js';
import type { AppendResult, DeliveryRecord, EventStore, FeedRead, NewEvent, StoredEvent } from './event-store.js';
import { HeldLedger, newHeldCounter, recount } from './held-counter.js';
import { DeliveryRecords } from './store-deliveries.js';
import { FeedQueries } from './store-feed.js';
import { prune } from './store-retention.js';
import { addonOption } from './sqlite-addon.js';
import { GroupRows } from './store-rows.js';
import {
  markLayout,
  migrate,
  prepareStatements,
  SCHEMA,
  type StoreConnection,
  type Statements,
} from './store-schema.js';

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

/** How long a write waits for another connection's (the sink worker's, or the intake's fsynced commit) lock. */
const BUSY_TIMEOUT_MS = 5000;

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
  /** Slot 0: the held count (SqliteStoreOptions.heldCounter). */
  readonly heldCounter: Int32Array;
  private readonly ledger: HeldLedger;
  /** What the latest append added to the held count, or would have (SqliteStoreOptions.deferAppendedHeld). */
  lastAppendedHeld = 0;
  private readonly deferAppendedHeld: boolean;
  /** Opening brought a store of the earlier layout to this one (migrate()). */
  readonly migrated: boolean;
  private readonly stmts: Statements;
  /** This connection as the store's parts use it. */
  private readonly conn: StoreConnection;
  private readonly deliveries: DeliveryRecords;
  private readonly feedQueries: FeedQueries;

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
      db = new Database(file, { fileMustExist: !create, ...addonOption() });
      this.db = db;
      // The first statement is where SQLite reads the file (SQLITE_NOTADB for one that is not a database).
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
      this.db.pragma('foreign_keys = ON');
      // Another connection (the sink worker) may hold the write lock: wait for it rather than fail with SQLITE_BUSY.
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      this.db.pragma(`wal_autocheckpoint = ${opts.autocheckpointPages ?? WAL_AUTOCHECKPOINT_PAGES}`);
      this.db.pragma(`journal_size_limit = ${opts.walLimitBytes ?? WAL_LIMIT_BYTES}`);
      this.migrated = migrate(this.db);
      this.db.exec(SCHEMA);
      markLayout(this.db);
      this.stmts = prepareStatements(db);
      this.identity = file === ':memory:' ? undefined : identityOf(file);
    } catch (err) {
      db?.close();
      // SQLite's "unable to open database file" or "file is not a database" name neither the file nor the setting.
      throw storeError(err, file, { opening: true, ...(opts.key !== undefined && { key: opts.key }) });
    }
    this.heldCounter = opts.heldCounter ?? newHeldCounter();
    this.ledger = new HeldLedger(this.heldCounter);
    this.deferAppendedHeld = opts.deferAppendedHeld ?? false;
    if (opts.heldCounter === undefined) Atomics.store(this.heldCounter, 0, this.stmts.held.get()!.n);
    this.conn = { db: this.db, stmts: this.stmts, write: (fn) => this.write(fn)() };
    this.deliveries = new DeliveryRecords(this.conn, {
      held: this.ledger,
      full: (opts.synchronous ?? 'FULL') === 'FULL',
    });
    this.feedQueries = new FeedQueries(this.db);
  }

  get held(): number {
    return this.ledger.held;
  }

  /**
   * A write transaction taking the write lock at once (BEGIN IMMEDIATE): a deferred one that reads first could not
   * upgrade after another connection committed (SQLITE_BUSY_SNAPSHOT, which busy_timeout does not wait out). The
   * held count's changes made inside are undone if it rolls back.
   */
  private write<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
    const tx = this.db.transaction(fn);
    return (...args: A): R => this.ledger.transaction(() => tx.immediate(...args));
  }

  readonly append = (events: readonly NewEvent[]): AppendResult[] => {
    this.verifyFile();
    try {
      return this.appendTx(events, false);
    } catch (err) {
      // The write lock (tryAppend's caller waits it out) and a file that is gone concern the whole group.
      if (isBusy(err) || err instanceof EventStoreError) throw err;
      // One event may be what failed (SQLite's JSON depth limit, met where it reads an event's filter columns from
      // its body, failed the whole group for one deep event): the group again, each event in a savepoint of its own, so one that fails
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
      // relies on sequences without gaps (store-retention.ts).
      const known = this.stmts.seqOf.get(e.id);
      if (known !== undefined) return { id: e.id, seq: known.seq, duplicate: true };
      const c = e.columns;
      const res =
        c === undefined
          ? this.stmts.insertReading.run({ id: e.id, type: e.type, body: e.body, at: now })
          : this.stmts.insert.run(e.id, e.type, e.body, now, c.producer, c.actor, c.authid, c.authtype);
      const seq = Number(res.lastInsertRowid);
      if (sinks.length === 0) return { id: e.id, seq, duplicate: false };
      held++;
      if (gather !== undefined) gather.add(seq, sinks);
      else {
        for (const sink of sinks) this.stmts.addDelivery.run(sink, seq);
        this.stmts.addHeld.run(seq, sinks.length);
      }
      return { id: e.id, seq, duplicate: false };
    };
    // One transaction (one fsync) for the whole batch: the intake's group commit. `isolate`: each event in a
    // savepoint (better-sqlite3 nests a transaction function called inside another as SAVEPOINT ... RELEASE).
    const tx = (events: readonly NewEvent[], isolate: boolean): AppendResult[] => {
      now = Date.now();
      held = 0;
      // A group that commits whole writes its deliveries and held rows together, after its events (store-rows.ts).
      rows ??= new GroupRows(this.db, this.stmts);
      rows.clear();
      gather = isolate ? undefined : rows;
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
      gather?.write();
      appendedHeld = held;
      // Inside the transaction: a refresh() (under the write lock) sees either neither the group nor this, or both.
      if (this.deferAppendedHeld) this.ledger.addUncounted(held);
      return out;
    };
    let alone: ((e: NewEvent) => AppendResult) | undefined;
    let rows: GroupRows | undefined;
    /** rows while the group commits whole; undefined while each event has a savepoint of its own. */
    let gather: GroupRows | undefined;
    let appendedHeld = 0;
    // Built on first use: field initialisers run before the constructor opens the database.
    let run: ((events: readonly NewEvent[], isolate: boolean) => AppendResult[]) | undefined;
    return (events: readonly NewEvent[], isolate: boolean) => {
      const out = (run ??= this.write(tx))(events, isolate);
      // Counted once committed, not inside the transaction as releases are: until its answer reaches the intake,
      // the group also counts there as in flight (intake.ts held), and counting it before the fsync too refused
      // events a whole group short of event_limit.
      this.lastAppendedHeld = appendedHeld;
      if (!this.deferAppendedHeld) this.ledger.addCommitted(appendedHeld);
      return out;
    };
  })();

  get(id: string): StoredEvent | undefined {
    const r = this.stmts.get.get(id);
    return r === undefined ? undefined : { seq: r.seq, id: r.id, type: r.type, body: r.body, storedAt: r.stored_at };
  }

  due(sink: string, now: number, limit: number, afterSeq = 0): DeliveryRecord[] {
    return this.deliveries.due(sink, now, limit, afterSeq);
  }

  nextDue(sink: string, afterMs = Number.MIN_SAFE_INTEGER): number | undefined {
    return this.deliveries.nextDue(sink, afterMs);
  }

  delivered(sink: string, seqs: readonly number[]): number {
    return this.deliveries.delivered(sink, seqs);
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

  failed(sink: string, seq: number, opts: { nextAttemptAt: number; error: string }): void {
    this.deliveries.failed(sink, seq, opts);
  }

  dead(sink: string, seq: number, error: string): void {
    this.deliveries.dead(sink, seq, error);
  }

  deadLetters(opts: { sink?: string; after?: number; limit?: number } = {}): DeliveryRecord[] {
    return this.deliveries.deadLetters(opts);
  }

  replay(sink: string, seqs?: readonly number[]): number {
    return this.deliveries.replay(sink, seqs);
  }

  sinkCounts(sink: string): { pending: number; dead: number } {
    return this.deliveries.sinkCounts(sink);
  }

  count(): number {
    return this.stmts.count.get()!.n;
  }

  feed(q: FeedRead): StoredEvent[] {
    return this.feedQueries.query(q);
  }

  refresh(): void {
    // Under the write lock: no other connection's change to the count is half done (made, not yet committed).
    this.write(() => recount(this.heldCounter, this.stmts.held.get()!.n))();
  }

  lastSeq(): number {
    return this.stmts.lastSeq.get()?.seq ?? 0;
  }

  prune(opts: { maxEvents: number; olderThan: number }): number {
    return prune(this.conn, opts);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
