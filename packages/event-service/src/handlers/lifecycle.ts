// The event handlers' life cycle inside a running service: the event backend `[store] backend` names (event-backend.ts:
// the SQLite store, opened at start: one that cannot be used stops the start, naming the file, store-file.ts; or a
// JetStream stream, opened asynchronously: remote-backend.ts), the intake on `events.>` (its commits through the
// backend: SQLite's on a thread of their own, store-writer.ts), one HTTP sink per configured [handlers] and [sinks.NAME] entry
// (which are configured and where events go: sink-set.ts; with SQLite all in one worker thread, sink-pool.ts; else a
// pump per sink over the backend's queue, sink-runner.ts), the
// store's housekeeping (SQLite's retention: store-housekeeping.ts), the event feed (the `$EVENTS.FEED.QUERY`
// responder, live streams) and the HTTP API the monitoring port serves for them.
// Started by EventServer.listen before its client ports (or by a reload that adds [handlers]); stopped first on
// close so pending requests are answered. What they are given: their own in-process connection, the configuration
// in force and a logger, nothing of the server. What /healthz needs of them (the store, the sinks' worker) is
// health()'s; what they report (/handlerz) is typed in status.ts.
import { resolve } from 'node:path';
import type { EventCatalogue, Logger, Router } from '@event-broker/shared';
import type { EmbeddedConn } from '../embedded-conn.js';
import type { BackendKind, EventBackend } from './event-backend.js';
import { EventFeed } from './event-feed.js';
import { handlersStatus, statusWithoutStore } from './handlers-status.js';
import { HandlersHttpApi } from './http-api.js';
import { EventIntake } from './intake.js';
// remote-backend.ts (the JetStream backend, nats.js) is imported when such a backend opens (openRemote), not at start:
// the SQLite default never loads it (issue 16 item 5).
import type { BackendOpenDeps, CreateSinkPump, OpenBackend } from './remote-backend.js';
import { SinkPool } from './sink-pool.js';
import { SinkPumps, type RunningSink, type SinkRunner } from './sink-runner.js';
import { SinkSet, type SinkSections } from './sink-set.js';
import { SqliteBackend } from './sqlite-backend.js';
import type { ServiceConfig } from '../config-types.js';
import type { HandlersStatus } from './status.js';
import { EventStoreError, storeError, storeProblem } from './store-file.js';
import { SqliteEventStore } from './store.js';
import { StoreHealth } from './store-health.js';
import { StoreHousekeeping } from './store-housekeeping.js';

/** After a store failed to open (a reload that started the handlers), the next try waits this long. */
const REOPEN_MS = 1000;
/** A network backend that could not be opened (a reload that started the handlers) is tried again this often. */
const REMOTE_REOPEN_MS = 5000;
/**
 * A backend shared with other instances changes without this one committing: this often the live feed streams look
 * for their events, and parked publishers for room their deliveries freed.
 */
const SHARED_POLL_MS = 1000;

/** What the service gives its handlers (a network backend's connection and hub info: remote-backend.ts). */
export interface HandlersDeps extends Pick<BackendOpenDeps, 'connect' | 'hub'> {
  /**
   * The handlers' own connection to the broker, a system one (the intake's and the event feed's subscriptions are the
   * service's, not listeners a user made); closed with them.
   */
  conn: EmbeddedConn;
  /** The configuration in force, read on use (a reload changes it). */
  config: () => ServiceConfig;
  logger: Logger;
  /** Opens a backend other than SQLite (default remote-backend.ts openRemoteBackend). */
  openBackend?: OpenBackend;
  /** A sink's pump over such a backend's queue (default remote-backend.ts createSinkPump). */
  createSinkPump?: CreateSinkPump;
  /** With leafnode remotes, the queue groups the intake and the feed query subscribe in (leafnode/remotes.ts). */
  queues?: { readonly intake: string; readonly feed: string };
  /** The event catalogue in force, read per event by the routing (default the process-wide one). */
  catalogue?: () => EventCatalogue;
}

export class EventHandlers {
  /** `[store] backend` at start (a change takes a restart). */
  readonly backendKind: BackendKind;
  /** Resolves once the backend is open; at the service's start it rejects with why it cannot be (start awaits it). */
  ready: Promise<void> = Promise.resolve();
  /** SQLite: the store and the backend over it, made together. */
  private opened: SqliteEventStore | undefined;
  private sqlite: SqliteBackend | undefined;
  /** remote-backend.ts, once a network backend was first opened. */
  private remoteModule: typeof import('./remote-backend.js') | undefined;
  /** Another backend (JetStream), once opened; until then why it could not be. */
  private remote: EventBackend | undefined;
  private remoteFailure: Error | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private sharedPoll: NodeJS.Timeout | undefined;
  private closing = false;
  /** The store could not be opened: why, and when it was last tried. */
  private openFailure: { error: EventStoreError; at: number } | undefined;
  /** The sinks' runner: SQLite's worker (sink-pool.ts) or the pumps (sink-runner.ts), started with the first sink. */
  private runner: SinkRunner | undefined;
  readonly intake: EventIntake;
  readonly eventFeed: EventFeed;
  private readonly housekeeping: StoreHousekeeping;
  private readonly storeHealth: StoreHealth;
  private readonly api: HandlersHttpApi;
  private readonly conn: EmbeddedConn;
  private readonly config: () => ServiceConfig;
  private readonly logger: Logger;
  private readonly deps: HandlersDeps;
  /** The configured sinks and where events go (sink-set.ts). */
  private readonly sinkSet: SinkSet;

