// Accepting NATS clients: the TCP listener (TLS upgraded after the plaintext INFO, as nats-server does), the
// optional WebSocket listener, admission under max_connections, the live client table and the per-turn flush of
// every client's output, and the lame-duck drain. The event service and the gateway both run one; what a client may
// do is the Client's and the authenticator's, what the process does around it (monitoring, closing its other parts)
// is the host's.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { Errors, errLine, type CloseReason } from '../protocol/index.js';
import type { Logger } from '../log.js';
import type { Broker } from './broker.js';
import { Client, type ClientAuthenticator, type ClientContext, type ClientLimits } from './client.js';
import { SocketTransport, WebSocketTransport } from './transport.js';

/** How long a client may take to finish the TLS handshake at least (auth_timeout when longer). */
const TLS_HANDSHAKE_MS = 2000;

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
  port: number;
  /** Server TLS options (certificate, key, CA, requestCert...): clients must upgrade after the INFO. */
  tls?: tls.TlsOptions;
  websocket?: {
    host: string;
    port: number;
    /** Serve wss:// with these options; plain ws:// without. */
    tls?: tls.TlsOptions;
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
  private nextCid = 1;
  private tcp: net.Server | undefined;
  private ws: { http: http.Server | https.Server; wss: WebSocketServer } | undefined;
  /**
   * Never listens: accepted TCP sockets are handed to it after the plaintext INFO. A standalone TLSSocket would
   * not enforce rejectUnauthorized (Node checks client certificates only for sockets a tls.Server owns).
   */
  private readonly tlsServer: tls.Server | undefined;
  /** Client ids of sockets in their TLS handshake, by peer address, to pick up on 'secureConnection'. */
  private readonly handshaking = new Map<string, number>();
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
    const tcp = net.createServer((socket) => this.acceptTcp(socket));
    this.tcp = tcp;
    await listenOn(tcp, host, port);
    this.boundPort = (tcp.address() as net.AddressInfo).port;
    this.logger.info({ host, port: this.boundPort, tls: this.tlsServer !== undefined }, 'listening for client connections');
    if (websocket === undefined) return;
    const server = websocket.tls !== undefined ? https.createServer(websocket.tls) : http.createServer();
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('NATS over WebSocket: upgrade required\n');
    });
    const limits = this.limits;
    const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: Client.unadmittedFrameBytes(limits) });
    wss.on('connection', (socket, req) => this.acceptWebSocket(socket, req.socket));
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
    this.logger.info(
      { cid: client.cid, ip: client.transport.remoteAddress, who: client.identity, reason, in_msgs: client.stats.inMsgs, out_msgs: client.stats.outMsgs },
      'client closed',
    );
    this.host.clientClosed?.(client, reason);
    if (this.clients.size === 0) for (const f of this.emptied.splice(0)) f();
  }

  // --- accepting --------------------------------------------------------------------------------------------

  private admit(cid: number, write: (s: string) => void, end: () => void): boolean {
    if (!this.host.accepting()) {
      end();
      return false;
    }
    const max = this.host.maxConnections;
    if (this.clients.size >= max) {
      // nats-server greets first, then refuses (server.go createClient, maxConnExceeded).
      write(Client.greeting(this, cid, ''));
      write(errLine(Errors.maxConnections));
      end();
      this.logger.warn({ max_connections: max }, 'maximum connections exceeded, refusing');
      return false;
    }
    return true;
  }

  private acceptTcp(socket: net.Socket): void {
    const cid = this.nextCid++;
    if (!this.admit(cid, (s) => socket.write(s), () => socket.end())) return;
    socket.on('error', () => {}); // reported through the transport once started
    if (this.tlsServer === undefined) {
      this.startClient(new Client(this, cid, new SocketTransport(socket)));
      return;
    }
    // TLS: the INFO goes out in plaintext, then the client starts its handshake.
    socket.write(Client.greeting(this, cid, socket.remoteAddress ?? ''));
    const key = peerKey(socket);
    this.handshaking.set(key, cid);
    socket.once('close', () => this.handshaking.delete(key));
    this.tlsServer.emit('connection', socket);
  }

  private createTlsServer(options: tls.TlsOptions): tls.Server {
    const server = tls.createServer({ ...options, handshakeTimeout: Math.max(TLS_HANDSHAKE_MS, this.limits.auth_timeout) });
    server.on('secureConnection', (secure: tls.TLSSocket) => {
      const key = peerKey(secure);
      const cid = this.handshaking.get(key);
      this.handshaking.delete(key);
      if (cid === undefined) {
        secure.destroy();
        return;
      }
      this.startClient(new Client(this, cid, new SocketTransport(secure)), true);
    });
    server.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
      const key = peerKey(secure);
      // A refused client certificate ends here, before any CONNECT: say who and why.
      this.logger.warn({ cid: this.handshaking.get(key), ip: secure.remoteAddress, port: secure.remotePort, reason: err.message }, 'TLS handshake failed');
      this.handshaking.delete(key);
      secure.destroy();
    });
    return server;
  }

  private acceptWebSocket(ws: WebSocket, socket: net.Socket): void {
    const cid = this.nextCid++;
    const sendText = (s: string) => ws.send(Buffer.from(s), { binary: true });
    if (!this.admit(cid, sendText, () => ws.close(1008))) return;
    this.startClient(new Client(this, cid, new WebSocketTransport(ws, socket)));
  }

  private startClient(client: Client, greeted = false): void {
    if (!this.host.accepting()) {
      client.transport.destroy();
      return;
    }
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
    this.ws?.http.closeAllConnections?.();
    await stopped;
  }
}

function peerKey(s: net.Socket): string {
  return `${s.remoteAddress}:${s.remotePort}`;
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
