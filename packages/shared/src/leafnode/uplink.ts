// The leaf side of a leafnode link: one persistent Conn in a local broker standing for "the upstream server" (the
// event service's [leafnodes] port or a nats-server 2.9 hub). It keeps the hub's LS+/LS- as subscriptions here,
// publishes the hub's LMSG locally and sends up what local clients publish that the hub wants. Through an outage it
// keeps the hub's last-known interest (carried-interest.ts) and buffers what matches it, up to a bound
// (outage-buffer.ts), pausing publishers when full. Dialling and redialling are redial.ts's, one connected link
// (handshake, reads, writes) uplink-session.ts's, the message and interest encoding peer.ts's (shared with link.ts).
import { randomBytes } from 'node:crypto';
import { EAGER_FLUSH_BYTES } from '../protocol/index.js';
import { ThrottledWarn, type Logger } from '../log.js';
import type { Broker, Conn, PublisherHandle } from '../server/broker.js';
import { Client } from '../server/client.js';
import { flushAfterTurn, type Flushable } from '../server/flush.js';
import { newServerId } from '../server/server-id.js';
import { blockTakesStamp, stampedMessage, withoutAuthHeader, writeStampedLeafMsg } from './auth-stamp.js';
import { CarriedInterest } from './carried-interest.js';
import { parseHubUrl, UplinkError, type DialedHub, type HubInfo, type HubUrl } from './dial.js';
import { InterestTable, interestKey } from './interest.js';
import { OutageBuffer, type BufferedMsg, type OutageLink } from './outage-buffer.js';
import { LeafPeer, writeLeafMsg, type LeafMessage } from './peer.js';
import { Redial } from './redial.js';
import { StampCache } from './stamp-cache.js';
import { UplinkEvents } from './uplink-events.js';
import { HubReadWarnings, UplinkSession, type HubOps, type SessionOptions } from './uplink-session.js';
import {
  uplinkCounters,
  uplinkSettings,
  type UplinkCounters,
  type UplinkEvent,
  type UplinkOptions,
  type UplinkState,
} from './uplink-options.js';

export class Uplink extends LeafPeer implements HubOps, PublisherHandle, Flushable {
  /** Ours, `$LDS.<random>`: the hub sending it back means it reaches us twice (leafnode.go loop detection). */
  readonly loopSubject = `$LDS.${randomBytes(16).toString('base64url').slice(0, 22)}`;
  readonly serverId: string;
  readonly name: string;
  /** The latest failure, kept after the link comes back (health pages show it). */
  lastError: UplinkError | undefined;
  /** The hub of the current (or last) link. */
  hub: HubInfo | undefined;

  private st: UplinkState = 'idle';
  private readonly logger: Logger;
  private readonly ownsInterest: boolean;
  /** Given StampAuthOptions: the stamp each local client's message goes up with. */
  private readonly stamps: StampCache | undefined;
  private readonly redial: Redial;
  private readonly sessionOptions: SessionOptions;
  /** The current link, from the hub's INFO until it is lost. */
  private session: UplinkSession | undefined;
  private lastRttMs = 0;
  private readonly carried: CarriedInterest;
  private everUp = false;
  /** PublisherHandle pauses of our reading from the hub (in-process subscribers' flow control). */
  private inPaused = 0;
  private flushScheduled = false;

  /** Messages for the hub not yet written, and the publishers paused while it is full. */
  private readonly buffer: OutageBuffer;
  /** Where the buffer drains into while the link is up. */
  private readonly toHub: OutageLink;

  private readonly events: UplinkEvents;
  private readonly count = { reconnects: 0, failures: 0, droppedOnClose: 0, droppedOversize: 0 };
  private readonly oversizeOutWarn = new ThrottledWarn("message larger than the upstream's max_payload not sent");
  private closing: Promise<void> | undefined;

