// One network client connection: the NATS client protocol state machine over a Transport. It reads the client's
// CONNECT (connect-options.ts) and has it admitted (client-admission.ts), keeps its subscriptions (client-subs.ts),
// hands PUB/HPUB to the broker, writes MSG/HMSG in per-turn batches (flush.ts), and closes stale, slow or misbehaving
// clients with nats-server's -ERR texts (how a connection ends: accepted-core.ts). The per-message paths (deliver, onPubAt) stay here, reading
// this object's own fields. Who may connect and what they may touch is the authenticator's (the service's token,
// the gateway's certificate + JWT); this module only enforces its answers.
import {
  Errors,
  OK,
  PONG,
  Parser,
  errLine,
  permissionsViolationForPublish,
  type CloseReason,
  type Op,
  type ProtocolError,
  type ProtocolHandler,
} from '../protocol/index.js';
import { isValidPublishSubject, isValidSubject } from '../subjects/index.js';
import type { AuthContext } from './auth-context.js';
import type { ClientPermissions } from './admission.js';
import type { Conn, PublisherHandle, Subscription } from './broker.js';
import { ClientAdmission } from './client-admission.js';
import { ClientSubscriptions, type ParkedSub } from './client-subs.js';
import { leafReply } from './leaf-reply.js';
import { AcceptedCore } from './accepted-core.js';
import { PRE_CONNECT_OPTIONS, readConnect, type ConnectOptions } from './connect-options.js';
import {
  clientInfo,
  type ClientAuthenticatorOf,
  type ClientContextOf,
  type ClientLimits,
  type ClientStats,
} from './context.js';
import { Parking } from './parking.js';
import type { ParkedPub } from './client-parked.js';
import { publishDenied, withReserved } from './reserved.js';
import { messageBytesBound, type Transport } from './transport.js';

export type { ClientLimits, ClientStats };

/** What a client needs from the server that accepted it (context.ts ClientContextOf, for this client). */
export type ClientContext = ClientContextOf<Client>;
/** Decides who may connect (context.ts ClientAuthenticatorOf, for this client). */
export type ClientAuthenticator = ClientAuthenticatorOf<Client>;

export class Client implements Conn, ProtocolHandler, PublisherHandle {
  readonly stats: ClientStats = { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0 };
  readonly startedAt = Date.now();
  lastActivity = this.startedAt;
  closeReason: CloseReason | undefined;

  private readonly parser: Parser;
  private readonly core: AcceptedCore;
  private readonly admission: ClientAdmission;
  private readonly subscriptions: ClientSubscriptions;
  // Read on every message: kept here, not behind the admission.
  private opts: ConnectOptions = PRE_CONNECT_OPTIONS;
  private connected = false;
  /** nats-server's firstPongSent: async INFOs wait for it, clients read the PONG after CONNECT before anything else. */
  private infoHeld: Record<string, unknown> | undefined | false = undefined;
  /** Set by an admission with permissions; undefined: everything allowed. */
  private permissions: ClientPermissions | undefined;
  /** A publish a gate parked (Broker.admit said no) or a SUB a subscribe gate waits on (Broker.add said 'wait'). */
  private readonly parking: Parking<ParkedPub | ParkedSub>;

