// The official NATS clients behind one small shape, so one conformance suite runs with `nats` (v2),
// `@nats-io/transport-node` (v3) and `nats.ws`. Only what the suites use is typed here; the clients' real connections
// fit it structurally (no casts). Where they differ (error classes, how a size check is reported) the kit says so.
import { after } from 'node:test';
import * as v2 from 'nats';
import * as v3 from '@nats-io/transport-node';
import * as ws from 'nats.ws';
import WebSocket from 'ws';
import { within } from '@event-broker/test-support/wait';

export interface Hdrs {
  get(k: string): string;
  set(k: string, v: string): void;
  append(k: string, v: string): void;
  has(k: string): boolean;
  keys(): string[];
  values(k: string): string[];
}

export interface Msg {
  readonly subject: string;
  readonly reply?: string;
  readonly data: Uint8Array;
  readonly headers?: Hdrs;
  respond(data?: Uint8Array | string, opts?: { headers?: Hdrs }): boolean;
  string(): string;
}

export interface SubOpts {
  queue?: string;
  max?: number;
  callback?: (err: Error | null, msg: Msg) => void;
}

export interface Sub extends AsyncIterable<Msg> {
  readonly closed: Promise<unknown>;
  unsubscribe(max?: number): void;
  drain(): Promise<void>;
  isClosed(): boolean;
  getProcessed(): number;
}

export interface ServerInfoView {
  server_id: string;
  server_name?: string;
  version: string;
  proto: number;
  headers?: boolean;
  max_payload: number;
  client_id?: number;
  client_ip?: string;
}

export interface Conn {
  readonly info?: ServerInfoView;
  publish(subject: string, data?: Uint8Array | string, opts?: { reply?: string; headers?: Hdrs }): void;
  subscribe(subject: string, opts?: SubOpts): Sub;
  request(subject: string, data?: Uint8Array | string, opts?: { timeout: number; headers?: Hdrs }): Promise<Msg>;
  flush(): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
  closed(): Promise<void | Error>;
  isClosed(): boolean;
}

export interface ConnectOpts {
  servers: string;
  noEcho?: boolean;
  name?: string;
  /** Sent as CONNECT auth_token, for a server with a token. */
  token?: string;
}

export interface ClientKit {
  readonly name: string;
  connect(opts: ConnectOpts): Promise<Conn>;
  headers(): Hdrs;
  /** The error a request rejects with when the server answers 503 (no responders). */
  isNoResponders(err: unknown): boolean;
  /** The error `publish` throws when the message exceeds the server's advertised max_payload. */
  isMaxPayload(err: unknown): boolean;
  /**
   * Makes the client believe the server accepts bigger messages, so an oversized publish reaches the server
   * (the clients check max_payload themselves). Reaches into client internals: test use only.
   */
  raiseClientMaxPayload(conn: Conn, bytes: number): void;
}

// Reconnect is off everywhere: a conformance test wants to see the server's close, not hide it.
const base = { reconnect: false, timeout: 3000 } as const;

function setInfoMaxPayload(conn: Conn, bytes: number): void {
  const protocol = (conn as unknown as { protocol?: { info?: { max_payload: number } } }).protocol;
  if (!protocol?.info) throw new Error('client internals changed: protocol.info not found');
  protocol.info.max_payload = bytes;
}

export const natsV2: ClientKit = {
  name: 'nats v2',
  connect: (opts) => v2.connect({ ...base, ...opts }),
  headers: () => v2.headers(),
  isNoResponders: (err) => err instanceof v2.NatsError && err.code === v2.ErrorCode.NoResponders,
  isMaxPayload: (err) => err instanceof v2.NatsError && err.code === v2.ErrorCode.MaxPayloadExceeded,
  raiseClientMaxPayload: setInfoMaxPayload,
};

export const natsV3: ClientKit = {
  name: '@nats-io/transport-node v3',
  connect: (opts) => v3.connect({ ...base, ...opts }),
  headers: () => v3.headers(),
  // v3 wraps it: RequestError with a NoRespondersError cause.
  isNoResponders: (err) =>
    (err instanceof v3.errors.RequestError && err.isNoResponders()) || err instanceof v3.errors.NoRespondersError,
  isMaxPayload: (err) => err instanceof v3.errors.InvalidArgumentError && /max_payload/.test(err.message),
  raiseClientMaxPayload: setInfoMaxPayload,
};

export const clientKits: ClientKit[] = [natsV2, natsV3];

/**
 * nats.ws, the browser client, run in Node: it needs a global WebSocket, which Node 20 lacks, so the `ws` package
 * stands in. Its `servers` are ws:// URLs.
 */
export const natsWs: ClientKit = {
  name: 'nats.ws',
  connect: (opts) => {
    const g = globalThis as { WebSocket?: unknown };
    g.WebSocket ??= WebSocket;
    return ws.connect({ ...base, ...opts });
  },
  headers: () => ws.headers(),
  isNoResponders: (err) => err instanceof ws.NatsError && err.code === ws.ErrorCode.NoResponders,
  isMaxPayload: (err) => err instanceof ws.NatsError && err.code === ws.ErrorCode.MaxPayloadExceeded,
  raiseClientMaxPayload: setInfoMaxPayload,
};

/** A callback subscription that keeps what it got (and any error the client reported on it). */
export interface Recorder {
  readonly sub: Sub;
  readonly msgs: Msg[];
  readonly errors: Error[];
  strings(): string[];
}

export function record(conn: Conn, subject: string, opts: Omit<SubOpts, 'callback'> = {}): Recorder {
  const msgs: Msg[] = [];
  const errors: Error[] = [];
  const sub = conn.subscribe(subject, {
    ...opts,
    callback: (err, msg) => {
      if (err) errors.push(err);
      else msgs.push(msg);
    },
  });
  return { sub, msgs, errors, strings: () => msgs.map((m) => m.string()) };
}

/** Opens connections to one server and closes whatever is still open after the suite. */
export function connections(kit: ClientKit, url: () => string) {
  const open: Conn[] = [];
  after(async () => {
    await Promise.allSettled(open.filter((c) => !c.isClosed()).map((c) => within(c.close(), 'close')));
  });
  return async (opts: Omit<ConnectOpts, 'servers'> = {}): Promise<Conn> => {
    const conn = await within(kit.connect({ servers: url(), ...opts }), `${kit.name} connects to ${url()}`);
    open.push(conn);
    return conn;
  };
}

/**
 * What a request to `subject` rejects with. The request's own timeout (10 s) is far beyond the bounded wait (2 s),
 * so only a no-responders status can end it in time; a reply resolves to an Error naming it.
 */
export function requestFailure(conn: Conn, subject: string, what: string): Promise<unknown> {
  return within(
    conn.request(subject, 'anyone?', { timeout: 10_000 }).then(
      (m) => new Error(`unexpected reply: ${m.string()}`),
      (e: unknown) => e,
    ),
    what,
    2000,
  );
}
