// One leafnode link, hub side: a nats-server 2.9 leaf (or the event gateway) attached to our [leafnodes] port. It
// admits the leaf's CONNECT, turns its LS+/LS- into broker subscriptions and its LMSG/HMSG into publishes, and
// sends it our interest (LS+/LS-) and the messages routed to it, one LMSG per message however many of its
// interests matched. Accepting sockets and TLS are the leafnode port's (event-service leafnode/port.ts); the
// interest bookkeeping is interest.ts's.
// Protocol as observed between two nats-server 2.9.10 (NATS-NOTES.md, Leafnode) and leafnode.go.
import {
  Errors,
  PING,
  PONG,
  Parser,
  errLine,
  type CloseReason,
  type Op,
  type ProtocolError,
  type ProtocolHandler,
} from '../protocol/index.js';
import { clipped, type Logger } from '../log.js';
import type { Broker, Conn, PublisherHandle } from '../server/broker.js';
import type { ClientLimits } from '../server/client.js';
import { awaitVerdict } from '../server/admission.js';
import { AcceptedCore } from '../server/accepted-core.js';
import { CREDIT_CONNECT_FIELD } from '../server/credit.js';
import { Parking } from '../server/parking.js';
import type { Transport } from '../server/transport.js';
import { interestKey, type InterestTable } from './interest.js';
import { LeafPeer, MAX_PAYLOAD_CEILING, writeLeafMsg, type LeafMessage } from './peer.js';
import type { LeafAdmission, LeafIdentity, LeafRefusal } from './link-admission.js';

export type { LeafAdmission, LeafAuthMethod, LeafIdentity, LeafRefusal } from './link-admission.js';

/** What a link needs from the port that accepted it. */
export interface LinkContext {
  readonly broker: Broker;
  /** Read on use so a reload reaches live links. */
  readonly limits: ClientLimits;
  readonly logger: Logger;
  readonly interest: InterestTable;
  /** Our loop-detection subject, `$LDS.<random>`: it coming back from a leaf means the leaf reaches us twice. */
  readonly loopSubject: string;
  /** The INFO line greeting a leaf. Its time to an admitted CONNECT is the port's (it calls fail when it is up). */
  greeting(lid: number, remoteAddress: string): string;
  /**
   * Checks a CONNECT's credentials and the link's certificate. A promise while a slow check (bcrypt) runs: the
   * link leaves what follows the CONNECT unparsed meanwhile.
   */
  authorize(link: LeafLink, connect: Readonly<Record<string, unknown>>): LeafAdmission | Promise<LeafAdmission>;
  /**
   * The connection was refused before admission (its credentials, an operation before CONNECT, a client's CONNECT,
   * no CONNECT in time): any peer can cause one per connection, so the port logs them rate-limited. `fields`
   * carry no secret; a name the peer chose is clipped.
   */
  linkRefused(link: LeafLink, kind: LeafRefusal, fields: Record<string, unknown>): void;
  /** The link's CONNECT was admitted: it is no longer an unauthenticated connection. */
  linkAdmitted(link: LeafLink): void;
  /** The leaf sent a message over our max_payload: it was read past and dropped, the link stays up (count, log). */
  oversizeDropped(link: LeafLink, subject: string, size: number): void;
  /** The leaf sent LS+, LS- or LMSG whose subject, reply or queue is not UTF-8: dropped, the link stays up (count, log). */
  operationRefused(link: LeafLink, op: Op, detail: string): void;
  linkClosed(link: LeafLink, reason: CloseReason): void;
}

/** The leaf's CONNECT fields we keep (leafnode.go leafConnectInfo). */
export interface LeafInfo {
  name: string;
  serverId: string;
  version: string;
  cluster: string;
  headers: boolean;
  /** Its CONNECT says it takes credit (a gateway's uplink: server/credit.ts CREDIT_CONNECT_FIELD). */
  credit: boolean;
}

export class LeafLink extends LeafPeer implements ProtocolHandler, PublisherHandle {
  readonly startedAt = Date.now();
  leaf: LeafInfo | undefined;
  /** Who the leaf authenticated as, from its admitted CONNECT on (/leafz, logs). */
  identity: LeafIdentity | undefined;
  closeReason: CloseReason | undefined;

