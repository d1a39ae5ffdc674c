// The gateway's monitoring port: nats-server's endpoints and field names (shared/src/monitor) so nats-top and
// prometheus-nats-exporter read the gateway as they read a nats-server leaf: /varz, /connz (plus who each client's
// token says it is), /subsz, /leafz (the gateway is the leaf: its link to the hub is its remote, is_spoke true),
// /healthz (200 only while a request makes the round trip through the link to the event service and back:
// health.ts), and /metrics (auth failures by reason, permission violations, the upstream link).
import {
  ClosedConnections,
  CpuSampler,
  MAX_CLOSED_CLIENTS,
  MonitorHttp,
  NATS_ENDPOINTS,
  connz,
  healthz,
  leafInfoOfUplink,
  leafz,
  natsRoutes,
  subsz,
  textResponse,
  unavailable,
  varz,
  type Client,
  type ConnzOptions,
  type Health,
  type Leafz,
  type Logger,
  type MetricSet,
  type MonitorHandler,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { NO_LIMIT } from './auth/limits.js';
import type { MonitorSection } from './config-types.js';
import { gatewayMetrics } from './monitor-metrics.js';
import type { GatewayMonitorSource } from './monitor-source.js';

/** A health check waits this long for the service's reply. */
const HEALTH_TIMEOUT_MS = 2000;

/**
 * What /connz adds to nats-server's fields: who the token says the client is, its id (for [auth] revoked), and the
 * limits in force for it (its token's or [gateway]'s default, under max_subscriptions and max_payload), written as a
 * user JWT's `nats` claim writes them (-1: no limit).
 */
const CONNZ: ConnzOptions = {
  extra(c: Client) {
    if (c.identity === undefined) return undefined;
    const tokenId = GatewayAdmission.tokenIdOf(c);
    return {
      who: c.identity,
      ...(tokenId !== undefined && { token_id: tokenId }),
      limits: { subs: c.maxSubscriptions ?? NO_LIMIT, payload: c.maxPayloadBytes },
    };
  },
  authorizedUser: (c) => c.identity,
};

export type { GatewayMonitorSource } from './monitor-source.js';

/** The monitoring port's own figures, which /varz reports beside the gateway's (the port's owner fills them in). */
export interface MonitorPortFacts {
  host: string;
  port: number;
  reqStats: Readonly<Record<string, number>>;
}

/**
 * What the monitoring endpoints answer for one gateway process, without the HTTP port: the port below serves them
 * for a single gateway; with workers, each worker answers the primary's queries with them (cluster-monitor.ts).
 */
export class GatewayMonitorViews {
  /** Closed connections for /connz?state=closed; the gateway records each client as it goes. */
  readonly closed = new ClosedConnections(MAX_CLOSED_CLIENTS, CONNZ);
  readonly metrics: MetricSet;
  private readonly cpu = new CpuSampler();

  constructor(private readonly gateway: GatewayMonitorSource) {
    this.metrics = gatewayMetrics(gateway);
  }

  connz(q: URLSearchParams): Record<string, unknown> {
    return connz(this.gateway, q, { ...CONNZ, closed: this.closed });
  }

  subsz(q: URLSearchParams): Record<string, unknown> {
    return subsz(this.gateway, q);
  }

  leafz(q: URLSearchParams): Leafz {
    const g = this.gateway;
    return leafz(
      { serverId: g.serverId, leafs: (subs) => [leafInfoOfUplink(g.uplink, subs)].filter((l) => l !== undefined) },
      q,
    );
  }

  /**
   * 503 while starting, draining or closing (as the service's), and while running unless a request reaches the
   * event service's health responder through the link and its reply comes back (or, with a hub that has no such
   * responder, unless the link is up: said so in `check`). The 200 body is nats-server's plus how it was checked.
   */
  async health(): Promise<{ httpStatus: Health['httpStatus']; body: Record<string, unknown> }> {
    const g = this.gateway;
    if (g.state !== 'running') return healthz(g.state);
    const verdict = await g.health.check(HEALTH_TIMEOUT_MS);
    // The gateway may have started draining during the check.
    if (g.state !== 'running') return healthz(g.state);
    if (!verdict.ok) return unavailable(verdict.reason);
    const { ok: _ok, ...how } = verdict;
    return { httpStatus: 200, body: { status: 'ok', ...how } };
  }

  varz(port: MonitorPortFacts): Record<string, unknown> {
    const g = this.gateway;
    const c = g.config;
    const s = g.stats();
    return varz(
      {
        startedAt: g.startedAt,
        configLoadedAt: g.configLoadedAt,
        clients: g.clients,
        totalConnections: g.totalConnections,
        broker: g.broker,
        serverInfo: () => ({ ...g.serverInfo(), port: g.port }),
      },
      {
        httpHost: port.host,
        httpPort: port.port,
        httpReqStats: port.reqStats,
        cpu: this.cpu,
        // The limits clients are kept to: max_payload is the upstream's, less the identity stamp's room, when smaller
        // (upstream-link.ts ClientLimitsInForce).
        limits: g.limits,
        maxConnections: c.gateway.max_connections,
        subscriptions: g.broker.listenerCount,
        websocket:
          c.websocket === undefined
            ? {}
            : { host: c.websocket.host, port: g.websocketPort ?? c.websocket.port, no_tls: false },
        // As a nats-server leaf shows its remotes (host:port, no scheme).
        leaf: { remotes: [{ local_account: '$G', urls: c.upstream.urls.map((u) => u.replace(/^[a-z]+:\/\//, '')) }] },
        leafnodes: g.uplink.up ? 1 : 0,
        // Ours, beyond nats-server's fields.
        extra: {
          upstream: { urls: c.upstream.urls, state: g.uplink.state, ...s.upstream },
          auth_failures: s.auth_failures,
          permission_violations: s.permission_violations,
          event_credit: s.event_credit,
          listener_quota: s.listener_quota,
        },
      },
    );
  }
}

/** The monitoring port of a single gateway process: every endpoint answered from its own views. */
export class GatewayMonitor {
  private readonly http: MonitorHttp;

  constructor(views: GatewayMonitorViews, logger: Logger, section: MonitorSection) {
    const portFacts = (): MonitorPortFacts => ({
      host: section.host,
      port: this.http.port,
      reqStats: this.http.reqStats,
    });
    this.http = new MonitorHttp({
      ...monitorHttpOptions(section, logger),
      routes: {
        '/': indexRoute,
        ...natsRoutes({
          varz: () => views.varz(portFacts()),
          connz: (q) => views.connz(q),
          subsz: (q) => views.subsz(q),
          leafz: (q) => views.leafz(q),
          health: () => views.health(),
          metrics: views.metrics,
        }),
      },
    });
  }

  get port(): number {
    return this.http.port;
  }

  listen(): Promise<void> {
    return this.http.listen();
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/** [monitor]'s bounds, the same on a single gateway's port and on a primary's. */
export function monitorHttpOptions(section: MonitorSection, logger: Logger) {
  return {
    host: section.host,
    port: section.port,
    logger,
    allowedOrigins: section.allowed_origins,
    allowedHosts: section.allowed_hosts,
    maxConnections: section.max_connections,
  };
}

export const indexRoute: MonitorHandler = () => textResponse(200, 'text/html; charset=utf-8', indexPage());

/** `/`: the endpoints, as nats-server's monitoring index lists them. */
function indexPage(): string {
  const links = NATS_ENDPOINTS.map((p) => `<li><a href=".${p}">${p.slice(1)}</a></li>`).join('\n');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>event-gateway monitoring</title></head>\n<body><h1>event-gateway</h1><ul>\n${links}\n</ul></body></html>\n`;
}
