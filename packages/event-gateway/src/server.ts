// The gateway as a process: external NATS clients on TCP+TLS and WebSocket (shared ClientFrontend), admitted only
// with a trusted client certificate AND a valid token (admission.ts), their traffic routed in a local broker and
// carried to the event service over one leafnode link (shared Uplink), which also carries their interest up and the
// service's messages down. /healthz (health.ts) is true only while a request really makes that round trip. SIGTERM's
// lame duck drains the clients (shared ClientFrontend.lameDuck) before the uplink closes with what they published.
import {
  AUTH_STAMP_MAX_BYTES,
  Broker,
  ClientFrontend,
  Errors,
  InterestTable,
  isLoopbackHost,
  loadClientTlsOptions,
  newServerId,
  parseHubUrl,
  warnExposedKeyFiles,
  type Client,
  type Admission,
  type ClientAuthenticator,
  type ClientLimits,
  type ClientPermissions,
  type CloseReason,
  type Logger,
  type FrontendHost,
  type ReloadPlan,
  type ServerState,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { AuthFailureCounts, type AuthFailureReason } from './auth-failures.js';
import { gatewayTlsOptions } from './auth/mtls.js';
import { planGatewayReload } from './config.js';
import type { GatewayConfig } from './config-types.js';
import { HealthProbe } from './health.js';
import { EventCredit, GatewayUplink } from './event-credit.js';
import { ListenerQuota } from './listener-quota.js';
import type { GatewayStats } from './stats.js';
import { GatewayMonitor } from './monitor.js';
import { VERSION } from './version.js';

/** Where clients publish events (the event service's intake subscribes to `events.>`). */
const EVENT_SUBJECT_PREFIX = 'events.';

/**
 * At the end of a lame duck, how long publishes still buffered for the upstream (an outage, or a hub not yet
 * interested again) may take to go out before the link closes.
 */
const UPLINK_FLUSH_MS = 5000;

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
  private admission: GatewayAdmission;
  private monitor: GatewayMonitor | undefined;
  private lifecycle: ServerState = 'starting';
  /** Refused admissions by reason, for /metrics and /varz. */
  readonly authFailures = new AuthFailureCounts();
  /** Permissions violations since start (the connection stays open; nats-server counts none). */
  readonly permissionViolations = { publish: 0, subscribe: 0 };
  /** The upstream's INFO max_payload, from the latest link (kept through an outage); undefined before the first. */
  private upstreamMaxPayload: number | undefined;
  /** [gateway]'s limits, max_payload lowered to the upstream's when that is smaller (clientLimits). */
  private effectiveLimits: ClientLimits;

  constructor(
    public config: GatewayConfig,
    readonly logger: Logger,
  ) {
    // Before anything subscribes: the uplink announces upstream every interest this table sees.
    this.interest = new InterestTable(this.broker);
    this.admission = new GatewayAdmission(config, logger);
    this.effectiveLimits = config.gateway;
    const tlsOptions = gatewayTlsOptions(config.tls);
    const ws = config.websocket;
    this.frontend = new ClientFrontend(this, {
      host: config.gateway.host,
      port: config.gateway.port,
      tls: tlsOptions,
      websocket: ws && {
        host: ws.host,
        port: ws.port,
        tls: tlsOptions,
        origins: { sameOrigin: ws.same_origin, allowedOrigins: ws.allowed_origins },
      },
    });
    const up = config.upstream;
    const upstreamTls =
      up.cert_path !== undefined || up.root_ca_path !== undefined
        ? loadClientTlsOptions(up, { section: 'upstream' })
        : undefined;
    this.uplink = new GatewayUplink(this.broker, {
      urls: up.urls,
      ...(upstreamTls !== undefined && { tls: upstreamTls }),
      limits: config.gateway,
      logger: logger.child({ component: 'uplink' }),
      name: config.gateway.server_name ?? this.serverId,
      serverId: this.serverId,
      version: VERSION,
      bufferBytes: up.buffer_bytes,
      reconnectDelayMs: up.reconnect_delay,
      reconnectMaxDelayMs: up.reconnect_max_delay,
      interest: this.interest,
      // Each client's messages carry who it was verified as (README, The event gateway); a copy it wrote is removed.
      // The claims ride only on events, which the service stores with them.
      stampAuth: { claimsOn: EVENT_SUBJECT_PREFIX, ...(up.auth_stamp === 'events' && { only: EVENT_SUBJECT_PREFIX }) },
      takesCredit: true,
      ...(up.user !== undefined || up.token !== undefined
        ? {
            credentials: {
              ...(up.user !== undefined && { user: up.user, password: up.password! }),
              ...(up.token !== undefined && { token: up.token }),
            },
          }
        : {}),
    });
    this.uplink.onStateChange((e) => {
      if (e.type === 'up') this.upstreamLimit(e.hub.maxPayload);
    });
    this.health = new HealthProbe(this.broker, this.uplink);
    this.eventCredit = new EventCredit(this.broker, this.uplink, logger.child({ component: 'event-credit' }));
    this.listenerQuota = new ListenerQuota(this.broker, this.uplink, logger.child({ component: 'listener-quota' }));
    warnExposedKeyFiles(logger, [
      ...reloadedKeyFiles(config),
      ...(up.key_path !== undefined ? [{ setting: 'upstream.key_path', file: up.key_path }] : []),
    ]);
    warnPlaintextCredentials(logger, up, upstreamTls !== undefined);
  }

  // --- FrontendHost ----------------------------------------------------------------------------------------

  /** The limits clients are kept to: [gateway]'s, max_payload never above the upstream's (upstreamLimit). */
  get limits(): ClientLimits {
    return this.effectiveLimits;
  }
  get authenticator(): ClientAuthenticator {
    return this.countingAuthenticator;
  }
  get maxConnections(): number {
    return this.config.gateway.max_connections;
  }
  /** Not while draining or closing: new sockets are turned away. */
  accepting(): boolean {
    return this.lifecycle === 'starting' || this.lifecycle === 'running';
  }

  clientClosed(client: Client, _reason: CloseReason): void {
    this.monitor?.closed.record(client);
  }

  /**
   * The admission in force (replaced by a reload), its refusals counted by reason and its permissions wrapped to
   * count violations; the Client logs each refusal and answers it.
   */
  private readonly countingAuthenticator: ClientAuthenticator = {
    admit: (connect, client) =>
      this.admitUnderCurrentRules(connect, client).then(
        (verdict) => this.counted(verdict),
        (err: unknown) => {
          this.authFailures.record('authenticator failed');
          throw err;
        },
      ),
  };

  /**
   * A verdict reached under rules a reload has since replaced is reached again under the new ones: a token the
   * reload revoked (or a key it retired) must not slip in because its check was in flight at the time.
   */
  private async admitUnderCurrentRules(connect: Readonly<Record<string, unknown>>, client: Client): Promise<Admission> {
    for (;;) {
      const rules = this.admission;
      const verdict = await rules.admit(connect, client);
      if (rules === this.admission) return verdict;
    }
  }

  private counted(verdict: Admission): Admission {
    if (!verdict.ok) {
      this.authFailures.record(verdict.reason);
      return verdict;
    }
    if (verdict.permissions === undefined) return verdict;
    return { ...verdict, permissions: countViolations(verdict.permissions, this.permissionViolations) };
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
      max_payload: this.effectiveLimits.max_payload,
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
    if (this.config.monitor !== undefined) {
      this.monitor = new GatewayMonitor(this, this.config.monitor);
      await this.monitor.listen();
    }
    this.uplink.start();
    await this.frontend.listen();
    if (this.lifecycle === 'starting') this.lifecycle = 'running';
    this.logger.info(
      { upstream: this.config.upstream.urls, keys: this.admission.keySource, algorithms: this.admission.algorithms },
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
    this.effectiveLimits = clientLimits(config, this.upstreamMaxPayload);
    this.configLoadedAt = new Date();
    this.admission = admission;
    this.frontend.setSecureContext(tlsOptions);
    warnExposedKeyFiles(this.logger, reloadedKeyFiles(config));
    if (this.logger.level !== config.log.level) this.logger.level = config.log.level;
    let revoked = 0;
    const authChanged = plan.applied.some((c) => c.key.startsWith('auth.'));
    for (const client of this.frontend.clients.values()) {
      client.applyLimits();
      const tokenId = GatewayAdmission.tokenIdOf(client);
      if (tokenId !== undefined && admission.isRevoked(tokenId)) {
        client.revoke('token revoked by configuration');
        revoked++;
      } else if (authChanged) {
        // New keys, issuers, audiences or algorithms: every live token is judged again, as nats-server re-checks
        // its clients on reload; one the new rules refuse loses its connection with the text nats-server's reload
        // sends a client no longer authorized (reload.go reloadAuthorization, authViolation). A listed jti is
        // the revocation above (User Authentication Revoked).
        void admission.recheck(client).then((reason) => {
          if (reason === undefined || client.isClosed) return;
          this.logger.warn(
            { cid: client.cid, who: client.identity, reason },
            'connection closed: its token fails the reloaded [auth] rules',
          );
          client.fail(Errors.authorizationViolation, `token no longer accepted: ${reason}`);
        });
      }
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
   * The link came up with the upstream's INFO. A message over its max_payload would be refused there (our service
   * drops it, unseen by its subscribers; the uplink does not send it), and the uplink adds up to AUTH_STAMP_MAX_BYTES
   * to each client's message (the identity stamp), so clients are told the smaller limit in an INFO, as
   * nats-server sends one when its limits change, and a publish over it is refused to that client alone with
   * `Maximum Payload Violation` (nats-server client.go processPub). nats-server itself checks no size between a
   * leaf and its hub; official clients refuse such a publish locally once told.
   */
  private upstreamLimit(maxPayload: number): void {
    this.upstreamMaxPayload = maxPayload > 0 ? maxPayload : undefined;
    const next = clientLimits(this.config, this.upstreamMaxPayload);
    if (next.max_payload === this.effectiveLimits.max_payload) {
      this.effectiveLimits = next;
      return;
    }
    this.logger.info(
      {
        max_payload: next.max_payload,
        gateway_max_payload: this.config.gateway.max_payload,
        upstream_max_payload: maxPayload,
        identity_stamp_bytes: AUTH_STAMP_MAX_BYTES,
      },
      next.max_payload < this.config.gateway.max_payload
        ? "clients limited to the upstream's max_payload less the identity stamp's room"
        : "clients back to the gateway's max_payload",
    );
    this.effectiveLimits = next;
    for (const client of this.frontend.clients.values()) {
      client.applyLimits();
      client.sendInfo({});
    }
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
    if (flushMs > 0) await this.uplinkFlushed(flushMs);
    await this.uplink.close();
    this.interest.close();
    this.lifecycle = 'closed';
    await this.monitor?.close();
    this.logger.info({ total_connections: this.frontend.totalConnections }, 'gateway stopped');
  }

  /**
   * Resolves once nothing is buffered for the upstream, or after `ms`. What reached the link's socket is written
   * before it closes (Uplink.close ends it after the data); only messages buffered through an outage can be waiting.
   */
  private async uplinkFlushed(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.uplink.counters.bufferedMsgs > 0 && !this.uplink.isClosed && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * [gateway]'s client limits, max_payload lowered to what the upstream's INFO max_payload leaves once the identity
 * stamp is added (AUTH_STAMP_MAX_BYTES, shared leafnode/auth-stamp.ts) when that is smaller.
 */
function clientLimits(config: GatewayConfig, upstreamMaxPayload: number | undefined): ClientLimits {
  const own = config.gateway;
  if (upstreamMaxPayload === undefined) return own;
  const room = Math.max(1, upstreamMaxPayload - AUTH_STAMP_MAX_BYTES);
  return room < own.max_payload ? { ...own, max_payload: room } : own;
}

/** The token's permissions, counting each refusal (a violation the client is told of; delivery filtering is not one). */
function countViolations(p: ClientPermissions, counts: { publish: number; subscribe: number }): ClientPermissions {
  const counted: ClientPermissions = {
    canPublish(subject) {
      if (p.canPublish(subject)) return true;
      counts.publish++;
      return false;
    },
    canSubscribe(subject, queue) {
      if (p.canSubscribe(subject, queue)) return true;
      counts.subscribe++;
      return false;
    },
  };
  // Delivery checks are not violations: the originals, bound, with no extra call per message.
  if (p.canDeliver !== undefined) counted.canDeliver = p.canDeliver.bind(p);
  if (p.noteReply !== undefined) counted.noteReply = p.noteReply.bind(p);
  return counted;
}

/**
 * [upstream] credentials go in the leaf CONNECT. Over nats:// without [upstream] TLS settings the link is TLS only
 * when the upstream's INFO asks for it, and anyone on the path can strip that from the plaintext INFO: the
 * credential, and every message, would cross in clear. Warned at start, once per such URL, naming the setting and
 * the host, never the secret. Not refused: nats-server's leaf remotes send their credentials the same way, a private
 * network may be a deliberate choice, and refusing the credential would not protect the traffic it carries. Loopback
 * never leaves the machine.
 */
function warnPlaintextCredentials(logger: Logger, up: GatewayConfig['upstream'], tls: boolean): void {
  const setting =
    up.token !== undefined ? 'upstream.token' : up.password !== undefined ? 'upstream.password' : undefined;
  if (tls || setting === undefined) return;
  for (const raw of up.urls) {
    const url = parseHubUrl(raw);
    if (url.tls || isLoopbackHost(url.host)) continue;
    logger.warn(
      { setting, upstream: url.display, host: url.host },
      'upstream credentials may cross the network in clear: use a tls:// URL or set [upstream] root_ca_path (or cert_path and key_path)',
    );
  }
}

/** The private key files a reload reads again: the TLS key and an HMAC secret (the upstream's waits for a restart). */
function reloadedKeyFiles(config: GatewayConfig): Array<{ setting: string; file: string }> {
  return [
    { setting: 'tls.key_path', file: config.tls.key_path },
    ...(config.auth.secret_path !== undefined ? [{ setting: 'auth.secret_path', file: config.auth.secret_path }] : []),
  ];
}