  constructor(broker: Broker, opts: UplinkOptions) {
    const interest = opts.interest ?? new InterestTable(broker);
    super(broker, interest, opts.cid ?? 0);
    this.ownsInterest = opts.interest === undefined;
    this.stamps = opts.stampAuth === undefined ? undefined : new StampCache(opts.stampAuth);
    this.keptLocal = opts.keptLocal;
    if (opts.urls.length === 0) throw new UplinkError('EUPLINK_URL', 'no upstream URL given');
    const urls = opts.urls.map(parseHubUrl);
    this.logger = opts.logger;
    this.events = new UplinkEvents(this.logger);
    this.serverId = opts.serverId ?? newServerId();
    this.name = opts.name ?? this.serverId;
    const s = uplinkSettings(opts);
    this.buffer = new OutageBuffer({
      limitBytes: s.bufferBytes,
      interestWaitMs: s.interestWaitMs,
      logger: this.logger,
      context: () => ({ upstream: this.redial.url?.display, state: this.st }),
    });
    this.toHub = {
      pendingBytes: () => this.session?.pendingBytes ?? 0,
      wants: (subject) => this.peerWants(subject),
      write: (h) => this.writeBuffered(h),
      flush: () => this.flush(),
    };
    this.carried = new CarriedInterest(s.withdrawnInterestMs);
    this.redial = new Redial({
      urls,
      tls: opts.tls,
      timeoutMs: s.handshakeTimeoutMs,
      delayMs: s.reconnectDelayMs,
      maxDelayMs: s.reconnectMaxDelayMs,
      logger: this.logger,
      connected: (url, d) => this.begin(url, d),
      failed: (_url, err) => this.lost(err, 'destroy'),
    });
    const hello = {
      version: opts.version ?? '0.1.0',
      serverId: this.serverId,
      name: this.name,
      cluster: opts.cluster,
      credentials: opts.credentials,
      takesCredit: opts.takesCredit === true,
    };
    this.sessionOptions = {
      limits: opts.limits,
      hello,
      handshakeTimeoutMs: s.handshakeTimeoutMs,
      loopSubject: this.loopSubject,
      hub: this,
      stats: this.stats,
      logger: this.logger,
      readWarnings: new HubReadWarnings(),
      established: () => this.established(),
      lost: (err, how) => this.lost(err, how),
      sent: () => this.buffer.sent(),
      owner: this,
      writePending: () => this.writePending(),
    };
  }

  // --- state ---------------------------------------------------------------------------------------------

  /** Round trip of the latest PING answered, ms; 0 until one is (/leafz rtt). */
  get rttMs(): number {
    return this.session?.rttMs ?? this.lastRttMs;
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
    return uplinkCounters(this.stats, this.buffer, this.count);
  }

  /** Calls `observer` on every up, down and close; returns a function that stops it. */
  onStateChange(observer: (event: UplinkEvent) => void): () => void {
    return this.events.observe(observer);
  }

  /** Resolves once the link is up (at once if it is); rejects after `timeoutMs`, or when closed first. */
  waitUntilUp(timeoutMs: number): Promise<void> {
    return this.events.waitUntilUp(this.st, () => this.lastError, timeoutMs);
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /** Starts dialling; from here on the Uplink redials by itself until close(). */
  start(): void {
    if (this.st !== 'idle') return;
    // From now on every local interest change is told to the hub while connected; the burst covers the rest.
    this.interest.observe(this);
    this.st = 'connecting';
    this.redial.dial();
  }

  /**
   * Stops for good: writes what is queued, closes the link, removes the hub's interest from the local broker,
   * discards buffered messages (counted, logged) and resumes paused publishers. Resolves once the socket is closed.
   */
  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    // A message collected this turn goes out (up, nothing older waiting) or joins the buffered ones, counted below.
    this.flush();
    this.st = 'closed';
    this.redial.stop();
    this.interest.unobserve(this);
    if (this.ownsInterest) this.interest.close();
    const s = this.session;
    this.session = undefined;
    this.dropPending();
    s?.end('end');
    this.removeAllPeerInterest();
    const dropped = this.buffer.discard();
    if (dropped.msgs > 0) {
      this.count.droppedOnClose += dropped.msgs;
      this.logger.warn(
        { upstream: this.redial.url?.display, dropped: dropped.msgs, dropped_bytes: dropped.bytes },
        'uplink closed with messages still held for the upstream',
      );
    }
    this.buffer.resumeAll();
    this.logger.info({ upstream: this.redial.url?.display }, 'uplink closed');
    this.events.emit({ type: 'closed' });
    this.events.clear();
    // SocketTransport.end destroys a socket the hub does not close within 2 s: this is bounded.
    this.closing = s === undefined ? Promise.resolve() : s.closed;
    return this.closing;
  }

  /** The hub's INFO is read (and TLS done): the session sends CONNECT, our interest, then a PING. */
  private begin(url: HubUrl, dialed: DialedHub): void {
    const s = new UplinkSession(url, dialed, this.sessionOptions);
    this.session = s;
    this.hub = dialed.info;
    // The hub answers in order: its LS+ burst for our CONNECT comes before the PONG, so what it does not
    // re-announce by then is interest it no longer has.
    this.carried.linkStarted(this.subs.keys());
    this.st = 'handshake';
    s.start(this.interestBurst(this.loopSubject), this.inPaused > 0);
  }

