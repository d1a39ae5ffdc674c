// Which web pages may talk to our ports. A browser tags every cross-origin request with the page's `Origin`;
// the WebSocket port refuses an upgrade from an origin it was not told to trust (nats-server's same_origin and
// allowed_origins, websocket.go checkOrigin), and the monitoring port lets a page of another origin read its
// answers only when that origin is listed (CORS; nothing is sent otherwise, as nats-server 2.9.10's monitoring).
// Origins compare as nats-server compares them: scheme, lower-cased host, and port (the scheme's default when absent).

/** An origin reduced to what is compared. */
export interface ParsedOrigin {
  readonly scheme: string;
  readonly host: string;
  readonly port: string;
}

/** `scheme://host[:port]`, or undefined when the text is not one (`null`, a bare host, a path). */
export function parseOrigin(text: string): ParsedOrigin | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return undefined;
  }
  if (u.host === '' || !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return undefined;
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  // URL drops a scheme's default port; nats-server's wsGetHostAndPort fills it back in from the scheme (https: 443,
  // anything else 80), so "http://a" and "http://a:80" are the same origin.
  const port = u.port !== '' ? u.port : scheme === 'https' ? '443' : '80';
  return { scheme, host: u.hostname.toLowerCase(), port };
}

/** Why an allowed-origins entry cannot be used, or undefined when it can (config validation). */
export function originEntryProblem(text: string): string | undefined {
  if (parseOrigin(text) === undefined) {
    return `must be an origin such as "https://app.example.com" or "http://localhost:8080", got ${JSON.stringify(text)}`;
  }
  const u = new URL(text);
  if (
    u.username !== '' ||
    u.password !== '' ||
    (u.pathname !== '/' && u.pathname !== '') ||
    u.search !== '' ||
    u.hash !== ''
  ) {
    return `must be scheme://host[:port] only, got ${JSON.stringify(text)}`;
  }
  return undefined;
}

function sameParsed(a: ParsedOrigin, b: ParsedOrigin): boolean {
  return a.scheme === b.scheme && a.host === b.host && a.port === b.port;
}

/** The WebSocket port's rule (nats-server websocket options of the same names). */
export interface WebSocketOriginPolicy {
  /** The Origin's host and port must be the request's Host (the port's own address as the page used it). */
  readonly sameOrigin: boolean;
  /** When not empty, the Origin must be one of these (scheme, host and port). */
  readonly allowedOrigins: readonly string[];
}

/**
 * Whether an upgrade may proceed, as nats-server's checkOrigin decides: with neither rule set, or without an
 * Origin header (a program, not a page: RFC 6455 section 1.6), always; otherwise the Origin must parse, match the
 * request's Host when `sameOrigin` (host and port only: nats-server ignores the scheme there), and be listed when
 * `allowedOrigins` is not empty. Returns why not, or undefined.
 */
export function websocketOriginRefusal(
  policy: WebSocketOriginPolicy,
  req: { origin: string | undefined; host: string | undefined; secure: boolean },
): string | undefined {
  if (!policy.sameOrigin && policy.allowedOrigins.length === 0) return undefined;
  const text = req.origin;
  if (text === undefined || text === '') return undefined;
  const origin = parseOrigin(text);
  if (origin === undefined) return 'invalid Origin header';
  if (policy.sameOrigin) {
    const host = hostAndPort(req.host ?? '', req.secure);
    if (host === undefined || host.host !== origin.host || host.port !== origin.port) return 'not same origin';
  }
  if (policy.allowedOrigins.length > 0 && !originListed(origin, policy.allowedOrigins))
    return 'not in the allowed list';
  return undefined;
}

/** Whether `origin` is one of `allowed` (each an origin text; unparsable entries match nothing). */
export function originListed(origin: ParsedOrigin, allowed: readonly string[]): boolean {
  for (const entry of allowed) {
    const e = parseOrigin(entry);
    if (e !== undefined && sameParsed(e, origin)) return true;
  }
  return false;
}

/**
 * The `Access-Control-Allow-Origin` value for a request from `origin` (its Origin header): the origin itself when
 * listed, else undefined (no header: the browser keeps the answer from the page). Never `*`.
 */
export function corsAllowOrigin(origin: string | undefined, allowed: readonly string[]): string | undefined {
  if (origin === undefined || allowed.length === 0) return undefined;
  const parsed = parseOrigin(origin);
  return parsed !== undefined && originListed(parsed, allowed) ? origin : undefined;
}

/** A Host header's host (lower-cased, brackets kept off an IPv6 literal) and port (the scheme's default when absent). */
export function hostAndPort(header: string, secure: boolean): { host: string; port: string } | undefined {
  const h = header.trim();
  if (h === '') return undefined;
  let host: string;
  let port = '';
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    host = h.slice(1, end);
    const rest = h.slice(end + 1);
    if (rest.startsWith(':')) port = rest.slice(1);
    else if (rest !== '') return undefined;
  } else {
    const colon = h.lastIndexOf(':');
    if (colon >= 0 && h.indexOf(':') === colon) {
      host = h.slice(0, colon);
      port = h.slice(colon + 1);
    } else if (colon >= 0) {
      return undefined; // an unbracketed IPv6 literal is not a valid Host
    } else {
      host = h;
    }
  }
  if (port !== '' && !/^\d+$/.test(port)) return undefined;
  return { host: host.toLowerCase(), port: port !== '' ? port : secure ? '443' : '80' };
}
