// The gateway's monitoring port: nats-server's endpoints and field names (shared/src/monitor) so nats-top and
// prometheus-nats-exporter read the gateway as they read a nats-server leaf: /varz, /connz (plus who each client's
// token says it is), /subsz, /leafz (the gateway is the leaf: its link to the hub is its remote, is_spoke true),
// /healthz (200 only while a request makes the round trip through the link to the event service and back:
// health.ts), and /metrics (auth failures by reason, permission violations, the upstream link).
import {
  ClosedConnections,
  CpuSampler,
  MAX_CLOSED_CLIENTS,
  MetricSet,
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
  type Broker,
  type Client,
  type ClientLimits,
  type ConnzOptions,
  type Health,
  type Logger,
  type ServerState,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import type { AuthFailureCounts } from './auth-failures.js';
import { NO_LIMIT } from './auth/limits.js';
import type { GatewayConfig, MonitorSection } from './config-types.js';
import type { EventCredit, GatewayUplink } from './event-credit.js';
import type { HealthProbe } from './health.js';
import type { ListenerQuota } from './listener-quota.js';
import type { GatewayStats } from './stats.js';

/** A health check waits this long for the service's reply. */
const HEALTH_TIMEOUT_MS = 2000;
/** Series prefix: the process is the event gateway (nats-server's exporter uses gnatsd_). */
const P = 'event_gateway_';

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

/** What the monitoring port reads from the running gateway (server.ts EventGateway), every field on use. */
export interface GatewayMonitorSource {
  readonly serverId: string;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly startedAt: Date;
  readonly configLoadedAt: Date;
  /** The bound client port and WebSocket port. */
  readonly port: number;
  readonly websocketPort: number | undefined;
  readonly state: ServerState;
  readonly clients: ReadonlyMap<number, Client>;
  readonly totalConnections: number;
  readonly broker: Broker;
  /** The limits clients are kept to (max_payload lowered to the upstream's: upstream-link.ts ClientLimitsInForce). */
  readonly limits: ClientLimits;
  readonly uplink: GatewayUplink;
  readonly health: HealthProbe;
  readonly eventCredit: EventCredit;
  readonly listenerQuota: ListenerQuota;
  readonly authFailures: AuthFailureCounts;
  readonly permissionViolations: { readonly publish: number; readonly subscribe: number };
  serverInfo(): Record<string, unknown>;
  stats(): GatewayStats;
}

export class GatewayMonitor {
  /** Closed connections for /connz?state=closed; the gateway records each client as it goes. */
  readonly closed = new ClosedConnections(MAX_CLOSED_CLIENTS, CONNZ);
  private readonly http: MonitorHttp;
  private readonly cpu = new CpuSampler();
  private readonly metrics: MetricSet;

  constructor(
    private readonly gateway: GatewayMonitorSource,
    section: MonitorSection,
  ) {
    this.metrics = gatewayMetrics(gateway);
    const g = gateway;
    this.http = new MonitorHttp({
      host: section.host,
      port: section.port,
      logger: g.logger,
      allowedOrigins: section.allowed_origins,
      allowedHosts: section.allowed_hosts,
      maxConnections: section.max_connections,
      routes: {
        '/': () => textResponse(200, 'text/html; charset=utf-8', indexPage()),
        ...natsRoutes({
          varz: () => this.varz(section.host),
          connz: (q) => connz(g, q, { ...CONNZ, closed: this.closed }),
          subsz: (q) => subsz(g, q),
          leafz: (q) =>
            leafz(
              {
                serverId: g.serverId,
                leafs: (subs) => [leafInfoOfUplink(g.uplink, subs)].filter((l) => l !== undefined),
              },
              q,
            ),
          health: () => this.health(),
          metrics: this.metrics,
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

  /**
   * 503 while starting, draining or closing (as the service's), and while running unless a request reaches the
   * event service's health responder through the link and its reply comes back (or, with a hub that has no such
   * responder, unless the link is up: said so in `check`). The 200 body is nats-server's plus how it was checked.
   */
  private async health(): Promise<{ httpStatus: Health['httpStatus']; body: Record<string, unknown> }> {
    const g = this.gateway;
    if (g.state !== 'running') return healthz(g.state);
    const verdict = await g.health.check(HEALTH_TIMEOUT_MS);
    // The gateway may have started draining during the check.
    if (g.state !== 'running') return healthz(g.state);
    if (!verdict.ok) return unavailable(verdict.reason);
    const { ok: _ok, ...how } = verdict;
    return { httpStatus: 200, body: { status: 'ok', ...how } };
  }

  private varz(httpHost: string): Record<string, unknown> {
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
        httpHost,
        httpPort: this.http.port,
        httpReqStats: this.http.reqStats,
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

function gatewayMetrics(g: GatewayMonitorSource): MetricSet {
  const m = new MetricSet(P);
  const c = g.broker.counters;
  const up = () => g.uplink.counters;
  m.gauge('connections', 'Client connections open now.', () => g.clients.size);
  m.counter('connections_total', 'Client connections accepted since start.', () => g.totalConnections);
  m.gauge(
    'max_connections',
    'The most client connections admitted at once (max_connections).',
    () => g.config.gateway.max_connections,
  );
  m.counter('in_msgs_total', 'Messages published to the gateway (by clients and from the upstream).', () => c.inMsgs);
  m.counter('out_msgs_total', 'Messages delivered to clients and to the upstream.', () => c.outMsgs);
  m.counter('in_bytes_total', 'Payload bytes (headers included) published to the gateway.', () => c.inBytes);
  m.counter('out_bytes_total', 'Payload bytes (headers included) delivered.', () => c.outBytes);
  m.counter('slow_consumers_total', 'Client connections closed as slow consumers.', () => c.slowConsumers);
  m.gauge('subscriptions', 'Client subscriptions alive now.', () => g.broker.listenerCount);
  // Every reason is present from the first scrape (at 0), so rate() has a start.
  m.labelledCounter(
    'auth_failures_total',
    'Clients refused at admission, by reason (certificate or token).',
    ['reason'],
    () => g.authFailures.entries().map(([reason, n]) => [{ reason }, n] as const),
  );
  m.labelledCounter(
    'permission_violations_total',
    "Publishes and subscriptions refused by the token's permissions.",
    ['kind'],
    () => (['publish', 'subscribe'] as const).map((kind) => [{ kind }, g.permissionViolations[kind]] as const),
  );
  m.gauge('upstream_up', '1 while the leafnode link to the event service is up.', () => (g.uplink.up ? 1 : 0));
  m.counter(
    'upstream_reconnects_total',
    'Times the upstream link came up again after having been up.',
    () => up().reconnects,
  );
  m.counter(
    'upstream_failures_total',
    'Upstream dials and handshakes that failed, and links lost.',
    () => up().failures,
  );
  m.gauge(
    'upstream_buffered_msgs',
    'Messages held for the upstream now (link down, or waiting for its interest).',
    () => up().bufferedMsgs,
  );
  m.gauge(
    'upstream_buffered_bytes',
    'Bytes held for the upstream now (bounded by upstream.buffer_bytes).',
    () => up().bufferedBytes,
  );
  m.gauge(
    'upstream_paused_publishers',
    'Client connections whose reading is paused because the upstream buffer is full.',
    () => up().pausedPublishers,
  );
  m.counter('upstream_in_msgs_total', 'Messages received from the upstream.', () => up().inMsgs);
  m.counter('upstream_out_msgs_total', 'Messages sent to the upstream.', () => up().outMsgs);
  m.counter('upstream_in_bytes_total', 'Payload bytes received from the upstream.', () => up().inBytes);
  m.counter('upstream_out_bytes_total', 'Payload bytes sent to the upstream.', () => up().outBytes);
  m.labelledCounter(
    'upstream_dropped_msgs_total',
    'Messages for the upstream discarded: held ones it no longer wanted, held ones when the gateway closed, ones over its max_payload.',
    ['why'],
    () => [
      [{ why: 'no_interest' }, up().droppedNoInterest],
      [{ why: 'closed' }, up().droppedOnClose],
      [{ why: 'too_large' }, up().droppedOversize],
    ],
  );
  m.counter(
    'upstream_in_dropped_msgs_total',
    "Messages from the upstream over what the gateway accepts (its max_payload and the upstream's), read past and dropped.",
    () => up().inOversize,
  );
  // Credit from the event service (event-credit.ts, listener-quota.ts); all 0 upstream of a hub that has none.
  const ev = () => g.eventCredit.stats();
  const lq = () => g.listenerQuota.stats();
  m.gauge(
    'event_credit_active',
    "1 while the upstream answers event credit: clients' plain events are sent on credit.",
    () => (ev().active ? 1 : 0),
  );
  m.gauge(
    'event_credit',
    'Event credit held now: plain events the gateway may send before it asks the service again.',
    () => ev().held,
  );
  m.gauge(
    'event_credit_asks_outstanding',
    "Event credit requests awaiting the service's answer (0 or 1).",
    () => ev().outstanding_asks,
  );
  m.labelledCounter(
    'credit_messages_total',
    'Credit messages exchanged with the service (requests and returns sent, answers received); each also counts in in_msgs and out_msgs.',
    ['kind'],
    () => [
      [{ kind: 'events' }, ev().messages_total],
      [{ kind: 'listeners' }, lq().messages_total],
    ],
  );
  m.gauge(
    'event_credit_held_clients',
    'Clients held before a plain event now, waiting for credit (the service at event_limit).',
    () => ev().clients_held,
  );
  m.counter('event_credit_granted_total', 'Event credit granted by the service.', () => ev().granted_total);
  m.counter('event_credit_spent_total', 'Plain events sent on credit.', () => ev().spent_total);
  m.counter('event_credit_returned_total', 'Event credit given back unused.', () => ev().returned_total);
  m.counter('event_credit_holds_total', 'Times a client was held for want of event credit.', () => ev().holds_total);
  m.gauge(
    'listener_quota_active',
    '1 while the upstream answers listener credit: client subscriptions count toward its listener_limit.',
    () => (lq().active ? 1 : 0),
  );
  m.gauge('listener_quota_granted', 'Listener quota granted by the service for this gateway.', () => lq().granted);
  m.gauge(
    'listener_quota_used',
    'Client subscriptions counted against the quota (each one, not deduplicated).',
    () => lq().used,
  );
  m.gauge(
    'listener_quota_held_subscriptions',
    "Subscriptions held now, waiting for the service's answer.",
    () => lq().subscriptions_held,
  );
  m.counter(
    'listener_quota_holds_total',
    "Times a subscription was held for the service's answer.",
    () => lq().holds_total,
  );
  m.counter(
    'listener_quota_refused_total',
    "Subscriptions refused because the service's listener_limit was reached.",
    () => lq().refused_total,
  );
  m.gauge('up', '1 while the gateway accepts clients, 0 while starting, draining or shutting down.', () =>
    g.state === 'running' ? 1 : 0,
  );
  m.processMetrics();
  return m;
}

/** `/`: the endpoints, as nats-server's monitoring index lists them. */
function indexPage(): string {
  const links = NATS_ENDPOINTS.map((p) => `<li><a href=".${p}">${p.slice(1)}</a></li>`).join('\n');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>event-gateway monitoring</title></head>\n<body><h1>event-gateway</h1><ul>\n${links}\n</ul></body></html>\n`;
}
