// The leaf side of a leafnode link: one persistent Conn in a local broker standing for "the upstream server" (the
// event service's [leafnodes] port or a nats-server 2.9 hub). It dials (dial.ts), sends CONNECT and the local
// interest, holds the hub's LS+/LS- as subscriptions here, publishes the hub's LMSG locally and sends up what local
// clients publish that the hub wants. Through an outage it keeps the hub's last-known interest and holds what
// matches it in a bounded buffer (outage-buffer.ts), pausing publishers when full, and redials forever with capped
// backoff. The message and interest encoding is peer.ts's, shared with the hub side (link.ts).
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import {
  EAGER_FLUSH_BYTES,
  Errors,
  Outbound,
  PING,
  PONG,
  Parser,
  errLine,
  type Op,
  type ProtocolError,
  type ProtocolHandler,
} from '../protocol/index.js';
import { ThrottledWarn, type Logger } from '../log.js';
import type { Broker, Conn, PublisherHandle } from '../server/broker.js';
import { UNAUTHENTICATED, type AuthContext } from '../server/auth-context.js';
import { Client, type ClientLimits } from '../server/client.js';
import { Pinger } from '../server/pinger.js';
import { backoffDelayMs } from '../util/backoff.js';
import { newServerId } from '../server/server-id.js';
import { SocketTransport, type Transport } from '../server/transport.js';
import { CREDIT_CONNECT_FIELD } from '../server/credit.js';
import { authStamp, blockTakesStamp, stampedMessage, withoutAuthHeader, writeStampedLeafMsg, type AuthStamp } from './auth-stamp.js';
import { dialHub, parseHubUrl, UplinkError, type HubInfo, type HubUrl } from './dial.js';
import { InterestTable, interestKey } from './interest.js';
import { OutageBuffer } from './outage-buffer.js';
import { LeafPeer, MAX_PAYLOAD_CEILING, writeLeafMsg, type LeafMessage } from './peer.js';
import {
  UPLINK_DEFAULTS,
  type UplinkCounters,
  type UplinkCredentials,
  type UplinkEvent,
  type UplinkOptions,
  type StampAuthOptions,
  type UplinkState,
} from './uplink-options.js';

/** A client's stamps: with its claims, and without (the same one when it has none). */
interface ClientStamps {
  readonly full: AuthStamp;
  readonly bare: AuthStamp;
}

function clientStamps(auth: AuthContext): ClientStamps {
  const full = authStamp(auth);
  if (auth.authclaims === undefined) return { full, bare: full };
  const { authclaims: _claims, ...bare } = auth;
  return { full, bare: authStamp(bare) };
}

/** nats-server leafnode.go leafNodeReconnectDelayAfterLoopDetected. */
const LOOP_DELAY_MS = 30_000;

/** Withdrawn interest remembered at most (the oldest is forgotten first): bounds memory under heavy churn. */
const WITHDRAWN_MAX = 65_536;

export class Uplink extends LeafPeer implements ProtocolHandler, PublisherHandle {
  /** Ours, `$LDS.<random>`: the hub sending it back means it reaches us twice (leafnode.go loop detection). */
  readonly loopSubject = `$LDS.${randomBytes(16).toString('base64url').slice(0, 22)}`;
  readonly serverId: string;
  readonly name: string;
  /** The latest failure, kept after the link comes back (health pages show it). */
  lastError: UplinkError | undefined;
  /** The hub of the current (or last) link. */
  hub: HubInfo | undefined;

  private st: UplinkState = 'idle';
  private readonly urls: HubUrl[];
  private readonly tlsOptions: tls.ConnectionOptions | undefined;
  private readonly limits: ClientLimits;
  private readonly logger: Logger;
  private readonly version: string;
  private readonly cluster: string | undefined;
  private readonly credentials: UplinkCredentials | undefined;
  private readonly reconnectDelayMs: number;
  private readonly reconnectMaxDelayMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly interestWaitMs: number;
  private readonly withdrawnInterestMs: number;
  private readonly ownsInterest: boolean;
  private readonly stampAuth: StampAuthOptions | undefined;
  private readonly creditInConnect: boolean;
  /** Each client's stamps, built at its first message; the latest ones looked up, kept apart. */
  private readonly stamps = new WeakMap<Client, ClientStamps>();
  private stampFrom: Conn | undefined;
  private stampsOfFrom: ClientStamps | undefined;
  /** The hub's recent LS-, oldest first, for an outage that follows them (see withdrawnInterestMs). */
  private readonly withdrawn = new Map<string, { subject: string; queue: string | undefined; at: number }>();