  constructor(
    private readonly ctx: ClientContext,
    readonly cid: number,
    readonly transport: Transport,
  ) {
    const limits = ctx.limits;
    this.parser = new Parser(this, 'client', {
      maxControlLine: limits.max_control_line,
      maxPayload: limits.max_payload,
      // With auth on nothing but CONNECT is read first: no INFO, PUB payload or other line is retained for a client
      // that has not authenticated (nats-server parser.go OP_START with authSet).
      expectConnect: ctx.authenticator !== undefined,
    });
    this.core = new AcceptedCore(transport, {
      conn: this,
      ctx,
      peerClosed: 'Client Closed',
      write: (s) => this.writeRaw(s),
      // Before CONNECT with auth on: dropped once its -ERR is out; without auth, ended as an admitted one is.
      refuses: () => !this.connected && this.authRequired,
      logError: (err, detail, how) => {
        if (how === undefined) {
          ctx.logger.debug({ cid, error: err.text, detail }, 'protocol error');
          return;
        }
        const fields = { cid, ip: transport.remoteAddress, who: this.identity, error: err.text || undefined, detail };
        ctx.logger.warn(fields, 'protocol error, closing');
      },
      logSlow: () => {
        const fields = { cid, ip: transport.remoteAddress, client_name: this.opts.name || undefined };
        ctx.logger.warn({ ...fields, pending_bytes: this.pendingBytes }, 'slow consumer, closing');
      },
      release: () => {
        this.admission.stop();
        this.subscriptions.removeAll();
        this.parking.drop();
      },
      closed: (reason) => ctx.clientClosed(this, reason),
    });
    this.parking = new Parking(this.parser, this.core);
    this.admission = new ClientAdmission(ctx, this, {
      parser: this.parser,
      authenticate: (fields) => this.ctx.authenticator?.admit(fields, this),
      granted: (permissions) => {
        this.connected = true;
        this.permissions = withReserved(permissions, this.system ? undefined : ctx.broker.reserved);
        this.ok();
      },
    });
    this.subscriptions = new ClientSubscriptions(ctx, this);
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
  get system(): boolean {
    return this.ctx.systemClients === true;
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
    return this.core.pendingBytes;
  }
  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }
  /** Its CONNECT was accepted (by the authenticator, when there is one): the frontend never evicts it for room. */
  get isAdmitted(): boolean {
    return this.connected;
  }
  /** Its subscriptions, by sid. */
  get subs(): ReadonlyMap<string, Subscription> {
    return this.subscriptions.bySid;
  }
  /** Who the authenticator says this is, for logs. */
  get identity(): string | undefined {
    return this.admission.identity;
  }
  /** Who the authenticator says this is, for the events it publishes; undefined: unauthenticated. */
  get auth(): AuthContext | undefined {
    return this.admission.auth;
  }
  /** The largest message it may publish now: max_payload, lowered by its own limit when it has one. */
  get maxPayloadBytes(): number {
    return this.admission.maxPayloadBytes;
  }
  /** The most subscriptions it may hold now: max_subscriptions lowered by its own limit; undefined: no limit. */
  get maxSubscriptions(): number | undefined {
    return this.admission.maxSubscriptions;
  }

  deliver(sub: Subscription, subject: string, reply: string | undefined, hdr: number, msg: Buffer, from: Conn): void {
    this.deliverAt(sub, subject, reply, hdr, msg, 0, msg.length, from);
  }

  /** deliver() for `buf[start, end)`, sliced by nobody: the broker's choice when it routes a read chunk. */
  deliverAt(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
    from: Conn,
  ): void {
    if (this.closeReason !== undefined) return;
    // A JetStream delivery over a leaf link names its stream subject in its reply (leaf-reply.ts): the subject the
    // client is shown is the one its permissions are checked against.
    if (reply !== undefined && from.remote === true && reply.includes('@'))
      ({ subject, reply } = leafReply(subject, reply));
    const perms = this.permissions;
    if (perms?.canDeliver !== undefined && sub.wildcard && !perms.canDeliver(subject)) return;
    if (reply !== undefined) perms?.noteReply?.(reply);
    const out = this.core.batch;
    if (hdrLen === 0 || this.opts.headers) out.writeMsgAt(subject, sub.sid, reply, hdrLen, buf, start, end);
    // A client that did not ask for headers gets the payload alone (nats-server client.go deliverMsg).
    else out.writeMsgAt(subject, sub.sid, reply, 0, buf, start + hdrLen, end);
    this.stats.outMsgs++;
    this.stats.outBytes += end - start;
    // Past max_pending: cut as a slow consumer (accepted-core.ts).
    this.core.queued();
  }

  expired(sub: Subscription): void {
    this.subscriptions.expired(sub);
  }

  // --- PublisherHandle: flow control for in-process consumers (event handlers) -----------------------------

  pause(): void {
    this.core.pause();
  }

  resume(): void {
    this.core.resume();
  }