  constructor(deps: HandlersDeps) {
    const { conn, logger } = deps;
    this.deps = deps;
    this.conn = conn;
    this.config = deps.config;
    this.logger = logger;
    this.backendKind = deps.config().store?.backend ?? 'sqlite'; // remote-backend.ts backendKind's rule
    this.sinkSet = new SinkSet({
      backendOpen: () => this.backendOpen,
      hasRunner: () => this.runner !== undefined,
      runner: () => this.sinkRunner(),
      logger,
      ...(deps.catalogue && { catalogue: deps.catalogue }),
    });
    this.eventFeed = new EventFeed({
      backend: () => this.backend,
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
      onPass: () => this.runner?.recheck(),
    });
    this.api = new HandlersHttpApi({
      backend: () => this.backend,
      eventFeed: this.eventFeed,
      sinkNames: () => this.sinks.map((s) => s.name),
      replayed: (name) => this.sinks.find((s) => s.name === name)?.resume(),
      logger,
    });
    this.intake = new EventIntake(conn, {
      // Its held count, and its appends (SQLite's on the store writer's thread: sqlite-backend.ts).
      store: () => this.backend,
      eventLimit: () => this.config().service.event_limit,
      addGate: (gate) => conn.addGate(gate),
      sinksFor: (event) => this.sinkSet.sinksFor(event),
      onStored: () => {
        this.runner?.wake();
        this.eventFeed.notify();
      },
      maxPayloadBytes: () => this.config().service.max_payload,
      logger,
      ...(deps.queues && { queues: { events: deps.queues.intake } }),
      ...(deps.catalogue && { catalogue: deps.catalogue }),
    });
    this.storeHealth = new StoreHealth({
      backend: () => this.backend,
      backendOpen: () => this.backendOpen,
      sqlite: () => this.opened,
      intake: this.intake,
      logger,
    });
  }

  /** The running sinks as their runner last reported them. */
  get sinks(): readonly RunningSink[] {
    return this.runner?.sinks ?? [];
  }

  /** Whether the backend is open (SQLite: its store; else the remote one). */
  private get backendOpen(): boolean {
    return this.opened !== undefined || this.remote !== undefined;
  }

  /** A reload's [handlers] and [sinks]: sinks added, removed or replaced (sink-set.ts SinkSet.apply). */
  applySinks(config: SinkSections): { added: string[]; removed: string[]; replaced: string[] } {
    return this.sinkSet.apply(config);
  }

  /** SQLite: the sink worker reading the file (sink-pool.ts); else a pump per sink over the backend's queue. */
  private sinkRunner(): SinkRunner {
    if (this.runner !== undefined) return this.runner;
    if (this.backendKind === 'sqlite') {
      const store = this.store;
      this.runner = new SinkPool({
        file: store.file,
        heldCounter: store.heldCounter,
        logger: this.logger,
        onResolved: () => this.intake.released(),
      });
      return this.runner;
    }
    const backend = this.backend; // throws until openRemote has opened it, and so loaded remoteModule
    const create = this.deps.createSinkPump ?? this.remoteModule!.createSinkPump;
    const deps = { backend, logger: this.logger, onResolved: () => this.intake.released() };
    this.runner = new SinkPumps(
      (settings) => create(settings, deps),
      (sink, err) => this.logger.warn({ sink, err: err.message }, 'sink did not close cleanly'),
    );
    return this.runner;
  }

  /**
   * The backend the handlers read and write through. SQLite's opens with its store (store); another one is opened
   * at start (openRemote). Throws while it cannot be used, which the intake answers as EEVENT_STORE and the feed and
   * dead-letter API as 503.
   */
  get backend(): EventBackend {
    if (this.backendKind === 'sqlite') {
      const store = this.store;
      this.sqlite ??= new SqliteBackend(store, this.logger);
      return this.sqlite;
    }
    if (this.remote !== undefined) return this.remote;
    throw this.remoteFailure ?? new Error(`the ${this.backendKind} event store is not open yet`);
  }

