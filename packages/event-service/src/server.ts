// The event service as a process: its client frontend (shared/server/frontend.ts: TCP, TLS, WebSocket, admission,
// flushing), the leafnode port, monitoring, the handlers, live reload, the lame-duck drain and an orderly
// shutdown. Routing lives in the shared broker, the protocol in the shared client.
import {
  Broker,
  ClientFrontend,
  loadServerTlsOptions,
  newServerId,
  ReservedSubjects,
  warnExposedKeyFiles,
  type Client,
  type ClientAuthenticator,
  type ClientLimits,
  type EventCatalogue,
  type FrontendHost,
  type Logger,
  type ReloadPlan,
} from '@event-broker/shared';
import { ClientAdmission } from './auth/admission.js';
import { leafnodeListener, planServiceReload } from './config.js';
import type { ServiceStats } from './api.js';
import type { LoadedCatalogue } from './catalogue/load.js';
import { catalogueFor, logCatalogue } from './catalogue/service-catalogue.js';
import type { ServiceConfig } from './config-types.js';
import { EmbeddedConn } from './embedded-conn.js';
import { DEFAULT_STREAM } from './handlers/jetstream/layout.js';
import { storeInboxPrefix, storeReservedSubjects } from './handlers/jetstream/reserved-subjects.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from './handlers/jetstream/store-config.js';
import { startHandlers, type EventHandlers, type HandlersDeps } from './handlers/lifecycle.js';
import { HealthResponder } from './health-responder.js';
import { InternalPort } from './internal-port.js';
import { startHttpIntake, type HttpIntake } from './intake-http/start.js';
import { ListenerCreditResponder } from './listener-credit.js';
import { LeafnodePort } from './leafnode/port.js';
import { LeafRemotes, SHARED_WORK_QUEUES, type RemoteStatus } from './leafnode/remotes.js';
import { MonitorServer } from './monitor/http.js';
import type { MonitorSource, ServerState } from './monitor/source.js';
import { VERSION } from './version.js';

/** How the server runs in its process (not settings: the configuration is the first argument). */
export interface ServerOptions {
  /** false: the event handlers never run, whatever the configuration says (tests that drive an intake themselves). */
  handlers?: boolean;
  /** false: no TCP port for clients ([service] host and port unused): the in-process-only service (embedded.ts). */
  clientPort?: boolean;
}

export class EventServer implements FrontendHost, MonitorSource {
  readonly broker: Broker;
  readonly serverId = newServerId();
  readonly startedAt = new Date();
  configLoadedAt = new Date();
  private readonly frontend: ClientFrontend;
  /** Who may connect: `[service] token` or `users` (auth/admission.ts). */
  private readonly admission: ClientAdmission;
  private closing = false;
  /** Set by lameDuck: no new client is admitted, those connected were told to leave. */
  private draining = false;
  private lifecycle: ServerState = 'starting';
  private monitor: MonitorServer | undefined;
  /** The [leafnodes] port, when configured (monitoring reads its links). */
  leafnodes: LeafnodePort | undefined;
  /** The hubs [[leafnodes.remotes]] names, dialled as a leaf (monitoring reads their links). */
  leafRemotes: LeafRemotes | undefined;
  private healthResponder: HealthResponder | undefined;
  private listenerCredit: ListenerCreditResponder | undefined;
  /** The service's own client port (internal-port.ts), for the JetStream backend's `nats` client. */
  internalPort: InternalPort | undefined;

  /** The event intake and store (handlers/lifecycle.ts), once listening, when [store] or [handlers] is configured (and not `handlers: false`). */
  handlers: EventHandlers | undefined;
  /** The [intake.http] listener, once listening (with the handlers). */
  httpIntake: HttpIntake | undefined;
  /** Set by listen unless `handlers: false`, so a reload that adds [handlers] can start them. */
  private startHandlers: (() => EventHandlers) | undefined;
  /** The event types in force: the process-wide catalogue plus [catalogue] files; a reload replaces it whole. */
  private catalogueLoad: LoadedCatalogue;

