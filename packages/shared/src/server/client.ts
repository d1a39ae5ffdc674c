// One network client connection: the NATS client protocol state machine over a Transport. It admits the client
// (CONNECT, through the server's authenticator; the auth timeout is the frontend's, counted from accept), turns
// SUB/UNSUB into subscriptions, hands PUB/HPUB
// to the broker, writes MSG/HMSG in per-turn batches, and closes stale, slow or misbehaving clients with
// nats-server's -ERR texts. Who may connect and what they may touch is the authenticator's (the service's token,
// the gateway's certificate + JWT); this module only enforces its answers.
import {
  EAGER_FLUSH_BYTES,
  Errors,
  OK,
  Outbound,
  PING,
  PONG,
  Parser,
  errLine,
  infoLine,
  permissionsViolationForPublish,
  permissionsViolationForSubscription,
  type CloseReason,
  type Op,
  type ProtocolError,
  type ProtocolHandler,
} from '../protocol/index.js';
import { isValidPublishSubject, isValidQueueName, isValidSubject } from '../subjects/index.js';
import type { Logger } from '../log.js';
import { certificateSubject } from '../tls.js';
import { Subscription, type Broker, type Conn, type PublisherHandle } from './broker.js';
import { Pinger } from './pinger.js';
import type { Transport } from './transport.js';

/** The NATS limits a connection enforces (nats-server option names; durations in ms, sizes in bytes). */
export interface ClientLimits {
  readonly max_control_line: number;
  readonly max_payload: number;
  readonly max_pending: number;
  /** Per connection; 0 = no limit. */
  readonly max_subscriptions: number;
  readonly ping_interval: number;
  readonly ping_max: number;
  readonly write_deadline: number;
  readonly auth_timeout: number;
}

/** What a client may touch once admitted; without one, everything. */
export interface ClientPermissions {
  canPublish(subject: string): boolean;
  canSubscribe(subject: string, queue: string | undefined): boolean;
  /**
   * Whether a message on this literal subject may reach a wildcard subscription: a deny list is also checked on
   * delivery, as nats-server does (client.go deliverMsg, checkDenySub). Absent: always.
   */
  canDeliver?(subject: string): boolean;
  /** A request with this reply subject was delivered to the client (the `resp` permission allows answering it). */
  noteReply?(reply: string): void;
}

/** An authenticator's verdict on a CONNECT. */
export type Admission =
  | {
      readonly ok: true;
      readonly permissions?: ClientPermissions;
      /** When the credential expires (epoch ms): the client then gets `User Authentication Expired` and is closed. */
      readonly expiresAt?: number;
      /** Who the client is, for logs (a token's subject, never the token). */
      readonly identity?: string;
    }
  | { readonly ok: false; readonly reason: string };

/** Decides who may connect. A static token answers at once; a JWT check may answer later (reads wait for it). */
export interface ClientAuthenticator {
  admit(connect: Readonly<Record<string, unknown>>, client: Client): Admission | Promise<Admission>;
}

/** What a client needs from the server that accepted it. */
export interface ClientContext {
  readonly broker: Broker;
  /** The limits in force; read on use so a reload reaches live connections. */
  readonly limits: ClientLimits;
  /** Read on use (a reload can add or remove a token); undefined: no authentication. */
  readonly authenticator: ClientAuthenticator | undefined;
  readonly logger: Logger;
  /** INFO fields common to every client (server_id, version, limits...). */
  serverInfo(): Record<string, unknown>;
  scheduleFlush(client: Client): void;
  clientClosed(client: Client, reason: CloseReason): void;
}

/** CONNECT fields we act on (nats-server client.go clientOpts). */
interface ConnectOptions {
  verbose: boolean;
  pedantic: boolean;
  echo: boolean;
  headers: boolean;
  noResponders: boolean;
  name: string;
  lang: string;
  version: string;
}

export interface ClientStats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
}

export class Client implements Conn, ProtocolHandler, PublisherHandle {
  readonly stats: ClientStats = { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0 };
  readonly startedAt = Date.now();
  lastActivity = this.startedAt;
  readonly subs = new Map<string, Subscription>();
  closeReason: CloseReason | undefined;

