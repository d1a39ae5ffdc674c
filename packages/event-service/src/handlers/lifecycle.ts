// The event handlers' life cycle inside a running service: the durable store (opened at start: one that cannot be
// used stops the start, naming the file; store-file.ts), the intake on `events.>` (its commits on a thread of their
// own: store-writer.ts), one HTTP sink per configured [handlers] entry (all in one worker thread: sink-pool.ts), the
// store's housekeeping (retention: store-housekeeping.ts), the event feed (the `$EVENTS.FEED.QUERY` responder, live
// streams) and the HTTP API the monitoring port serves for them.
// Started by EventServer.listen before its client ports (or by a reload that adds [handlers]); stopped first on
// close so pending requests are answered. What they are given: their own in-process connection, the configuration
// in force and a logger, nothing of the server. What /healthz needs of them (the store, the sinks' worker) is
// health()'s; what they report (/handlerz) is typed in status.ts.
import { resolve } from 'node:path';
import { eventKey, matchesFilter, type Logger, type Router } from '@event-broker/shared';
import type { EmbeddedConn } from '../embedded-conn.js';
import { EventFeed } from './event-feed.js';
import { HandlersHttpApi } from './http-api.js';
import { EventIntake } from './intake.js';
import { HANDLER_DEFAULT_FILTERS, type HandlerName } from './sink-config.js';
import { SinkPool, type SinkProxy } from './sink-pool.js';
import { httpSinkOptions } from './sinks/options.js';
import type { HandlerSink, ServiceConfig } from '../config-types.js';
import type { HandlersStatus } from './status.js';
import { describeStoreProblem, EventStoreError, storeError, storeProblem } from './store-file.js';
import { SqliteEventStore } from './store.js';
import { StoreHousekeeping } from './store-housekeeping.js';
import { StoreWriter } from './store-writer.js';

/** After a store failed to open (a reload that started the handlers), the next try waits this long. */
const REOPEN_MS = 1000;
/** How long /healthz waits for the probe commit that tells whether a store that failed a commit works again. */
const PROBE_MS = 2000;

/** What the service gives its handlers. */
export interface HandlersDeps {
  /**
   * The handlers' own connection to the broker, a system one (the intake's and the event feed's subscriptions are the
   * service's, not listeners a user made); closed with them.
   */
  conn: EmbeddedConn;
  /** The configuration in force, read on use (a reload changes it). */
  config: () => ServiceConfig;
  logger: Logger;
  /** With leafnode remotes, the queue groups the intake and the feed query subscribe in (leafnode/remotes.ts). */
  queues?: { readonly intake: string; readonly credit: string; readonly feed: string };
}

export class EventHandlers {
  private opened: SqliteEventStore | undefined;
  /** The store could not be opened: why, and when it was last tried. */
  private openFailure: { error: EventStoreError; at: number } | undefined;
  /** A probe commit in flight (health()). */
  private probe: Promise<boolean> | undefined;
  /** What health() last logged of the store, so a polled /healthz logs a problem once, not per request. */
  private loggedStoreProblem: string | undefined;
  /** The sinks' worker (sink-pool.ts), started with the first sink. */
  private pool: SinkPool | undefined;
  /** The intake's commits' thread (store-writer.ts), started with the first commit. */
  private writer: StoreWriter | undefined;
  readonly intake: EventIntake;
  readonly eventFeed: EventFeed;
  private readonly housekeeping: StoreHousekeeping;
  private readonly api: HandlersHttpApi;
  private readonly conn: EmbeddedConn;
  private readonly config: () => ServiceConfig;
  private readonly logger: Logger;
  private readonly routes: { name: string; filter: readonly string[] }[] = [];
  /** Each running sink's configuration, to tell what a reload changed. */
  private readonly running = new Map<HandlerName, HandlerSink>();

  constructor(deps: HandlersDeps) {
    const { conn, logger } = deps;
    this.conn = conn;
    this.config = deps.config;
    this.logger = logger;
    this.eventFeed = new EventFeed({
      store: () => this.store,
      maxPayloadBytes: () => this.config().service.max_payload,
      logger,
      ...(deps.queues && { queue: deps.queues.feed }),
    });
    this.housekeeping = new StoreHousekeeping({
      store: () => this.store,
      storeOpen: () => this.opened !== undefined,
      retention: () => {
        // [feed]: the event feed's retention.
        const retention = this.config().feed;
        return { maxEvents: retention?.max_events ?? 1_000_000, maxAgeMs: retention?.max_age ?? 7 * 24 * 3_600_000 };
      },
      logger,
      onPass: () => this.pool?.recheck(),
    });
    this.api = new HandlersHttpApi({
      store: () => this.store,
      eventFeed: this.eventFeed,
      sinkNames: () => this.sinks.map((s) => s.name),
      replayed: (name) => this.sinks.find((s) => s.name === name)?.resume(),
      logger,
    });
    this.intake = new EventIntake(conn, {
      store: () => this.store,
      // On the store writer's thread (store-writer.ts); `:memory:` is this connection's alone, so its commits stay here.
      commit: (events) =>
        this.store.file === ':memory:' ? Promise.resolve(this.store.append(events)) : this.storeWriter().append(events),
      eventLimit: () => this.config().service.event_limit,
      addGate: (gate) => conn.addGate(gate),
      sinksFor: (event) => {
        const key = eventKey(event.type);
        return this.routes.filter((r) => matchesFilter(key, r.filter)).map((r) => r.name);
      },
      onStored: () => {
        this.pool?.wake();
        this.eventFeed.notify();
      },
      maxPayloadBytes: () => this.config().service.max_payload,
      logger,
      ...(deps.queues && { queues: { events: deps.queues.intake, credit: deps.queues.credit } }),
    });
  }