  constructor(
    public config: ServiceConfig,
    readonly logger: Logger,
    private readonly options: ServerOptions = {},
  ) {
    this.broker = new Broker(config.service.listener_limit);
    // The JetStream store's traffic crosses this broker: its subjects are the service's own (reserved-subjects.ts).
    // From the start, before any connection; [store] backend and stream are restart-only.
    if (config.store?.backend === 'jetstream')
      this.broker.reserved = new ReservedSubjects(storeReservedSubjects(config.store.stream ?? DEFAULT_STREAM));
    this.admission = new ClientAdmission(config.service, logger);
    this.catalogueLoad = catalogueFor(config);
    logCatalogue(logger, this.catalogueLoad);
    const svc = config.service;
    const ws = config.websocket;
    this.frontend = new ClientFrontend(this, {
      host: svc.host,
      port: options.clientPort === false ? undefined : svc.port,
      tls: config.tls ? loadServerTlsOptions(config.tls) : undefined,
      websocket: ws && {
        host: ws.host,
        port: ws.port,
        tls: config.tls && !ws.no_tls ? loadServerTlsOptions(config.tls) : undefined,
        origins: { sameOrigin: ws.same_origin, allowedOrigins: ws.allowed_origins },
      },
    });
    warnExposedKeyFiles(logger, [
      ...(config.tls ? [{ setting: 'tls.key_path', file: config.tls.key_path }] : []),
      ...(config.leafnodes?.tls ? [{ setting: 'leafnodes.tls.key_path', file: config.leafnodes.tls.key_path }] : []),
    ]);
  }

  get port(): number {
    return this.frontend.port;
  }
  /** The event types the intake takes and routing reads, in force now (read on use: a reload replaces it). */
  get catalogue(): EventCatalogue {
    return this.catalogueLoad.catalogue;
  }
  get websocketPort(): number | undefined {
    return this.frontend.websocketPort;
  }
  /** Client connections open now, by client id (monitoring, reload, the lame duck). */
  get clients(): ReadonlyMap<number, Client> {
    return this.frontend.clients;
  }
  get totalConnections(): number {
    return this.frontend.totalConnections;
  }
  get maxConnections(): number {
    return this.config.service.max_connections;
  }
  accepting(): boolean {
    return !this.closing && !this.draining;
  }
  /** The monitoring port actually bound, when [monitor] is configured. */
  get monitorPort(): number | undefined {
    return this.monitor?.port;
  }
  /** The leafnode port actually bound, when [leafnodes] is configured. */
  get leafnodePort(): number | undefined {
    return this.leafnodes?.port;
  }
  /**
   * Each [[leafnodes.remotes]] link: its URL, state, the hub's leaf INFO (`hub.jetstream`, `hub.domain`) and latest
   * failure. Empty without remotes.
   */
  remotes(): readonly RemoteStatus[] {
    return this.leafRemotes?.remotes() ?? [];
  }
  /** starting → running (listening) → [draining (lame duck)] → closing → closed; /healthz is 200 only while running. */
  get state(): ServerState {
    return this.lifecycle;
  }

