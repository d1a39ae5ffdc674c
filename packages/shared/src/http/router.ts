// Method and path routing for the monitoring port (monitor/http.ts) and the APIs served on it (the event
// service's feed and dead letters): one matcher, one 405, one way to write an answer. What a path answers is the
// route's; who may ask (Host, Origin, how many connections and streams) is the port's.
//
// Our own rather than find-my-way (fastify's router, the one candidate): the port has a dozen fixed paths and
// two with a parameter, so a radix tree buys nothing here; find-my-way has no 405 (any miss goes to its one default
// route; fastify needs a plugin for Allow) and decodes parameters itself (a bad encoding goes to its onBadUrl),
// where the feed answers its own 400 naming the segment. Adopting it would still leave the 405, the fallbacks and
// the mounting to write here, and add a dependency to the runtime.
import type http from 'node:http';

/** One answer: status, content type and the whole body. */
export interface HttpResponse {
  status: number;
  contentType: string;
  body: string;
  /** Headers beyond content-type and content-length (405's allow, 503's retry-after). */
  headers?: Readonly<Record<string, string>>;
}

/** What a route is called with. */
export interface RouteRequest {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  readonly url: URL;
  /** The query string's parameters (url.searchParams); what each means is the route's (monitor/query.ts, the feed's). */
  readonly query: URLSearchParams;
  /**
   * The pattern's `:name` (one segment) and `*name` (the rest of the path) parts, as sent (percent-encoded): how to
   * decode them, and what a bad encoding is answered, are the route's.
   */
  readonly params: Readonly<Record<string, string>>;
}

/** An answer to send, or undefined when the route answered on `res` itself (a stream). */
export type RouteHandler = (r: RouteRequest) => HttpResponse | undefined | Promise<HttpResponse | undefined>;

export interface RouteOptions {
  /** A long-lived answer (server-sent events): admitted by the port against its cap before the route runs. */
  stream?: boolean;
}

export interface RouterOptions {
  /**
   * An error a route threw, as an answer (a bad parameter: 400; a store that failed: 503); undefined leaves it to the
   * port (500). Not asked once the route has sent its head.
   */
  errors?(err: unknown, r: RouteRequest): HttpResponse | undefined;
}

export interface ServeOptions {
  /** Asked before a stream route runs: false when it answered the request itself (503, too many streams). */
  admitStream?(res: http.ServerResponse): boolean;
}

interface Route {
  readonly methods: readonly string[];
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly handler: RouteHandler;
  readonly stream: boolean;
}

const ANY_METHOD: readonly string[] = [];

export class Router {
  private readonly routes: Route[] = [];
  /** Answer paths no route matched, whatever the method (an API's own 404). */
  private readonly fallbacks: Route[] = [];
  /** Routers asked first, resolved per request (undefined: not running now). */
  private readonly mounted: (() => Router | undefined)[] = [];

  constructor(private readonly opts: RouterOptions = {}) {}

  /** GET, and HEAD answered as GET without the body. */
  get(paths: string | readonly string[], handler: RouteHandler, opts: RouteOptions = {}): this {
    return this.add(this.routes, ['GET', 'HEAD'], paths, handler, opts);
  }

  post(paths: string | readonly string[], handler: RouteHandler, opts: RouteOptions = {}): this {
    return this.add(this.routes, ['POST'], paths, handler, opts);
  }

  /** Paths matching `pattern` (every path when left out) that no route matched, for any method. */
  otherwise(handler: RouteHandler): this;
  otherwise(pattern: string, handler: RouteHandler): this;
  otherwise(a: string | RouteHandler, b?: RouteHandler): this {
    return typeof a === 'string'
      ? this.add(this.fallbacks, ANY_METHOD, a, b!, {})
      : this.add(this.fallbacks, ANY_METHOD, '*path', a, {});
  }