  // The current attempt or link; callbacks of an older one carry another generation and are ignored.
  private gen = 0;
  private url: HubUrl | undefined;
  private transport: Transport | undefined;
  private parser: Parser | undefined;
  private sessionDone: Promise<void> = Promise.resolve();
  private readonly out = new Outbound();
  private flushScheduled = false;
  private readonly pinger = new Pinger();
  private handshakeTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** The hub's interest from before this link, dropped at the PONG unless re-announced. */
  private stale: Set<string> | undefined;
  private urlIndex = 0;
  private failuresInRow = 0;
  private nextDelayMs: number | undefined;
  private everUp = false;
  /** Failure texts already logged at warn since the last state change: a flapping hub logs each once. */
  private readonly logged = new Set<string>();
  /** PublisherHandle pauses of our reading from the hub (in-process subscribers' flow control). */
  private inPaused = 0;

  /** Messages for the hub not yet written, and the publishers paused while it is full. */
  private readonly buffer: OutageBuffer;
  /** After a reconnect, held messages wait for the hub's interest until then (interestWaitMs). */
  private holdUntil = 0;
  private holdTimer: NodeJS.Timeout | undefined;

  private readonly listeners = new Set<(e: UplinkEvent) => void>();
  private readonly count = { reconnects: 0, failures: 0, droppedNoInterest: 0, droppedOnClose: 0, droppedOversize: 0 };
  private readonly oversizeOutWarn = new ThrottledWarn('message larger than the upstream\'s max_payload not sent');
  private readonly oversizeInWarn = new ThrottledWarn('message from the upstream over max_payload dropped; the link stays up');
  private readonly refusedInWarn = new ThrottledWarn('operation from the upstream with a subject, reply or queue not UTF-8 dropped; the link stays up');
  private closing: Promise<void> | undefined;

  constructor(broker: Broker, opts: UplinkOptions) {
    const interest = opts.interest ?? new InterestTable(broker);
    super(broker, interest, opts.cid ?? 0);
    this.ownsInterest = opts.interest === undefined;
    this.stampAuth = opts.stampAuth;
    this.creditInConnect = opts.takesCredit === true;
    if (opts.urls.length === 0) throw new UplinkError('EUPLINK_URL', 'no upstream URL given');
    this.urls = opts.urls.map(parseHubUrl);
    this.tlsOptions = opts.tls;
    this.limits = opts.limits;
    this.logger = opts.logger;
    this.serverId = opts.serverId ?? newServerId();
    this.name = opts.name ?? this.serverId;
    this.version = opts.version ?? '0.1.0';
    this.cluster = opts.cluster;
    this.credentials = opts.credentials;
    this.buffer = new OutageBuffer(positive('bufferBytes', opts.bufferBytes ?? UPLINK_DEFAULTS.bufferBytes), this.logger, () => ({
      upstream: this.url?.display,
      state: this.st,
    }));
    this.reconnectDelayMs = positive('reconnectDelayMs', opts.reconnectDelayMs ?? UPLINK_DEFAULTS.reconnectDelayMs);
    this.reconnectMaxDelayMs = Math.max(this.reconnectDelayMs, positive('reconnectMaxDelayMs', opts.reconnectMaxDelayMs ?? UPLINK_DEFAULTS.reconnectMaxDelayMs));
    this.handshakeTimeoutMs = positive('handshakeTimeoutMs', opts.handshakeTimeoutMs ?? UPLINK_DEFAULTS.handshakeTimeoutMs);
    this.interestWaitMs = nonNegative('interestWaitMs', opts.interestWaitMs ?? UPLINK_DEFAULTS.interestWaitMs);
    this.withdrawnInterestMs = nonNegative('withdrawnInterestMs', opts.withdrawnInterestMs ?? UPLINK_DEFAULTS.withdrawnInterestMs);
  }

