// Accepting connections that prove who they are after the socket opens, for the client port and the leafnode port
// alike: it binds the port, counts every accepted socket from accept under one cap and one deadline (slots.ts), and
// on a TLS port greets the socket in plaintext and then upgrades it (the INFO first, as nats-server 2.9 does), starting
// the connection once its stream is ready. A WebSocket port hands its sockets here as well (acceptUpgrading,
// upgraded), so one table counts them all. What runs over the stream (a Client, a LeafLink), the greeting, what a
// socket over the cap or too late is told, and what is logged are the owner's (frontend.ts, the leafnode port).
import net from 'node:net';
import tls from 'node:tls';
import { AdmissionSlots, peerKey, type Slot, type SlotConn, type SlotPolicy } from './slots.js';
import { SocketTransport, type Transport } from './transport.js';

/** The longest delay a Node timer takes: Node's own TLS handshake timer is set this far off (the slot's deadline bounds it). */
const NODE_TIMER_MAX_MS = 2 ** 31 - 1;

/** A connection the acceptor can start once its stream is ready. */
export interface AcceptedConn extends SlotConn {
  /** Starts reading; `greeted`: the INFO already went out in plaintext (a TLS port), so it sends none. */
  start(opts: { greeted?: boolean }): void;
}

/** A socket that never carried a connection: its TLS handshake failed, or it or its upgrade did not end in time. */
export interface HandshakeFailure {
  /** Its slot's id, when it had one still. */
  readonly id: number | undefined;
  readonly socket: net.Socket;
  readonly reason: string;
  /** The admission deadline passed (else the TLS handshake failed). */
  readonly timedOut: boolean;
}

/** What the acceptor needs from the port's owner; slot limits are read on use, so a reload reaches the next socket. */
export interface AcceptorOptions<C extends AcceptedConn> {
  /** How sockets are counted (slots.ts SlotPolicy); `max` and `deadlineMs` are read as each socket arrives. */
  readonly slots: Pick<SlotPolicy<C>, 'max' | 'deadlineMs' | 'countsUntil' | 'whenFull' | 'ids' | 'shared'>;
  /** Server TLS options: accepted sockets are greeted in plaintext, then must upgrade. */
  readonly tls?: tls.TlsOptions;
  /** False while the owner drains or closes: new sockets are dropped. */
  accepting(): boolean;
  /** The INFO a TLS port sends before the handshake (on a plain port the connection greets when it starts). */
  greeting(id: number, socket: net.Socket): string;
  /** There is no slot for this socket: turn it away (slots.refuseSocket), count, log. `id` is the one it would have had. */
  refuse(socket: net.Socket, id: number): void;
  /** Chosen to make room (whenFull 'evict'); without: the socket is destroyed. */
  evict?(slot: Slot<C>): void;
  /** Makes the connection over a stream ready to carry it, and registers it; the acceptor then starts it. */
  open(id: number, transport: Transport): C;
  /** The deadline from accept passed with the connection started and not admitted: tell it. */
  notAdmitted(conn: C): void;
  /** For the log; the socket is destroyed after. */
  handshakeFailed(failure: HandshakeFailure): void;
}

