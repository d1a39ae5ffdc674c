// The monitoring HTTP port both processes run: routes a path to the endpoint that answers it (http/router.ts,
// the router the event service's feed and dead-letter APIs use too), and answers as nats-server's monitor.go does
// (indented JSON, HEAD, 400 with plain text for a bad parameter, Go's "404 page not found"), counting requests per
// path for /varz http_req_stats. Which endpoints exist and what they say is the process's business.
//
// What a browser may do with it: a request whose Host is a name that could be rebound to us (DNS rebinding) is
// refused (403) unless listed; a page of another origin reads an answer only when its origin is listed
// (`allowed_origins`, echoed in Access-Control-Allow-Origin, never `*`). nats-server 2.9.10 sends no CORS header at
// all on /varz and friends (observed), so a listed origin is the only way in for a cross-origin dashboard.
//
// What a flood of cheap requests may take: at most `maxConnections` sockets are served (a request on one past it
// gets 503; a few more are dropped at accept by server.maxConnections), long-lived responses (the feed's SSE
// streams) are capped apart, and a connection that sends no complete request in time is closed. The file
// descriptors the NATS ports need are never the monitoring port's to take.
import http from 'node:http';
import type net from 'node:net';
import { hostAllowed } from '../http/host-check.js';
import { corsAllowOrigin } from '../http/origin.js';
import {
  Router,
  jsonResponse,
  methodNotAllowed,
  send,
  textResponse,
  type HttpResponse,
  type RouteHandler,
} from '../http/router.js';
import { ThrottledWarn, clipped, type Logger } from '../log.js';
import { listenOn } from '../server/acceptor.js';
import { MonitorRequestError } from './query.js';

/** Answers one GET (or HEAD) of its path; a MonitorRequestError thrown becomes a 400 with its text. */
export type MonitorHandler = RouteHandler;

export interface MonitorHttpOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Path → handler; every path here is counted in reqStats. */
  routes: Readonly<Record<string, MonitorHandler>>;
  /** The most HTTP connections served at once (MONITOR_MAX_CONNECTIONS by default); past it, 503. */
  maxConnections?: number;
  /** How many long-lived responses (routes marked `stream`: the event feed's SSE) may be open; past it, 503. */
  maxStreams?: number;
  /** Origins whose pages may read the answers (CORS); default none. */
  allowedOrigins?: readonly string[];
  /** Host names answered besides IP literals, loopback names, `host` and this machine's name. */
  allowedHosts?: readonly string[];
  /**
   * Routes another module owns (the event service's /events and /deadletters), asked first, for any method;
   * undefined while that module is not running. The CORS header is already set on `res` when the origin is allowed.
   */
  mounted?: () => Router | undefined;
}

/** Default for maxConnections: far below a default 1024-descriptor limit, far above a few scrapers and pages. */
export const MONITOR_MAX_CONNECTIONS = 128;
/** Sockets past maxConnections still accepted to be told 503; beyond these, Node closes them at accept. */
const OVERFLOW_CONNECTIONS = 16;
/** A request's headers must arrive within this, the whole request (a replay's body) within REQUEST_TIMEOUT_MS. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node checks those two (its default, 30 s, would let a silent socket stay up to 40 s). */
const TIMEOUT_CHECK_MS = 1_000;
/** An idle keep-alive connection is closed after this (Node's default). */
const KEEP_ALIVE_MS = 5_000;

type RefusalKind = 'refused_connections' | 'refused_streams' | 'refused_hosts';

/** nats-server's endpoints every process serves, as its monitoring index lists them. */
export const NATS_ENDPOINTS = ['/varz', '/connz', '/subsz', '/leafz', '/healthz', '/metrics'] as const;

/** What a process answers nats-server's endpoints with (the builders in this folder, over its own sources). */
export interface NatsRouteSources {
  varz(): unknown;
  connz(query: URLSearchParams): unknown;
  subsz(query: URLSearchParams): unknown;
  leafz(query: URLSearchParams): unknown;
  health(): { httpStatus: number; body: unknown } | Promise<{ httpStatus: number; body: unknown }>;
  metrics: { readonly contentType: string; text(): Promise<string> };
}

/** The routes of NATS_ENDPOINTS (and /subscriptionsz, nats-server's other name for /subsz), as nats-server writes them. */
export function natsRoutes(src: NatsRouteSources): Record<string, MonitorHandler> {
  const subszRoute: MonitorHandler = ({ query }) => jsonResponse(200, src.subsz(query));
  return {
    '/varz': () => jsonResponse(200, src.varz()),
    '/connz': ({ query }) => jsonResponse(200, src.connz(query)),
    '/subsz': subszRoute,
    '/subscriptionsz': subszRoute,
    '/leafz': ({ query }) => jsonResponse(200, src.leafz(query)),
    '/healthz': async () => {
      const h = await src.health();
      // Compact, as nats-server writes it: probes sometimes compare the body as text.
      return textResponse(h.httpStatus, 'application/json', JSON.stringify(h.body));
    },
    '/metrics': async () => textResponse(200, src.metrics.contentType, await src.metrics.text()),
  };
}

