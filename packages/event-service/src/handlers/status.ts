// What the event handlers report of themselves (/handlerz, the status page, /metrics): the intake against
// event_limit and each sink's health. Types only, apart from the handlers' life cycle (lifecycle.ts builds them) so
// the monitoring modules read the shape without depending on the handlers.
import type { StoreProblem } from './store-file.js';

/** One sink as /handlerz and the status page show it. */
export interface SinkStatus {
  name: string;
  /** Scheme, host and path only: credentials or a token in the query never leave the process. */
  url: string;
  /** `stopped` after a 410 Gone (until a replay); `retrying` while the oldest pending delivery has failed. */
  health: 'ok' | 'retrying' | 'stopped';
  /** Deliveries pending (waiting, in flight or backing off). */
  backlog: number;
  dead_letters: number;
  delivered: number;
  failed_attempts: number;
  /** Failed attempts scheduled for another try (the rest were dead-lettered or stopped the sink). */
  retries: number;
  /** The latest failure: this run's, else the one recorded on the oldest pending delivery (kept across restarts). */
  last_error: string | null;
  last_error_at: string | null;
  last_delivered_at: string | null;
}

export interface HandlersStatus {
  /** Events with a delivery pending, plus those received and not yet committed: what event_limit bounds. */
  held: number;
  /** Room promised to gateways as credit and not yet used (intake-room.ts): held + reserved never pass event_limit. */
  reserved: number;
  event_limit: number;
  /** The newest store sequence: a feed cursor for "the latest N events" (cursor = last_seq - N). */
  last_seq: number;
  intake: {
    accepted: number;
    duplicates: number;
    invalid: number;
    refused_at_limit: number;
    store_failures: number;
    paused_publishers: number;
    /** Group commits settled, and their total time from sending to answer (seconds): a mean commit latency. */
    commits: number;
    commit_seconds: number;
  };
  sinks: SinkStatus[];
  /** Present while the store cannot be opened: why, without the file (the log names it: store-file.ts). */
  store_error?: StoreProblem;
}
