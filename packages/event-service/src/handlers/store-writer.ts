// The intake's commits, on a worker thread of their own (store-writer-worker.ts) with their own SQLite connection
// to the store's file. A commit inserts each event with its indexes and waits for an fsync; on the main thread
// that time was lost to every client of the broker, and in the sink worker to every delivery. Here the main thread
// parses the next group while one is written, and the sinks deliver beside it on the other core.
// The thread commits one group at a time, in the order sent, and answers in that order: the store's sequence follows
// arrival order although the intake sends a second group before the first is answered (sqlite-backend.ts commitDepth).
import { Worker } from 'node:worker_threads';
import type { Logger } from '@event-broker/shared';
import { EventStoreErrorCode } from '../error-codes.js';
import { EventStoreError, storeCodeOf } from './store-file.js';
import type { AppendResult, NewEvent } from './event-store.js';
import { countAllCommitted, countCommitted } from './held-counter.js';
import { packEvents, unpackResults, type PackedEvents, type PackedResults } from './store-writer-wire.js';

/** What the worker is started with (workerData). */
export interface StoreWriterData {
  file: string;
  /** The store's held count, shared (store.ts SqliteStoreOptions.heldCounter). */
  heldCounter: Int32Array;
}

export type ToWriter = { t: 'append'; id: number; events: PackedEvents } | { t: 'probe'; id: number } | { t: 'close' };
export type FromWriter =
  | { t: 'appended'; id: number; results: PackedResults; held: number }
  | { t: 'failed'; id: number; code: EventStoreErrorCode; reason: string; key: string; summary: string };

export class StoreWriter {
  private worker: Worker | undefined;
  /** store-checkpointer.ts, started with the first writer. */
  private checkpointer: Worker | undefined;
  /** A commit or probe refused: EventStoreError, as the writer's thread met it (store-file.ts). */
  private readonly waiting = new Map<
    number,
    {
      /** What was sent (its ids name the results). */
      events: readonly NewEvent[];
      resolve: (r: AppendResult[]) => void;
      reject: (e: EventStoreError) => void;
    }
  >();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly data: StoreWriterData,
    private readonly logger: Logger,
  ) {}

  /** Commits the events (one transaction, one fsync); resolves once they are durable. */
  append(events: readonly NewEvent[]): Promise<AppendResult[]> {
    return this.send((id) => ({ t: 'append', id, events: packEvents(events) }), events);
  }

  /** One small durable write where the commits go (store.ts probe): resolves when it committed. */
  async probe(): Promise<void> {
    await this.send((id) => ({ t: 'probe', id }));
  }

  private send(msg: (id: number) => ToWriter, events: readonly NewEvent[] = []): Promise<AppendResult[]> {
    if (this.closed) return Promise.reject(new Error('event store closed'));
    const id = this.nextId++;
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.waiting.set(id, { events, resolve, reject });
      const worker = this.start();
      // Kept alive while a commit is owed an answer; idle, it must not keep the process alive.
      worker.ref();
      worker.postMessage(msg(id));
    });
  }

  /** Ends the worker and its connection once the commits sent before are answered (callers stop sending first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopCheckpointer();
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref(); // until it has closed its connection
    worker.postMessage({ t: 'close' } satisfies ToWriter);
    await exited;
  }

  /** Ends the worker as a crash would, for tests: a commit in flight is refused. */
  terminateWorker(): Promise<number> {
    return this.worker?.terminate() ?? Promise.resolve(0);
  }

  private startCheckpointer(): void {
    if (this.checkpointer !== undefined) return;
    const checkpointer = new Worker(new URL('./store-checkpointer.js', import.meta.url), {
      workerData: { file: this.data.file },
    });
    checkpointer.unref();
    this.checkpointer = checkpointer;
    checkpointer.on('error', (err) =>
      this.logger.warn({ err: err.message }, 'event store checkpointer failed: the writer checkpoints'),
    );
    checkpointer.on('exit', () => {
      if (this.checkpointer === checkpointer) this.checkpointer = undefined;
    });
  }

  private stopCheckpointer(): void {
    this.checkpointer?.postMessage('close');
    this.checkpointer = undefined;
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    this.startCheckpointer();
    const worker = new Worker(new URL('./store-writer-worker.js', import.meta.url), { workerData: this.data });
    this.worker = worker;
    /** What ended the thread, when it threw (a store it could not open: store-file.ts names the file). */
    let failure: Error | undefined;
    worker.on('message', (m: FromWriter) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) worker.unref();
      if (m.t === 'appended') {
        // Counted in the same turn the intake stops counting the group as in flight (its commit's settlement runs
        // in this turn's microtasks): no read of the held count in between sees the group twice.
        countCommitted(this.data.heldCounter, m.held);
        w?.resolve(unpackResults(w.events, m.results));
      } else w?.reject(new EventStoreError(m.code, this.data.file, m.reason, { key: m.key, summary: m.summary }));
    });
    worker.on('error', (err) => {
      failure = err;
      this.logger.error({ err: err.message }, 'event store writer failed');
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      // A commit in flight may or may not have reached the disk: its requests hear a failure, and a retry with the
      // same id is answered as a duplicate if it had (the id is the idempotency key). The thread's own failure keeps
      // its code (a store it could not open); any other exit is a commit that failed.
      // An EventStoreError's reason and code survive the thread's end (own properties of the error): the reason
      // is its message without the setting and file that the error made here adds again.
      const kept = failure as (Error & { reason?: unknown; summary?: unknown }) | undefined;
      const detail = typeof kept?.reason === 'string' ? kept.reason : kept?.message;
      const reason = `event store writer exited (code ${code})${detail === undefined ? '' : `: ${detail}`}`;
      // What /healthz may show: the thread's own summary when it had one, never the message of whatever it threw.
      const summary = `event store writer exited (code ${code})${typeof kept?.summary === 'string' ? `: ${kept.summary}` : ''}`;
      const error = new EventStoreError(
        storeCodeOf(failure) ?? EventStoreErrorCode.ESTORE_WRITE,
        this.data.file,
        reason,
        { summary },
      );
      // Groups it committed whose answers will never come: counted now (none can be added to slot 1 any more).
      countAllCommitted(this.data.heldCounter);
      for (const w of this.waiting.values()) w.reject(error);
      this.waiting.clear();
      if (!this.closed) this.logger.error({ code }, 'event store writer exited: started again with the next commit');
    });
    return worker;
  }
}