export class MonitorHttp {
  /** Requests served per path (nats-server http_req_stats). */
  readonly reqStats: Record<string, number> = {};
  private readonly server: http.Server;
  private readonly router = new Router({ errors: badParameter });
  private boundPort = 0;
  private readonly maxConnections: number;
  private readonly maxStreams: number;
  private openConnections = 0;
  /** Sockets accepted past maxConnections: each request on one is answered 503. */
  private readonly overLimit = new WeakSet<net.Socket>();
  private openStreams = 0;
  /** Refusals, one line per interval with how many of each since the last: a flood must not flood the log. */
  private readonly refusals = new ThrottledWarn<RefusalKind>(
    'monitoring requests refused (503 busy, 403 Host not allowed)',
    {
      kinds: ['refused_connections', 'refused_streams', 'refused_hosts'],
    },
  );

  constructor(private readonly opts: MonitorHttpOptions) {
    this.maxConnections = opts.maxConnections ?? MONITOR_MAX_CONNECTIONS;
    this.maxStreams = opts.maxStreams ?? Number.POSITIVE_INFINITY;
    if (opts.mounted !== undefined) this.router.use(opts.mounted);
    for (const [path, route] of Object.entries(opts.routes)) {
      this.router.get(path, (r) => {
        this.reqStats[path] = (this.reqStats[path] ?? 0) + 1;
        return route(r);
      });
    }
    // Every other path is nats-server's 404, and read-only: a write to it is refused as to any endpoint here.
    this.router.otherwise(({ req }) =>
      req.method === 'GET' || req.method === 'HEAD'
        ? textResponse(404, 'text/plain', '404 page not found\n')
        : methodNotAllowed(['GET', 'HEAD']),
    );
    this.server = http.createServer(
      {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => {
          opts.logger.error({ err, url: req.url }, 'monitoring request failed');
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error\n');
        });
      },
    );
    this.server.maxConnections = this.maxConnections + OVERFLOW_CONNECTIONS;
    this.server.on('connection', (socket: net.Socket) => {
      if (++this.openConnections > this.maxConnections) this.overLimit.add(socket);
      socket.once('close', () => this.openConnections--);
    });
  }

  /** Long-lived responses open now. */
  get streams(): number {
    return this.openStreams;
  }

  /** The bound port (meaningful when the config asked for 0). */
  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<void> {
    await listenOn(this.server, this.opts.host, this.opts.port);
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    this.opts.logger.info({ host: this.opts.host, port: this.boundPort }, 'monitoring listener started');
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise((r) => this.server.close(r));
    // Keep-alive scrapers would otherwise hold close() open until they time out.
    this.server.closeAllConnections();
    await closed;
  }

  /** Counts a refusal for the rate-limited log line; `host` is the refused Host header, clipped. */
  private refused(kind: RefusalKind, host?: string): void {
    const fields = {
      max_connections: this.maxConnections,
      max_streams: this.opts.maxStreams,
      last_refused_host: host === undefined ? undefined : clipped(host),
    };
    this.refusals.note(this.opts.logger, fields, kind);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (this.overLimit.has(req.socket)) {
      this.refused('refused_connections');
      return busy(
        res,
        `too many connections to the monitoring listener (max_connections ${this.maxConnections}): retry later\n`,
      );
    }
    const { host, allowedHosts = [], allowedOrigins = [] } = this.opts;
    if (!hostAllowed(req.headers.host, { listenHost: host, allowedHosts })) {
      this.refused('refused_hosts', req.headers.host ?? '');
      const body = `Host ${JSON.stringify(req.headers.host)} is not served here: add it to [monitor] allowed_hosts\n`;
      return send(res, textResponse(403, 'text/plain; charset=utf-8', body));
    }
    if (allowedOrigins.length > 0) {
      // The answer depends on the Origin: caches must not hand one origin's answer to another.
      res.setHeader('vary', 'Origin');
      const allow = corsAllowOrigin(req.headers.origin, allowedOrigins);
      if (allow !== undefined) res.setHeader('access-control-allow-origin', allow);
    }
    const url = new URL(req.url ?? '/', 'http://monitor');
    await this.router.serve(req, res, url, { admitStream: (r) => this.admitStream(r) });
  }

  /** A long-lived response may open while fewer than maxStreams are; it is counted until it closes. */
  private admitStream(res: http.ServerResponse): boolean {
    if (this.openStreams >= this.maxStreams) {
      this.refused('refused_streams');
      busy(res, `too many open streams (max_streams ${this.maxStreams}): retry later\n`);
      return false;
    }
    this.openStreams++;
    res.once('close', () => this.openStreams--);
    return true;
  }
}

/** A bad query parameter: 400 with nats-server's text. */
function badParameter(err: unknown): HttpResponse | undefined {
  return err instanceof MonitorRequestError ? textResponse(400, 'text/plain; charset=utf-8', err.message) : undefined;
}

/** 503 with a reason; the connection is closed after it (a client told to retry later need not hold it). */
function busy(res: http.ServerResponse, text: string): void {
  send(res, {
    status: 503,
    contentType: 'text/plain; charset=utf-8',
    body: text,
    headers: { 'retry-after': '5', connection: 'close' },
  });
}
