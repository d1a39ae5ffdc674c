// The feed's retention on the store (store.ts prune): events beyond the newest `maxEvents` or older than the age
// limit are deleted, in short batches, except those still held or dead-lettered. When it runs and what it logs is
// store-housekeeping.ts's.
import type { StoreConnection } from './store-schema.js';

/** Retention deletes at most this many events per transaction. */
const PRUNE_BATCH = 2000;

export function prune(conn: StoreConnection, opts: { maxEvents: number; olderThan: number }): number {
  // The candidates are read outside the write lock (in WAL a reader does not hold up the writers), and a pass
  // that finds none takes no lock at all.
  // Sequences are consecutive (AUTOINCREMENT; a duplicate or a rolled-back commit takes none) and retention only
  // deletes from the old end, so the newest maxEvents are those above lastSeq - maxEvents: no count, no walk.
  const countCut = Math.max(0, (conn.stmts.lastSeq.get()?.seq ?? 0) - opts.maxEvents);
  // An event deleted here has no delivery rows (none pending: not held; none dead: checked; delivered ones are
  // deleted when delivered), so the foreign key from deliveries has nothing to find; enforcing it would scan the
  // deliveries table once per event (no index on seq alone: each would cost every delivery insert and delete).
  conn.db.pragma('foreign_keys = OFF');
  try {
    return pruneBatches(conn, countCut, opts.olderThan);
  } finally {
    conn.db.pragma('foreign_keys = ON');
  }
}

function pruneBatches(conn: StoreConnection, countCut: number, olderThan: number): number {
  const { stmts } = conn;
  let total = 0;
  for (;;) {
    const byCount = countCut > 0 ? stmts.pruneByCount.all(countCut, PRUNE_BATCH) : [];
    const byAge = stmts.pruneByAge.all(olderThan, PRUNE_BATCH);
    const seqs = [...new Set([...byCount, ...byAge].map((r) => r.seq))];
    if (seqs.length === 0) return total;
    // Batches keep each transaction (and the commits waiting behind it) short.
    const deleted = conn.write(() => {
      let n = 0;
      for (const seq of seqs) n += stmts.deleteEvent.run({ seq }).changes;
      return n;
    });
    total += deleted;
    // Nothing deleted: what was read is no longer prunable, and reading again would find the same.
    if (deleted === 0 || (byCount.length < PRUNE_BATCH && byAge.length < PRUNE_BATCH)) return total;
  }
}