  private startSinks(): void {
    const handlers = this.config().handlers ?? {};
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

  /** Adds a sink; the worker starts it, and it delivers what the store already has pending for it. */
  private addSink(name: HandlerName, conf: HandlerSink): void {
    this.routes.push({ name, filter: conf.filter.length > 0 ? conf.filter : HANDLER_DEFAULT_FILTERS[name] });
    this.running.set(name, conf);
    // Without a store (one a reload could not open) the worker waits for it: startDeferredSinks.
    if (this.opened !== undefined) this.sinkPool().add({ name, ...httpSinkOptions(conf) });
  }

  /** The store opened after failing to: the sinks configured meanwhile start now. */
  private startDeferredSinks(): void {
    if (this.pool !== undefined || this.opened === undefined) return;
    for (const [name, conf] of this.running) this.sinkPool().add({ name, ...httpSinkOptions(conf) });
  }

  private removeSink(name: HandlerName): void {
    this.pool?.remove(name);
    const r = this.routes.findIndex((x) => x.name === name);
    if (r >= 0) this.routes.splice(r, 1);
    this.running.delete(name);
  }

  /**
   * A reload's [handlers] (server.applyConfig): a removed sink stops (its pending deliveries stay in the store and
   * go out if it is configured again), a new one starts and delivers what the store has pending for it, a changed
   * one (any of its settings: url, filter, headers, secrets, batching, ...) is replaced: the old one closed (an attempt
   * in flight is aborted and stays pending), a new one started that retries it with the new settings. Events routed
   * before the reload keep the sinks they were routed to; the new filters apply to events received from now on.
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
    if (out.added.length + out.removed.length + out.replaced.length > 0)
      this.logger.info(out, 'handler sinks reloaded');
    return out;
  }

  private storeWriter(): StoreWriter {
    const store = this.store;
    this.writer ??= new StoreWriter({ file: store.file, heldCounter: store.heldCounter }, this.logger);
    return this.writer;
  }

  private sinkPool(): SinkPool {
    const store = this.store;
    this.pool ??= new SinkPool({
      file: store.file,
      heldCounter: store.heldCounter,
      logger: this.logger,
      onResolved: () => this.intake.released(),
    });
    return this.pool;
  }

  /**
   * The store, opened (and created) on first use: at start(). Throws EventStoreError while it cannot be opened
   * (tried again at most every REOPEN_MS), which the intake answers as EEVENT_STORE.
   */
  get store(): SqliteEventStore {
    if (this.opened === undefined) {
      const failed = this.openFailure;
      if (failed !== undefined && Date.now() - failed.at < REOPEN_MS) throw failed.error;
      const file = this.storePath;
      const started = performance.now();
      try {
        this.opened = new SqliteEventStore(file);
      } catch (err) {
        const error = storeError(err, file, { opening: true });
        this.openFailure = { error, at: Date.now() };
        throw error;
      }
      if (this.openFailure !== undefined) queueMicrotask(() => this.startDeferredSinks());
      this.openFailure = undefined;
      const opened = { path: file, events: this.opened.count(), held: this.opened.held };
      // A store of the earlier layout is rewritten once when opened (store-schema.ts migrate): say so, and how long it took.
      if (this.opened.migrated)
        this.logger.warn(
          { ...opened, took_ms: Math.round(performance.now() - started) },
          'event store migrated to the current layout',
        );
      this.logger.info(opened, 'event store open');
    }
    return this.opened;
  }

  private get storePath(): string {
    // [handlers] without [store]: the store's default place.
    return this.config().store?.path ?? resolve('data', 'events.db');
  }

  /** `atServiceStart`: started by the service's start (not by a reload that added [handlers]). */
  start(opts: { atServiceStart: boolean }): void {
    // Opened now, so a store that cannot be used is known before the service says it runs: at the service's start it
    // stops the start (the CLI exits 1 naming the file and store.path), as nats-server stops when JetStream's store
    // cannot be used (server.go Start: "Can't start JetStream"). A reload that adds [handlers] must not fail the
    // running service: the intake then answers EEVENT_STORE and /healthz says why until the store opens.
    try {
      void this.store;
    } catch (err) {
      if (opts.atServiceStart) throw err;
      this.logger.error(
        { err: (err as Error).message },
        'event store cannot be opened: events are refused until it can',
      );
    }
    this.startSinks();
    this.intake.start();
    // Deliveries left pending by the last run (a crash included) go out as each sink starts in the worker.
    this.eventFeed.start(this.conn);
    this.housekeeping.start();
  }

  /**
   * Why a configured part cannot work, for /healthz (undefined when all can): the store (not opened, its file
   * removed or replaced, its commits failing) and the sinks' worker. After a failed commit a probe (a one-row commit
   * through the store writer) tells whether the store works again, so a service with no traffic to prove it (a load
   * balancer took it out on a 503) does not stay unhealthy for good.
   */
  async health(): Promise<string | undefined> {
    const store = await this.storeHealth();
    const sinks = this.pool?.health();
    const problems = [store, sinks].filter((p) => p !== undefined);
    return problems.length === 0 ? undefined : problems.join('; ');
  }

  /**
   * Why the store cannot work now, as an HTTP client of /healthz may read it: which part, the setting, a reason
   * and the store's code, never the file or SQLite's message (anyone reaching the monitoring port would learn the
   * server's file layout). Those go to the log, once each time the answer changes.
   */
  private async storeHealth(): Promise<string | undefined> {
    let found: { what: string; err: unknown } | undefined;
    if (this.opened === undefined) {
      try {
        void this.store;
      } catch (err) {
        found = { what: 'event store cannot be opened', err };
      }
    }
    const store = this.opened;
    if (store !== undefined) {
      try {
        store.verifyFile();
      } catch (err) {
        found = { what: 'event store unusable', err };
      }
      const failure = this.intake.lastStoreFailure;
      if (found === undefined && failure !== undefined && !(await this.probeStore())) {
        found = { what: `event store commits fail (since ${new Date(failure.at).toISOString()})`, err: failure.error };
      }
    }
    if (found === undefined) {
      this.loggedStoreProblem = undefined;
      return undefined;
    }
    const problem = storeProblem(found.err);
    const text = `${found.what}: ${describeStoreProblem(problem)}`;
    if (text !== this.loggedStoreProblem) {
      this.loggedStoreProblem = text;
      this.logger.error(
        { health: found.what, store_code: problem.store_code, err: (found.err as Error).message },
        'event store unavailable',
      );
    }
    return text;
  }

  /** One small commit where the intake commits (store.ts probe): true when it succeeded (the failure is then cleared). */
  private probeStore(): Promise<boolean> {
    this.probe ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const store = this.store;
        const commit = store.file === ':memory:' ? Promise.resolve(store.probe()) : this.storeWriter().probe();
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_MS} ms`)), PROBE_MS);
        });
        await Promise.race([commit, timeout]);
        this.intake.clearStoreFailure();
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
        this.probe = undefined;
      }
    })();
    return this.probe;
  }

  /** Events held and room reserved as credit (monitor/source.ts): what /varz shows against event_limit. */
  eventLimitUse(): { held: number; reserved: number } {
    let held = 0;
    try {
      held = this.intake.held;
    } catch {
      // The store cannot be opened: nothing can be held (status() says why).
    }
    return { held, reserved: this.intake.room.reserved };
  }

  /** What /handlerz shows (monitor/handlerz.ts): the intake against event_limit and each sink's health. */
  status(): HandlersStatus {
    let store: SqliteEventStore;
    try {
      store = this.store;
    } catch (err) {
      return { ...this.statusWithoutStore(), store_error: storeProblem(err) };
    }
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    return {
      held: this.intake.held,
      reserved: this.intake.room.reserved,
      event_limit: this.config().service.event_limit,
      last_seq: store.lastSeq(),
      intake: this.intakeStatus(),
      sinks: this.sinks.map((s) => {
        const counts = store.sinkCounts(s.name);
        const head = counts.pending > 0 ? store.due(s.name, Number.MAX_SAFE_INTEGER, 1)[0] : undefined;
        const lastError =
          s.lastError ?? (head?.lastError !== undefined ? { at: undefined, message: head.lastError } : undefined);
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

  private intakeStatus(): HandlersStatus['intake'] {
    const i = this.intake.stats;
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

  /** status() while the store cannot be opened: the intake's counters, nothing the store would tell. */
  private statusWithoutStore(): HandlersStatus {
    return {
      held: 0,
      reserved: this.intake.room.reserved,
      event_limit: this.config().service.event_limit,
      last_seq: 0,
      intake: this.intakeStatus(),
      sinks: [],
    };
  }

  /** Mounted on the monitoring port (monitor/http.ts): /events and /deadletters. */
  get httpRoutes(): Router {
    return this.api.routes;
  }

  /** Commits and answers what the intake has received, then stops the sinks and the event feed and closes the store. */
  async close(): Promise<void> {
    await this.intake.stop();
    this.eventFeed.close();
    this.housekeeping.stop();
    await this.pool?.close();
    await this.writer?.close();
    this.opened?.close();
    this.conn.close();
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

export function startHandlers(deps: HandlersDeps, opts: { atServiceStart: boolean }): EventHandlers {
  const h = new EventHandlers(deps);
  h.start(opts);
  return h;
}