  /**
   * The store, opened (and created) on first use: at start(). Throws EventStoreError while it cannot be opened
   * (tried again at most every REOPEN_MS), which the intake answers as EEVENT_STORE.
   */
  get store(): SqliteEventStore {
    if (this.backendKind !== 'sqlite') throw new Error(`the event store is ${this.backendKind}, not SQLite`);
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
      if (this.openFailure !== undefined) queueMicrotask(() => this.sinkSet.startDeferred());
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

  /**
   * `atServiceStart`: started by the service's start (not by a reload that added [handlers]). A backend opened over
   * the network is opened meanwhile: `ready` says when (the service's start awaits it).
   */
  start(opts: { atServiceStart: boolean }): void {
    if (this.backendKind === 'sqlite') this.openSqlite(opts);
    else {
      this.ready = this.openRemote(opts.atServiceStart);
      // Awaited by the service's start; never an unhandled rejection meanwhile.
      this.ready.catch(() => {});
    }
    this.sinkSet.start(this.config());
    this.intake.start();
    // Deliveries left pending by the last run (a crash included) go out as each sink starts.
    this.eventFeed.start(this.conn);
    this.housekeeping.start();
    if (this.backendKind !== 'sqlite') {
      this.sharedPoll = setInterval(() => this.pollShared(), SHARED_POLL_MS);
      this.sharedPoll.unref();
    }
  }

  /** What other instances did to a shared backend: their events for the live streams, room they freed. */
  private pollShared(): void {
    const backend = this.remote;
    if (backend === undefined) return;
    this.eventFeed.notify();
    if (this.intake.stats.parkedPublishers === 0) return;
    backend.refreshHeld().then(
      () => this.intake.released(),
      (err: unknown) => this.logger.warn({ err: (err as Error).message }, 'event store: reading the held count failed'),
    );
  }

  private openSqlite(opts: { atServiceStart: boolean }): void {
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
  }

  /**
   * Opens the network backend. At the service's start a failure rejects (the start fails with it, as with a store
   * file that cannot be used); after a reload it is logged, reported by /healthz, and tried again.
   */
  private async openRemote(atServiceStart: boolean): Promise<void> {
    this.reopenTimer = undefined;
    try {
      this.remoteModule ??= await import('./remote-backend.js');
      const backend = await (this.deps.openBackend ?? this.remoteModule.openRemoteBackend)(this.deps);
      if (this.closing) {
        await backend.close();
        return;
      }
      this.remote = backend;
      this.remoteFailure = undefined;
      this.logger.info({ backend: backend.kind, held: backend.held }, 'event store open');
      this.sinkSet.startDeferred();
      this.intake.released();
    } catch (err) {
      this.remoteFailure = err as Error;
      if (atServiceStart) throw err;
      this.logger.error(
        { backend: this.backendKind, err: (err as Error).message, retry_ms: REMOTE_REOPEN_MS },
        'event store cannot be opened: events are refused until it can',
      );
      if (!this.closing) this.reopenTimer = setTimeout(() => void this.openRemote(false), REMOTE_REOPEN_MS).unref();
    }
  }

  /**
   * Why a configured part cannot work, for /healthz (undefined when all can): the store (not opened, its file
   * removed or replaced, its commits failing) and the sinks' worker. After a failed commit a probe (a one-row commit
   * through the store writer; a network backend's last sequence read) tells whether the store works again, so a
   * service with no traffic to prove it (a load balancer took it out on a 503) does not stay unhealthy for good.
   */
  async health(): Promise<string | undefined> {
    const store = await this.storeHealth.check();
    const sinks = this.runner?.health();
    const problems = [store, sinks].filter((p) => p !== undefined);
    return problems.length === 0 ? undefined : problems.join('; ');
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
  async status(): Promise<HandlersStatus> {
    const without = () => ({
      reserved: this.intake.room.reserved,
      eventLimit: this.config().service.event_limit,
      intake: this.intake.stats,
    });
    try {
      return await handlersStatus({
        backend: this.backend,
        sqlite: this.opened,
        held: this.intake.held,
        ...without(),
        sinks: this.sinks,
      });
    } catch (err) {
      // The store cannot be opened (or a network backend did not answer): why, without its file.
      return { ...statusWithoutStore(without()), store_error: storeProblem(err) };
    }
  }

  /** Mounted on the monitoring port (monitor/http.ts): /events and /deadletters. */
  get httpRoutes(): Router {
    return this.api.routes;
  }

  /** Commits and answers what the intake has received, then stops the sinks and the event feed and closes the store. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reopenTimer);
    clearInterval(this.sharedPoll);
    await this.intake.stop();
    this.eventFeed.close();
    this.housekeeping.stop();
    await this.runner?.close();
    // A network backend still opening is closed as it opens (openRemote).
    await this.ready.catch(() => {});
    // SQLite: the writer's thread once its commits are answered, then the store.
    if (this.sqlite !== undefined) await this.sqlite.close();
    else this.opened?.close();
    try {
      await this.remote?.close();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'event store did not close cleanly');
    }
    this.conn.close();
  }
}

export function startHandlers(deps: HandlersDeps, opts: { atServiceStart: boolean }): EventHandlers {
  const h = new EventHandlers(deps);
  h.start(opts);
  return h;
}