  async listen(): Promise<void> {
    // Monitoring first, as nats-server does: /healthz then reports 503 until the client ports are up.
    if (this.config.monitor) {
      this.monitor = new MonitorServer(this, { ...this.config.monitor, logger: this.logger });
      await this.monitor.listen();
    }
    // Before any subscription (the responders' below included): the leafnode port's and the remotes' interest tables
    // see only those made after them.
    if (this.config.leafnodes) {
      if (leafnodeListener(this.config.leafnodes) !== undefined) this.leafnodes = new LeafnodePort(this);
      if (this.config.leafnodes.remotes !== undefined) {
        try {
          this.leafRemotes = new LeafRemotes(this.broker, this.config, {
            logger: this.logger,
            serverId: this.serverId,
          });
        } catch (err) {
          await this.monitor?.close();
          throw err;
        }
      }
      // With remotes, several instances share the work: their responders are queue groups (leafnode/remotes.ts).
      const queues = this.sharedWorkQueues;
      // What a gateway's /healthz asks through the link (health-responder.ts).
      this.healthResponder = new HealthResponder(this.broker, this.serverId, queues?.health);
      // What a gateway asks before admitting its clients' subscriptions (listener-credit.ts).
      this.listenerCredit = new ListenerCreditResponder(this.broker);
    }
    try {
      // Dialling before the handlers start (a JetStream backend may wait for its hub) and before clients are accepted.
      this.leafRemotes?.start();
      // Before the handlers: the JetStream store reaches the cluster through it (and the remotes).
      if (this.config.store?.backend === 'jetstream') {
        this.internalPort = new InternalPort(this, {
          jetStreamVersion: () => this.leafRemotes?.remotes().find((r) => r.hub !== undefined)?.hub?.version,
        });
        await this.internalPort.listen();
      }
      if (this.options.handlers !== false) {
        this.startHandlers = () => this.createHandlers();
        // Before any client, so the first event finds the intake subscribed.
        if (this.config.store !== undefined || this.config.handlers !== undefined || this.config.sinks !== undefined) {
          this.handlers = this.startHandlers();
          // A backend opened over the network (JetStream) is awaited: one that cannot be used stops the start.
          await this.handlers.ready;
          this.httpIntake = await startHttpIntake(this.config.intake?.http, this);
        }
      }
      this.admission.warm();
      await this.frontend.listen();
      if (this.options.clientPort === false)
        this.logger.info(
          'no client port: reached in-process only (and over [websocket] or [leafnodes] when configured)',
        );
      await this.leafnodes?.listen();
    } catch (err) {
      await this.httpIntake?.close();
      await this.handlers?.close();
      await this.internalPort?.close();
      await this.leafRemotes?.close();
      await this.leafnodes?.close();
      await this.monitor?.close();
      throw err;
    }
    if (this.lifecycle === 'starting') this.lifecycle = 'running';
  }

  /** The handlers with their own in-process connection; at the service's start a store that cannot be opened stops it. */
  private createHandlers(): EventHandlers {
    const conn = new EmbeddedConn(this.broker, {
      limits: () => this.config.service,
      logger: this.logger,
      system: true,
    });
    const queues = this.sharedWorkQueues;
    return startHandlers(
      {
        conn,
        config: () => this.config,
        logger: this.logger,
        catalogue: () => this.catalogue,
        ...(queues !== undefined && { queues }),
        ...this.storeLink(),
      },
      { atServiceStart: this.lifecycle === 'starting' },
    );
  }

  /**
   * How the JetStream store reaches the cluster: a `nats` connection to this broker's internal port (internal-port.ts),
   * whose requests cross the leaf remotes, once a link is up (bounded: a hub that stays away is the store's error to
   * report); and what the hubs announced (their JetStream domain).
   */
  private storeLink(): Pick<HandlersDeps, 'connect' | 'hub'> {
    const internal = this.internalPort;
    if (internal === undefined) return {};
    const hub = () => this.leafRemotes?.remotes().find((r) => r.state === 'up' && r.hub !== undefined)?.hub;
    return {
      connect: async () => {
        const timeoutMs = this.config.store?.request_timeout ?? DEFAULT_REQUEST_TIMEOUT_MS;
        await this.leafRemotes?.waitUntilUp(timeoutMs).catch(() => undefined);
        const { connect } = await import('nats'); // the JetStream backend's only: not loaded at start
        return connect({
          ...internal.connectOptions(),
          name: 'event-service store',
          maxReconnectAttempts: -1,
          // Under the reserved `eventstore.>`: what the store receives (PubAcks, API answers, pull deliveries) no
          // other connection can read or forge.
          inboxPrefix: storeInboxPrefix(),
        });
      },
      hub: {
        hubDomain: () => hub()?.domain,
        hubJetStream: () => hub()?.jetstream,
        ...(this.leafRemotes && {
          remotesUp: () => hub() !== undefined,
          remotesDown: () =>
            this.remotes()
              .filter((r) => r.state !== 'up')
              .map((r) => r.lastError?.message ?? `${r.url}: ${r.state}`)
              .join('; '),
        }),
      },
    };
  }

