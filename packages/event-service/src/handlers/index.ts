// The event handlers' life cycle inside a running service: the durable store (opened on first use, or at start
// when a store file already exists or sinks are configured, so a restarted service delivers what it held), the
// intake on `events.>` (its commits on a thread of their own: store-writer.ts), one HTTP sink per configured
// [handlers] entry (all in one worker thread: sink-pool.ts),
// the event feed (its retention, the `$EVENTS.FEED.QUERY` responder, live streams) and the HTTP API the
// monitoring listener serves for them.
// Started by EventServer.listen once the listeners are up; stopped first on close so pending requests are answered.
import fs from 'node:fs';
import { resolve } from 'node:path';
import { eventKey, matchesFilter, type Logger } from '@event-broker/shared';
import { embed } from '../embedded.js';
import type { EventServer } from '../server.js';
import type http from 'node:http';
import { EventFeed } from './event-feed.js';
import { HandlersHttpApi } from './http-api.js';
import { EventIntake } from './intake.js';
import { HANDLER_DEFAULT_FILTERS, type HandlerName } from './sink-config.js';
import { SinkPool, type SinkProxy } from './sink-pool.js';
import { httpSinkOptions } from './sinks/http.js';
import type { HandlerSink, ServiceConfig } from '../config-types.js';
import { SqliteEventStore } from './store.js';
import { StoreWriter } from './store-writer.js';

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
}

export class EventHandlers {
  private opened: SqliteEventStore | undefined;
  /** The sinks' worker (sink-pool.ts), started with the first sink. */
  private pool: SinkPool | undefined;
  /** The intake's commits' thread (store-writer.ts), started with the first commit. */
  private writer: StoreWriter | undefined;
  readonly intake: EventIntake;
  readonly feed: EventFeed;
  private readonly api: HandlersHttpApi;
  private readonly conn;
  private readonly routes: { name: string; filter: readonly string[] }[] = [];
  /** Each running sink's configuration, to tell what a reload changed. */
  private readonly running = new Map<HandlerName, HandlerSink>();

  constructor(
    private readonly server: EventServer,
    private readonly logger: Logger,
  ) {
    // The in-process connection; its handle's close() would close the server, so only publish/subscribe are used.
    const conn = embed(server, logger);
    this.conn = conn;
    this.feed = new EventFeed({
      store: () => this.store,
      storeOpen: () => this.opened !== undefined,
      maxPayloadBytes: () => this.server.config.service.max_payload,
      retention: () => {
        const f = this.server.config.feed;
        return { maxEvents: f?.max_events ?? 1_000_000, maxAgeMs: f?.max_age ?? 7 * 24 * 3_600_000 };
      },
      logger,
      onHousekeeping: () => this.pool?.recheck(),
    });
    this.api = new HandlersHttpApi({
      store: () => this.store,
      feed: this.feed,
      sinkNames: () => this.sinks.map((s) => s.name),
      replayed: (name) => this.sinks.find((s) => s.name === name)?.resume(),
      logger,
    });
    this.intake = new EventIntake(conn, {
      store: () => this.store,
      // On the store writer's thread (store-writer.ts); `:memory:` is this connection's alone, so its commits stay here.
      commit: (events) => (this.store.file === ':memory:' ? Promise.resolve(this.store.append(events)) : this.storeWriter().append(events)),
      eventLimit: () => this.server.config.service.event_limit,
      sinksFor: (event) => {
        const key = eventKey(event.type);
        return this.routes.filter((r) => matchesFilter(key, r.filter)).map((r) => r.name);
      },
      onStored: () => {
        this.pool?.wake();
        this.feed.notify();
      },
      logger,
    });
  }

  private startSinks(): void {
    const handlers = this.server.config.handlers ?? {};
    for (const name of Object.keys(HANDLER_DEFAULT_FILTERS) as HandlerName[]) {
      const conf = handlers[name];
      if (conf === undefined) continue;
      this.addSink(name, conf);
    }
  }

  /** The running sinks as the worker last reported them. */
  get sinks(): readonly SinkProxy[] {
    return this.pool?.sinks ?? [];
  }

  /** Adds a sink; the worker starts it, and it delivers what the store already holds for it. */
  private addSink(name: HandlerName, conf: HandlerSink): void {
    this.routes.push({ name, filter: conf.filter.length > 0 ? conf.filter : HANDLER_DEFAULT_FILTERS[name] });
    this.sinkPool().add({ name, ...httpSinkOptions(conf) });
    this.running.set(name, conf);
  }

  private removeSink(name: HandlerName): void {
    this.pool?.remove(name);
    const r = this.routes.findIndex((x) => x.name === name);
    if (r >= 0) this.routes.splice(r, 1);
    this.running.delete(name);
  }