  /** The PONG to the PING after CONNECT: the hub has our CONNECT and interest, and we have its interest. */
  private established(): void {
    for (const key of this.carried.takeStale()) this.removePeerInterest(key);
    if (this.everUp) this.count.reconnects++;
    this.everUp = true;
    this.redial.succeeded();
    this.st = 'up';
    const hub = this.hub!;
    this.logger.info(
      {
        upstream: hub.url,
        server_id: hub.serverId,
        server_name: hub.serverName,
        version: hub.version,
        tls: hub.tls,
        interest: this.subs.size,
        held: this.buffer.length,
      },
      'uplink up',
    );
    this.events.emit({ type: 'up', hub });
    this.buffer.up(this.toHub);
  }

  /**
   * The attempt or link is gone (`end`: we ended it, what is queued still goes out): buffer what comes next, keep the
   * hub's interest, redial.
   */
  private lost(err: UplinkError, how: 'end' | 'destroy'): void {
    if (this.st === 'closed') return;
    const s = this.session;
    // What is queued (an -ERR for a loop) still goes out; the socket closes once it is sent.
    if (how === 'end') this.flush();
    const wasUp = this.st === 'up';
    this.session = undefined;
    this.buffer.down();
    // A message collected this turn joins the buffered ones instead of the dead socket.
    this.st = 'connecting';
    this.writePending();
    if (s !== undefined) {
      this.lastRttMs = s.rttMs;
      // Encoded but never written when destroyed (flushes run every turn, so rarely anything): it cannot be buffered
      // again in order.
      s.end(how);
    }
    this.reviveWithdrawn(s !== undefined);
    this.lastError = err;
    this.count.failures++;
    this.redial.retry(err, wasUp ? { interest: this.subs.size, held: this.buffer.length } : undefined);
    if (wasUp) this.events.emit({ type: 'down', error: err });
  }

  /** The link dropped: interest the hub withdrew just before is kept through the outage like the rest. */
  private reviveWithdrawn(linked: boolean): void {
    let revived = 0;
    for (const w of this.carried.linkLost(linked)) if (this.addPeerInterest(w.subject, w.queue) === 'added') revived++;
    if (revived > 0)
      this.logger.info(
        { upstream: this.redial.url?.display, revived },
        'uplink keeps interest the upstream withdrew just before the link dropped',
      );
  }

  // --- messages to the hub -------------------------------------------------------------------------------

  protected get announcing(): boolean {
    return this.st === 'handshake' || this.st === 'up';
  }

  /**
   * Whether `m` is over the hub's INFO max_payload (headers counted as they would be sent): then it is counted and
   * logged, not sent. The sender keeps to the limit the other end announced: our service drops such a message (an
   * older one ended the link, cutting every client); a nats-server leaf would pass it on unchecked. Asked of buffered
   * messages (from before this hub's limit was known) and of in-process publishers only (sendMessage).
   */
  private overHubLimit(m: LeafMessage): boolean {
    const hub = this.hub!;
    const size = hub.headers ? m.msg.length : m.msg.length - m.hdrLen;
    if (hub.maxPayload <= 0 || size <= hub.maxPayload) return false;
    this.count.droppedOversize++;
    this.oversizeOutWarn.note(this.logger, {
      upstream: hub.url,
      subject: m.subject,
      bytes: size,
      max_payload: hub.maxPayload,
    });
    return true;
  }

