// The event store's layout (store.ts): its tables and indexes, each saying why it is shaped that way; the one-time
// migration from the earlier layout; and the prepared statements the store runs, with the row shapes they read.
// What the store does with them is store.ts's and its parts' (store-deliveries.ts, store-retention.ts,
// store-feed.ts).
import type Database from 'better-sqlite3';

export interface DeliveryRow {
  sink: string;
  seq: number;
  id: string;
  type: string;
  body: string;
  state: number;
  attempts: number;
  next_at: number;
  last_error: string | null;
}

/** The filter columns as the intake gives them (event-store.ts FeedColumns). */
type FeedText = [string | null, string | null, string | null, string | null];

export interface FeedRow {
  seq: number;
  id: string;
  type: string;
  body: string;
  stored_at: number;
}

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  -- The feed's filters (FEED_COLUMNS), copies of the body's attributes: the intake fills them from the event it
  -- parsed, so no insert parses the 1 KiB body again (json_extract indexes did, each insert, ~2.4 of ~17 us an event).
  -- No declared type: a value compares as json_extract's result did (a number is not the text of its digits).
  producer,
  actor,
  authid,
  authtype
);
-- The events held: those with deliveries still pending, and how many. Apart from the events rather than a column
-- of theirs: each delivery changes the count, and SQLite rewrites a whole row to change a column, the ~1 KiB body
-- included (that rewrite was a third of a delivery's cost in the store).
CREATE TABLE IF NOT EXISTS held (
  seq INTEGER PRIMARY KEY,
  pending INTEGER NOT NULL
);
-- A sink's deliveries still to make (state 0) or dead-lettered (state 2). A delivered one is deleted: nothing
-- reads it again, and a delete costs the indexes below what a state change would.
CREATE TABLE IF NOT EXISTS deliveries (
  sink TEXT NOT NULL,
  seq INTEGER NOT NULL REFERENCES events(seq),
  state INTEGER NOT NULL,             -- 0 pending, 2 dead
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  PRIMARY KEY (sink, seq)
) WITHOUT ROWID;
-- due(): a sink's pending deliveries in seq order. Without it SQLite sorted every pending row per call (about
-- 50 ms at 60,000 pending on this machine, per delivery), so a backlog slowed delivery and stalled the intake.
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (sink, seq, next_at) WHERE state = 0;
-- nextDue(): a sink's earliest retry.
CREATE INDEX IF NOT EXISTS deliveries_next ON deliveries (sink, next_at) WHERE state = 0;
-- Dead letters by sink (the list, the counts) and by event (retention keeps an event a dead letter names).
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries (sink, seq) WHERE state = 2;
CREATE INDEX IF NOT EXISTS deliveries_dead_seq ON deliveries (seq) WHERE state = 2;
-- The feed's filters (handlers/event-feed.ts) and retention; each ends in seq so a filtered page walks in order.
-- Kept, though they cost append CPU (1 KiB events, 500 per commit, this 2-core machine: ~53k without them, ~42k
-- events/s with, when four were json_extract expressions), because an unindexed filtered page on a large feed would
-- scan the table synchronously and stall the broker's event loop. Partial where the attribute is optional: an event
-- without it adds no entry (a filter \`col = ?\` implies \`col IS NOT NULL\`, so SQLite still reads the index).
-- authid and authtype are who published (the authcontext the intake writes: handlers/authcontext.ts); authtype has
-- few values, but a page filtered on a rare one would otherwise scan the table.
CREATE INDEX IF NOT EXISTS events_type ON events (type, seq);
CREATE INDEX IF NOT EXISTS events_producer ON events (producer, seq) WHERE producer IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_actor ON events (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_authid ON events (authid, seq) WHERE authid IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_authtype ON events (authtype, seq) WHERE authtype IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_stored_at ON events (stored_at);
-- One row rewritten by /healthz's probe after a group commit failed (handlers/lifecycle.ts health): a real write and
-- fsync where the commits go, so a store that works again is seen without waiting for the next event.
CREATE TABLE IF NOT EXISTS probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at INTEGER NOT NULL
);
`;

/** The feed's filter columns and the body attribute each copies (json_extract paths). */
export const FEED_COLUMNS = [
  ['producer', '$.producer.id'],
  ['actor', '$.actor.id'],
  ['authid', '$.authid'],
  ['authtype', '$.authtype'],
] as const;

/**
 * This layout's number, written in the file's header (PRAGMA user_version) once SCHEMA holds (markLayout). A store of
 * a later one is refused when opened, not written as this one (the filter columns, say, left empty by an insert that
 * does not know them); stores from before the number was kept read 0 and are told apart by their tables (migrate).
 */
export const LAYOUT = 2;

/** Writes LAYOUT in the file once SCHEMA holds; a write only the first time. */
export function markLayout(db: Database.Database): void {
  if ((db.pragma('user_version', { simple: true }) as number) < LAYOUT) db.pragma(`user_version = ${LAYOUT}`);
}

/**
 * Brings a store of an earlier layout to this one when it is opened, each step in one transaction: schema 0 (a
 * `pending` column on events, delivered deliveries kept with state 1) to 1 (the held table), then 1 to 2 (the feed's
 * filters as columns instead of json_extract indexes). Says whether it changed anything.
 */
export function migrate(db: Database.Database): boolean {
  const layout = db.pragma('user_version', { simple: true }) as number;
  if (layout > LAYOUT) {
    throw new Error(
      `the store's layout ${layout} is newer than this version's (${LAYOUT}): open it with the version that wrote it`,
    );
  }
  const held = migrateHeld(db);
  return migrateFeedColumns(db) || held;
}

function columnsOf(db: Database.Database): string[] {
  return db
    .prepare<[], { name: string }>('PRAGMA table_info(events)')
    .all()
    .map((c) => c.name);
}

function migrateHeld(db: Database.Database): boolean {
  const stale = (): boolean => columnsOf(db).includes('pending');
  if (!stale()) return false;
  // Checked again under the write lock, as migrateFeedColumns does: another process may have migrated it meanwhile.
  return db
    .transaction(() => {
      if (!stale()) return false;
      db.exec(`
      CREATE TABLE held (seq INTEGER PRIMARY KEY, pending INTEGER NOT NULL);
      INSERT INTO held (seq, pending) SELECT seq, pending FROM events WHERE pending > 0;
      DROP INDEX IF EXISTS events_held;
      ALTER TABLE events DROP COLUMN pending;
      DELETE FROM deliveries WHERE state = 1;
      DROP INDEX IF EXISTS deliveries_due;
      DROP INDEX IF EXISTS deliveries_seq;
    `);
      return true;
    })
    .immediate();
}

/**
 * Schema 1 to 2: the filter columns added and filled from each stored body (one pass over the events, rewriting each
 * row), the json_extract indexes dropped (SCHEMA then builds the column ones). Checked again under the write lock:
 * another connection to the file may have migrated it since.
 */
function migrateFeedColumns(db: Database.Database): boolean {
  const stale = (): boolean => {
    const columns = columnsOf(db);
    return columns.length > 0 && !columns.includes('authtype');
  };
  if (!stale()) return false;
  // Whether this connection migrated it: one that waited for another's migration did not (lifecycle.ts logs it).
  return db
    .transaction(() => {
      if (!stale()) return false;
      for (const [column] of FEED_COLUMNS) {
        db.exec(`DROP INDEX IF EXISTS events_${column}; ALTER TABLE events ADD COLUMN ${column}`);
      }
      const set = FEED_COLUMNS.map(([column, at]) => `${column} = json_extract(body, '${at}')`).join(', ');
      db.exec(`UPDATE events SET ${set}`);
      return true;
    })
    .immediate();
}

/**
 * What the store calls on a prepared statement. Declared here because better-sqlite3's own Statement type lives in
 * a namespace its module does not export, which the declarations of prepareStatements' result could not name.
 */
export interface Statement<P extends unknown[], R> {
  run(...params: P): Database.RunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

/** Every fixed statement of the store, prepared once per connection (the feed's are prepared per filter: store.ts). */
export function prepareStatements(connection: Database.Database) {
  // better-sqlite3's prepare, its result typed as Statement above; named parameters (an object) bind as one argument.
  const db = {
    prepare: <P extends unknown[] | object = unknown[], R = unknown>(sql: string) =>
      connection.prepare<P, R>(sql) as unknown as Statement<P extends unknown[] ? P : [P], R>,
  };
  return {
    // The filter columns as the intake read them (NewEvent.columns).
    insert: db.prepare<[string, string, string, number, ...FeedText]>(
      `INSERT INTO events (id, type, body, stored_at, producer, actor, authid, authtype)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
    ),
    // An event given without them: SQLite reads them from its body.
    insertReading: db.prepare<{ id: string; type: string; body: string; at: number }>(
      `INSERT INTO events (id, type, body, stored_at, ${FEED_COLUMNS.map(([c]) => c).join(', ')})
       VALUES ($id, $type, $body, $at, ${FEED_COLUMNS.map(([, at]) => `json_extract($body, '${at}')`).join(', ')})
       ON CONFLICT(id) DO NOTHING`,
    ),
    addHeld: db.prepare<[number, number]>('INSERT INTO held (seq, pending) VALUES (?, ?)'),
    seqOf: db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE id = ?'),
    addDelivery: db.prepare<[string, number]>('INSERT OR IGNORE INTO deliveries (sink, seq, state) VALUES (?, ?, 0)'),
    get: db.prepare<[string], { seq: number; id: string; type: string; body: string; stored_at: number }>(
      'SELECT seq, id, type, body, stored_at FROM events WHERE id = ?',
    ),
    due: db.prepare<[string, number, number, number], DeliveryRow>(
      `SELECT d.sink, d.seq, e.id, e.type, e.body, d.state, d.attempts, d.next_at, d.last_error
         FROM deliveries d INDEXED BY deliveries_pending JOIN events e ON e.seq = d.seq
        WHERE d.sink = ? AND d.state = 0 AND d.next_at <= ? AND d.seq > ? ORDER BY d.seq LIMIT ?`,
    ),
    nextDue: db.prepare<[string, number], { next: number | null }>(
      'SELECT MIN(next_at) AS next FROM deliveries INDEXED BY deliveries_next WHERE sink = ? AND state = 0 AND next_at > ?',
    ),
    markDead: db.prepare<[string, string, number]>(
      'UPDATE deliveries SET state = 2, last_error = ?, attempts = attempts + 1 WHERE sink = ? AND seq = ? AND state = 0',
    ),
    releaseHeld: db.prepare<[number], { pending: number }>(
      'UPDATE held SET pending = pending - 1 WHERE seq = ? RETURNING pending',
    ),
    dropHeld: db.prepare<[number]>('DELETE FROM held WHERE seq = ?'),
    // A replayed dead letter: its event is held again (or one more delivery pending for it).
    holdAgain: db.prepare<[number], { pending: number }>(
      'INSERT INTO held (seq, pending) VALUES (?, 1) ON CONFLICT(seq) DO UPDATE SET pending = pending + 1 RETURNING pending',
    ),
    failed: db.prepare<[number, string, string, number]>(
      'UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE sink = ? AND seq = ? AND state = 0',
    ),
    deadLetters: db.prepare<[string | null, string | null, number, number], DeliveryRow>(
      `SELECT d.sink, d.seq, e.id, e.type, e.body, d.state, d.attempts, d.next_at, d.last_error
         FROM deliveries d JOIN events e ON e.seq = d.seq
        WHERE d.state = 2 AND (? IS NULL OR d.sink = ?) AND d.seq > ? ORDER BY d.seq, d.sink LIMIT ?`,
    ),
    deadSeqs: db.prepare<[string], { seq: number }>('SELECT seq FROM deliveries WHERE sink = ? AND state = 2'),
    revive: db.prepare<[number, string, number]>(
      'UPDATE deliveries SET state = 0, attempts = 0, next_at = ?, last_error = NULL WHERE sink = ? AND seq = ? AND state = 2',
    ),
    count: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM events'),
    probe: db.prepare<[number]>(
      'INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at',
    ),
    // Literal states, so each count reads its partial index.
    pendingCount: db.prepare<[string], { n: number }>(
      'SELECT COUNT(*) AS n FROM deliveries WHERE sink = ? AND state = 0',
    ),
    deadCount: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM deliveries WHERE sink = ? AND state = 2'),
    held: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM held'),
    lastSeq: db.prepare<[], { seq: number | null }>('SELECT MAX(seq) AS seq FROM events'),
    // Retention's candidates, each read by its own index so a pass reads little more than it deletes: the oldest
    // beyond the count (primary key range) and those past the age (events_stored_at range). Not held, not a dead letter.
    pruneByCount: db.prepare<[number, number], { seq: number }>(
      `SELECT seq FROM events e WHERE e.seq <= ?
          AND NOT EXISTS (SELECT 1 FROM held h WHERE h.seq = e.seq)
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND d.state = 2)
        ORDER BY seq LIMIT ?`,
    ),
    pruneByAge: db.prepare<[number, number], { seq: number }>(
      `SELECT seq FROM events e INDEXED BY events_stored_at WHERE e.stored_at < ?
          AND NOT EXISTS (SELECT 1 FROM held h WHERE h.seq = e.seq)
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND d.state = 2)
        ORDER BY stored_at LIMIT ?`,
    ),
    // Checked again under the write lock: the candidates were read before it.
    deleteEvent: db.prepare<{ seq: number }>(
      `DELETE FROM events WHERE seq = $seq
          AND NOT EXISTS (SELECT 1 FROM held WHERE seq = $seq)
          AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = $seq AND state = 2)`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** One open store connection as the store's parts use it (store.ts makes it). */
export interface StoreConnection {
  readonly db: Database.Database;
  readonly stmts: Statements;
  /**
   * Runs `fn` in one write transaction that takes the write lock at once (store.ts write); the held count's
   * changes made inside are undone if it rolls back.
   */
  write<R>(fn: () => R): R;
}
