// The gateway as a process: external NATS clients on TCP+TLS and WebSocket (shared ClientFrontend), admitted only
// with a trusted client certificate AND a valid token (admission.ts), their traffic routed in a local broker and
// carried to the event service over one leafnode link (shared Uplink), which also carries their interest up and the
// service's messages down. /healthz (health.ts) is true only while a request really makes that round trip.
import {
  Broker,
  ClientFrontend,
  InterestTable,
  Uplink,
  loadClientTlsOptions,
  newServerId,
  type Client,
  type ClientAuthenticator,
  type ClientLimits,
  type Logger,
  type FrontendHost,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { gatewayTlsOptions } from './auth/mtls.js';
import type { GatewayConfig } from './config-types.js';
import { HealthProbe } from './health.js';
import { GatewayMonitor } from './monitor.js';
import { VERSION } from './version.js';

export interface GatewayStats {
  connections: number;
  total_connections: number;
  in_msgs: number;
  in_bytes: number;
  out_msgs: number;
  out_bytes: number;
  slow_consumers: number;
  upstream: {
    up: boolean;
    in_msgs: number;
    out_msgs: number;
    buffered_msgs: number;
    buffered_bytes: number;
    reconnects: number;
    paused_publishers: number;
  };
}

export class EventGateway implements FrontendHost {
  /** Gateway clients are limited per connection (max_subscriptions), not in total. */
  readonly broker = new Broker(Number.MAX_SAFE_INTEGER);
  readonly serverId = newServerId();
  readonly startedAt = new Date();
  readonly uplink: Uplink;
  readonly health: HealthProbe;
  private readonly frontend: ClientFrontend;
  private readonly interest: InterestTable;
  private admission: GatewayAdmission;
  private monitor: GatewayMonitor | undefined;
  private closing = false;

  constructor(
    public config: GatewayConfig,
    readonly logger: Logger,
  ) {
    // Before anything subscribes: the uplink announces upstream every interest this table sees.
    this.interest = new InterestTable(this.broker);
    this.admission = new GatewayAdmission(config, logger);
    const tlsOptions = gatewayTlsOptions(config.tls);
    const ws = config.websocket;
    this.frontend = new ClientFrontend(this, {
      host: config.gateway.host,
      port: config.gateway.port,
      tls: tlsOptions,
      websocket: ws && { host: ws.host, port: ws.port, tls: tlsOptions },
    });
    const up = config.upstream;
    const upstreamTls = up.cert_path !== undefined || up.root_ca_path !== undefined ? loadClientTlsOptions(up, { section: 'upstream' }) : undefined;
    this.uplink = new Uplink(this.broker, {
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
    });
    this.health = new HealthProbe(this.broker, this.uplink, this.serverId);
  }

  // --- FrontendHost ----------------------------------------------------------------------------------------

  get limits(): ClientLimits {
    return this.config.gateway;
  }
  get authenticator(): ClientAuthenticator {
    return this.admission;
  }
  get maxConnections(): number {
    return this.config.gateway.max_connections;
  }
  accepting(): boolean {
    return !this.closing;
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
      max_payload: g.max_payload,
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

  async listen(): Promise<void> {
    if (this.config.monitor !== undefined) {
      this.monitor = new GatewayMonitor(this, this.config.monitor);
      await this.monitor.listen();
    }
    this.uplink.start();
    await this.frontend.listen();
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
      upstream: {
        up: this.uplink.up,
        in_msgs: u.inMsgs,
        out_msgs: u.outMsgs,
        buffered_msgs: u.bufferedMsgs,
        buffered_bytes: u.bufferedBytes,
        reconnects: u.reconnects,
        paused_publishers: u.pausedPublishers,
      },
    };
  }

  /**
   * A reloaded configuration: the token rules (keys, issuer, audience, algorithms, revoked ids), limits, log level
   * and the TLS certificate for new handshakes change live; live connections holding a token now revoked are
   * closed. Listener addresses and the upstream need a restart (returned, and logged). Throws before changing
   * anything when the new key or certificate files cannot be used.
   */
  applyConfig(next: GatewayConfig): { restart: string[] } {
    const admission = new GatewayAdmission(next, this.logger);
    const tlsOptions = gatewayTlsOptions(next.tls);
    const restart = needsRestart(this.config, next);
    this.config = { ...next, gateway: { ...next.gateway, host: this.config.gateway.host, port: this.config.gateway.port }, upstream: this.config.upstream, websocket: this.config.websocket, monitor: this.config.monitor };
    this.admission = admission;
    this.frontend.setSecureContext(tlsOptions);
    if (this.logger.level !== next.log.level) this.logger.level = next.log.level;
    let revoked = 0;
    for (const client of this.frontend.clients.values()) {
      client.applyLimits();
      const tokenId = GatewayAdmission.tokenIdOf(client);
      if (tokenId !== undefined && admission.isRevoked(tokenId)) {
        client.revoke('token revoked by configuration');
        revoked++;
      }
    }
    this.logger.info({ revoked_connections: revoked, needs_restart: restart }, 'configuration reloaded');
    return { restart };
  }

  /** Stops accepting, closes every client (flushing what each is owed), then the uplink and monitoring. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.health.close();
    await this.frontend.close('Server Shutdown');
    await this.uplink.close();
    this.interest.close();
    await this.monitor?.close();
    this.logger.info({ total_connections: this.frontend.totalConnections }, 'gateway stopped');
  }
}

/** Settings a reload cannot change on a running gateway. */
function needsRestart(was: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  if (was.gateway.host !== next.gateway.host) out.push('gateway.host');
  if (was.gateway.port !== next.gateway.port) out.push('gateway.port');
  if (JSON.stringify(was.websocket) !== JSON.stringify(next.websocket)) out.push('websocket');
  if (JSON.stringify(was.upstream) !== JSON.stringify(next.upstream)) out.push('upstream');
  if (JSON.stringify(was.monitor) !== JSON.stringify(next.monitor)) out.push('monitor');
  return out;
}
