// What /handlerz, the status page and /metrics show of the running handlers (status.ts types it), built from the
// backend (its last sequence, each sink's backlog and dead letters), the intake's counters and each sink's figures.
// Asynchronous: a JetStream backend answers over the network.
import type { EventBackend } from './event-backend.js';
import type { IntakeStats } from './intake.js';
import type { RunningSink } from './sink-runner.js';
import type { HandlersStatus } from './status.js';
import { displayUrl } from './sinks/options.js';
import type { SqliteEventStore } from './store.js';

export interface StatusSources {
  backend: EventBackend;
  /**
   * The SQLite store, when it is the backend: its oldest pending delivery per sink tells a sink that is retrying and
   * its last error, kept across restarts.
   */
  sqlite: SqliteEventStore | undefined;
  held: number;
  reserved: number;
  eventLimit: number;
  intake: IntakeStats;
  sinks: readonly RunningSink[];
}

export async function handlersStatus(src: StatusSources): Promise<HandlersStatus> {
  const { backend, sqlite } = src;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const sinks = src.sinks.map(async (s) => {
    const counts = await backend.sinkCounts(s.name);
    const head = counts.pending > 0 ? sqlite?.due(s.name, Number.MAX_SAFE_INTEGER, 1)[0] : undefined;
    const lastError =
      s.lastError ?? (head?.lastError !== undefined ? { at: undefined, message: head.lastError } : undefined);
    return {
      name: s.name,
      url: displayUrl(s.url),
      health:
        s.state === 'stopped'
          ? ('stopped' as const)
          : head !== undefined && head.attempts > 0
            ? ('retrying' as const)
            : ('ok' as const),
      backlog: counts.pending,
      dead_letters: counts.dead,
      delivered: s.stats.delivered,
      failed_attempts: s.stats.failedAttempts,
      retries: s.stats.retries,
      last_error: lastError?.message ?? null,
      last_error_at: iso(lastError?.at),
      last_delivered_at: iso(s.lastDeliveredAt),
    };
  });
  return {
    held: src.held,
    reserved: src.reserved,
    event_limit: src.eventLimit,
    last_seq: await backend.lastSeq(),
    intake: intakeStatus(src.intake),
    sinks: await Promise.all(sinks),
  };
}

/** status while the store cannot be opened: the intake's counters, nothing the store would tell. */
export function statusWithoutStore(src: { reserved: number; eventLimit: number; intake: IntakeStats }): HandlersStatus {
  return {
    held: 0,
    reserved: src.reserved,
    event_limit: src.eventLimit,
    last_seq: 0,
    intake: intakeStatus(src.intake),
    sinks: [],
  };
}

function intakeStatus(i: IntakeStats): HandlersStatus['intake'] {
  return {
    accepted: i.accepted,
    duplicates: i.duplicates,
    invalid: i.invalid,
    refused_at_limit: i.refusedAtLimit,
    store_failures: i.storeFailures,
    paused_publishers: i.parkedPublishers,
    commits: i.commits,
    commit_seconds: i.commitSeconds,
  };
}
