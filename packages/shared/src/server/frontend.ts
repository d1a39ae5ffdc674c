// Accepting NATS clients: the TCP listener (TLS upgraded after the plaintext INFO, as nats-server does), the
// optional WebSocket listener, admission under max_connections, the live client table and the per-turn flush of
// every client's output, and the lame-duck drain. The event service and the gateway both run one; what a client may
// do is the Client's and the authenticator's, what the process does around it (monitoring, closing its other parts)
// is the host's.
//
// max_connections counts every accepted socket from accept until it closes, TLS handshakes and WebSocket upgrades
// included (nats-server server.go createClient registers a client before its TLS handshake), so the cap holds
// whatever arrives together. Unlike nats-server, a connection not yet admitted (TLS handshake, WebSocket upgrade or
// CONNECT pending) cannot hold a slot against a newcomer: when the table is full, the oldest of them is closed to
// make room, and only when every slot is held by an admitted client is the newcomer refused. Holding the table then
// takes a connection rate that outruns a real client's handshake, not a dozen silent sockets.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { Errors, errLine, type CloseReason } from '../protocol/index.js';
import { websocketOriginRefusal, type WebSocketOriginPolicy } from '../http/origin.js';
import { ThrottledWarn, type Logger } from '../log.js';
import type { Broker } from './broker.js';
import { Client, type ClientAuthenticator, type ClientContext, type ClientLimits } from './client.js';
import { clientInfo } from './context.js';
import { AdmissionSlots, type Slot } from './slots.js';
import { SocketTransport, WebSocketTransport, messageBytesBound, type Transport } from './transport.js';

/**
 * Without authentication, how long a client may take to finish the TLS handshake or the WebSocket upgrade at least
 * (auth_timeout when longer): nats-server's tls timeout default (2 s).
 */
const TLS_HANDSHAKE_MS = 2000;
/** The longest delay a Node timer takes (auth_timeout's bound in the config schemas). */
const NODE_TIMER_MAX_MS = 2 ** 31 - 1;

/** What the frontend needs from the process it belongs to; every field is read on use (reloads). */
export interface FrontendHost {
  readonly broker: Broker;
  readonly limits: ClientLimits;
  readonly authenticator: ClientAuthenticator | undefined;
  readonly logger: Logger;
  readonly maxConnections: number;
  /** INFO fields common to every client (server_id, version, limits, auth_required, tls_required...). */
  serverInfo(): Record<string, unknown>;
  /** False while the process is draining or closing: new sockets are turned away. */
  accepting(): boolean;
  /** After a client left the table, whoever closed it. */
  clientClosed?(client: Client, reason: CloseReason): void;
}

export interface FrontendOptions {
  host: string;
  /** Absent: no TCP listener (an embedding process's in-process-only service); the WebSocket one may still listen. */
  port: number | undefined;
  /** Server TLS options (certificate, key, CA, requestCert...): clients must upgrade after the INFO. */
  tls?: tls.TlsOptions;
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
  private tcp: net.Server | undefined;
  private ws: { http: http.Server | https.Server; wss: WebSocketServer } | undefined;
  /**
   * Never listens: accepted TCP sockets are handed to it after the plaintext INFO. A standalone TLSSocket would
   * not enforce rejectUnauthorized (Node checks client certificates only for sockets a tls.Server owns).
   */
  private readonly tlsServer: tls.Server | undefined;
  /** Every socket counted toward max_connections, from accept until it closes (slots.ts). */
  private readonly slots: AdmissionSlots<Client>;
  private readonly refusalWarn = new ThrottledWarn('maximum connections exceeded, refusing');
  private readonly evictionWarn = new ThrottledWarn('maximum connections reached: closing the oldest connection not yet admitted');
  private dirty: Client[] = [];
  private flushQueued = false;
  private stopped: Promise<void> | undefined;
  /** Called when the client table becomes empty (the lame duck waits on it). */
  private emptied: (() => void)[] = [];
  private boundPort = 0;
  private boundWsPort: number | undefined;

