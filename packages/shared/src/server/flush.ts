// The one flush policy of every connection end (a client, the hub side of a leafnode link, the uplink and its
// session): what a connection is owed during an event-loop turn is batched, and written once, after the turn's
// synchronous work (the read being parsed, every delivery of the message being routed) and before any I/O. One
// microtask flushes every connection written to in the turn, however many messages each got, where a microtask per
// connection cost one closure and one queue entry each. A connection asks once per turn (ConnCore.schedule keeps the
// flag); its flush() writes what it collected (a leaf peer's pending LMSG) and then ConnCore's batch. A batch past
// EAGER_FLUSH_BYTES is written at once instead (ConnCore.queued), without waiting for the turn to end.

/** A connection end whose output this policy writes. */
export interface Flushable {
  /** Writes everything queued for the peer in one go. */
  flush(): void;
}

let dirty: Flushable[] = [];
let queued = false;

/** `conn.flush()` runs once after this turn's synchronous work, with every other connection written to in it. */
export function flushAfterTurn(conn: Flushable): void {
  dirty.push(conn);
  if (queued) return;
  queued = true;
  queueMicrotask(flushAll);
}

function flushAll(): void {
  queued = false;
  // Connections written to while this loop runs are flushed by a new microtask.
  const d = dirty;
  dirty = [];
  for (let i = 0; i < d.length; i++) {
    // One connection's failure must not leave the others of this turn unflushed (a microtask each once kept them
    // apart): the error is rethrown on its own, as an uncaught one would have been.
    try {
      d[i]!.flush();
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
