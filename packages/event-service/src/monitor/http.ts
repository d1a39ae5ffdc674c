// The monitoring HTTP listener ([monitor] host, port): routes nats-server's endpoint paths to the endpoint
// modules, answers as nats-server's monitor.go does (indented JSON, CORS open, 400 with plain text for a bad
// parameter) and serves /metrics. What each endpoint says is its own module's business.
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '@event-broker/shared';
import { ClosedConnections, connz } from './connz.js';
import { handlerz } from './handlerz.js';
import { healthz } from './healthz.js';
import { leafz } from './leafz.js';
import { ServiceMetrics } from './metrics.js';
import { MonitorRequestError, rfc3339, type MonitorSource } from './source.js';
import { statusPage } from './status-page.js';
import { subsz } from './subsz.js';
import { CpuSampler, varz } from './varz.js';

const ENDPOINTS = ['/varz', '/connz', '/subsz', '/leafz', '/healthz', '/metrics'] as const;

export interface MonitorOptions {
  host: string;
  port: number;
  logger: Logger;
}

export class MonitorServer {
  /** Closed connections for /connz?state=closed; the server records each client as it goes. */
  readonly closed = new ClosedConnections();
  readonly metrics: ServiceMetrics;
  private readonly http: http.Server;
  private readonly cpu = new CpuSampler();
  private readonly reqStats: Record<string, number> = {};
  private boundPort = 0;

  constructor(
    private readonly src: MonitorSource,
    private readonly opts: MonitorOptions,
  ) {
    this.metrics = new ServiceMetrics(src);
    this.http = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        opts.logger.error({ err, url: req.url }, 'monitoring request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
  }

  /** The bound port (meaningful when the config asked for 0). */
  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    const server = this.http;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (server.address() as net.AddressInfo).port;
    this.opts.logger.info({ host: this.opts.host, port: this.boundPort }, 'monitoring listener started');
  }

  async close(): Promise<void> {
    if (!this.http.listening) return;
    const closed = new Promise((r) => this.http.close(r));
    // Keep-alive scrapers would otherwise hold close() open until they time out.
    this.http.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://monitor');
    const path = url.pathname;
    // The hook for routes other modules own (handlers/http-api.ts: /events, /deadletters); they pick their methods.
    if (this.src.handlers !== undefined && (await this.src.handlers.serveHttp(req, res, url))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/' || path === '/handlerz' || (ENDPOINTS as readonly string[]).includes(path)) this.reqStats[path] = (this.reqStats[path] ?? 0) + 1;
    const q = url.searchParams;
    try {
      switch (path) {
        case '/':
          return this.send(res, 200, 'text/html; charset=utf-8', statusPage(ENDPOINTS));
        case '/varz':
          return this.json(res, 200, varz(this.src, { httpHost: this.opts.host, httpPort: this.boundPort, httpReqStats: this.reqStats, cpu: this.cpu }));
        case '/connz':
          return this.json(res, 200, connz(this.src, q, this.closed));
        case '/subsz':
        case '/subscriptionsz':
          return this.json(res, 200, subsz(this.src, q));
        case '/leafz':
          return this.json(res, 200, leafz(this.src, q));
        case '/handlerz':
          return this.json(res, 200, handlerz(this.src));
        case '/healthz': {
          const h = healthz(this.src);
          // Compact, as nats-server writes it: probes sometimes compare the body as text.
          return this.send(res, h.httpStatus, 'application/json', JSON.stringify(h.body));
        }
        case '/metrics':
          return this.send(res, 200, this.metrics.contentType, await this.metrics.text());
        default:
          return this.send(res, 404, 'text/plain', '404 page not found\n');
      }
    } catch (err) {
      if (err instanceof MonitorRequestError) return this.send(res, 400, 'text/plain; charset=utf-8', err.message);
      throw err;
    }
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    this.send(res, status, 'application/json', JSON.stringify(body, null, 2));
  }

  private send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
    res.writeHead(status, {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      // nats-server monitor.go ResponseHandler: browsers' dashboards read it cross-origin.
      'access-control-allow-origin': '*',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
