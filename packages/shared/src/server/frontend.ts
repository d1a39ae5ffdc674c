// Accepting NATS clients: the client port (acceptor.ts: TLS upgraded after the plaintext INFO, as nats-server does),
// the optional WebSocket port, admission under max_connections, the live client table and the lame-duck drain.
// The event service and the gateway both run one; what a client may do is the Client's and the authenticator's, when
// its output is written is flush.ts's, what the process does around it (monitoring, closing its other parts) is the
// host's.
//
// max_connections counts every accepted socket from accept until it closes, TLS handshakes and WebSocket upgrades
// included (nats-server server.go createClient registers a client before its TLS handshake), so the cap holds
// whatever arrives together. Unlike nats-server, a connection not yet admitted (TLS handshake, WebSocket upgrade or
// CONNECT pending) cannot hold a slot against a newcomer: when the table is full, the oldest of them is closed to
// make room, and only when every slot is held by an admitted client is the newcomer refused. Holding the table then
// takes a connection rate that outruns a real client's handshake, not a dozen silent sockets.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { Errors, errLine, type CloseReason } from '../protocol/index.js';
import { websocketOriginRefusal, type WebSocketOriginPolicy } from '../http/origin.js';
import { ThrottledWarn, type Logger } from '../log.js';
import { Acceptor, listenOn, type HandshakeFailure } from './acceptor.js';
import type { Broker } from './broker.js';
import { Client, type ClientAuthenticator, type ClientContext, type ClientLimits } from './client.js';
import { clientInfo } from './context.js';
import type { SharedSlots, Slot } from './slots.js';
import { WebSocketTransport, messageBytesBound, type Transport } from './transport.js';

/**
 * Without authentication, how long a client may take to finish the TLS handshake or the WebSocket upgrade at least
 * (auth_timeout when longer): nats-server's tls timeout default (2 s).
 */
const TLS_HANDSHAKE_MS = 2000;

/** What the frontend needs from the process it belongs to; every field is read on use (reloads). */
export interface FrontendHost {
  readonly broker: Broker;
  readonly limits: ClientLimits;
  readonly authenticator: ClientAuthenticator | undefined;
  readonly logger: Logger;
  readonly maxConnections: number;
  /** Its clients are the process's own (an internal port): their subscriptions are not counted as listeners. */
  readonly systemClients?: boolean;
  /** INFO fields common to every client (server_id, version, limits, auth_required, tls_required...). */
  serverInfo(): Record<string, unknown>;
  /** False while the process is draining or closing: new sockets are turned away. */
  accepting(): boolean;
  /** After a client left the table, whoever closed it. */
  clientClosed?(client: Client, reason: CloseReason): void;
}

export interface FrontendOptions {
  host: string;
  /** Absent: no TCP port (an embedding process's in-process-only service); the WebSocket one may still listen. */
  port: number | undefined;
  /** Server TLS options (certificate, key, CA, requestCert...): clients must upgrade after the INFO. */
  tls?: tls.TlsOptions;
  /** The client ids (cid) handed out: first, first + step, ... (slots.ts SlotPolicy ids); default 1, 2, 3... */
  cids?: { first: number; step: number };
  /**
   * max_connections is a budget shared with other processes on the same ports (the gateway's workers): each socket
   * waits for a grant from it; `host.maxConnections` is then the whole's, for logs. Absent: this process's alone.
   */
  sharedSlots?: SharedSlots;
  websocket?: {
    host: string;
    port: number;
    /** Serve wss:// with these options; plain ws:// without. */
    tls?: tls.TlsOptions;
    /** Which web pages may connect (nats-server same_origin, allowed_origins); absent: any. */
    origins?: WebSocketOriginPolicy;
  };
}

/** nats-server lame_duck_duration and lame_duck_grace_period, in ms. */
export interface LameDuckOptions {
  /** Every client is closed within this (from the start of the drain). */
  durationMs: number;
  /** Clients are left this long to leave on their own before the rest are closed. */
  gracePeriodMs: number;
}

