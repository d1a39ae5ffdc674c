// One byte-stream interface over TCP, TLS and WebSocket, so a client connection (and later a leafnode link) is
// written once. Writes arrive already batched per event-loop turn (shared/protocol/outbound.ts).
import type net from 'node:net';
import type { TLSSocket, PeerCertificate } from 'node:tls';
import * as ws from 'ws';
import type { WebSocket } from 'ws';

/**
 * How long a socket we close may take to hand its last bytes to a peer that does not read them (or to see the peer's
 * FIN) before it is destroyed: a closed client, a refused socket, a refused leaf.
 */
export const CLOSE_LINGER_MS = 2000;

/**
 * Ends a socket no connection runs over (refused as it was accepted): `last` out with the FIN, what the peer still
 * sends read and dropped (how its close is noticed), destroyed after CLOSE_LINGER_MS at the latest.
 */
export function endRefusedSocket(socket: net.Socket, last: string | Buffer): void {
  socket.end(last);
  socket.resume();
  setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
}

export interface TransportEvents {
  onData(chunk: Buffer): void;
  /** The peer or the network closed the stream (or it failed). Called once. */
  onClose(err?: Error): void;
  /** Everything written so far has been handed to the OS. */
  onDrain(): void;
}

export interface Transport {
  readonly kind: 'tcp' | 'tls' | 'websocket';
  readonly remoteAddress: string;
  readonly remotePort: number;
  start(events: TransportEvents): void;
  /** `onSent` runs once these bytes have been handed to the OS: the write-deadline check counts progress by it. */
  write(chunks: Buffer[], onSent?: () => void): void;
  /** Bytes written but not yet handed to the OS. */
  bufferedBytes(): number;
  pause(): void;
  resume(): void;
  /** Closes once what was written has been sent. */
  end(): void;
  /** Closes now, dropping unsent bytes. */
  destroy(): void;
  /**
   * Ends a peer that was refused (never admitted): `last` (its -ERR) is handed to the OS, then the connection is
   * dropped, nothing more read meanwhile, as nats-server closes it. A graceful end() would go on reading, and
   * throwing away, whatever the peer sends until it closes or the grace runs out. Bounded like end() should the
   * bytes never leave (a peer that reads nothing).
   */
  refuse(last: Buffer[] | undefined): void;
  /** The verified client certificate, when TLS asked for one. */
  peerCertificate(): PeerCertificate | undefined;
  /** The TLS socket underneath, when the stream is encrypted (the gateway reads the certificate's DER and trust). */
  tlsSocket(): TLSSocket | undefined;
  /**
   * The largest message a transport that retains a message whole before handing it over (WebSocket) may take now: one
   * control line's worth before the client is admitted, a message at max_payload after. Set by the client when it
   * starts, when it is admitted and when a reload changes the limits.
   */
  setMaxMessageBytes?(maxMessageBytes: number): void;
}

/** Room for the op, sizes, CRLFs and a PING that share a WebSocket message with a control line or a message. */
const FRAME_SLACK_BYTES = 1024;

/**
 * The largest message a transport that retains messages whole (WebSocket) may take from a connection: before it is
 * admitted, one control line (its CONNECT) and a PING; after, a message at max_payload with its control line.
 */
export function messageBytesBound(
  limits: { readonly max_control_line: number; readonly max_payload: number },
  admitted: boolean,
): number {
  return (admitted ? limits.max_payload + limits.max_control_line : limits.max_control_line) + FRAME_SLACK_BYTES;
}

/** TCP or TLS: both are net.Socket-shaped streams. */
export class SocketTransport implements Transport {
  readonly kind: 'tcp' | 'tls';
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** pause() was called last: the records read before it and not yet passed on wait for resume(). */
  private paused = false;
  /** TLS: what the current read brought, not yet passed on (start); undefined when nothing waits. */
  private pending: Buffer[] | undefined;
  /** Passes the pending records on, in order, until pause() (a record may pause the reader); set by start. */
  private passPending: () => void = () => {};

  constructor(private readonly socket: net.Socket | TLSSocket) {
    this.kind = 'encrypted' in socket && socket.encrypted ? 'tls' : 'tcp';
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
  }

  start(events: TransportEvents): void {
    const s = this.socket;
    let closed = false;
    // TLS: Node hands one read's cleartext to JS a 16 KB record at a time, and flush.ts writes what a record's
    // messages queued in a microtask after each: a reader's deliveries went out in ~6 KB writes, twice nats-server's
    // count for the same messages. The records one poll phase read are passed on together right after it, so their
    // deliveries are written once (gateway bench: 1.20 → 1.03 µs of CPU a message). What arrived before the stream
    // closed is passed on before the close. A reader paused by one record (its client's outbound or the gateway's
    // upstream buffer full) is passed nothing more until it is resumed, as a record at a time never was: the rest
    // of the read waits here (and a paused reader's close drops it, as a socket not read any more would).
    this.passPending = () => {
      const chunks = this.pending;
      while (chunks !== undefined && chunks.length > 0 && !this.paused) events.onData(chunks.shift()!);
      if (chunks !== undefined && chunks.length === 0 && this.pending === chunks) this.pending = undefined;
    };
    const close = (err?: Error) => {
      if (closed) return;
      closed = true;
      this.passPending();
      this.pending = undefined;
      events.onClose(err);
    };
    if (this.kind === 'tls') {
      s.on('data', (chunk: Buffer) => {
        if (this.pending !== undefined) {
          this.pending.push(chunk);
          return;
        }
        this.pending = [chunk];
        setImmediate(this.passPending);
      });
    } else s.on('data', (chunk: Buffer) => events.onData(chunk));
    s.on('drain', () => events.onDrain());
    s.on('error', (err) => close(err));
    s.on('close', () => close());
    // A half-closed peer is gone for our purposes (nats-server drops it at once).
    s.on('end', () => {
      close();
      s.destroy();
    });
  }

