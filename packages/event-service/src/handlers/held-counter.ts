// The held count (events with a delivery pending: what event_limit bounds), shared by a store's connections on
// several threads: the intake reads it on every event, the sink worker releases inside its transactions, and the
// store writer's commits are counted by the main thread as it takes their answer (store-writer.ts), in the same turn
// the intake stops counting the group as in flight. Slot 1 holds what the writer committed and the main thread has
// not counted yet, so a recount from the file (refresh) counts nothing twice.

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