  /** With remotes, the queue groups the shared work subscribes in; undefined without (one instance takes it all). */
  private get sharedWorkQueues(): typeof SHARED_WORK_QUEUES | undefined {
    return this.config.leafnodes?.remotes !== undefined ? SHARED_WORK_QUEUES : undefined;
  }

  stats(): ServiceStats {
    const c = this.broker.counters;
    return {
      connections: this.clients.size,
      total_connections: this.totalConnections,
      listeners: this.broker.listenerCount,
      listener_limit: this.broker.listenerLimit,
      listener_credit: this.broker.listenerCreditGranted,
      system_subscriptions: this.broker.systemSubscriptions,
      event_limit: this.config.service.event_limit,
      events_held: this.handlers?.eventLimitUse().held ?? 0,
      events_reserved: this.handlers?.eventLimitUse().reserved ?? 0,
      in_msgs: c.inMsgs,
      in_bytes: c.inBytes,
      out_msgs: c.outMsgs,
      out_bytes: c.outBytes,
      slow_consumers: c.slowConsumers,
    };
  }

  /** The client limits in force (ClientContext): the [service] section, read on use. */
  get limits(): ClientLimits {
    return this.config.service;
  }

  /** The token or users check, when either is configured (ClientContext); read on use so a reload changes it. */
  get authenticator(): ClientAuthenticator | undefined {
    return this.admission.authenticator;
  }

  serverInfo(): Record<string, unknown> {
    const svc = this.config.service;
    const info: Record<string, unknown> = {
      server_id: this.serverId,
      server_name: svc.server_name ?? this.serverId,
      version: VERSION,
      proto: 1,
      go: `node${process.versions.node}`,
      host: svc.host,
      port: this.frontend.port,
      headers: true,
      max_payload: svc.max_payload,
    };
    if (this.admission.authRequired) info.auth_required = true;
    if (this.config.tls) {
      info.tls_required = true;
      if (this.config.tls.verify) info.tls_verify = true;
    }
    return info;
  }

  clientClosed(client: Client): void {
    this.admission.clientClosed(client);
    this.monitor?.closed.record(client);
  }

  // --- live changes and shutdown -------------------------------------------------------------------------