  /** Another router, asked before this one's routes: a getter when what it serves comes and goes. */
  use(router: Router | (() => Router | undefined)): this {
    this.mounted.push(router instanceof Router ? () => router : router);
    return this;
  }

  /**
   * Answers the request when a route matches its path: with the route's answer, or 405 with Allow when only its
   * method is wrong. False when no route and no fallback matched the path (the caller's to answer).
   */
  async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    opts: ServeOptions = {},
  ): Promise<boolean> {
    for (const mounted of this.mounted) {
      const router = mounted();
      if (router !== undefined && (await router.serve(req, res, url, opts))) return true;
    }
    const path = url.pathname;
    const method = req.method ?? 'GET';
    let allow: string[] | undefined;
    for (const route of this.routes) {
      const params = match(route, path);
      if (params === undefined) continue;
      if (route.methods.includes(method))
        return this.run(route, { req, res, url, query: url.searchParams, params }, opts);
      allow = [...new Set([...(allow ?? []), ...route.methods])];
    }
    if (allow !== undefined) {
      send(res, methodNotAllowed(allow));
      return true;
    }
    for (const route of this.fallbacks) {
      const params = match(route, path);
      if (params !== undefined) return this.run(route, { req, res, url, query: url.searchParams, params }, opts);
    }
    return false;
  }

  private add(
    to: Route[],
    methods: readonly string[],
    paths: string | readonly string[],
    handler: RouteHandler,
    opts: RouteOptions,
  ): this {
    for (const path of typeof paths === 'string' ? [paths] : paths)
      to.push({ methods, handler, stream: opts.stream === true, ...compile(path) });
    return this;
  }

  private async run(route: Route, r: RouteRequest, opts: ServeOptions): Promise<true> {
    if (route.stream && opts.admitStream?.(r.res) === false) return true;
    let answer: HttpResponse | undefined;
    try {
      answer = await route.handler(r);
    } catch (err) {
      // A stream that failed after its head went out is ended by the port.
      const mapped = r.res.headersSent ? undefined : this.opts.errors?.(err, r);
      if (mapped === undefined) throw err;
      answer = mapped;
    }
    if (answer !== undefined) send(r.res, answer);
    return true;
  }
}

/** `/a/:one/*rest` as a RegExp over the encoded path: `:name` is one non-empty segment, `*name` (last) the rest. */
function compile(pattern: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const segments = pattern.split('/');
  const source = segments.map((seg, i) => {
    if (seg.startsWith(':')) {
      names.push(seg.slice(1));
      return '([^/]+)';
    }
    if (seg.startsWith('*')) {
      if (i !== segments.length - 1) throw new Error(`route ${pattern}: *${seg.slice(1)} must be the last segment`);
      names.push(seg.slice(1));
      return '(.+)';
    }
    return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  return { pattern: new RegExp(`^${source.join('/')}$`), names };
}

function match(route: Route, path: string): Record<string, string> | undefined {
  const m = route.pattern.exec(path);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  route.names.forEach((name, i) => (params[name] = m[i + 1]!));
  return params;
}

/** Indented JSON, as nats-server's monitoring endpoints write it. */
export function jsonResponse(status: number, body: unknown): HttpResponse {
  return { status, contentType: 'application/json', body: JSON.stringify(body, null, 2) };
}

export function textResponse(status: number, contentType: string, body: string): HttpResponse {
  return { status, contentType, body };
}

/** 405 naming the methods the path takes. */
export function methodNotAllowed(allow: readonly string[]): HttpResponse {
  return { status: 405, contentType: 'text/plain', body: 'method not allowed\n', headers: { allow: allow.join(', ') } };
}

/** Writes an answer whole, with its length; a HEAD gets the head alone. */
export function send(res: http.ServerResponse, a: HttpResponse): void {
  res.writeHead(a.status, { ...a.headers, 'content-type': a.contentType, 'content-length': Buffer.byteLength(a.body) });
  res.end(res.req.method === 'HEAD' ? undefined : a.body);
}