  /** The gate that parked our publish (or SUB) has room: offer it again, then parse what followed it. */
  unpark(): void {
    this.parking.unpark(
      (op) =>
        'sid' in op
          ? this.onSub(op.subject, op.queue, op.sid)
          : this.route(op.subject, op.reply, op.hdrLen, op.buf, op.start, op.end),
      () => this.closeReason === undefined,
    );
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /** Starts reading; sends the greeting unless the server already did (TLS sends it before the handshake). */
  start(opts: { greeted?: boolean } = {}): void {
    this.core.start((chunk) => this.onData(chunk));
    const limits = this.ctx.limits;
    if (!opts.greeted) this.writeRaw(clientInfo(this.ctx, this.cid, this.transport.remoteAddress));
    // Before any frame is read: the limits in force now, not those the port started with.
    this.transport.setMaxMessageBytes?.(this.messageBound(limits));
    this.core.keepAlive(limits.ping_interval);
  }

  /** Round trip of our last PING, in ms (0 until one was answered); /connz reports it. */
  get rttMs(): number {
    return this.core.pinger.rttMs;
  }

  /** Sends an -ERR (when it has text) and closes if nats-server would (accepted-core.ts). */
  fail(err: ProtocolError, detail: string): void {
    this.core.fail(err, detail);
  }

  /** Closed to make room (max_connections, before admission): its -ERR after what it is owed, then dropped. */
  evict(): void {
    if (this.closeReason !== undefined) return;
    this.writeRaw(errLine(Errors.maxConnections));
    this.core.close(Errors.maxConnections.closeReason!, 'refuse');
  }

  /** Flushes what is queued, then closes. */
  close(reason: CloseReason): void {
    this.core.close(reason, 'end');
  }

  /** Sends an asynchronous INFO (lame duck, limits changed); before the first PONG it waits for it (infoHeld). */
  sendInfo(extra: Record<string, unknown>): void {
    if (this.infoHeld !== false) return void (this.infoHeld = { ...this.infoHeld, ...extra });
    this.writeRaw(clientInfo(this.ctx, this.cid, this.transport.remoteAddress, extra));
  }

  /** Limits changed by a reload (max_payload still lowered by its own); the rest is read on use (auth_timeout: new ones). */
  applyLimits(): void {
    const limits = this.ctx.limits;
    this.parser.limits = { maxControlLine: limits.max_control_line, maxPayload: this.maxPayloadBytes };
    this.transport.setMaxMessageBytes?.(this.messageBound(limits));
    if (this.closeReason === undefined) this.core.keepAlive(limits.ping_interval);
  }

  private get authRequired(): boolean {
    return this.ctx.authenticator !== undefined;
  }

  /** The largest message the transport may retain whole: a control line until admitted, a message at max_payload after. */
  private messageBound(limits: ClientLimits): number {
    return messageBytesBound(limits, this.connected || !this.authRequired);
  }

  // --- writing -------------------------------------------------------------------------------------------

  private writeRaw(s: string | Buffer): void {
    if (this.closeReason === undefined) this.core.write(s);
  }

  /** Writes everything queued this turn in one go (called by flush.ts after the turn). */
  flush(): void {
    this.core.flush();
  }

  // --- reading -------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.closeReason !== undefined) return;
    this.lastActivity = Date.now();
    this.parser.parse(chunk);
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
    const held = this.infoHeld;
    this.infoHeld = false;
    if (held) this.sendInfo(held);
  }

  onPong(): void {
    if (!this.admitted()) return;
    this.core.pinger.onPong();
  }

  onConnect(json: string): void {
    const read = readConnect(json, this.opts);
    if (!read.ok) {
      this.fail(read.err, read.detail);
      return;
    }
    this.opts = read.opts;
    // A repeated CONNECT keeps the admission already given (nats-server authenticates once per connection).
    if (this.connected) this.ok();
    else this.admission.connect(read.fields);
  }

  /** Ends subscription `sid`, which the client may no longer hold (a reload narrowed its permissions), telling it `err`. */
  dropSubscription(sid: string, err: ProtocolError): void {
    if (this.closeReason === undefined && this.subscriptions.drop(sid))
      this.fail(err, 'subscription no longer permitted');
  }

  /** Closes the connection because its credential was revoked (a reload's revocation list): nats-server's text. */
  revoke(detail: string): void {
    this.fail(Errors.authRevoked, detail);
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
    // The connection stays open; the message goes nowhere (nats-server client.go processInboundClientMsg).
    const denied = this.permissions && publishDenied(this.permissions, subject, reply);
    if (denied !== undefined) return this.fail(permissionsViolationForPublish(denied), 'publish not permitted');
    this.route(subject, reply, hdrLen, buf, start, end);
  }

  /**
   * A publish the client may make, to its subscribers: unless a gate parks it first (counted and checked already,
   * it is offered here again by unpark()). Permissions come first, as nats-server checks them before anything: a
   * client denied the gate's subjects is never parked for them.
   */
  private route(
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
  ): void {
    const broker = this.ctx.broker;
    if (broker.gated && !broker.admit(this, subject, reply)) {
      // Unacknowledged and unrouted (counted and checked once) until unpark().
      this.parking.park({ subject, reply, hdrLen, buf, start, end });
      return;
    }
    // +OK goes before any MSG this publish produces, as nats-server orders them.
    this.ok();
    broker.publishAt(this, subject, reply, hdrLen, buf, start, end);
  }

  onSub(subject: string, queue: string | undefined, sid: string): void {
    if (!this.admitted()) return;
    const sub: ParkedSub = { subject, queue, sid };
    const outcome = this.subscriptions.subscribe(sub, this.permissions, this.maxSubscriptions);
    if (outcome === 'ok') this.ok();
    // Nothing after this SUB is parsed or read until unpark().
    else if (outcome === 'wait') this.parking.park(sub);
    else this.fail(outcome.err, outcome.detail);
  }

  onUnsub(sid: string, max: number | undefined): void {
    if (!this.admitted()) return;
    this.subscriptions.unsubscribe(sid, max);
    this.ok();
  }
}
