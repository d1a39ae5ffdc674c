// The gateway as a process: external NATS clients on TCP+TLS and WebSocket (shared ClientFrontend), admitted only
// with a trusted client certificate AND a valid token (admission.ts, counted by admission-gate.ts), their traffic
// routed in a local broker and carried to the event service over one leafnode link (shared Uplink, set up by
// upstream-link.ts), which also carries their interest up and the service's messages down. /healthz (health.ts) is
// true only while a request really makes that round trip. SIGTERM's lame duck drains the clients (shared
// ClientFrontend.lameDuck) before the uplink closes with what they published. This file wires them together and
// owns the lifecycle and what a reload changes.
import {
  Broker,
  ClientFrontend,
  InterestTable,
  newServerId,
  warnExposedKeyFiles,
  type Client,
  type ClientAuthenticator,
  type ClientLimits,
  type CloseReason,
  type Logger,
  type FrontendHost,
  type ReloadPlan,
  type ServerState,
  type SharedSlots,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { AdmissionGate } from './admission-gate.js';
import type { AuthFailureCounts, AuthFailureReason } from './auth-failures.js';
import { gatewayTlsOptions } from './auth/mtls.js';
import { planGatewayReload } from './config.js';
import type { GatewayConfig } from './config-types.js';
import { HealthProbe } from './health.js';
import { EventCredit, type GatewayUplink } from './event-credit.js';
import { ListenerQuota } from './listener-quota.js';
import type { GatewayStats } from './stats.js';
import { GatewayMonitor, GatewayMonitorViews } from './monitor.js';
import { ClientLimitsInForce, createUplink, uplinkFlushed, warnPlaintextCredentials } from './upstream-link.js';
import { VERSION } from './version.js';

/**
 * At the end of a lame duck, how long publishes still buffered for the upstream (an outage, or a hub not yet
 * interested again) may take to go out before the link closes.
 */
const UPLINK_FLUSH_MS = 5000;

/**
 * A worker of a multi-process gateway (cluster.ts): its share of the connection ids, and max_connections as the
 * primary's budget for the whole gateway; the primary asks its views.
 */
export interface GatewayWorkerRole {
  cids: { first: number; step: number };
  slots?: SharedSlots;
}

export class EventGateway implements FrontendHost {
  /** Gateway clients are limited per connection (max_subscriptions), not in total. */
  readonly broker = new Broker(Number.MAX_SAFE_INTEGER);
  readonly serverId = newServerId();
  readonly startedAt = new Date();
  /** When the configuration in force was loaded (start, then each reload): /varz config_load_time. */
  configLoadedAt = new Date();
  readonly uplink: GatewayUplink;
  readonly health: HealthProbe;
  /** Clients' plain events sent on the service's credit: one client at event_limit does not park the link. */
  readonly eventCredit: EventCredit;
  /** Clients' subscriptions counted toward the service's listener_limit. */
  readonly listenerQuota: ListenerQuota;
  private readonly frontend: ClientFrontend;
  private readonly interest: InterestTable;
  /** The admission rules in force (replaced by a reload), counting refusals and violations. */
  private readonly gate: AdmissionGate;
  private monitor: GatewayMonitor | undefined;
  /** What the monitoring endpoints answer for this process ([monitor] on, or a worker the primary asks). */
  readonly monitorViews: GatewayMonitorViews | undefined;
  private lifecycle: ServerState = 'starting';
  /** Refused admissions by reason, for /metrics and /varz. */
  readonly authFailures: AuthFailureCounts;
  /** Permissions violations since start (the connection stays open; nats-server counts none). */
  readonly permissionViolations: { publish: number; subscribe: number };
  /** [gateway]'s limits, max_payload lowered to the upstream's when that is smaller. */
  private readonly limitsInForce: ClientLimitsInForce;

  constructor(
    public config: GatewayConfig,
    readonly logger: Logger,
    worker?: GatewayWorkerRole,
  ) {
    // Before anything subscribes: the uplink announces upstream every interest this table sees.
    this.interest = new InterestTable(this.broker);
    this.gate = new AdmissionGate(new GatewayAdmission(config, logger), logger);
    this.authFailures = this.gate.authFailures;
    this.permissionViolations = this.gate.permissionViolations;
    this.limitsInForce = new ClientLimitsInForce(() => this.config, logger);
    const tlsOptions = gatewayTlsOptions(config.tls);
    const ws = config.websocket;
    this.frontend = new ClientFrontend(this, {
      host: config.gateway.host,
      port: config.gateway.port,
      tls: tlsOptions,
      ...(worker !== undefined && { cids: worker.cids }),
      ...(worker?.slots !== undefined && { sharedSlots: worker.slots }),
      websocket: ws && {
        host: ws.host,
        port: ws.port,
        tls: tlsOptions,
        origins: { sameOrigin: ws.same_origin, allowedOrigins: ws.allowed_origins },
      },
    });
    const up = config.upstream;
    this.uplink = createUplink(this.broker, config, { interest: this.interest, logger, serverId: this.serverId });
    this.uplink.onStateChange((e) => {
      if (e.type !== 'up' || !this.limitsInForce.upstreamUp(e.hub.maxPayload)) return;
      // Told as nats-server tells its clients new limits: an INFO (ClientLimitsInForce.upstreamUp).
      for (const client of this.frontend.clients.values()) {
        client.applyLimits();
        client.sendInfo({});
      }
    });
    this.health = new HealthProbe(this.broker, this.uplink);
    if (config.monitor !== undefined || worker !== undefined) this.monitorViews = new GatewayMonitorViews(this);
    this.eventCredit = new EventCredit(this.broker, this.uplink, logger.child({ component: 'event-credit' }));
    this.listenerQuota = new ListenerQuota(this.broker, this.uplink, logger.child({ component: 'listener-quota' }));
    warnExposedKeyFiles(logger, [
      ...reloadedKeyFiles(config),
      ...(up.key_path !== undefined ? [{ setting: 'upstream.key_path', file: up.key_path }] : []),
    ]);
    warnPlaintextCredentials(logger, up);
  }

  // --- FrontendHost ----------------------------------------------------------------------------------------

  /** The limits clients are kept to: [gateway]'s, max_payload never above the upstream's (upstream-link.ts). */
  get limits(): ClientLimits {
    return this.limitsInForce.current;
  }
  /** The admission in force, its refusals and permissions violations counted (admission-gate.ts). */
  get authenticator(): ClientAuthenticator {
    return this.gate;
  }
  get maxConnections(): number {
    return this.config.gateway.max_connections;
  }
  /** Not while draining or closing: new sockets are turned away. */
  accepting(): boolean {
    return this.lifecycle === 'starting' || this.lifecycle === 'running';
  }

  clientClosed(client: Client, _reason: CloseReason): void {
    this.monitorViews?.closed.record(client);
  }

  serverInfo(): Record<string, unknown> {
    const g = this.config.gateway;
    return {
      server_id: this.serverId,
      server_name: g.server_name ?? this.serverId,
      version: VERSION,
      proto: 1,
      go: `node${process.versions.node}`,
      host: g.host,
      headers: true,
      max_payload: this.limitsInForce.current.max_payload,
      auth_required: true,
      tls_required: true,
      tls_verify: this.config.tls.verify,
    };
  }

  // --- running ---------------------------------------------------------------------------------------------

  get port(): number {
    return this.frontend.port;
  }
  get websocketPort(): number | undefined {
    return this.frontend.websocketPort;
  }
  get monitorPort(): number | undefined {
    return this.monitor?.port;
  }
  get clients(): ReadonlyMap<number, Client> {
    return this.frontend.clients;
  }
  get totalConnections(): number {
    return this.frontend.totalConnections;
  }
  /** starting → running → [draining (lame duck)] → closing → closed. */
  get state(): ServerState {
    return this.lifecycle;
  }

  async listen(): Promise<void> {
    if (this.config.monitor !== undefined && this.monitorViews !== undefined) {
      this.monitor = new GatewayMonitor(this.monitorViews, this.logger, this.config.monitor);
      await this.monitor.listen();
    }
    this.uplink.start();
    await this.frontend.listen();
    if (this.lifecycle === 'starting') this.lifecycle = 'running';
    this.logger.info(
      { upstream: this.config.upstream.urls, keys: this.gate.rules.keySource, algorithms: this.gate.rules.algorithms },
      'gateway started',
    );
  }

  stats(): GatewayStats {
    const c = this.broker.counters;
    const u = this.uplink.counters;
    return {
      connections: this.frontend.clients.size,
      total_connections: this.frontend.totalConnections,
      in_msgs: c.inMsgs,
      in_bytes: c.inBytes,
      out_msgs: c.outMsgs,
      out_bytes: c.outBytes,
      slow_consumers: c.slowConsumers,
      auth_failures: Object.fromEntries(this.authFailures.entries()) as Record<AuthFailureReason, number>,
      permission_violations: { ...this.permissionViolations },
      upstream: {
        up: this.uplink.up,
        in_msgs: u.inMsgs,
        out_msgs: u.outMsgs,
        buffered_msgs: u.bufferedMsgs,
        buffered_bytes: u.bufferedBytes,
        reconnects: u.reconnects,
        paused_publishers: u.pausedPublishers,
        dropped_too_large: u.droppedOversize,
        in_dropped_too_large: u.inOversize,
      },
      event_credit: this.eventCredit.stats(),
      listener_quota: this.listenerQuota.stats(),
    };
  }

  /**
   * Puts a reloaded configuration in force as the plan has it (the schema's reload marks, config.ts: restart-only
   * settings keep their running values): new token rules, limits on every open connection, the certificate for new
   * handshakes, the log level; live connections holding a token now revoked are closed, and when [auth] changed
   * every live token is judged again. Throws before changing anything when the new key or certificate files cannot
   * be used.
   */
  applyConfig(next: GatewayConfig): ReloadPlan<GatewayConfig> {
    const plan = planGatewayReload(this.config, next);
    const config = plan.config;
    const admission = new GatewayAdmission(config, this.logger);
    const tlsOptions = gatewayTlsOptions(config.tls);
    this.config = config;
    this.limitsInForce.reconfigured();
    this.configLoadedAt = new Date();
    this.gate.use(admission);
    this.frontend.setSecureContext(tlsOptions);
    warnExposedKeyFiles(this.logger, reloadedKeyFiles(config));
    if (this.logger.level !== config.log.level) this.logger.level = config.log.level;
    let revoked = 0;
    const authChanged = plan.applied.some((c) => c.key.startsWith('auth.'));
    for (const client of this.frontend.clients.values()) {
      client.applyLimits();
      if (this.gate.judgeAgain(client, authChanged)) revoked++;
    }
    this.logger.info(
      {
        changed: plan.applied.map((c) => c.key),
        restart_required: plan.restart.map((c) => c.key),
        revoked_connections: revoked,
      },
      'configuration reloaded',
    );
    return plan;
  }

  /**
   * SIGTERM's lame duck (shared ClientFrontend.lameDuck): stop accepting, INFO with `ldm: true` to every client,
   * `lame_duck_grace_period` for them to move, the rest closed spread over `lame_duck_duration`; then `close`,
   * which lets what they published reach the upstream before the link closes. Called again: closes at once.
   */
  async lameDuck(): Promise<void> {
    if (this.lifecycle !== 'starting' && this.lifecycle !== 'running') return this.close();
    this.lifecycle = 'draining';
    const g = this.config.gateway;
    await this.frontend.lameDuck({ durationMs: g.lame_duck_duration, gracePeriodMs: g.lame_duck_grace_period });
    await this.shutdown(UPLINK_FLUSH_MS);
  }

  /**
   * Stops accepting, closes every client (flushing what each is owed), then the uplink (what reached its socket is
   * written before it ends; messages still buffered through an outage are dropped and logged), and monitoring last,
   * so /healthz says 503 for as long as the shutdown takes.
   */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  /** `close`, first giving messages buffered for the upstream up to `flushMs` to go out (the lame duck's end). */
  private async shutdown(flushMs: number): Promise<void> {
    if (this.lifecycle === 'closing' || this.lifecycle === 'closed') return;
    this.lifecycle = 'closing';
    this.health.close();
    await this.frontend.close('Server Shutdown');
    this.eventCredit.close();
    this.listenerQuota.close();
    if (flushMs > 0) await uplinkFlushed(this.uplink, flushMs);
    await this.uplink.close();
    this.interest.close();
    this.lifecycle = 'closed';
    await this.monitor?.close();
    this.logger.info({ total_connections: this.frontend.totalConnections }, 'gateway stopped');
  }
}

/** The private key files a reload reads again: the TLS key and an HMAC secret (the upstream's waits for a restart). */
function reloadedKeyFiles(config: GatewayConfig): Array<{ setting: string; file: string }> {
  return [
    { setting: 'tls.key_path', file: config.tls.key_path },
    ...(config.auth.secret_path !== undefined ? [{ setting: 'auth.secret_path', file: config.auth.secret_path }] : []),
  ];
}
