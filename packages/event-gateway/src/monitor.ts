// The gateway's monitoring port: /healthz (200 only while a request makes the round trip through the link to the
// event service and back: health.ts), /varz (counters and the upstream link) and /connz (the clients, with who
// their token says they are). JSON in nats-server's spirit, kept to what the gateway knows.
import http from 'node:http';
import type net from 'node:net';
import { listenOn, type Logger } from '@event-broker/shared';
import type { MonitorSection } from './config-types.js';
import type { EventGateway } from './server.js';

/** A health check waits this long for the service's reply. */
const HEALTH_TIMEOUT_MS = 2000;

export class GatewayMonitor {
  private readonly server: http.Server;
  private boundPort = 0;

  constructor(
    private readonly gateway: EventGateway,
    private readonly section: MonitorSection,
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  get port(): number {
    return this.boundPort;
  }

  private get logger(): Logger {
    return this.gateway.logger;
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.section.host, this.section.port);
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    this.logger.info({ host: this.section.host, port: this.boundPort }, 'monitoring listening');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz': {
        const verdict = await this.gateway.health.check(HEALTH_TIMEOUT_MS);
        if (verdict.ok) return send(res, 200, { status: 'ok', ...verdict });
        return send(res, 503, { status: 'unavailable', error: verdict.reason });
      }
      case '/varz':
        return send(res, 200, this.varz());
      case '/connz':
        return send(res, 200, this.connz());
      default:
        return send(res, 404, { error: `no such endpoint: ${path}`, endpoints: ['/healthz', '/varz', '/connz'] });
    }
  }

  private varz(): Record<string, unknown> {
    const g = this.gateway;
    const c = g.config.gateway;
    return {
      server_id: g.serverId,
      server_name: c.server_name ?? g.serverId,
      now: new Date().toISOString(),
      start: g.startedAt.toISOString(),
      host: c.host,
      port: g.port,
      websocket_port: g.websocketPort ?? null,
      max_connections: c.max_connections,
      max_payload: c.max_payload,
      upstream_urls: g.config.upstream.urls,
      ...g.stats(),
    };
  }

  private connz(): Record<string, unknown> {
    const conns = [...this.gateway.clients.values()].map((c) => ({
      cid: c.cid,
      ip: c.transport.remoteAddress,
      port: c.transport.remotePort,
      transport: c.transport.kind,
      who: c.identity ?? null,
      name: c.name || undefined,
      lang: c.lang || undefined,
      version: c.version || undefined,
      subscriptions: c.subs.size,
      in_msgs: c.stats.inMsgs,
      out_msgs: c.stats.outMsgs,
      in_bytes: c.stats.inBytes,
      out_bytes: c.stats.outBytes,
      pending_bytes: c.pendingBytes,
      uptime_ms: Date.now() - c.startedAt,
    }));
    return { server_id: this.gateway.serverId, now: new Date().toISOString(), num_connections: conns.length, connections: conns };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body, null, 2)}\n`);
}
