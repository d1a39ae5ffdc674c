// A group commit's deliveries and held rows (store.ts append), gathered while its events are inserted and then
// written CHUNK rows per statement: one statement per row cost about 1 us an event more in the store writer (1 KiB
// events, 250 per commit, one sink). Only a group that commits whole gathers them; a group retried event by event
// (each in a savepoint) writes each event's rows with it.
import type Database from 'better-sqlite3';
import type { Statements } from './store-schema.js';

/** Rows per multi-row statement; a group's remainder goes a row per statement. */
const CHUNK = 32;

export class GroupRows {
  /** sink, seq, sink, seq... */
  private deliveries: (string | number)[] = [];
  /** seq, pending, seq, pending... */
  private held: number[] = [];
  private readonly addDeliveries: Database.Statement<unknown[]>;
  private readonly addHeld: Database.Statement<unknown[]>;

  constructor(
    db: Database.Database,
    private readonly stmts: Statements,
  ) {
    const rows = (row: string) => Array<string>(CHUNK).fill(row).join(', ');
    this.addDeliveries = db.prepare(`INSERT OR IGNORE INTO deliveries (sink, seq, state) VALUES ${rows('(?, ?, 0)')}`);
    this.addHeld = db.prepare(`INSERT INTO held (seq, pending) VALUES ${rows('(?, ?)')}`);
  }

  /** The event `seq` wants these sinks (distinct, at least one). */
  add(seq: number, sinks: readonly string[]): void {
    for (const sink of sinks) this.deliveries.push(sink, seq);
    this.held.push(seq, sinks.length);
  }

  /** Writes what was gathered (inside the group's transaction) and forgets it. */
  write(): void {
    const d = this.deliveries;
    const h = this.held;
    this.clear();
    let i = 0;
    for (; i + 2 * CHUNK <= d.length; i += 2 * CHUNK) this.addDeliveries.run(d.slice(i, i + 2 * CHUNK));
    for (; i < d.length; i += 2) this.stmts.addDelivery.run(d[i] as string, d[i + 1] as number);
    for (i = 0; i + 2 * CHUNK <= h.length; i += 2 * CHUNK) this.addHeld.run(h.slice(i, i + 2 * CHUNK));
    for (; i < h.length; i += 2) this.stmts.addHeld.run(h[i]!, h[i + 1]!);
  }

  clear(): void {
    this.deliveries = [];
    this.held = [];
  }
}