  constructor(
    private readonly host: FrontendHost,
    private readonly options: FrontendOptions,
  ) {
    if (options.tls !== undefined) this.tlsServer = this.createTlsServer(options.tls);
    this.slots = new AdmissionSlots<Client>({
      countsUntil: 'closed',
      whenFull: 'evict',
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
      expired: (slot) => this.admissionDeadline(slot),
      evicted: (slot) => this.evict(slot),
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
  serverInfo(): Record<string, unknown> {
    return { ...this.host.serverInfo(), port: this.boundPort };
  }

  /** The TCP port bound; 0 while none is (before listen, or without one). */
  get port(): number {
    return this.boundPort;
  }
  get websocketPort(): number | undefined {
    return this.boundWsPort;
  }
  get tlsEnabled(): boolean {
    return this.tlsServer !== undefined;
  }

  async listen(): Promise<void> {
    const { host, port, websocket } = this.options;
    if (port !== undefined) {
      const tcp = net.createServer((socket) => this.acceptTcp(socket));
      this.tcp = tcp;
      await listenOn(tcp, host, port);
      this.boundPort = (tcp.address() as net.AddressInfo).port;
      this.logger.info({ host, port: this.boundPort, tls: this.tlsServer !== undefined }, 'listening for client connections');
    }
    if (websocket === undefined) return;
    const server = websocket.tls !== undefined ? https.createServer(websocket.tls) : http.createServer();
    // Counted from the TCP accept, before the TLS handshake and the upgrade request.
    server.on('connection', (socket: net.Socket) => this.acceptWebSocketSocket(socket));
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('NATS over WebSocket: upgrade required\n');
    });
    // maxPayload: every connection sets its own as it starts, from the limits in force (client.ts messageBound); this
    // one only stands until then. A ws that no longer lets us would hold admitted clients to the bound before
    // admission: then the listener's bound is the admitted one, and the operator is told what is lost.
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
      verifyClient: (info, done) => this.verifyOrigin(info, done),
    });
    wss.on('connection', (socket, req) => this.acceptWebSocket(socket, req.socket as net.Socket));
    this.ws = { http: server, wss };
    await listenOn(server, websocket.host, websocket.port);
    this.boundWsPort = (server.address() as net.AddressInfo).port;
    this.logger.info({ host: websocket.host, port: this.boundWsPort, tls: websocket.tls !== undefined }, 'listening for websocket clients');
  }

  /** New TLS handshakes (TCP and wss) use these options; established sessions keep theirs. */
  setSecureContext(options: tls.SecureContextOptions): void {
    this.tlsServer?.setSecureContext(options);
    const wsHttp = this.ws?.http;
    if (wsHttp instanceof https.Server) wsHttp.setSecureContext(options);
  }

  // --- ClientContext: flushing and closing ------------------------------------------------------------------

  scheduleFlush(client: Client): void {
    this.dirty.push(client);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // After the current read is processed: one write per client per turn however many messages it got.
      queueMicrotask(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.flushQueued = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  };

  clientClosed(client: Client, reason: CloseReason): void {
    if (!this.clients.delete(client.cid)) return;
    const slot = this.slots.get(client.cid);
    if (slot !== undefined) this.slots.closed(slot);
    this.logger.info(
      { cid: client.cid, ip: client.transport.remoteAddress, who: client.identity, reason, in_msgs: client.stats.inMsgs, out_msgs: client.stats.outMsgs },
      'client closed',
    );
    this.host.clientClosed?.(client, reason);
    if (this.clients.size === 0) for (const f of this.emptied.splice(0)) f();
  }

  // --- accepting --------------------------------------------------------------------------------------------

  /** Counts a just-accepted socket toward max_connections (AdmissionSlots); `refuse` turns it away when full. */
  private claimSlot(socket: net.Socket, refuse: (cid: number) => void): Slot<Client> | undefined {
    socket.on('error', () => {}); // reported through the transport once started; before that, the close says it
    if (!this.host.accepting()) {
      socket.destroy();
      return undefined;
    }
    return this.slots.claim(socket, (cid) => {
      refuse(cid);
      this.refusalWarn.note(this.logger, { max_connections: this.host.maxConnections, ip: socket.remoteAddress });
    });
  }

  /**
   * The oldest connection not yet admitted gives its slot to a newcomer: one still in its handshake or upgrade is
   * cut; one whose CONNECT is pending is told why (the text nats-server gives a connection over the limit), its
   * socket closed once that is out (AdmissionSlots keeps it until then).
   */
  private evict(slot: Slot<Client>): void {
    const client = slot.conn;
    const stage = client === undefined ? 'TLS handshake or WebSocket upgrade' : 'CONNECT';
    this.evictionWarn.note(this.logger, { cid: slot.id, ip: slot.socket.remoteAddress, max_connections: this.host.maxConnections, stage });
    if (client === undefined) slot.socket.destroy();
    else client.evict();
  }

  /** The deadline fired: a handshake or upgrade still pending is cut; a client whose CONNECT is not admitted gets -ERR. */
  private admissionDeadline(slot: Slot<Client>): void {
    const client = slot.conn;
    if (client === undefined) {
      this.logger.warn({ cid: slot.id, ip: slot.socket.remoteAddress }, 'TLS handshake or WebSocket upgrade not done in time, closing');
      slot.socket.destroy();
      return;
    }
    if (this.authenticator !== undefined) client.fail(Errors.authTimeout, 'no CONNECT admitted within auth_timeout of accept');
  }

  private acceptTcp(socket: net.Socket): void {
    const slot = this.claimSlot(socket, (cid) => {
      // nats-server greets first, then refuses (server.go createClient, maxConnExceeded).
      socket.write(clientInfo(this, cid, socket.remoteAddress ?? ''));
      this.slots.refuseSocket(socket, errLine(Errors.maxConnections));
    });
    if (slot === undefined) return;
    if (this.tlsServer === undefined) {
      this.startClient(slot, new SocketTransport(socket));
      return;
    }
    // TLS: the INFO goes out in plaintext, then the client starts its handshake.
    socket.write(clientInfo(this, slot.id, socket.remoteAddress ?? ''));
    this.slots.handshake(slot);
    this.tlsServer.emit('connection', socket);
  }

  private createTlsServer(options: tls.TlsOptions): tls.Server {
    // Node's own handshake timer as far off as it goes (0 means its 120 s default): the slot's deadline bounds the
    // handshake, and follows a reload of auth_timeout and of the token where a timeout fixed here would not.
    const server = tls.createServer({ ...options, handshakeTimeout: NODE_TIMER_MAX_MS });
    server.on('secureConnection', (secure: tls.TLSSocket) => {
      const slot = this.slots.takeHandshaken(secure);
      if (slot === undefined) {
        secure.destroy();
        return;
      }
      this.startClient(slot, new SocketTransport(secure), true);
    });
    server.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
      // A refused client certificate ends here, before any CONNECT: say who and why.
      this.logger.warn({ cid: this.slots.takeHandshaken(secure)?.id, ip: secure.remoteAddress, port: secure.remotePort, reason: err.message }, 'TLS handshake failed');
      secure.destroy();
    });
    return server;
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
    const why = policy === undefined ? undefined : websocketOriginRefusal(policy, { origin: info.origin, host: info.req.headers.host, secure: info.secure });
    if (why === undefined) return done(true);
    this.logger.warn({ ip: info.req.socket.remoteAddress, origin: info.origin, host: info.req.headers.host, reason: why }, 'websocket upgrade refused: origin not allowed');
    done(false, 403, 'Forbidden\n', { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', 'Sec-WebSocket-Version': '13' });
  }

  /** A TCP connection on the WebSocket port: counted now, started once its upgrade is done. */
  private acceptWebSocketSocket(socket: net.Socket): void {
    // No WebSocket yet to carry an -ERR: a socket over the limit is closed at once, costing nothing.
    const slot = this.claimSlot(socket, () => socket.destroy());
    if (slot !== undefined) this.slots.handshake(slot);
  }

  private acceptWebSocket(ws: WebSocket, socket: net.Socket): void {
    const slot = this.slots.takeHandshaken(socket);
    if (slot === undefined) {
      ws.terminate();
      return;
    }
    this.startClient(slot, new WebSocketTransport(ws, socket));
  }

  private startClient(slot: Slot<Client>, transport: Transport, greeted = false): void {
    if (!this.host.accepting()) {
      transport.destroy();
      return;
    }
    const client = new Client(this, slot.id, transport);
    slot.conn = client;
    this.clients.set(client.cid, client);
    this.totalConnections++;
    client.start({ greeted });
  }

  // --- stopping ---------------------------------------------------------------------------------------------

  /** Closes the TCP and WebSocket listeners once; established connections stay. */
  stopListening(): Promise<void> {
    this.stopped ??= (async () => {
      const stopped: Promise<unknown>[] = [];
      if (this.tcp) stopped.push(new Promise((r) => this.tcp!.close(r)));
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
      { clients: this.clients.size, lame_duck_duration_ms: opts.durationMs, lame_duck_grace_period_ms: opts.gracePeriodMs },
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
      this.logger.info({ clients: remaining.length, over_ms: spreadMs }, 'lame duck grace period over, closing the remaining clients');
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
    this.slots.closeAll();
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

/** Listens, rejecting on the first error (a port in use) instead of throwing later. */
export function listenOn(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