  /**
   * Puts a reloaded configuration in force as the plan has it (the schema's reload marks, config.ts: restart-only
   * settings keep their running values): limits on every open connection, the token and users (connections judged
   * again), the log level, the certificate for new handshakes, the handler sinks. Throws (TlsConfigError) before
   * changing anything when the new certificate files cannot be used.
   */
  applyConfig(next: ServiceConfig): ReloadPlan<ServiceConfig> {
    const plan = planServiceReload(this.config, next);
    const config = plan.config;
    // The catalogue files, read again whether [catalogue] changed or not: one that fails refuses the whole reload.
    const catalogue = catalogueFor(next);
    // Read every TLS file first: a bad one refuses the whole reload, nothing applied.
    const tlsOptions = config.tls && this.frontend.tlsEnabled ? loadServerTlsOptions(config.tls) : undefined;
    // [intake.http]'s key and certificate files likewise (intake-http/listener.ts reload); applied when they read.
    if (config.intake?.http) this.httpIntake?.reload(config.intake.http);
    const before = this.config.service;
    this.config = config;
    // Replaced whole: an event is checked against the old catalogue or the new one, never a mix.
    logCatalogue(this.logger, catalogue, this.catalogueLoad);
    this.catalogueLoad = catalogue;
    this.admission.configure(config.service);
    this.configLoadedAt = new Date();
    this.broker.listenerLimit = config.service.listener_limit;
    if (this.logger.level !== config.log.level) this.logger.level = config.log.level;
    if (tlsOptions !== undefined) {
      // Handshakes from now on use the new context; established sessions keep theirs (Node tls.Server setSecureContext).
      this.frontend.setSecureContext(tlsOptions);
      this.logger.info({ cert_path: config.tls!.cert_path }, 'TLS certificate reloaded for new connections');
      warnExposedKeyFiles(this.logger, [{ setting: 'tls.key_path', file: config.tls!.key_path }]);
    }
    // [handlers] live: sinks added, removed or replaced; [feed] retention is read at each housekeeping pass.
    if (this.handlers !== undefined) {
      this.handlers.applySinks(config);
      // A raised event_limit is room now: publishers parked at the old one go on.
      if (config.service.event_limit > before.event_limit) this.handlers.intake.released();
    } else if (
      (config.handlers ?? config.sinks) !== undefined &&
      this.startHandlers !== undefined &&
      !this.closing &&
      !this.draining
    ) {
      // Not with a [store] change waiting for a restart: the store opened now would not be the one a restart opens,
      // and what it keeps would not be delivered.
      if (plan.restart.some((c) => c.key.startsWith('store.'))) {
        this.logger.warn('[handlers] added together with a [store] change: the handlers start after a restart');
      } else {
        this.handlers = this.startHandlers();
      }
    }
    // A client checks max_payload against the INFO it last got (nats.js, nats.go): tell the connected ones.
    const announce =
      before.max_payload !== config.service.max_payload || before.server_name !== config.service.server_name;
    for (const c of this.clients.values()) {
      c.applyLimits();
      if (announce) c.sendInfo({});
    }
    // Users removed or with a new password are closed, the others get their new permissions (auth/admission.ts).
    this.admission.reauthorize([...this.clients.values()]);
    return plan;
  }

  /**
   * Lame-duck mode (nats-server lameDuckMode, shared ClientFrontend.lameDuck): stops accepting, tells every client
   * with an INFO carrying `ldm: true`, leaves them `lame_duck_grace_period` to leave on their own, closes the rest
   * spread over what remains of `lame_duck_duration`, and finally closes as `close` does. Resolves when closed.
   */
  async lameDuck(): Promise<void> {
    if (this.draining || this.closing) return this.close();
    this.draining = true;
    if (this.lifecycle === 'running' || this.lifecycle === 'starting') this.lifecycle = 'draining';
    const svc = this.config.service;
    await this.frontend.lameDuck({ durationMs: svc.lame_duck_duration, gracePeriodMs: svc.lame_duck_grace_period });
    await this.close();
  }

  /** Stops accepting, sends every client what it is owed, closes them; resolves when all are gone. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.lifecycle = 'closing';
    const stopped: Promise<unknown>[] = [this.frontend.stopListening()];
    if (this.leafnodes) stopped.push(this.leafnodes.close());
    this.healthResponder?.close();
    this.listenerCredit?.close();
    // Each close flushes what the client is owed; its transport cuts a peer that will not read it.
    // Handlers first: the intake commits and answers what it has received while its requesters are still connected.
    // HTTP producers before them: no new event once the intake stops; those in flight are answered.
    await this.httpIntake?.close();
    await this.handlers?.close();
    if (this.internalPort) stopped.push(this.internalPort.close());
    // After the handlers: requests that came over a remote are answered through it.
    if (this.leafRemotes) stopped.push(this.leafRemotes.close());
    stopped.push(this.frontend.close('Server Shutdown'));
    await Promise.all(stopped);
    await this.admission.close();
    this.lifecycle = 'closed';
    // Last, so /healthz says 503 for as long as the shutdown takes.
    await this.monitor?.close();
    this.logger.info({ total_connections: this.totalConnections }, 'server stopped');
  }
}