  write(chunks: Buffer[], onSent?: () => void): void {
    const s = this.socket;
    if (s.destroyed) return;
    const last = chunks.length - 1;
    if (last === 0) {
      s.write(chunks[0]!, onSent);
      return;
    }
    s.cork();
    for (let i = 0; i < last; i++) s.write(chunks[i]!);
    s.write(chunks[last]!, onSent);
    s.uncork();
  }

  bufferedBytes(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
    if (this.pending !== undefined) setImmediate(this.passPending);
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
    // A peer that never reads must not keep the socket alive forever.
    setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  refuse(last: Buffer[] | undefined): void {
    this.socket.pause();
    endAfter(this, last);
  }

  tlsSocket(): TLSSocket | undefined {
    return this.kind === 'tls' ? (this.socket as TLSSocket) : undefined;
  }

  peerCertificate(): PeerCertificate | undefined {
    const s = this.socket;
    if (!('getPeerCertificate' in s)) return undefined;
    const cert = s.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? cert : undefined;
  }
}

/** NATS over WebSocket: one byte stream over binary frames (nats.ws breaks on text frames). */
export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: net.Socket,
  ) {
    this.remoteAddress = socket.remoteAddress ?? '';
    this.remotePort = socket.remotePort ?? 0;
    socket.setNoDelay(true);
  }

  start(events: TransportEvents): void {
    let closed = false;
    const close = (err?: Error) => {
      if (closed) return;
      closed = true;
      events.onClose(err);
    };
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (Buffer.isBuffer(data)) events.onData(data);
      else if (Array.isArray(data)) events.onData(Buffer.concat(data));
      else events.onData(Buffer.from(data));
    });
    this.ws.on('close', () => close());
    this.ws.on('error', (err) => close(err));
    this.socket.on('drain', () => events.onDrain());
  }

  write(chunks: Buffer[], onSent?: () => void): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(
      chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
      { binary: true },
      onSent && (() => onSent()),
    );
  }

  bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  end(): void {
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), CLOSE_LINGER_MS).unref();
  }

  destroy(): void {
    this.ws.terminate();
  }

  refuse(last: Buffer[] | undefined): void {
    this.ws.pause();
    endAfter(this, last);
  }

  /**
   * Whether this ws release lets a connection's bound be set (setMaxMessageBytes): a WebSocket keeps its Receiver
   * in `_receiver`, and the Receiver reads `_maxPayload` on every frame header. Private fields: the frontend checks
   * them when it starts listening, so a ws release that renamed them is seen at start, not as admitted clients
   * silently capped at the bound before admission.
   */
  static boundSettable(): boolean {
    const Receiver = (ws as unknown as { Receiver?: new (opts: { maxPayload: number }) => { _maxPayload?: unknown } })
      .Receiver;
    if (typeof Receiver !== 'function' || new Receiver({ maxPayload: 7 })._maxPayload !== 7) return false;
    // As ws's server makes one (websocket-server.js completeUpgrade), without a socket yet.
    const ServerSide = ws.WebSocket as unknown as new (address: null, protocols: undefined, opts: object) => object;
    return '_receiver' in new ServerSide(null, undefined, {});
  }

  /**
   * ws retains a message whole before emitting it, up to its maxPayload: one control line's worth until the client is
   * admitted, so a client that has not authenticated cannot make us retain a large frame (nats-server reads WebSocket
   * frames into its parser as they come, which refuses any first byte but C before CONNECT); the room for a message
   * at max_payload after. Set per connection, from the limits in force, before its first frame is read (the client
   * starts within ws's 'connection' event), so a reload reaches new connections as well as open ones. ws has no
   * public per-connection setting: its Receiver's maxPayload is read on every frame header, so it is set there
   * (boundSettable checks, at listen, that it still can be).
   */
  setMaxMessageBytes(maxMessageBytes: number): void {
    const receiver = (this.ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
    if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = maxMessageBytes;
  }

  tlsSocket(): TLSSocket | undefined {
    const s = this.socket as Partial<TLSSocket>;
    return s.encrypted === true ? (this.socket as TLSSocket) : undefined;
  }

  peerCertificate(): PeerCertificate | undefined {
    const s = this.socket as Partial<TLSSocket>;
    if (typeof s.getPeerCertificate !== 'function') return undefined;
    const cert = s.getPeerCertificate();
    return cert && Object.keys(cert).length > 0 ? cert : undefined;
  }
}

/** Transport.refuse after the reads stopped: `last` out, then destroyed; end() bounds it should `last` never leave. */
function endAfter(t: Transport, last: Buffer[] | undefined): void {
  if (last !== undefined && last.length > 0) t.write(last, () => t.destroy());
  else t.destroy();
  t.end();
}