export class ClientFrontend implements ClientContext {
  readonly clients = new Map<number, Client>();
  totalConnections = 0;
  /** The client port, and every socket counted toward max_connections from accept until it closes (slots.ts). */
  private readonly acceptor: Acceptor<Client>;
  private ws: { http: http.Server | https.Server; wss: WebSocketServer } | undefined;
  private readonly refusalWarn = new ThrottledWarn('maximum connections exceeded, refusing');
  private readonly evictionWarn = new ThrottledWarn(
    'maximum connections reached: closing the oldest connection not yet admitted',
  );
  private stopped: Promise<void> | undefined;
  /** Called when the client table becomes empty (the lame duck waits on it). */
  private emptied: (() => void)[] = [];
  private boundWsPort: number | undefined;

  constructor(
    private readonly host: FrontendHost,
    private readonly options: FrontendOptions,
  ) {
    this.acceptor = new Acceptor<Client>({
      slots: {
        countsUntil: 'closed',
        whenFull: 'evict',
        ...(options.cids !== undefined && { ids: options.cids }),
        ...(options.sharedSlots !== undefined && { shared: options.sharedSlots }),
        get max() {
          return host.maxConnections;
        },
        // auth_timeout from accept when clients authenticate (TLS handshake, WebSocket upgrade and CONNECT all within
        // it), else the handshake budget for the TLS handshake or the upgrade alone (without auth, nats-server waits
        // for CONNECT forever). nats-server runs its tls timeout, then starts the auth timer after the handshake
        // (server.go createClient, issue #432), so a socket may hold a slot for both; one deadline from accept bounds
        // that, and the gateway's default auth_timeout is nats-server's tls timeout plus its one-second margin.
        get deadlineMs() {
          const timeout = host.limits.auth_timeout;
          return host.authenticator !== undefined ? timeout : Math.max(TLS_HANDSHAKE_MS, timeout);
        },
      },
      ...(options.tls !== undefined && { tls: options.tls }),
      accepting: () => host.accepting(),
      greeting: (cid, socket) => clientInfo(this, cid, socket.remoteAddress ?? ''),
      refuse: (socket, cid) => this.refuse(socket, cid),
      evict: (slot) => this.evict(slot),
      open: (cid, transport) => this.open(cid, transport),
      notAdmitted: (client) => {
        if (this.authenticator !== undefined)
          client.fail(Errors.authTimeout, 'no CONNECT admitted within auth_timeout of accept');
      },
      handshakeFailed: (f) => this.handshakeFailed(f),
    });
  }

  // --- ClientContext: delegated to the host, read on use ---------------------------------------------------

  get broker(): Broker {
    return this.host.broker;
  }
  get limits(): ClientLimits {
    return this.host.limits;
  }
  get authenticator(): ClientAuthenticator | undefined {
    return this.host.authenticator;
  }
  get logger(): Logger {
    return this.host.logger;
  }
  get systemClients(): boolean {
    return this.host.systemClients === true;
  }
  serverInfo(): Record<string, unknown> {
    return { ...this.host.serverInfo(), port: this.acceptor.port };
  }

  /** The TCP port bound; 0 while none is (before listen, or without one). */
  get port(): number {
    return this.acceptor.port;
  }
  get websocketPort(): number | undefined {
    return this.boundWsPort;
  }
  get tlsEnabled(): boolean {
    return this.acceptor.tlsEnabled;
  }

