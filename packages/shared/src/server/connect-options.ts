// A client's CONNECT read as nats-server reads it (client.go processConnect): JSON unmarshalled over the options the
// connection already holds, a wrongly typed known field failing the whole CONNECT. What the options then mean is
// client.ts's; who may connect is the authenticator's.
import { Errors, type ProtocolError } from '../protocol/index.js';

/** CONNECT fields we act on (nats-server client.go clientOpts). */
export interface ConnectOptions {
  readonly verbose: boolean;
  readonly pedantic: boolean;
  readonly echo: boolean;
  readonly headers: boolean;
  readonly noResponders: boolean;
  readonly name: string;
  readonly lang: string;
  readonly version: string;
}

/** Before CONNECT nats-server serves a client as verbose and pedantic (its option defaults), without headers. */
export const PRE_CONNECT_OPTIONS: ConnectOptions = Object.freeze({
  verbose: true,
  pedantic: true,
  echo: true,
  headers: false,
  noResponders: false,
  name: '',
  lang: '',
  version: '',
});

/** A CONNECT read: the options now in force and every field sent (for the authenticator), or why it is refused. */
export type ConnectRead =
  | { readonly ok: true; readonly opts: ConnectOptions; readonly fields: Record<string, unknown> }
  | { readonly ok: false; readonly err: ProtocolError; readonly detail: string };

/**
 * Reads a CONNECT's JSON over the options `was` in force: a field left out keeps its value, the defaults on the
 * first CONNECT and what an earlier CONNECT set on a later one (nats-server unmarshals over the options it holds).
 */
export function readConnect(json: string, was: ConnectOptions): ConnectRead {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { ok: false, err: Errors.protocolViolation, detail: 'CONNECT is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, err: Errors.protocolViolation, detail: 'CONNECT is not a JSON object' };
  }
  const c = parsed as Record<string, unknown>;
  const badField = mistypedConnectField(c);
  if (badField !== undefined)
    return { ok: false, err: Errors.protocolViolation, detail: `CONNECT field ${badField} has the wrong type` };
  if (c.protocol != null && c.protocol !== 0 && c.protocol !== 1) {
    return { ok: false, err: Errors.invalidClientProtocol, detail: `protocol ${String(c.protocol)}` };
  }
  const bool = (v: unknown, kept: boolean) => (typeof v === 'boolean' ? v : kept);
  const str = (v: unknown, kept: string) => (typeof v === 'string' ? v : kept);
  const opts: ConnectOptions = {
    verbose: bool(c.verbose, was.verbose),
    pedantic: bool(c.pedantic, was.pedantic),
    echo: bool(c.echo, was.echo),
    headers: bool(c.headers, was.headers),
    noResponders: bool(c.no_responders, was.noResponders),
    name: str(c.name, was.name),
    lang: str(c.lang, was.lang),
    version: str(c.version, was.version),
  };
  if (opts.noResponders && !opts.headers)
    return { ok: false, err: Errors.noRespondersNeedsHeaders, detail: 'no_responders without headers' };
  return { ok: true, opts, fields: c };
}

const CONNECT_BOOLEANS = ['verbose', 'pedantic', 'echo', 'headers', 'no_responders', 'tls_required'] as const;
const CONNECT_STRINGS = ['name', 'lang', 'version', 'auth_token', 'user', 'pass', 'jwt', 'sig', 'nkey'] as const;

/** nats-server unmarshals CONNECT into typed fields: a wrongly typed known field fails the whole CONNECT. */
function mistypedConnectField(c: Record<string, unknown>): string | undefined {
  for (const k of CONNECT_BOOLEANS) if (c[k] != null && typeof c[k] !== 'boolean') return k;
  for (const k of CONNECT_STRINGS) if (c[k] != null && typeof c[k] !== 'string') return k;
  if (c.protocol != null && typeof c.protocol !== 'number') return 'protocol';
  return undefined;
}
