// The service's monitoring port ([monitor] host, port): shared's MonitorHttp (nats-server's answering
// conventions) with the service's endpoints: nats-server's /varz /connz /subsz /leafz /healthz, /metrics, and ours,
// the status page at / and /handlerz; the handlers' own routes (/events, /deadletters) mounted while they run.
import {
  ClosedConnections,
  CpuSampler,
  MAX_CLOSED_CLIENTS,
  MonitorHttp,
  NATS_ENDPOINTS,
  connz,
  healthz,
  jsonResponse,
  natsRoutes,
  subsz,
  textResponse,
  unavailable,
  type Health,
  type Logger,
} from '@event-broker/shared';
import type { MonitorSection } from '../config-types.js';
import { handlerz } from './handlerz.js';
import { serviceLeafz } from './leafz.js';
import { ServiceMetrics } from './metrics.js';
import type { MonitorSource } from './source.js';
import { statusPage } from './status-page.js';
import { serviceVarz } from './varz.js';

/** The [monitor] section as configured (its defaults are the schema's, config.ts), and where to log. */
export type MonitorOptions = Readonly<MonitorSection> & { readonly logger: Logger };

export class MonitorServer {
  /** Closed connections for /connz?state=closed; the server records each client as it goes. */
  readonly closed = new ClosedConnections(MAX_CLOSED_CLIENTS);
  readonly metrics: ServiceMetrics;
  private readonly http: MonitorHttp;
  private readonly cpu = new CpuSampler();

  constructor(src: MonitorSource, opts: MonitorOptions) {
    this.metrics = new ServiceMetrics(src);
    this.http = new MonitorHttp({
      host: opts.host,
      port: opts.port,
      logger: opts.logger,
      allowedOrigins: opts.allowed_origins,
      allowedHosts: opts.allowed_hosts,
      maxConnections: opts.max_connections,
      // The event feed's live streams (a route of handlers/http-api.ts marked `stream`) are capped apart.
      maxStreams: opts.max_streams,
      // Routes other modules own (handlers/http-api.ts: /events, /deadletters), while the handlers run.
      mounted: () => src.handlers?.httpRoutes,
      routes: {
        '/': () => textResponse(200, 'text/html; charset=utf-8', statusPage(NATS_ENDPOINTS)),
        ...natsRoutes({
          varz: () =>
            serviceVarz(src, {
              httpHost: opts.host,
              httpPort: this.http.port,
              httpReqStats: this.http.reqStats,
              cpu: this.cpu,
            }),
          connz: (q) => connz(src, q, { closed: this.closed }),
          subsz: (q) => subsz(src, q),
          leafz: (q) => serviceLeafz(src, q),
          health: () => serviceHealth(src),
          metrics: this.metrics,
        }),
        '/handlerz': async () => jsonResponse(200, await handlerz(src)),
      },
    });
  }

  /** The bound port (meaningful when the config asked for 0). */
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

/**
 * /healthz: 200 {"status":"ok"} only while the service runs and every configured part can work; else 503 with
 * nats-server's body, {"status":"unavailable","error":...} (monitor.go HealthStatus, HandleHealthz), the error naming
 * each part that cannot (the event store by setting and code, never its file; the sinks' worker; a leafnode remote
 * whose link is not up).
 */
async function serviceHealth(src: MonitorSource): Promise<Health> {
  const h = healthz(src.state);
  if (h.httpStatus !== 200) return h;
  const remote = remoteProblem(src);
  if (remote !== undefined) return unavailable(remote);
  if (src.handlers === undefined) return h;
  const problem = await src.handlers.health();
  return problem === undefined ? h : unavailable(problem);
}

/**
 * A remote whose link is down: the instance cannot take its share of the cluster's work (the hub's clients' events and
 * requests do not reach it, its clients' do not reach the cluster; a JetStream store is out of reach), so a load
 * balancer should send its clients elsewhere until the link is back. nats-server 2.9's /healthz does not look at
 * leaf remotes; it does the same for JetStream it cannot reach.
 */
function remoteProblem(src: MonitorSource): string | undefined {
  const down = src.leafRemotes?.down() ?? [];
  if (down.length === 0) return undefined;
  return down
    .map((r) => `leafnode remote ${r.url} not connected${r.lastError ? ` (${r.lastError.code})` : ''}`)
    .join('; ');
}