  // --- state ---------------------------------------------------------------------------------------------

  /** Round trip of the latest PING answered, ms; 0 until one is (/leafz rtt). */
  get rttMs(): number {
    return this.pinger.rttMs;
  }

  get state(): UplinkState {
    return this.st;
  }
  /** CONNECT answered: messages and interest flow. */
  get up(): boolean {
    return this.st === 'up';
  }
  get isClosed(): boolean {
    return this.st === 'closed';
  }
  get publisher(): PublisherHandle {
    return this;
  }
  get id(): number {
    return this.cid;
  }
  get counters(): UplinkCounters {
    return {
      ...this.stats,
      bufferedMsgs: this.buffer.length,
      bufferedBytes: this.buffer.bytes,
      ...this.count,
      pausedPublishers: this.buffer.pausedPublishers,
    };
  }

  /** Calls `listener` on every up, down and close; returns a function that stops it. */
  onStateChange(listener: (event: UplinkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the link is up (at once if it is); rejects after `timeoutMs`, or when closed first. */
  waitUntilUp(timeoutMs: number): Promise<void> {
    if (this.st === 'up') return Promise.resolve();
    if (this.st === 'closed') return Promise.reject(new UplinkError('EUPLINK_CLOSED', 'the uplink is closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        const last = this.lastError;
        reject(new UplinkError(last?.code ?? 'EUPLINK_CONNECT', `not up within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`, { cause: last }));
      }, timeoutMs);
      const off = this.onStateChange((e) => {
        if (e.type === 'down') return;
        clearTimeout(timer);
        off();
        if (e.type === 'up') resolve();
        else reject(new UplinkError('EUPLINK_CLOSED', 'the uplink closed before it came up'));
      });
    });
  }

