// The service's monitoring listener ([monitor] host, port): shared's MonitorHttp (nats-server's answering
// conventions) with the service's endpoints: nats-server's /varz /connz /subsz /leafz /healthz, /metrics, and ours,
// the status page at / and /handlerz; the handlers' own routes (/events, /deadletters) through the hook.
import {
  ClosedConnections,
  CpuSampler,
  MAX_CLOSED_CLIENTS,
  MonitorHttp,
  connz,
  healthz,
  jsonResponse,
  subsz,
  textResponse,
  type Logger,
} from '@event-broker/shared';
import { handlerz } from './handlerz.js';
import { serviceLeafz } from './leafz.js';
import { ServiceMetrics } from './metrics.js';
import type { MonitorSource } from './source.js';
import { statusPage } from './status-page.js';
import { serviceVarz } from './varz.js';

const ENDPOINTS = ['/varz', '/connz', '/subsz', '/leafz', '/healthz', '/metrics'] as const;

export interface MonitorOptions {
  host: string;
  port: number;
  logger: Logger;
}

export class MonitorServer {
  /** Closed connections for /connz?state=closed; the server records each client as it goes. */
  readonly closed = new ClosedConnections(MAX_CLOSED_CLIENTS);
  readonly metrics: ServiceMetrics;
  private readonly http: MonitorHttp;
  private readonly cpu = new CpuSampler();

  constructor(src: MonitorSource, opts: MonitorOptions) {
    this.metrics = new ServiceMetrics(src);
    const subszRoute = (q: URLSearchParams) => jsonResponse(200, subsz(src, q));
    this.http = new MonitorHttp({
      host: opts.host,
      port: opts.port,
      logger: opts.logger,
      // The hook for routes other modules own (handlers/http-api.ts: /events, /deadletters); they pick their methods.
      hook: (req, res, url) => (src.handlers === undefined ? false : src.handlers.serveHttp(req, res, url)),
      routes: {
        '/': () => textResponse(200, 'text/html; charset=utf-8', statusPage(ENDPOINTS)),
        '/varz': () => jsonResponse(200, serviceVarz(src, { httpHost: opts.host, httpPort: this.http.port, httpReqStats: this.http.reqStats, cpu: this.cpu })),
        '/connz': (q) => jsonResponse(200, connz(src, q, { closed: this.closed })),
        '/subsz': subszRoute,
        '/subscriptionsz': subszRoute,
        '/leafz': (q) => jsonResponse(200, serviceLeafz(src, q)),
        '/handlerz': () => jsonResponse(200, handlerz(src)),
        '/healthz': () => {
          const h = healthz(src.state);
          // Compact, as nats-server writes it: probes sometimes compare the body as text.
          return textResponse(h.httpStatus, 'application/json', JSON.stringify(h.body));
        },
        '/metrics': async () => textResponse(200, this.metrics.contentType, await this.metrics.text()),
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