  private readonly parser: Parser;
  private readonly out = new Outbound();
  private opts: ConnectOptions = {
    // Before CONNECT nats-server serves a client as verbose and pedantic (its option defaults), without headers.
    verbose: true,
    pedantic: true,
    echo: true,
    headers: false,
    noResponders: false,
    name: '',
    lang: '',
    version: '',
  };
  private connected = false;
  private flushScheduled = false;
  private readonly pinger = new Pinger();
  private writeDeadlineTimer: NodeJS.Timeout | undefined;
  /** Flushes completed by the OS; the write-deadline check compares it to see progress. */
  private writesSent = 0;
  private paused = 0;
  /** Set by an admission with permissions; undefined: everything allowed. */
  private permissions: ClientPermissions | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** Who the authenticator says this is, for logs. */
  identity: string | undefined;
  /** An asynchronous admission is pending: the parser is paused behind the CONNECT, reads are paused. */
  private deciding = false;

  constructor(
    private readonly ctx: ClientContext,
    readonly cid: number,
    readonly transport: Transport,
  ) {
    const limits = ctx.limits;
    this.parser = new Parser(this, 'client', {
      maxControlLine: limits.max_control_line,
      maxPayload: limits.max_payload,
      // With auth on nothing but CONNECT is read first: no INFO, PUB payload or other line is held for a client
      // that has not authenticated (nats-server parser.go OP_START with authSet).
      expectConnect: ctx.authenticator !== undefined,
    });
  }

  // --- Conn ----------------------------------------------------------------------------------------------