  async listen(): Promise<void> {
    const { host, port, websocket } = this.options;
    if (port !== undefined) {
      const bound = await this.acceptor.listen(host, port);
      this.logger.info({ host, port: bound, tls: this.acceptor.tlsEnabled }, 'listening for client connections');
    }
    if (websocket === undefined) return;
    const server = websocket.tls !== undefined ? https.createServer(websocket.tls) : http.createServer();
    // Counted from the TCP accept, before the TLS handshake and the upgrade request.
    server.on('connection', (socket: net.Socket) =>
      this.acceptor.acceptUpgrading(socket, (s) => this.refuseUpgrading(s)),
    );
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('NATS over WebSocket: upgrade required\n');
    });
    // maxPayload: every connection sets its own as it starts, from the limits in force (client.ts messageBound); this
    // one only stands until then. A ws that no longer lets us would cap admitted clients at the bound before
    // admission: then the port's bound is the admitted one, and the operator is told what is lost.
    const settable = WebSocketTransport.boundSettable();
    if (!settable) {
      this.logger.error(
        { max_payload: this.limits.max_payload },
        'this ws release has no per-connection message bound we can set: every WebSocket message may be as large as an admitted one (max_payload) from the first frame, before authentication, and a reload of max_payload or max_control_line does not reach this listener',
      );
    }
    const wss = new WebSocketServer({
      server,
      perMessageDeflate: false,
      maxPayload: messageBytesBound(this.limits, !settable),
      // With a shared budget the slot may still be on its way: the upgrade waits for it (else it finds none).
      verifyClient: (info, done) => {
        const known = this.acceptor.slotKnown(info.req.socket);
        if (known === undefined) return this.verifyOrigin(info, done);
        void known.then(() => this.verifyOrigin(info, done));
      },
    });
    wss.on('connection', (ws: WebSocket, req) => {
      const socket = req.socket as net.Socket;
      if (!this.acceptor.upgraded(socket, new WebSocketTransport(ws, socket))) ws.terminate();
    });
    this.ws = { http: server, wss };
    await listenOn(server, websocket.host, websocket.port);
    this.boundWsPort = (server.address() as net.AddressInfo).port;
    this.logger.info(
      { host: websocket.host, port: this.boundWsPort, tls: websocket.tls !== undefined },
      'listening for websocket clients',
    );
  }

  /** New TLS handshakes (TCP and wss) use these options; established sessions keep theirs. */
  setSecureContext(options: tls.SecureContextOptions): void {
    this.acceptor.setSecureContext(options);
    const wsHttp = this.ws?.http;
    if (wsHttp instanceof https.Server) wsHttp.setSecureContext(options);
  }

  // --- ClientContext: closing -------------------------------------------------------------------------------

  clientClosed(client: Client, reason: CloseReason): void {
    if (!this.clients.delete(client.cid)) return;
    this.acceptor.closed(client.cid);
    this.logger.info(
      {
        cid: client.cid,
        ip: client.transport.remoteAddress,
        who: client.identity,
        reason,
        in_msgs: client.stats.inMsgs,
        out_msgs: client.stats.outMsgs,
      },
      'client closed',
    );
    this.host.clientClosed?.(client, reason);
    if (this.clients.size === 0) for (const f of this.emptied.splice(0)) f();
  }

  // --- accepting (acceptor.ts) --------------------------------------------------------------------------------

  /** No slot: nats-server greets first, then refuses (server.go createClient, maxConnExceeded). */
  private refuse(socket: net.Socket, cid: number): void {
    socket.write(clientInfo(this, cid, socket.remoteAddress ?? ''));
    this.acceptor.slots.refuseSocket(socket, errLine(Errors.maxConnections));
    this.refusalWarn.note(this.logger, { max_connections: this.host.maxConnections, ip: socket.remoteAddress });
  }

  /** No slot for a socket on the WebSocket port: no WebSocket yet to carry an -ERR, so it is closed at once, costing nothing. */
  private refuseUpgrading(socket: net.Socket): void {
    socket.destroy();
    this.refusalWarn.note(this.logger, { max_connections: this.host.maxConnections, ip: socket.remoteAddress });
  }

  /**
   * The oldest connection not yet admitted gives its slot to a newcomer: one still in its handshake or upgrade is
   * cut; one whose CONNECT is pending is told why (the text nats-server gives a connection over the limit), its
   * socket closed once that is out (AdmissionSlots keeps it until then).
   */
  private evict(slot: Slot<Client>): void {
    const client = slot.conn;
    const stage = client === undefined ? 'TLS handshake or WebSocket upgrade' : 'CONNECT';
    this.evictionWarn.note(this.logger, {
      cid: slot.id,
      ip: slot.socket.remoteAddress,
      max_connections: this.host.maxConnections,
      stage,
    });
    if (client === undefined) slot.socket.destroy();
    else client.evict();
  }

  private handshakeFailed(f: HandshakeFailure): void {
    if (f.timedOut) {
      this.logger.warn(
        { cid: f.id, ip: f.socket.remoteAddress },
        'TLS handshake or WebSocket upgrade not done in time, closing',
      );
      return;
    }
    // A refused client certificate ends here, before any CONNECT: say who and why.
    this.logger.warn(
      { cid: f.id, ip: f.socket.remoteAddress, port: f.socket.remotePort, reason: f.reason },
      'TLS handshake failed',
    );
  }

  /**
   * An upgrade from a page whose Origin the policy refuses gets 403, as nats-server answers it (websocket.go
   * wsUpgrade: http.Error with the status text, and Sec-Websocket-Version: 13); its socket then closes.
   */
  private verifyOrigin(
    info: { origin: string | undefined; secure: boolean; req: http.IncomingMessage },
    done: (ok: boolean, code?: number, message?: string, headers?: http.OutgoingHttpHeaders) => void,
  ): void {
    const policy = this.options.websocket?.origins;
    const why =
      policy === undefined
        ? undefined
        : websocketOriginRefusal(policy, { origin: info.origin, host: info.req.headers.host, secure: info.secure });
    if (why === undefined) return done(true);
    this.logger.warn(
      { ip: info.req.socket.remoteAddress, origin: info.origin, host: info.req.headers.host, reason: why },
      'websocket upgrade refused: origin not allowed',
    );
    done(false, 403, 'Forbidden\n', {
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
      'Sec-WebSocket-Version': '13',
    });
  }

  private open(cid: number, transport: Transport): Client {
    const client = new Client(this, cid, transport);
    this.clients.set(cid, client);
    this.totalConnections++;
    return client;
  }

  // --- stopping ---------------------------------------------------------------------------------------------

  /** Closes the TCP and WebSocket ports once; established connections stay. */
  stopListening(): Promise<void> {
    this.stopped ??= (async () => {
      const stopped: Promise<unknown>[] = [this.acceptor.stopListening()];
      if (this.ws) {
        const { http: server, wss } = this.ws;
        stopped.push(new Promise((r) => wss.close(r)), new Promise((r) => server.close(r)));
      }
      await Promise.all(stopped);
    })();
    return this.stopped;
  }

  /**
   * Lame-duck mode (nats-server lameDuckMode): stops listening, tells every client with an INFO carrying
   * `ldm: true` so official clients can move to another server, leaves them the grace period to leave on their
   * own, then closes the rest spread over what remains of the duration (a herd reconnecting at once would land on
   * the next server together). Resolves once no client is left. The host refuses new clients meanwhile
   * (accepting() false) and closes its other parts afterwards.
   */
  async lameDuck(opts: LameDuckOptions): Promise<void> {
    const started = Date.now();
    const stopped = this.stopListening();
    this.logger.info(
      {
        clients: this.clients.size,
        lame_duck_duration_ms: opts.durationMs,
        lame_duck_grace_period_ms: opts.gracePeriodMs,
      },
      'entering lame duck mode',
    );
    for (const c of this.clients.values()) c.sendInfo({ ldm: true });
    const gone = new Promise<void>((resolve) => {
      if (this.clients.size === 0) resolve();
      else this.emptied.push(resolve);
    });
    await waitAtMost(gone, opts.gracePeriodMs);
    const remaining = [...this.clients.values()];
    if (remaining.length > 0) {
      const spreadMs = Math.max(0, opts.durationMs - (Date.now() - started));
      this.logger.info(
        { clients: remaining.length, over_ms: spreadMs },
        'lame duck grace period over, closing the remaining clients',
      );
      // One pause between clients (nats-server batches when there are many; a timer per client is fine at our scale).
      const pauseMs = remaining.length > 1 ? spreadMs / remaining.length : 0;
      for (let i = 0; i < remaining.length; i++) {
        if (i > 0 && pauseMs >= 1) await waitAtMost(gone, pauseMs);
        remaining[i]!.close('Server Shutdown');
      }
    }
    await stopped;
  }

  /** Stops listening and closes every client (each is sent what it is owed first). */
  async close(reason: CloseReason = 'Server Shutdown'): Promise<void> {
    const stopped = this.stopListening();
    for (const c of [...this.clients.values()]) c.close(reason);
    // Sockets still in their TLS handshake or before their upgrade have no client to close.
    this.acceptor.closeAll();
    this.ws?.http.closeAllConnections?.();
    await stopped;
  }
}

/** Resolves when `p` does or after `ms`, whichever is first; the timer never holds the process open. */
function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
    void p.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