  protected sendMessage(m: LeafMessage, from: Conn): void {
    if (this.st === 'closed') return;
    const stamps = this.stamps;
    let stamp = stamps === undefined ? undefined : stamps.stampFor(m.subject, from);
    // Not stamped (StampAuthOptions.only), still never carrying a client's own copy of the header.
    if (stamp === undefined && m.hdrLen > 0 && stamps !== undefined && from instanceof Client)
      m = { ...m, ...withoutAuthHeader(m.msg, m.hdrLen) };
    const s = this.session;
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
        // A client's parser already keeps it to max_payload, which the gateway lowers to the hub's less the stamp's
        // room while the link is up (event-gateway upstream-link.ts ClientLimitsInForce): only in-process publishers are measured.
        this.notSent(m);
        return;
      }
      const out = s!.batch;
      const headers = this.hub!.headers;
      this.written(
        from,
        stamp === undefined ? writeLeafMsg(out, m, headers) : writeStampedLeafMsg(out, m, stamp, headers),
      );
      return;
    }
    // Down, still in the handshake, or older messages waiting: behind them, in order. A stamped one is buffered as it
    // will be sent (its own copy already).
    if (stamp === undefined) this.buffer.add(m, from);
    else this.buffer.add({ ...m, ...stampedMessage(m.msg, m.hdrLen, stamp) }, from, true);
  }

  /**
   * sendMessage's usual case, a local client's message without headers, stamped, to a hub that is up with nothing
   * older waiting: written from `buf[start, end)`, the publisher's read chunk, with no slice of it (peer.ts).
   */
  protected override sendMessageAt(m: LeafMessage, buf: Buffer, start: number, end: number, from: Conn): boolean {
    if (m.hdrLen !== 0 || this.st !== 'up' || this.buffer.length > 0 || !(from instanceof Client)) return false;
    const stamp = this.stamps?.stampFor(m.subject, from);
    if (stamp === undefined || !this.hub!.headers) return false;
    this.session!.batch.writeSplicedLeafMsgAt(m.subject, m.reply, m.queues, 0, buf, start, end, 0, 0, stamp.block);
    this.written(from, end - start + stamp.block.length);
    return true;
  }

  /** `bytes` of payload written to the session's batch for `from`'s message. */
  private written(from: Conn, bytes: number): void {
    this.stats.outMsgs++;
    this.stats.outBytes += bytes;
    // A hub that reads slower than local clients publish: slow them down rather than queue without bound.
    if (this.session!.pendingBytes > this.buffer.limitBytes) this.buffer.pause(from);
    if (this.session!.batch.bytes >= EAGER_FLUSH_BYTES) this.flush();
  }

  /** A message handed to us for the hub was dropped here (over its max_payload): a subclass may account for it. */
  protected notSent(_m: LeafMessage): void {}

  protected sendInterest(lines: string): void {
    this.session?.write(lines);
  }

  /** A buffered message, as the buffer drains: written, or counted and dropped when over the hub's max_payload. */
  private writeBuffered(h: BufferedMsg): void {
    // Buffered from before this hub's limit was known.
    if (this.overHubLimit(h)) return;
    const out = this.session!.batch;
    this.stats.outBytes += writeLeafMsg(out, h, this.hub!.headers);
    this.stats.outMsgs++;
    if (out.bytes >= EAGER_FLUSH_BYTES) this.flush();
  }

  protected scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current publish (every delivery of one message is synchronous): one write per turn (flush.ts).
    flushAfterTurn(this);
  }

  /** Flushable: the message being collected, then the session's batch. */
  flush(): void {
    this.flushScheduled = false;
    this.writePending();
    this.session?.flush();
  }

  // --- PublisherHandle: in-process subscribers slowing the hub's messages down ------------------------------

  pause(): void {
    if (this.inPaused++ === 0) this.session?.pause();
  }

  resume(): void {
    if (this.inPaused > 0 && --this.inPaused === 0) this.session?.resume();
  }

  // --- from the hub (its session hands over what it read while the link lives) -----------------------------

  onLeafSub(subject: string, queue: string | undefined, _weight: number): void {
    const res = this.addPeerInterest(subject, queue);
    this.carried.announced(interestKey(subject, queue));
    if (res === 'invalid') {
      this.logger.warn(
        { upstream: this.redial.url?.display, subject },
        'upstream interest in an invalid subject ignored',
      );
    } else if (res === 'added' && this.buffer.length > 0) {
      // Buffered messages may have been waiting for this very interest (while the link is up).
      this.buffer.drain();
    }
  }

  onLeafUnsub(subject: string, queue: string | undefined): void {
    const key = interestKey(subject, queue);
    const sub = this.subs.get(key);
    this.carried.withdrew(key, sub?.subject, sub?.queue);
    if (sub !== undefined) this.removePeerInterest(key);
  }

  onLeafMsg(subject: string, reply: string | undefined, queues: readonly string[], hdrLen: number, msg: Buffer): void {
    if (this.stamps !== undefined && hdrLen > 0) {
      // Who published it (another gateway's client) is the service's to know, not this gateway's clients'.
      const m = withoutAuthHeader(msg, hdrLen);
      this.publishFromPeer(subject, reply, queues, m.hdrLen, m.msg);
      return;
    }
    this.publishFromPeer(subject, reply, queues, hdrLen, msg);
  }
}