  get echo(): boolean {
    return this.opts.echo;
  }
  get noResponders(): boolean {
    return this.opts.noResponders;
  }
  get publisher(): PublisherHandle {
    return this;
  }
  get id(): number {
    return this.cid;
  }
  get name(): string {
    return this.opts.name;
  }
  get lang(): string {
    return this.opts.lang;
  }
  get version(): string {
    return this.opts.version;
  }
  /** Bytes queued for this client and not yet sent: this turn's batch plus the socket's backlog. */
  get pendingBytes(): number {
    return this.out.bytes + this.transport.bufferedBytes();
  }
  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }
  /** Its CONNECT was accepted (by the authenticator, when there is one): the frontend never evicts it for room. */
  get isAdmitted(): boolean {
    return this.connected;
  }

  deliver(sub: Subscription, subject: string, reply: string | undefined, hdrLen: number, msg: Buffer, _from: Conn): void {
    if (this.closeReason !== undefined) return;
    const perms = this.permissions;
    if (perms !== undefined) {
      if (perms.canDeliver !== undefined && sub.wildcard && !perms.canDeliver(subject)) return;
      if (reply !== undefined) perms.noteReply?.(reply);
    }
    const out = this.out;
    if (hdrLen === 0 || this.opts.headers) out.writeMsg(subject, sub.sid, reply, hdrLen, msg);
    // A client that did not ask for headers gets the payload alone (nats-server client.go deliverMsg).
    else out.writeMsg(subject, sub.sid, reply, 0, msg.subarray(hdrLen));
    this.stats.outMsgs++;
    this.stats.outBytes += msg.length;
    if (this.pendingBytes > this.ctx.limits.max_pending) {
      this.slowConsumer('Slow Consumer (Pending Bytes)');
      return;
    }
    // A publisher that never yields (an in-process loop) must not make us batch without bound: write now.
    if (out.bytes >= EAGER_FLUSH_BYTES) this.flush();
    else this.scheduleFlush();
  }

  expired(sub: Subscription): void {
    if (this.subs.get(sub.sid) === sub) this.subs.delete(sub.sid);
  }

  // --- PublisherHandle: flow control for in-process consumers (event handlers) -----------------------------

  pause(): void {
    if (this.paused++ === 0) this.transport.pause();
  }

  resume(): void {
    if (this.paused > 0 && --this.paused === 0 && this.closeReason === undefined) this.transport.resume();
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /**
   * The largest WebSocket message a client that has not been admitted may send: one control line (its CONNECT) and
   * a PING. Each connection sets its own bound when it starts (messageBound, from the limits then in force).
   */
  static unadmittedFrameBytes(limits: Pick<ClientLimits, 'max_control_line'>): number {
    return limits.max_control_line + FRAME_SLACK_BYTES;
  }

  /** The INFO line this client is greeted with. */
  static greeting(ctx: ClientContext, cid: number, remoteAddress: string): string {
    return infoLine({ ...ctx.serverInfo(), client_id: cid, client_ip: remoteAddress });
  }

  /** Starts reading; sends the greeting unless the server already did (TLS sends it before the handshake). */
  start(opts: { greeted?: boolean } = {}): void {
    this.transport.start({
      onData: (chunk) => this.onData(chunk),
      onClose: (err) => this.closed(err ? 'Read Error' : 'Client Closed'),
      onDrain: () => this.onDrain(),
    });
    const limits = this.ctx.limits;
    if (!opts.greeted) this.writeRaw(Client.greeting(this.ctx, this.cid, this.transport.remoteAddress));
    // Before any frame is read: the limits in force now, not those the listener started with.
    this.transport.setMaxMessageBytes?.(this.messageBound(limits));
    this.pinger.start(limits.ping_interval, () => this.onPingTimer());
  }

  /** Round trip of our last PING, in ms (0 until one was answered); /connz reports it. */
  get rttMs(): number {
    return this.pinger.rttMs;
  }

  /** Sends an -ERR (when it has text) and closes if nats-server would. */
  fail(err: ProtocolError, detail: string): void {
    if (this.closeReason !== undefined) return;
    if (err.text) this.writeRaw(errLine(err));
    if (err.closes) {
      this.ctx.logger.warn({ cid: this.cid, ip: this.transport.remoteAddress, who: this.identity, error: err.text || undefined, detail }, 'protocol error, closing');
      if (!this.connected && this.authRequired) this.refuse(err.closeReason ?? 'Protocol Violation');
      else this.close(err.closeReason ?? 'Protocol Violation');
    } else {
      this.ctx.logger.debug({ cid: this.cid, error: err.text, detail }, 'protocol error');
    }
  }

  /**
   * Ends a client that never authenticated: its -ERR handed to the OS, then dropped (Transport.refuse), as
   * nats-server closes it; a graceful end would go on reading a refused burst until the peer stops.
   */
  private refuse(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.transport.refuse(this.out.bytes > 0 ? this.out.take() : undefined);
    this.closed(reason);
  }

  /** Flushes what is queued, then closes. */
  close(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.flush();
    this.transport.end();
    this.closed(reason);
  }

  /** Sends an asynchronous INFO (lame duck, limits changed). */
  sendInfo(extra: Record<string, unknown>): void {
    this.writeRaw(infoLine({ ...this.ctx.serverInfo(), client_id: this.cid, client_ip: this.transport.remoteAddress, ...extra }));
  }

  /**
   * Limits changed by a reload. The rest (max_pending, max_subscriptions, ping_max, write_deadline, the
   * authenticator) is read on use; auth_timeout is the frontend's, for new connections.
   */
  applyLimits(): void {
    const limits = this.ctx.limits;
    this.parser.limits = { maxControlLine: limits.max_control_line, maxPayload: limits.max_payload };
    this.transport.setMaxMessageBytes?.(this.messageBound(limits));
    if (this.closeReason === undefined) this.pinger.retime(limits.ping_interval);
  }

  private get authRequired(): boolean {
    return this.ctx.authenticator !== undefined;
  }

  /** The largest message the transport may hold whole: a control line until admitted, a message at max_payload after. */
  private messageBound(limits: ClientLimits): number {
    return this.connected || !this.authRequired ? admittedFrameBytes(limits) : Client.unadmittedFrameBytes(limits);
  }

  private slowConsumer(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.ctx.broker.counters.slowConsumers++;
    this.ctx.logger.warn(
      { cid: this.cid, ip: this.transport.remoteAddress, client_name: this.opts.name || undefined, pending_bytes: this.pendingBytes },
      'slow consumer, closing',
    );
    // Its backlog is dropped: waiting for it would hold memory on behalf of a reader that cannot keep up.
    this.out.clear();
    this.transport.destroy();
    this.closed(reason);
  }

  /** Bookkeeping once the connection is gone, whoever closed it. */
  private closed(reason: CloseReason): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.pinger.stop();
    clearTimeout(this.writeDeadlineTimer);
    clearTimeout(this.expiryTimer);
    this.deciding = false;
    for (const sub of this.subs.values()) this.ctx.broker.remove(sub);
    this.subs.clear();
    this.out.clear();
    this.ctx.clientClosed(this, reason);
  }

  // --- writing -------------------------------------------------------------------------------------------

  private writeRaw(s: string | Buffer): void {
    if (this.closeReason !== undefined) return;
    if (typeof s === 'string') this.out.writeString(s);
    else this.out.writeBytes(s);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.ctx.scheduleFlush(this);
  }

  /** Writes everything queued this turn in one go (called by the server's flusher). */
  flush(): void {
    this.flushScheduled = false;
    if (this.out.bytes === 0 || this.closeReason !== undefined) return;
    this.transport.write(this.out.take(), this.onSent);
    if (this.transport.bufferedBytes() > 0 && this.writeDeadlineTimer === undefined) this.armWriteDeadline();
  }

  private readonly onSent = (): void => {
    this.writesSent++;
  };

  /**
   * A reader that accepts nothing for write_deadline is cut (nats-server's write deadline). Progress is any
   * completed write: a busy but healthy reader keeps its connection.
   */
  private armWriteDeadline(): void {
    const sentAtArm = this.writesSent;
    this.writeDeadlineTimer = setTimeout(() => {
      this.writeDeadlineTimer = undefined;
      if (this.closeReason !== undefined || this.transport.bufferedBytes() === 0) return;
      if (this.writesSent === sentAtArm) this.slowConsumer('Slow Consumer (Write Deadline)');
      else this.armWriteDeadline();
    }, this.ctx.limits.write_deadline);
    this.writeDeadlineTimer.unref?.();
  }

  private onDrain(): void {
    clearTimeout(this.writeDeadlineTimer);
    this.writeDeadlineTimer = undefined;
  }

  // --- reading -------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closeReason !== undefined) return;
    this.lastActivity = Date.now();
    this.parser.parse(chunk);
  }

  private onPingTimer(): void {
    if (this.closeReason !== undefined) return;
    const action = this.pinger.onTimer(this.ctx.limits.ping_max, this.paused > 0);
    if (action === 'stale') this.fail(Errors.staleConnection, `${this.pinger.unanswered} pings unanswered`);
    else if (action === 'ping') this.writeRaw(PING);
  }

  /** With auth on, nothing but CONNECT is accepted first (nats-server: Authorization Violation). */
  private admitted(): boolean {
    if (this.connected || !this.authRequired) return true;
    this.fail(Errors.authorizationViolation, 'operation before CONNECT');
    return false;
  }

  private ok(): void {
    if (this.opts.verbose) this.writeRaw(OK);
  }

  // --- ProtocolHandler -----------------------------------------------------------------------------------

  onProtocolError(err: ProtocolError, detail: string): void {
    // Before CONNECT with auth on, the parser itself answers any first byte but C with Authorization Violation; once
    // a CONNECT was read, an error is what it is, even while its verdict is pending (nats-server parser.go authErr,
    // parseErr).
    this.fail(err, detail);
  }

  /** A subject, reply, queue or sid that is not UTF-8: refused, the connection stays open, nothing is routed. */
  onRefused(op: Op, err: ProtocolError, detail: string): void {
    if (!this.admitted()) return;
    this.fail(err, detail);
    // A refused publish is still acknowledged after its -ERR, as nats-server does for a pedantic refusal.
    if (op === 'PUB' || op === 'HPUB') this.ok();
  }

  /** `+OK` and `INFO` from a client are ignored, as nats-server does. */
  onOk(): void {}
  onInfo(): void {}

  /** A client sending `-ERR` is closed without one. */
  onErr(): void {
    this.fail(Errors.protocolViolation, '-ERR from a client');
  }

  onPing(): void {
    if (!this.admitted()) return;
    this.writeRaw(PONG);
  }

  onPong(): void {
    if (!this.admitted()) return;
    this.pinger.onPong();
  }

  onConnect(json: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      this.fail(Errors.protocolViolation, 'CONNECT is not JSON');
      return;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      this.fail(Errors.protocolViolation, 'CONNECT is not a JSON object');
      return;
    }
    const c = parsed as Record<string, unknown>;
    const badField = mistypedConnectField(c);
    if (badField !== undefined) {
      this.fail(Errors.protocolViolation, `CONNECT field ${badField} has the wrong type`);
      return;
    }
    if (c.protocol != null && c.protocol !== 0 && c.protocol !== 1) {
      this.fail(Errors.invalidClientProtocol, `protocol ${String(c.protocol)}`);
      return;
    }
    // nats-server unmarshals CONNECT over the options it holds (client.go processConnect): a field left out keeps
    // its value, the defaults (verbose, pedantic and echo true, headers false) on the first CONNECT and what an
    // earlier CONNECT set on a later one.
    const was = this.opts;
    const bool = (v: unknown, kept: boolean) => (typeof v === 'boolean' ? v : kept);
    const str = (v: unknown, kept: string) => (typeof v === 'string' ? v : kept);
    this.opts = {
      verbose: bool(c.verbose, was.verbose),
      pedantic: bool(c.pedantic, was.pedantic),
      echo: bool(c.echo, was.echo),
      headers: bool(c.headers, was.headers),
      noResponders: bool(c.no_responders, was.noResponders),
      name: str(c.name, was.name),
      lang: str(c.lang, was.lang),
      version: str(c.version, was.version),
    };
    if (this.opts.noResponders && !this.opts.headers) {
      this.fail(Errors.noRespondersNeedsHeaders, 'no_responders without headers');
      return;
    }
    const auth = this.ctx.authenticator;
    // A repeated CONNECT keeps the admission already given (nats-server authenticates once per connection).
    if (auth === undefined || this.connected) {
      this.connectAdmitted();
      return;
    }
    const verdict = auth.admit(c, this);
    if (!(verdict instanceof Promise)) {
      this.decide(verdict);
      return;
    }
    // Nothing behind the CONNECT is read until the verdict: the parser keeps the rest of this read unparsed and the
    // transport reads no more, so a client waiting for its token check holds no more than one read.
    this.deciding = true;
    this.parser.pause();
    this.transport.pause();
    verdict.then(
      (v) => this.decide(v),
      (err: unknown) => this.decide({ ok: false, reason: `authenticator failed: ${err instanceof Error ? err.message : String(err)}` }),
    );
  }

  private decide(verdict: Admission): void {
    const wasDeciding = this.deciding;
    this.deciding = false;
    if (this.closeReason !== undefined) return;
    if (!verdict.ok) {
      const cert = this.transport.peerCertificate();
      this.ctx.logger.warn(
        { cid: this.cid, ip: this.transport.remoteAddress, port: this.transport.remotePort, cert_subject: cert ? certificateSubject(cert) : undefined, reason: verdict.reason },
        'client refused',
      );
      this.fail(Errors.authorizationViolation, verdict.reason);
      return;
    }
    this.permissions = verdict.permissions;
    this.identity = verdict.identity;
    if (verdict.expiresAt !== undefined) this.armExpiry(verdict.expiresAt);
    if (this.closeReason !== undefined) return;
    this.connectAdmitted();
    if (wasDeciding && this.closeReason === undefined) {
      // What followed the CONNECT, in order, then reading again (unless a consumer's flow control holds it).
      this.parser.resume();
      if (this.closeReason === undefined && this.paused === 0) this.transport.resume();
    }
  }

  /** The credential's end: `User Authentication Expired`, closed (nats-server client.go authExpired). */
  private armExpiry(expiresAt: number): void {
    clearTimeout(this.expiryTimer);
    const ms = expiresAt - Date.now();
    if (ms <= 0) {
      this.fail(Errors.authExpired, 'credential expired');
      return;
    }
    // setTimeout holds at most ~24.8 days; a longer credential is re-armed when that fires.
    this.expiryTimer = setTimeout(() => this.armExpiry(expiresAt), Math.min(ms, 2 ** 31 - 1));
    this.expiryTimer.unref?.();
  }

  /** Closes the connection because its credential was revoked (a reload's revocation list). */
  revoke(detail: string): void {
    this.fail(Errors.authorizationViolation, detail);
  }

  private connectAdmitted(): void {
    const first = !this.connected;
    this.connected = true;
    if (first) {
      // A WebSocket client may now send messages up to max_payload in one frame.
      this.transport.setMaxMessageBytes?.(admittedFrameBytes(this.ctx.limits));
      this.ctx.logger.info(
        { cid: this.cid, ip: this.transport.remoteAddress, port: this.transport.remotePort, transport: this.transport.kind, who: this.identity, client_name: this.opts.name || undefined, lang: this.opts.lang || undefined, version: this.opts.version || undefined },
        'client connected',
      );
    }
    this.ok();
  }

  onPubAt(subject: string, reply: string | undefined, hdrLen: number, buf: Buffer, start: number, end: number): void {
    if (!this.admitted()) return;
    if (hdrLen > 0 && !this.opts.headers) {
      this.fail(Errors.protocolViolation, 'HPUB without headers support');
      return;
    }
    this.stats.inMsgs++;
    this.stats.inBytes += end - start;
    if (this.opts.pedantic && !isValidPublishSubject(subject)) {
      this.fail(Errors.invalidPublishSubject, subject);
      // nats-server still acknowledges it, and routes a well-formed subject with wildcards (as literal tokens).
      if (!isValidSubject(subject)) {
        this.ok();
        return;
      }
    }
    if (this.permissions !== undefined && !this.permissions.canPublish(subject)) {
      // The connection stays open; the message goes nowhere (nats-server client.go processInboundClientMsg).
      this.fail(permissionsViolationForPublish(subject), 'publish not permitted');
      return;
    }
    // +OK goes before any MSG this publish produces, as nats-server orders them.
    this.ok();
    this.ctx.broker.publishAt(this, subject, reply, hdrLen, buf, start, end);
  }

  onSub(subject: string, queue: string | undefined, sid: string): void {
    if (!this.admitted()) return;
    if (!isValidSubject(subject) || (queue !== undefined && !isValidQueueName(queue))) {
      this.fail(Errors.invalidSubject, subject);
      return;
    }
    if (this.permissions !== undefined && !this.permissions.canSubscribe(subject, queue)) {
      this.fail(permissionsViolationForSubscription(subject, queue), 'subscription not permitted');
      return;
    }
    const limits = this.ctx.limits;
    // Checked before the repeated-sid rule: at the limit nats-server refuses even a SUB reusing a live sid.
    if (limits.max_subscriptions > 0 && this.subs.size >= limits.max_subscriptions) {
      this.fail(Errors.maxSubscriptions, `connection has ${this.subs.size}`);
      return;
    }
    // A repeated sid is ignored, as nats-server does.
    if (this.subs.has(sid)) {
      this.ok();
      return;
    }
    const sub = new Subscription(this, subject, queue, sid);
    if (this.ctx.broker.add(sub) === 'listener_limit') {
      this.ctx.logger.warn({ cid: this.cid, listener_limit: this.ctx.broker.listenerLimit }, 'listener_limit reached, subscription refused');
      this.fail(Errors.maxSubscriptions, `service has ${this.ctx.broker.listenerCount} listeners`);
      return;
    }
    this.subs.set(sid, sub);
    this.ok();
  }

  onUnsub(sid: string, max: number | undefined): void {
    if (!this.admitted()) return;
    const sub = this.subs.get(sid);
    if (sub !== undefined) {
      if (max !== undefined && max > 0 && sub.delivered < max) {
        sub.max = max;
      } else {
        this.subs.delete(sid);
        this.ctx.broker.remove(sub);
      }
    }
    this.ok();
  }
}

/** The largest WebSocket message an admitted client may send: a message at max_payload with its control line. */
function admittedFrameBytes(limits: Pick<ClientLimits, 'max_payload' | 'max_control_line'>): number {
  return limits.max_payload + limits.max_control_line + FRAME_SLACK_BYTES;
}

/** Room for the op, sizes, CRLFs and a PING that share a WebSocket message with a control line or a message. */
const FRAME_SLACK_BYTES = 1024;

const CONNECT_BOOLEANS = ['verbose', 'pedantic', 'echo', 'headers', 'no_responders', 'tls_required'] as const;
const CONNECT_STRINGS = ['name', 'lang', 'version', 'auth_token', 'user', 'pass', 'jwt', 'sig', 'nkey'] as const;

/** nats-server unmarshals CONNECT into typed fields: a wrongly typed known field fails the whole CONNECT. */
function mistypedConnectField(c: Record<string, unknown>): string | undefined {
  for (const k of CONNECT_BOOLEANS) if (c[k] != null && typeof c[k] !== 'boolean') return k;
  for (const k of CONNECT_STRINGS) if (c[k] != null && typeof c[k] !== 'string') return k;
  if (c.protocol != null && typeof c.protocol !== 'number') return 'protocol';
  return undefined;
}
