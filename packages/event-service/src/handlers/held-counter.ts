// The held count (events with a delivery pending: what event_limit bounds), shared by a store's connections on
// several threads: the intake reads it on every event, the sink worker releases inside its transactions, and the
// store writer's commits are counted by the main thread as it takes their answer (store-writer.ts), in the same turn
// the intake stops counting the group as in flight. Slot 1 holds what the writer committed and the main thread has
// not counted yet, so a recount from the file (refresh) counts nothing twice. HeldLedger is one connection's side
// of it: what the store's write transactions change, undone when one rolls back.

/** Slot 0: the held count. */
export const HELD_SLOT = 0;
/** Slot 1: events the writer's thread committed that the main thread has not counted yet. */
export const UNCOUNTED_SLOT = 1;

export function newHeldCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(8));
}

/** The main thread takes a commit's answer: its `n` held events move from slot 1 to the count. */
export function countCommitted(counter: Int32Array, n: number): void {
  Atomics.add(counter, HELD_SLOT, n);
  Atomics.sub(counter, UNCOUNTED_SLOT, n);
}

/** The writer's thread is gone: what it committed without an answer is counted now (nothing can join slot 1). */
export function countAllCommitted(counter: Int32Array): void {
  Atomics.add(counter, HELD_SLOT, Atomics.exchange(counter, UNCOUNTED_SLOT, 0));
}

/** The count recounted from the file (`inFile`, under the write lock): less what is committed and not yet counted. */
export function recount(counter: Int32Array, inFile: number): void {
  Atomics.store(counter, HELD_SLOT, inFile - Atomics.load(counter, UNCOUNTED_SLOT));
}

/**
 * One store connection's changes to the shared count. A write transaction changes it before its commit, for the
 * other connections to see at once, and undoes what it changed if it rolls back (transaction()).
 */
export class HeldLedger {
  /** The count's change in the write transaction running now. */
  private txHeld = 0;
  /** What the write transaction running now added to slot 1 (store.ts SqliteStoreOptions.deferAppendedHeld). */
  private txUncounted = 0;

  constructor(readonly counter: Int32Array) {}

  get held(): number {
    return Atomics.load(this.counter, HELD_SLOT);
  }

  /** Runs `commit` (one write transaction); what it changed in the count is undone if it throws. */
  transaction<R>(commit: () => R): R {
    const before = this.txHeld;
    this.txHeld = 0;
    const uncountedBefore = this.txUncounted;
    this.txUncounted = 0;
    try {
      return commit();
    } catch (err) {
      Atomics.sub(this.counter, HELD_SLOT, this.txHeld);
      Atomics.sub(this.counter, UNCOUNTED_SLOT, this.txUncounted);
      throw err;
    } finally {
      this.txHeld = before;
      this.txUncounted = uncountedBefore;
    }
  }

  /** Inside a transaction: events held (or, negative, released) by it. */
  add(n: number): void {
    this.txHeld += n;
    // Changed before the commit, for the other connections to see at once. A thread killed inside the transaction
    // (the sink worker terminated, the process is not) rolls it back without the undo in transaction(): the shared
    // count stays off by txHeld until housekeeping's refresh() recounts it from the file.
    Atomics.add(this.counter, HELD_SLOT, n);
  }

  /** Inside a transaction on the store writer's thread: events it holds, for the main thread to count (slot 1). */
  addUncounted(n: number): void {
    this.txUncounted += n;
    Atomics.add(this.counter, UNCOUNTED_SLOT, n);
  }

  /** After a commit: events it held, counted now. */
  addCommitted(n: number): void {
    Atomics.add(this.counter, HELD_SLOT, n);
  }
}