export class Acceptor<C extends AcceptedConn> {
  /** Every socket that counts (slots.ts): the owner marks its connections admitted and closed here. */
  readonly slots: AdmissionSlots<C>;
  private server: net.Server | undefined;
  /**
   * Never listens: accepted sockets are handed to it after the plaintext INFO. A standalone TLSSocket would not
   * enforce rejectUnauthorized (Node checks client certificates only for sockets a tls.Server owns).
   */
  private readonly tlsServer: tls.Server | undefined;
  private stopped: Promise<void> | undefined;
  private boundPort = 0;
  /** Sockets whose slot waits for a grant of the shared budget, by peer address (a wss request sees the TLS stream). */
  private readonly claiming = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: AcceptorOptions<C>) {
    const limits = opts.slots;
    this.slots = new AdmissionSlots<C>({
      countsUntil: limits.countsUntil,
      whenFull: limits.whenFull,
      ...(limits.ids !== undefined && { ids: limits.ids }),
      ...(limits.shared !== undefined && { shared: limits.shared }),
      get max() {
        return limits.max;
      },
      get deadlineMs() {
        return limits.deadlineMs;
      },
      expired: (slot) => this.expired(slot),
      evicted: (slot) => (opts.evict !== undefined ? opts.evict(slot) : slot.socket.destroy()),
    });
    if (opts.tls !== undefined) this.tlsServer = this.createTlsServer(opts.tls);
  }

  get port(): number {
    return this.boundPort;
  }

  get tlsEnabled(): boolean {
    return this.tlsServer !== undefined;
  }

  /** Binds the port (0: any free one), rejecting on the first error (a port in use); resolves with the port bound. */
  async listen(host: string, port: number): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await listenOn(server, host, port);
    this.boundPort = (server.address() as net.AddressInfo).port;
    return this.boundPort;
  }

  /** New TLS handshakes use these options; established sessions keep theirs. */
  setSecureContext(options: tls.SecureContextOptions): void {
    this.tlsServer?.setSecureContext(options);
  }

  /**
   * A TCP connection whose stream another layer upgrades first (a WebSocket upgrade): counted now, started by
   * upgraded(). `refuse` turns it away when there is no slot (no stream yet to carry an -ERR).
   */
  acceptUpgrading(socket: net.Socket, refuse: (socket: net.Socket) => void): void {
    this.claim(
      socket,
      () => refuse(socket),
      (slot) => this.slots.handshake(slot),
    );
  }

  /**
   * Settles once the slot of the socket behind `stream` is known (granted or refused), when it still waits for a grant
   * of the shared budget: an upgrade completed before would find no slot, and the client be cut after its 101.
   */
  slotKnown(stream: net.Socket): Promise<unknown> | undefined {
    return this.claiming.get(peerKey(stream));
  }

  /** The upgrade of a socket from acceptUpgrading is done: its connection starts over `transport`. False: its slot is gone, close the stream. */
  upgraded(socket: net.Socket, transport: Transport): boolean {
    const slot = this.slots.takeHandshaken(socket);
    if (slot === undefined) return false;
    this.start(slot, transport);
    return true;
  }

  /** The connection `id` was admitted: its deadline is off, and under countsUntil 'admitted' its slot is free. */
  admitted(id: number): void {
    const slot = this.slots.get(id);
    if (slot !== undefined) this.slots.admitted(slot);
  }

  /** The connection `id` closed (its socket may still be finishing: slots.ts). */
  closed(id: number): void {
    const slot = this.slots.get(id);
    if (slot !== undefined) this.slots.closed(slot);
  }

  /** Stops accepting (once); established connections stay. */
  stopListening(): Promise<void> {
    this.stopped ??=
      this.server !== undefined ? new Promise<void>((r) => this.server!.close(() => r())) : Promise.resolve();
    return this.stopped;
  }

  /** Destroys every socket no connection runs over yet (in its handshake or upgrade) and every refused one still finishing. */
  closeAll(): void {
    this.slots.closeAll();
  }

  private accept(socket: net.Socket): void {
    this.claim(
      socket,
      (id) => this.opts.refuse(socket, id),
      (slot) => this.accepted(slot),
    );
  }

  private accepted(slot: Slot<C>): void {
    const socket = slot.socket;
    if (this.tlsServer === undefined) {
      this.start(slot, new SocketTransport(socket));
      return;
    }
    // TLS: the INFO goes out in plaintext, then the peer starts its handshake.
    socket.write(this.opts.greeting(slot.id, socket));
    this.slots.handshake(slot);
    this.tlsServer.emit('connection', socket);
  }

  /**
   * Counts a just-accepted socket (AdmissionSlots), then `counted` goes on with it; `refuse` turns it away when there
   * is no room. With a shared budget that is once the answer is in (what it sends meanwhile waits in its stream's buffer).
   */
  private claim(socket: net.Socket, refuse: (id: number) => void, counted: (slot: Slot<C>) => void): void {
    socket.on('error', () => {}); // reported through the transport once started; before that, the close says it
    if (!this.opts.accepting()) {
      socket.destroy();
      return;
    }
    const slot = this.slots.claim(socket, refuse);
    if (!(slot instanceof Promise)) {
      if (slot !== undefined) counted(slot);
      return;
    }
    const peer = peerKey(socket);
    const known = slot.then((s) => {
      if (this.claiming.get(peer) === known) this.claiming.delete(peer);
      if (s === undefined) return;
      // Stopped while the grant was on its way: given back as its socket closes.
      if (!this.opts.accepting()) s.socket.destroy();
      else counted(s);
    });
    this.claiming.set(peer, known);
  }

  private createTlsServer(options: tls.TlsOptions): tls.Server {
    // Node's own handshake timer as far off as it goes (0 means its 120 s default): the slot's deadline from accept
    // bounds the handshake, and follows a reload of the timeout where one fixed here would not.
    const server = tls.createServer({ ...options, handshakeTimeout: NODE_TIMER_MAX_MS });
    server.on('secureConnection', (secure: tls.TLSSocket) => {
      const slot = this.slots.takeHandshaken(secure);
      if (slot === undefined) {
        secure.destroy();
        return;
      }
      this.start(slot, new SocketTransport(secure), true);
    });
    server.on('tlsClientError', (err: Error, secure: tls.TLSSocket) => {
      // A refused client certificate ends here, before any CONNECT.
      this.opts.handshakeFailed({
        id: this.slots.takeHandshaken(secure)?.id,
        socket: secure,
        reason: err.message,
        timedOut: false,
      });
      secure.destroy();
    });
    return server;
  }

  /** The deadline fired: a handshake or upgrade still pending is cut; a connection not admitted is the owner's to tell. */
  private expired(slot: Slot<C>): void {
    if (slot.conn !== undefined) {
      this.opts.notAdmitted(slot.conn);
      return;
    }
    this.opts.handshakeFailed({
      id: slot.id,
      socket: slot.socket,
      reason: 'not done within the admission deadline from accept',
      timedOut: true,
    });
    slot.socket.destroy();
  }

  private start(slot: Slot<C>, transport: Transport, greeted = false): void {
    if (!this.opts.accepting()) {
      transport.destroy();
      return;
    }
    const conn = this.opts.open(slot.id, transport);
    slot.conn = conn;
    conn.start({ greeted });
  }
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
