// The event feed's query on the store (store.ts feed()): stored events after a cursor that match the filters
// present, in sequence order. Paging, live streams and the feed's answers are event-feed.ts's.
import type Database from 'better-sqlite3';
import type { FeedFilter, StoredEvent } from './event-store.js';
import type { FeedRow } from './store-schema.js';

export class FeedQueries {
  private readonly stmts = new Map<string, Database.Statement<unknown[], FeedRow>>();

  constructor(private readonly db: Database.Database) {}

  query(q: FeedFilter & { cursor?: number; limit: number }): StoredEvent[] {
    // One prepared statement per combination of filters present (at most 128), so each uses its index.
    const where = ['seq > ?'];
    const args: unknown[] = [q.cursor ?? 0];
    const filter = (value: unknown, sql: string): void => {
      if (value === undefined) return;
      where.push(sql);
      args.push(value);
    };
    filter(q.type, 'type = ?');
    filter(q.producer, "json_extract(body, '$.producer.id') = ?");
    filter(q.actor, "json_extract(body, '$.actor.id') = ?");
    filter(q.authid, "json_extract(body, '$.authid') = ?");
    filter(q.authtype, "json_extract(body, '$.authtype') = ?");
    filter(q.since, 'stored_at >= ?');
    filter(q.until, 'stored_at < ?');
    const sql = `SELECT seq, id, type, body, stored_at FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`;
    let stmt = this.stmts.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare<unknown[], FeedRow>(sql);
      this.stmts.set(sql, stmt);
    }
    return stmt
      .all(...args, q.limit)
      .map((r) => ({ seq: r.seq, id: r.id, type: r.type, body: r.body, storedAt: r.stored_at }));
  }
}
