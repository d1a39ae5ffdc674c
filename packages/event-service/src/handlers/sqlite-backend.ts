// The EventBackend (event-backend.ts) of one machine: the SQLite store (store.ts) the service has always had. Appends
// go to the store writer's thread (store-writer.ts: commits in turn, an fsync each, the held count taken as the
// answer arrives), or, for `:memory:` (one connection's alone), to the store on this thread. Reads are the store's,
// answered as promises. Sink queues (sqlite-sink-queue.ts) are the contract's; the service's own sinks keep reading
// the file from their worker thread (sink-pool.ts), so nothing the service measured moves.
import type { Logger } from '@event-broker/shared';
import type {
  AppendResult,
  DeliveryRecord,
  EventBackend,
  FeedRead,
  FeedResult,
  NewEvent,
  SinkQueue,
  SinkQueueOptions,
  StoredEvent,
} from './event-backend.js';
import { ChangeSignal, SqliteSinkQueue } from './sqlite-sink-queue.js';
import type { SqliteEventStore } from './store.js';
import { StoreWriter } from './store-writer.js';

export class SqliteBackend implements EventBackend {
  readonly kind = 'sqlite' as const;
  /** The intake's commits' thread, started with the first commit (none for `:memory:`). */
  private writer: StoreWriter | undefined;
  /** Per sink, the claims of its queues. */
  private readonly claims = new Map<string, Map<number, SqliteSinkQueue>>();
  private readonly signal = new ChangeSignal();
  private closed = false;

  constructor(
    /** Opened by the caller (lifecycle.ts: where an unusable file stops the start); closed with the backend. */
    readonly store: SqliteEventStore,
    private readonly logger: Logger,
  ) {}

  get held(): number {
    return this.store.held;
  }

  /**
   * Two groups at once on the writer's thread: it commits the next while this thread answers the last, where it
   * used to wait for this thread's replies and packing between commits. Its answers come in the order sent.
   */
  get commitDepth(): number {
    return this.store.file === ':memory:' ? 1 : 2;
  }

  /** Committed on the writer's thread (a file) or here (`:memory:`); resolves once durable. */
  append(events: readonly NewEvent[]): Promise<AppendResult[]> {
    let done: Promise<AppendResult[]>;
    if (this.store.file === ':memory:') {
      try {
        done = Promise.resolve(this.store.append(events));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    } else done = this.storeWriter().append(events);
    // Not awaited before answering: the intake takes the answer in the turn the held count takes the group.
    done.then(
      () => this.signal.notify(),
      () => {},
    );
    return done;
  }

  /** One small durable write where appends go (store.ts probe): resolves when it committed. */
  probe(): Promise<void> {
    if (this.store.file !== ':memory:') return this.storeWriter().probe();
    try {
      this.store.probe();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private storeWriter(): StoreWriter {
    this.writer ??= new StoreWriter({ file: this.store.file, heldCounter: this.store.heldCounter }, this.logger);
    return this.writer;
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    return this.store.get(id);
  }

  /** Exact: the query reads to the end through its indexes, so it never stops short (no `scannedTo`). */
  async feed(q: FeedRead): Promise<FeedResult> {
    return { events: this.store.feed(q) };
  }

  async lastSeq(): Promise<number> {
    return this.store.lastSeq();
  }

  /** Recounted from the file (another process's replay: the dead-letter CLI). */
  async refreshHeld(): Promise<number> {
    this.store.refresh();
    return this.store.held;
  }

  sinkQueue(sink: string, opts: SinkQueueOptions): SinkQueue {
    let claims = this.claims.get(sink);
    if (claims === undefined) this.claims.set(sink, (claims = new Map()));
    return new SqliteSinkQueue(sink, opts, {
      store: this.store,
      claims,
      signal: this.signal,
      closed: () => this.closed,
    });
  }

  async deadLetters(opts?: { sink?: string; after?: number; limit?: number }): Promise<DeliveryRecord[]> {
    return this.store.deadLetters(opts);
  }

  /** By id, as the dead-letter API names them: ids the store does not know replay nothing. */
  async replay(sink: string, ids?: readonly string[]): Promise<number> {
    const seqs = ids?.map((id) => this.store.get(id)?.seq).filter((s): s is number => s !== undefined);
    const n = this.store.replay(sink, seqs);
    if (n > 0) this.signal.notify();
    return n;
  }

  async sinkCounts(sink: string): Promise<{ pending: number; dead: number }> {
    return this.store.sinkCounts(sink);
  }

  /** Once the commits sent are answered: the writer's thread, then the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.signal.notify();
    await this.writer?.close();
    this.store.close();
  }
}