  private readonly parser: Parser;
  private readonly core: AcceptedCore;
  /** A message a gate parked (Broker.admit said no), offered again by unpark(); reads stop meanwhile. */
  private readonly parking: Parking<ParkedLeafMsg>;

  constructor(
    private readonly ctx: LinkContext,
    cid: number,
    readonly transport: Transport,
  ) {
    super(ctx.broker, ctx.interest, cid);
    // A leaf on our port is never the process's own: the broker's reserved subjects are denied to it.
    this.reserved = ctx.broker.reserved;
    const svc = ctx.limits;
    // A leaf must CONNECT first: any other first byte is refused before anything of it is retained (nats-server
    // 2.9.10 answers `LMSG ...` before CONNECT with Authorization Violation). A message over our max_payload is read
    // past and dropped, never retained: a nats-server leaf allowing more sends it (it checks no size on a leaf link,
    // either way), and ending the link would cut every client behind the leaf for one message.
    this.parser = new Parser(this, 'leaf', {
      maxControlLine: svc.max_control_line,
      maxPayload: svc.max_payload,
      expectConnect: true,
      skipOversize: MAX_PAYLOAD_CEILING,
    });
    this.core = new AcceptedCore(transport, {
      conn: this,
      ctx,
      peerClosed: 'Leafnode Closed',
      write: (s) => this.writeRaw(s),
      resumeToClose: true,
      // Never admitted: dropped once its -ERR is out (a leaf must CONNECT first, whatever the port's authorization).
      refuses: () => this.leaf === undefined,
      logError: (err, detail, how) => {
        const log = { ...this.logFields(), error: err.text || undefined, detail };
        if (how === 'refuse') ctx.linkRefused(this, 'protocol', log);
        else if (how === 'end') ctx.logger.warn(log, 'leafnode protocol error, closing');
        else ctx.logger.debug(log, 'leafnode protocol error');
      },
      logSlow: (reason) =>
        ctx.logger.warn(
          { ...this.logFields(), pending_bytes: this.core.pendingBytes, reason },
          'slow leafnode, closing',
        ),
      release: () => {
        ctx.interest.unobserve(this);
        // The leaf's interest goes with it; other links hear LS- for what only it was interested in.
        this.removeAllPeerInterest();
        this.dropPending();
        this.parking.drop();
      },
      closed: (reason) => ctx.linkClosed(this, reason),
    });
    this.parking = new Parking(this.parser, this.core);
  }

  /** Round trip of the latest PING answered, ms; 0 until one is (/leafz rtt). */
  get rttMs(): number {
    return this.core.pinger.rttMs;
  }

