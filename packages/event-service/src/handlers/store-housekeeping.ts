// The store's housekeeping in a running service: every HOUSEKEEPING_MS the held count is recounted from the file
// (a replay by the dead-letter CLI, another process, made events held again), the feed's retention deletes what
// [feed] no longer keeps (store-retention.ts), and the sinks are told to read the store afresh (onPass). Started
// and stopped with the handlers; what the feed serves is event-feed.ts's.
import type { Logger } from '@event-broker/shared';
import type { EventStore } from './event-store.js';

/** Retention runs this often (and the sinks are re-checked, so a replay made by the CLI is picked up). */
export const HOUSEKEEPING_MS = 5000;

export interface StoreHousekeepingOptions {
  store: () => EventStore;
  /** Whether the store is open yet: housekeeping does not create a store no event has needed. */
  storeOpen: () => boolean;
  /** Read live, so a reload's new [feed] settings apply at the next pass. */
  retention: () => { maxEvents: number; maxAgeMs: number };
  logger: Logger;
  /** Called after each pass on an open store (the sinks re-check what is due). */
  onPass?: () => void;
}

export class StoreHousekeeping {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: StoreHousekeepingOptions) {}

  /** A pass now, then one every HOUSEKEEPING_MS (the timer does not keep the process alive). */
  start(): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => this.pass(), HOUSEKEEPING_MS);
    this.timer.unref();
    this.pass();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The held count recounted, retention, then the sinks' re-check. */
  pass(): void {
    if (!this.opts.storeOpen()) return;
    try {
      const { maxEvents, maxAgeMs } = this.opts.retention();
      // A replay by the dead-letter CLI (another process) made events held again: count them for event_limit.
      this.opts.store().refresh();
      const n = this.opts.store().prune({ maxEvents, olderThan: Date.now() - maxAgeMs });
      if (n > 0) this.opts.logger.debug({ pruned: n }, 'event feed retention');
    } catch (err) {
      this.opts.logger.error({ err: (err as Error).message }, 'event feed retention failed');
    }
    this.opts.onPass?.();
  }
}