  private emit(event: UplinkEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.logger.error({ err, event: event.type }, 'uplink state listener threw');
      }
    }
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /** Starts dialling; from here on the Uplink redials by itself until close(). */
  start(): void {
    if (this.st !== 'idle') return;
    // From now on every local interest change is told to the hub while connected; the burst covers the rest.
    this.interest.observe(this);
    this.dial();
  }

  /**
   * Stops for good: writes what is queued, closes the link, removes the hub's interest from the local broker,
   * discards held messages (counted, logged) and resumes paused publishers. Resolves once the socket is closed.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    // A message collected this turn goes out (up, nothing older waiting) or joins the held ones, counted below.
    this.flushNow();
    this.st = 'closed';
    this.gen++;
    this.clearSessionTimers();
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.holdTimer);
    this.interest.unobserve(this);
    if (this.ownsInterest) this.interest.close();
    const t = this.transport;
    this.transport = undefined;
    this.parser = undefined;
    this.dropPending();
    if (t !== undefined) {
      if (this.out.bytes > 0) t.write(this.out.take());
      t.end();
    }
    this.out.clear();
    this.removeAllPeerInterest();
    const dropped = this.buffer.discard();
    if (dropped.msgs > 0) {
      this.count.droppedOnClose += dropped.msgs;
      this.logger.warn({ upstream: this.url?.display, dropped: dropped.msgs, dropped_bytes: dropped.bytes }, 'uplink closed with messages still held for the upstream');
    }
    this.buffer.resumeAll();
    this.logger.info({ upstream: this.url?.display }, 'uplink closed');
    this.emit({ type: 'closed' });
    this.listeners.clear();
    // SocketTransport.end destroys a socket the hub does not close within 2 s: this is bounded.
    this.closing = t === undefined ? Promise.resolve() : this.sessionDone;
    return this.closing;
  }

  private setState(st: UplinkState): void {
    this.st = st;
  }

  private dial(): void {
    this.reconnectTimer = undefined;
    if (this.st === 'closed') return;
    const gen = ++this.gen;
    const url = this.urls[this.urlIndex++ % this.urls.length]!;
    this.url = url;
    this.setState('connecting');
    this.logger.debug({ upstream: url.display }, 'uplink dialling');
    dialHub(url, { tls: this.tlsOptions, forceTls: url.tls || this.tlsOptions !== undefined, timeoutMs: this.handshakeTimeoutMs }).then(
      (d) => {
        if (gen !== this.gen) {
          d.socket.destroy();
          return;
        }
        this.begin(gen, url, d.socket, d.info, d.rest);
      },
      (err: unknown) => {
        if (gen !== this.gen) return;
        this.lost(err instanceof UplinkError ? err : new UplinkError('EUPLINK_CONNECT', `${url.display}: ${String(err)}`, { cause: err }));
      },
    );
  }

  /** The hub's INFO is read (and TLS done): CONNECT, our interest, then a PING whose PONG ends the handshake. */
  private begin(gen: number, url: HubUrl, socket: net.Socket, info: HubInfo, rest: Buffer): void {
    const transport = new SocketTransport(socket);
    this.transport = transport;
    this.hub = info;
    const limits = this.limits;
    // The hub may send what its INFO allows (its max_payload, at most nats-server's 64 MiB ceiling) even when ours is
    // smaller. A larger message is read past and dropped, never held (issue 11: one LMSG line had ended the gateway;
    // ending the link instead would cut every client for one message); one over the ceiling still ends the link.
    const maxPayload = Math.max(limits.max_payload, Math.min(info.maxPayload, MAX_PAYLOAD_CEILING));
    const parser = new Parser(this, 'leaf', { maxControlLine: limits.max_control_line, maxPayload, skipOversize: MAX_PAYLOAD_CEILING });
    this.parser = parser;
    this.pinger.reset();
    // The hub answers in order: its LS+ burst for our CONNECT comes before the PONG, so what it does not
    // re-announce by then is interest it no longer has.
    this.stale = new Set(this.subs.keys());
    let done!: () => void;
    this.sessionDone = new Promise<void>((r) => (done = r));
    transport.start({
      onData: (chunk) => {
        if (gen === this.gen) parser.parse(chunk);
      },
      onClose: (err) => {
        done();
        if (gen !== this.gen) return;
        this.lost(new UplinkError('EUPLINK_CLOSED', `${url.display}: ${err ? err.message : 'the upstream closed the link'}`, { cause: err }));
      },
      onDrain: () => {
        if (gen === this.gen) this.afterSent();
      },
    });
    // start's data listener sets a socket that was never paused flowing (the TLS one dialHub hands over; it pauses
    // only the plaintext one after the INFO): reading goes on now only if in-process subscribers do not hold it.
    if (this.inPaused > 0) transport.pause();
    else transport.resume();
    this.setState('handshake');
    // The fields a nats-server 2.9 leaf sends (leafnode.go sendLeafConnect, leafConnectInfo); never `lang`, which
    // marks a client on the leafnode port.
    const connect: Record<string, unknown> = {
      version: this.version,
      tls_required: info.tls,
      server_id: this.serverId,
      name: this.name,
      headers: true,
    };
    if (this.cluster !== undefined) connect.cluster = this.cluster;
    if (this.creditInConnect) connect[CREDIT_CONNECT_FIELD] = true;
    // nats-server leafnode.go sendLeafConnect: user and pass (from the remote's URL there); a token as a client sends it.
    const cred = this.credentials;
    const user = cred?.user ?? url.user;
    const pass = cred?.password ?? url.pass;
    if (user !== undefined) connect.user = user;
    if (pass !== undefined) connect.pass = pass;
    if (cred?.token !== undefined) connect.auth_token = cred.token;
    this.out.writeString(`CONNECT ${JSON.stringify(connect)}\r\n`);
    this.out.writeString(this.interestBurst(this.loopSubject));
    this.out.writeBytes(PING);
    this.pinger.sent();
    this.flushNow();
    this.handshakeTimer = setTimeout(() => {
      this.fail(new UplinkError('EUPLINK_HANDSHAKE', `${url.display}: no PONG to our CONNECT within ${this.handshakeTimeoutMs} ms`));
    }, this.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
    if (rest.length > 0) parser.parse(rest);
  }

  /** The PONG to the PING after CONNECT: the hub has our CONNECT and interest, and we have its interest. */
  private established(): void {
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
    for (const key of this.stale ?? []) this.removePeerInterest(key);
    this.stale = undefined;
    if (this.everUp) this.count.reconnects++;
    this.everUp = true;
    this.failuresInRow = 0;
    this.logged.clear();
    this.setState('up');
    this.holdUntil = Date.now() + this.interestWaitMs;
    this.pinger.start(this.limits.ping_interval, () => this.onPingTimer());
    const hub = this.hub!;
    this.logger.info(
      { upstream: hub.url, server_id: hub.serverId, server_name: hub.serverName, version: hub.version, tls: hub.tls, interest: this.subs.size, held: this.buffer.length },
      'uplink up',
    );
    this.emit({ type: 'up', hub });
    this.drain();
  }

  /** Ends the current link on our side (handshake timeout, stale, -ERR, protocol error, loop). */
  private fail(err: UplinkError): void {
    if (this.transport === undefined) return;
    // What is queued (an -ERR for a loop) still goes out; the socket closes once it is sent.
    this.flushNow();
    this.lost(err, 'end');
  }

  /** The attempt or link is gone: hold what comes next, keep the hub's interest, redial. */
  private lost(err: UplinkError, how: 'end' | 'destroy' = 'destroy'): void {
    if (this.st === 'closed') return;
    const wasUp = this.st === 'up';
    const wasLinked = this.linked;
    // Later callbacks of this link are ignored from here.
    this.gen++;
    this.clearSessionTimers();
    // A message collected this turn joins the held ones instead of the dead socket.
    this.setState('connecting');
    this.writePending();
    const t = this.transport;
    this.transport = undefined;
    if (how === 'end') t?.end();
    else t?.destroy();
    this.parser = undefined;
    // Encoded but never written (flushes run every turn, so rarely anything): it cannot be re-held in order.
    this.out.clear();
    this.stale = undefined;
    if (wasLinked) this.reviveWithdrawn();
    this.lastError = err;
    this.count.failures++;
    this.failuresInRow++;
    const log = { upstream: this.url?.display, code: err.code, err: err.message, attempt: this.failuresInRow };
    if (wasUp) {
      this.logged.clear();
      this.logged.add(err.message);
      this.logger.warn({ ...log, interest: this.subs.size, held: this.buffer.length }, 'uplink down; holding messages for the upstream');
      this.emit({ type: 'down', error: err });
    } else if (!this.logged.has(err.message)) {
      this.logged.add(err.message);
      this.logger.warn(log, 'uplink attempt failed');
    } else {
      this.logger.debug(log, 'uplink attempt failed');
    }
    const delay = this.nextDelayMs ?? backoffDelayMs(this.failuresInRow, { baseMs: this.reconnectDelayMs, capMs: this.reconnectMaxDelayMs, jitter: 'half' });
    this.nextDelayMs = undefined;
    this.reconnectTimer = setTimeout(() => this.dial(), delay);
    this.reconnectTimer.unref?.();
  }

  /** The link dropped: interest the hub withdrew just before is held through the outage like the rest. */
  private reviveWithdrawn(): void {
    const since = Date.now() - this.withdrawnInterestMs;
    let revived = 0;
    for (const w of this.withdrawn.values()) {
      if (w.at >= since && this.addPeerInterest(w.subject, w.queue) === 'added') revived++;
    }
    this.withdrawn.clear();
    if (revived > 0) this.logger.info({ upstream: this.url?.display, revived }, 'uplink keeps interest the upstream withdrew just before the link dropped');
  }

  private rememberWithdrawn(key: string, subject: string, queue: string | undefined): void {
    const now = Date.now();
    this.withdrawn.delete(key);
    this.withdrawn.set(key, { subject, queue, at: now });
    // Oldest first (insertion order): forget what is too old, or too many.
    for (const [k, w] of this.withdrawn) {
      if (w.at >= now - this.withdrawnInterestMs && this.withdrawn.size <= WITHDRAWN_MAX) break;
      this.withdrawn.delete(k);
    }
  }

  private clearSessionTimers(): void {
    this.pinger.stop();
    clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  // --- messages to the hub -------------------------------------------------------------------------------

  protected get announcing(): boolean {
    return this.st === 'handshake' || this.st === 'up';
  }

  /**
   * Whether `m` is over the hub's INFO max_payload (headers counted as they would be sent): then it is counted and
   * logged, not sent. The sender keeps to the limit the other end announced: our service drops such a message (an
   * older one ended the link, cutting every client); a nats-server leaf would pass it on unchecked. Asked of held
   * messages (from before this hub's limit was known) and of in-process publishers only (sendMessage).
   */
  private overHubLimit(m: LeafMessage): boolean {
    const hub = this.hub!;
    const size = hub.headers ? m.msg.length : m.msg.length - m.hdrLen;
    if (hub.maxPayload <= 0 || size <= hub.maxPayload) return false;
    this.count.droppedOversize++;
    this.oversizeOutWarn.note(this.logger, { upstream: hub.url, subject: m.subject, bytes: size, max_payload: hub.maxPayload });
    return true;
  }

  protected sendMessage(m: LeafMessage, from: Conn): void {
    if (this.st === 'closed') return;
    let stamp = this.stampAuth === undefined ? undefined : this.stampFor(m.subject, from);
    // Not stamped (StampAuthOptions.only), still never carrying a client's own copy of the header.
    if (stamp === undefined && m.hdrLen > 0 && this.stampAuth !== undefined && from instanceof Client) m = { ...m, ...withoutAuthHeader(m.msg, m.hdrLen) };
    if (this.st === 'up' && this.buffer.length === 0) {
      if (stamp !== undefined && m.hdrLen > 0 && !blockTakesStamp(m.msg, m.hdrLen)) {
        // A header block we cannot splice into is rewritten, and may grow past the stamp's room (each bare-LF line
        // becomes CRLF): measured as written, dropped and counted when over the hub's max_payload.
        m = { ...m, ...stampedMessage(m.msg, m.hdrLen, stamp) };
        stamp = undefined;
        if (this.overHubLimit(m)) {
          this.notSent(m);
          return;
        }
      } else if (!(from instanceof Client) && this.overHubLimit(m)) {
        // A client's parser already holds it to max_payload, which the gateway lowers to the hub's less the stamp's
        // room while the link is up (event-gateway server.ts upstreamLimit): only in-process publishers are measured.
        this.notSent(m);
        return;
      }
      const headers = this.hub!.headers;
      const bytes = stamp === undefined ? writeLeafMsg(this.out, m, headers) : writeStampedLeafMsg(this.out, m, stamp, headers);
      this.stats.outMsgs++;
      this.stats.outBytes += bytes;
      // A hub that reads slower than local clients publish: slow them down rather than queue without bound.
      if (this.out.bytes + this.transport!.bufferedBytes() > this.buffer.limitBytes) this.buffer.pause(from);
      if (this.out.bytes >= EAGER_FLUSH_BYTES) this.flushNow();
      return;
    }
    // Down, still in the handshake, or older messages waiting: behind them, in order. A stamped one is held as it
    // will be sent (its own copy already).
    if (stamp === undefined) this.buffer.hold(m, from);
    else this.buffer.hold({ ...m, ...stampedMessage(m.msg, m.hdrLen, stamp) }, from, true);
  }

  /** A message handed to us for the hub was dropped here (over its max_payload): a subclass may account for it. */
  protected notSent(_m: LeafMessage): void {}

  /**
   * The stamp for a local client's message on `subject`: who it was verified as (auth-stamp.ts), its claims only
   * where StampAuthOptions.claimsOn says; none for in-process publishers.
   */
  private stampFor(subject: string, from: Conn): AuthStamp | undefined {
    let stamps: ClientStamps | undefined;
    if (from === this.stampFrom) stamps = this.stampsOfFrom;
    else {
      if (from instanceof Client) {
        stamps = this.stamps.get(from);
        if (stamps === undefined) {
          stamps = clientStamps(from.auth ?? UNAUTHENTICATED);
          this.stamps.set(from, stamps);
        }
      }
      this.stampFrom = from;
      this.stampsOfFrom = stamps;
    }
    if (stamps === undefined) return undefined;
    const { claimsOn, only } = this.stampAuth!;
    if (only !== undefined && !subject.startsWith(only)) return undefined;
    return claimsOn === undefined || subject.startsWith(claimsOn) ? stamps.full : stamps.bare;
  }

  protected sendInterest(lines: string): void {
    this.out.writeString(lines);
    this.scheduleFlush();
  }

  /**
   * Writes held messages, oldest first, while the socket takes them. A message whose subject the hub does not
   * want (yet) stops the queue until the hub announces it or interestWaitMs after the link came up; then it is
   * discarded, as the hub would.
   */
  private drain(): void {
    if (this.st !== 'up') return;
    const t = this.transport!;
    const headers = this.hub!.headers;
    const buffer = this.buffer;
    let dropped = 0;
    for (let h = buffer.peek(); h !== undefined; h = buffer.peek()) {
      if (this.out.bytes + t.bufferedBytes() >= buffer.limitBytes) break; // afterSent resumes
      if (!this.peerWants(h.subject)) {
        const wait = this.holdUntil - Date.now();
        if (wait > 0) {
          this.armHold(wait);
          break;
        }
        dropped++;
      } else if (this.overHubLimit(h)) {
        // Counted there; held from before this hub's limit was known.
      } else {
        this.stats.outBytes += writeLeafMsg(this.out, h, headers);
        this.stats.outMsgs++;
      }
      buffer.shift();
      if (this.out.bytes >= EAGER_FLUSH_BYTES) this.flushNow();
    }
    buffer.compact();
    if (dropped > 0) {
      this.count.droppedNoInterest += dropped;
      this.logger.warn({ upstream: this.url?.display, dropped, waited_ms: this.interestWaitMs }, 'held messages discarded: the upstream no longer wants their subjects');
    }
    this.flushNow();
    this.maybeResumePublishers();
  }

  private armHold(ms: number): void {
    if (this.holdTimer !== undefined) return;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.drain();
    }, ms);
    this.holdTimer.unref?.();
  }

  /** Paused publishers go on once the held bytes, and the socket's while up, are down to half the buffer. */
  private maybeResumePublishers(): void {
    const t = this.transport;
    this.buffer.resumeWhenLow(this.st === 'up' && t !== undefined ? this.out.bytes + t.bufferedBytes() : 0);
  }

  /** Some bytes reached the OS: more held messages may go, paused publishers may resume. */
  private afterSent(): void {
    if (this.buffer.length > 0) this.drain();
    else this.maybeResumePublishers();
  }

  // --- writing -------------------------------------------------------------------------------------------

  private writeRaw(s: string | Buffer): void {
    if (this.transport === undefined) return;
    this.writePending();
    if (typeof s === 'string') this.out.writeString(s);
    else this.out.writeBytes(s);
    this.scheduleFlush();
  }

  protected scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current publish (every delivery of one message is synchronous): one write per turn.
    queueMicrotask(() => this.flushNow());
  }

  private flushNow(): void {
    this.flushScheduled = false;
    this.writePending();
    const t = this.transport;
    if (t === undefined || this.out.bytes === 0) return;
    const gen = this.gen;
    t.write(this.out.take(), () => {
      if (gen === this.gen) this.afterSent();
    });
  }

  // --- PublisherHandle: in-process subscribers slowing the hub's messages down ------------------------------

  pause(): void {
    if (this.inPaused++ === 0) this.transport?.pause();
  }

  resume(): void {
    if (this.inPaused > 0 && --this.inPaused === 0) this.transport?.resume();
  }

  // --- reading -------------------------------------------------------------------------------------------

  private onPingTimer(): void {
    if (this.st !== 'up') return;
    const action = this.pinger.onTimer(this.limits.ping_max, this.inPaused > 0);
    if (action === 'stale') this.fail(new UplinkError('EUPLINK_STALE', `${this.url!.display}: ${this.pinger.unanswered} PINGs unanswered`));
    else if (action === 'ping') this.writeRaw(PING);
  }

  private get linked(): boolean {
    return this.st === 'handshake' || this.st === 'up';
  }

  onProtocolError(err: ProtocolError, detail: string): void {
    if (!this.linked) return;
    this.fail(new UplinkError('EUPLINK_PROTOCOL', `${this.url!.display}: ${err.text || 'protocol violation'}: ${detail}`));
  }

  onErr(text: string): void {
    if (!this.linked) return;
    // The hub found a loop (leafnode.go leafProcessErr): it holds off 30 s, so do we.
    const loop = text.includes('Loop detected');
    if (loop) this.nextDelayMs = LOOP_DELAY_MS;
    this.fail(new UplinkError(loop ? 'EUPLINK_LOOP' : 'EUPLINK_HUB_ERROR', `${this.url!.display}: -ERR '${text}'`));
  }

  /** A hub's later INFO (its connect_info answer, cluster changes) changes nothing we act on. */
  onInfo(): void {}
  onOk(): void {}
  /** A hub never sends CONNECT; nats-server ignores what it does not expect from a server here too. */
  onConnect(): void {}

  onPing(): void {
    if (!this.linked) return;
    this.writeRaw(PONG);
  }

  onPong(): void {
    if (!this.linked) return;
    // The handshake's PONG too: it was counted and timed like any other (begin).
    this.pinger.onPong();
    if (this.st === 'handshake') this.established();
  }

  onLeafSub(subject: string, queue: string | undefined, _weight: number): void {
    if (!this.linked) return;
    if (subject === this.loopSubject) {
      // leafnode.go handleLeafNodeLoop: tell the hub, drop the link, wait before redialling.
      this.writeRaw(errLine(Errors.leafnodeLoop));
      this.nextDelayMs = LOOP_DELAY_MS;
      this.fail(new UplinkError('EUPLINK_LOOP', `${this.url!.display}: our loop-detection subject came back: the upstream reaches us twice`));
      return;
    }
    const res = this.addPeerInterest(subject, queue);
    if (this.withdrawn.size > 0) this.withdrawn.delete(interestKey(subject, queue));
    if (res === 'known') {
      this.stale?.delete(interestKey(subject, queue));
    } else if (res === 'invalid') {
      this.logger.warn({ upstream: this.url!.display, subject }, 'upstream interest in an invalid subject ignored');
    } else if (this.st === 'up' && this.buffer.length > 0) {
      // Held messages may have been waiting for this very interest.
      this.drain();
    }
  }

  onLeafUnsub(subject: string, queue: string | undefined): void {
    if (!this.linked) return;
    const key = interestKey(subject, queue);
    this.stale?.delete(key);
    const sub = this.subs.get(key);
    if (sub === undefined) return;
    if (this.withdrawnInterestMs > 0) this.rememberWithdrawn(key, sub.subject, sub.queue);
    this.removePeerInterest(key);
  }

  onLeafMsg(subject: string, reply: string | undefined, queues: readonly string[], hdrLen: number, msg: Buffer): void {
    if (!this.linked) return;
    if (this.stampAuth !== undefined && hdrLen > 0) {
      // Who published it (another gateway's client) is the service's to know, not this gateway's clients'.
      const m = withoutAuthHeader(msg, hdrLen);
      this.publishFromPeer(subject, reply, queues, m.hdrLen, m.msg);
      return;
    }
    this.publishFromPeer(subject, reply, queues, hdrLen, msg);
  }

  /** A message from the hub over what we accept (ours and its INFO's max_payload): read past, dropped, link kept. */
  onOversize(_op: Op, subject: string, size: number): void {
    if (!this.linked) return;
    this.stats.inOversize++;
    this.oversizeInWarn.note(this.logger, { upstream: this.url!.display, subject, bytes: size, max_payload: this.parser?.limits.maxPayload });
  }

  /** LS+, LS- or LMSG from the hub naming a subject, reply or queue that is not UTF-8: dropped, counted, logged. */
  onRefused(op: Op, _err: ProtocolError, detail: string): void {
    if (!this.linked) return;
    this.stats.inRefused++;
    this.refusedInWarn.note(this.logger, { upstream: this.url!.display, op, detail });
  }
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`Uplink ${name} must be a positive number, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`Uplink ${name} must be zero or more, got ${v}`);
  return v;
}