  get publisher(): PublisherHandle {
    return this;
  }
  get id(): number {
    return this.cid;
  }
  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }
  /** A gateway's link (its CONNECT said so): the service grants it event and listener credit for its clients. */
  get takesCredit(): boolean {
    return this.leaf?.credit === true;
  }
  /** Its CONNECT was admitted. */
  get isAdmitted(): boolean {
    return this.leaf !== undefined;
  }
  protected get announcing(): boolean {
    // Interest goes to the leaf from its CONNECT on (sendAllInterest starts observing then).
    return this.leaf !== undefined;
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  start(opts: { greeted?: boolean } = {}): void {
    this.core.start((chunk) => {
      if (this.closeReason === undefined) this.parser.parse(chunk);
    });
    if (!opts.greeted) this.writeRaw(this.ctx.greeting(this.cid, this.transport.remoteAddress));
    this.core.keepAlive(this.ctx.limits.ping_interval);
  }

  /** Sends an -ERR (when it has text) and closes if nats-server would (accepted-core.ts). */
  fail(err: ProtocolError, detail: string): void {
    this.core.fail(err, detail);
  }

  /** Writes what is queued, then closes. */
  close(reason: CloseReason): void {
    this.core.close(reason, 'end');
  }

  /** Who this link is, in its log lines. */
  private logFields(): { lid: number; ip: string; leaf: string | undefined } {
    return { lid: this.cid, ip: this.transport.remoteAddress, leaf: this.leaf?.name };
  }

  // --- messages to the leaf ------------------------------------------------------------------------------

  protected sendMessage(m: LeafMessage, _from: Conn): void {
    const out = this.core.batch;
    const bytes = writeLeafMsg(out, m, this.leaf === undefined || this.leaf.headers);
    this.stats.outMsgs++;
    this.stats.outBytes += bytes;
    // Past max_pending: cut as a slow consumer (accepted-core.ts); past EAGER_FLUSH_BYTES: written at once.
    this.core.queued();
  }

  protected sendInterest(lines: string): void {
    this.writeRaw(lines);
  }

  // --- PublisherHandle -----------------------------------------------------------------------------------

  pause(): void {
    this.core.pause();
  }

  resume(): void {
    this.core.resume();
  }

  /** The gate that parked our message has room: offer it again, then parse what followed it. */
  unpark(): void {
    this.parking.unpark(
      (h) => this.onLeafMsgAt(h.subject, h.reply, h.queues, h.hdrLen, h.msg, 0, h.msg.length),
      () => this.closeReason === undefined,
    );
  }

  // --- interest to the leaf ------------------------------------------------------------------------------

  /** After CONNECT: our loop-detection subject, then everything the service is interested in. */
  private sendAllInterest(): void {
    this.writeRaw(this.interestBurst(this.ctx.loopSubject));
    this.ctx.interest.observe(this);
  }

  // --- writing -------------------------------------------------------------------------------------------

  private writeRaw(s: string | Buffer): void {
    if (this.closeReason !== undefined) return;
    // A message collected before this line goes first, keeping the order things happened in.
    this.writePending();
    this.core.write(s);
  }

  protected scheduleFlush(): void {
    this.core.schedule();
  }

  flush(): void {
    if (this.closeReason !== undefined) return;
    this.writePending();
    if (this.closeReason === undefined) this.core.flush();
  }

  // --- reading -------------------------------------------------------------------------------------------

  /** Nothing but CONNECT before CONNECT: nats-server 2.9.10 answers `Authorization Violation` and closes. */
  private admitted(): boolean {
    if (this.leaf !== undefined) return true;
    this.fail(Errors.authorizationViolation, 'operation before CONNECT');
    return false;
  }

  onProtocolError(err: ProtocolError, detail: string): void {
    this.fail(err, detail);
  }

  onConnect(json: string): void {
    let c: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(json);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
      c = parsed as Record<string, unknown>;
    } catch {
      this.fail(Errors.protocolViolation, 'CONNECT is not a JSON object');
      return;
    }
    // A client dialled the leaf port (nats-server tells them apart by `lang`, which servers never send).
    if (typeof c.lang === 'string') {
      this.fail(Errors.leafnodeClientConnect, `client CONNECT (lang ${c.lang})`);
      return;
    }
    // A later CONNECT changes nothing (nats-server authenticates a connection once).
    if (this.leaf !== undefined) return;
    // A slow check (bcrypt) leaves what follows the CONNECT unparsed until its verdict (admission.ts awaitVerdict).
    awaitVerdict(this.ctx.authorize(this, c), {
      parser: this.parser,
      conn: this,
      apply: (v) => this.decided(c, v),
      failed: (reason) => ({ ok: false, reason: `authorization check failed: ${reason}` }),
    });
  }

  private decided(c: Record<string, unknown>, v: LeafAdmission): void {
    if (this.closeReason !== undefined) return;
    if (!v.ok) {
      // nats-server auth.go/client.go: "authentication error", `-ERR 'Authorization Violation'`, closed.
      const name = typeof c.name === 'string' && c.name !== '' ? clipped(c.name) : undefined;
      this.ctx.linkRefused(this, 'credentials', {
        lid: this.cid,
        ip: this.transport.remoteAddress,
        port: this.transport.remotePort,
        leaf: name,
        reason: v.reason,
      });
      this.writeRaw(errLine(Errors.authorizationViolation));
      this.core.close(Errors.authorizationViolation.closeReason!, 'refuse');
      return;
    }
    this.admit(c, v.identity);
  }

  private admit(c: Record<string, unknown>, identity: LeafIdentity): void {
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    this.leaf = {
      name: str(c.name),
      serverId: str(c.server_id),
      version: str(c.version),
      cluster: str(c.cluster),
      headers: c.headers === true,
      credit: c[CREDIT_CONNECT_FIELD] === true,
    };
    this.identity = identity;
    this.ctx.linkAdmitted(this);
    this.ctx.logger.info(
      {
        lid: this.cid,
        ip: this.transport.remoteAddress,
        port: this.transport.remotePort,
        transport: this.transport.kind,
        leaf: this.leaf.name || undefined,
        server_id: this.leaf.serverId || undefined,
        version: this.leaf.version || undefined,
        auth: identity.method,
        user: identity.user,
      },
      'leafnode connected',
    );
    this.sendAllInterest();
    // A first PING measures the round trip at once, as nats-server's does for /leafz rtt (client.go sendRTTPing).
    this.core.pinger.sent();
    this.writeRaw(PING);
  }

  onInfo(): void {}
  onOk(): void {}

  onErr(text: string): void {
    this.ctx.logger.warn({ ...this.logFields(), error: text }, 'leafnode sent -ERR, closing');
    this.close('Leafnode Closed');
  }

  onPing(): void {
    if (!this.admitted()) return;
    this.writeRaw(PONG);
  }

  onPong(): void {
    if (!this.admitted()) return;
    this.core.pinger.onPong();
  }

  onLeafSub(subject: string, queue: string | undefined, _weight: number): void {
    if (!this.admitted()) return;
    if (subject === this.ctx.loopSubject) {
      this.fail(Errors.leafnodeLoop, `our ${subject} came back`);
      return;
    }
    // Not honoured, and the link stays up (nats-server closes a leaf over a permission violation: one client behind
    // a gateway subscribing there would then cut all the others).
    if (this.reserved?.has(subject)) {
      this.reservedDropped('LS+', subject);
      return;
    }
    if (this.addPeerInterest(subject, queue) === 'invalid') {
      this.ctx.logger.warn(
        { lid: this.cid, leaf: this.leaf?.name, subject },
        'leafnode interest in an invalid subject ignored',
      );
    }
  }

  onLeafUnsub(subject: string, queue: string | undefined): void {
    if (!this.admitted()) return;
    this.removePeerInterest(interestKey(subject, queue));
  }

  onOversize(_op: Op, subject: string, size: number): void {
    if (!this.admitted()) return;
    this.stats.inOversize++;
    this.ctx.oversizeDropped(this, subject, size);
  }

  onLeafMsgAt(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
  ): void {
    if (!this.admitted()) return;
    // A reply naming a reserved subject too: the service's own responders would answer there in its name.
    const reserved = this.reserved;
    if (reserved !== undefined && (reserved.has(subject) || (reply !== undefined && reserved.has(reply)))) {
      this.reservedDropped('LMSG', reserved.has(subject) ? subject : reply!);
      return;
    }
    const broker = this.ctx.broker;
    if (broker.gated && !broker.admit(this, subject, reply)) {
      // Parked before it is counted or routed, until unpark().
      this.parking.park({ subject, reply, queues, hdrLen, msg: buf.subarray(start, end) });
      return;
    }
    this.publishFromPeer(subject, reply, queues, hdrLen, buf, start, end);
  }

  /** An LS+ or LMSG on a reserved subject: dropped without -ERR, counted, logged at debug (any leaf can repeat it). */
  private reservedDropped(op: 'LS+' | 'LMSG', subject: string): void {
    this.stats.inReserved++;
    this.ctx.logger.debug(
      { ...this.logFields(), op, subject: clipped(subject) },
      'leafnode operation on a reserved subject dropped',
    );
  }

  /**
   * LS+, LS- or LMSG naming a subject, reply or queue that is not UTF-8 (its payload read and dropped): nothing is
   * routed and no -ERR goes to the leaf (nats-server compares subjects as bytes and has none to send); counted and
   * logged instead of vanishing.
   */
  onRefused(op: Op, _err: ProtocolError, detail: string): void {
    if (!this.admitted()) return;
    this.stats.inRefused++;
    this.ctx.operationRefused(this, op, detail);
  }
}

/** An LMSG parked by a gate: `msg` is its header block and payload (a view of the read, kept). */
interface ParkedLeafMsg {
  readonly subject: string;
  readonly reply: string | undefined;
  readonly queues: readonly string[];
  readonly hdrLen: number;
  readonly msg: Buffer;
}