  /**
   * A reload's [handlers] (server.applyConfig): a removed sink stops (its pending deliveries stay in the store and
   * go out if it is configured again), a new one starts and delivers what the store holds for it, a changed one
   * (any of its settings: url, filter, headers, secrets, batching, ...) is replaced: the old one closed (an attempt in flight
   * is aborted and stays pending), a new one started that retries it with the new settings. Events routed before the
   * reload keep the sinks they were routed to; the new filters apply to events received from now on.
   */
  applySinks(handlers: ServiceConfig['handlers']): { added: string[]; removed: string[]; replaced: string[] } {
    const out = { added: [] as string[], removed: [] as string[], replaced: [] as string[] };
    const next = handlers ?? {};
    for (const name of Object.keys(HANDLER_DEFAULT_FILTERS) as HandlerName[]) {
      const was = this.running.get(name);
      const conf = next[name];
      if (was === undefined && conf === undefined) continue;
      if (was !== undefined && conf !== undefined && JSON.stringify(was) === JSON.stringify(conf)) continue;
      if (was !== undefined) this.removeSink(name);
      if (conf !== undefined) this.addSink(name, conf);
      (was === undefined ? out.added : conf === undefined ? out.removed : out.replaced).push(name);
    }
    if (out.added.length + out.removed.length + out.replaced.length > 0) this.logger.info(out, 'handler sinks reloaded');
    return out;
  }

  private storeWriter(): StoreWriter {
    const store = this.store;
    this.writer ??= new StoreWriter({ file: store.file, heldCounter: store.heldCounter }, this.logger);
    return this.writer;
  }

  private sinkPool(): SinkPool {
    const store = this.store;
    this.pool ??= new SinkPool({ file: store.file, heldCounter: store.heldCounter, logger: this.logger, onResolved: () => this.intake.released() });
    return this.pool;
  }

  /** The store, opened (and created) on first use. */
  get store(): SqliteEventStore {
    if (this.opened === undefined) {
      const file = this.storePath;
      const started = performance.now();
      this.opened = new SqliteEventStore(file);
      const opened = { path: file, events: this.opened.count(), held: this.opened.held };
      // A store of the earlier layout is rewritten once when opened (store.ts migrate): say so, and how long it took.
      if (this.opened.migrated) this.logger.warn({ ...opened, took_ms: Math.round(performance.now() - started) }, 'event store migrated to the current layout');
      this.logger.info(opened, 'event store open');
    }
    return this.opened;
  }

  private get storePath(): string {
    // [handlers] without [store]: the store's default place.
    return this.server.config.store?.path ?? resolve('data', 'events.db');
  }

  start(): void {
    if (this.server.config.handlers !== undefined || fs.existsSync(this.storePath)) void this.store;
    this.startSinks();
    this.intake.start();
    // Deliveries left pending by the last run (a crash included) go out as each sink starts in the worker.
    this.feed.start(this.conn);
  }

  /** What /handlerz shows (monitor/handlerz.ts): the intake against event_limit and each sink's health. */
  status(): HandlersStatus {
    const store = this.store;
    const i = this.intake.stats;
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      held: this.intake.held,
      event_limit: this.server.config.service.event_limit,
      last_seq: store.lastSeq(),
      intake: {
        accepted: i.accepted,
        duplicates: i.duplicates,
        invalid: i.invalid,
        refused_at_limit: i.refusedAtLimit,
        store_failures: i.storeFailures,
        paused_publishers: i.pausedPublishers,
        commits: i.commits,
        commit_seconds: i.commitSeconds,
      },
      sinks: this.sinks.map((s) => {
        const counts = store.sinkCounts(s.name);
        const head = counts.pending > 0 ? store.due(s.name, Number.MAX_SAFE_INTEGER, 1)[0] : undefined;
        const lastError = s.lastError ?? (head?.lastError !== undefined ? { at: undefined, message: head.lastError } : undefined);
        return {
          name: s.name,
          url: displayUrl(s.url),
          health: s.state === 'stopped' ? 'stopped' : head !== undefined && head.attempts > 0 ? 'retrying' : 'ok',
          backlog: counts.pending,
          dead_letters: counts.dead,
          delivered: s.stats.delivered,
          failed_attempts: s.stats.failedAttempts,
          retries: s.stats.retries,
          last_error: lastError?.message ?? null,
          last_error_at: iso(lastError?.at),
          last_delivered_at: iso(s.lastDeliveredAt),
        };
      }),
    };
  }

  /** The monitoring listener's hook (monitor/http.ts): /events and /deadletters. */
  serveHttp(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    return this.api.serve(req, res, url);
  }

  /** Commits and answers what the intake holds, then stops the sinks and the feed and closes the store. */
  async close(): Promise<void> {
    await this.intake.stop();
    this.feed.close();
    this.pool?.close();
    await this.writer?.close();
    this.opened?.close();
  }
}

function displayUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unreadable url)';
  }
}

export function startHandlers(server: EventServer, logger: Logger): EventHandlers {
  const h = new EventHandlers(server, logger);
  h.start();
  return h;
}
