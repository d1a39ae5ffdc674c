// What both ends of a leafnode link do alike, whichever of them dialled: broker deliveries become one LMSG per
// message however many of the peer's interests matched, the local interest becomes LS+/LS- for the peer, and the
// peer's LS+/LS-/LMSG become subscriptions and publishes in the local broker. Where the bytes go (a socket, an
// outage buffer), the handshake and the keepalive are the subclass's: link.ts (hub side), uplink.ts (leaf side).
import { leafSubLine, leafUnsubLine, type Outbound } from '../protocol/index.js';
import { isValidSubject } from '../subjects/index.js';
import { Subscription, type Broker, type Conn, type PublisherHandle } from '../server/broker.js';
import type { ReservedSubjects } from '../server/reserved.js';
import { interestKey, type Interest, type InterestObserver, type InterestTable } from './interest.js';

const NO_QUEUES: readonly string[] = Object.freeze([]);
const NO_BYTES = Buffer.alloc(0);

export interface LinkStats {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
  /** Messages from the peer over our max_payload, read past and dropped (the link stays up). */
  inOversize: number;
  /** LS+ and LMSG from the peer on a subject reserved to the process (server/reserved.ts): dropped, the link stays up. */
  inReserved: number;
  /** LS+, LS- and LMSG from the peer whose subject, reply or queue is not UTF-8: dropped, the link stays up. */
  inRefused: number;
}

/**
 * The most a NATS server may allow (nats-server opts.go MAX_PAYLOAD_MAX_SIZE): no peer can mean a larger message, so
 * one over it ends a link instead of being read past.
 */
export const MAX_PAYLOAD_CEILING = 64 * 1024 * 1024;

/**
 * Writes one message for a leafnode peer: `LMSG`/`HMSG` naming the queue groups it was chosen for. A peer without
 * header support gets the payload alone (nats-server client.go deliverMsg does the same for clients). Returns the
 * payload bytes written, for the link's counters.
 */
export function writeLeafMsg(
  out: Outbound,
  m: { subject: string; reply: string | undefined; queues: readonly string[]; hdrLen: number; msg: Buffer },
  peerHeaders: boolean,
): number {
  let hdrLen = m.hdrLen;
  let body = m.msg;
  if (hdrLen > 0 && !peerHeaders) {
    body = body.subarray(hdrLen);
    hdrLen = 0;
  }
  out.writeLeafMsg(m.subject, m.reply, m.queues, hdrLen, body);
  return body.length;
}

/** One message collected for the peer (see LeafPeer.deliver). */
export interface LeafMessage {
  subject: string;
  reply: string | undefined;
  /** The peer's queue groups it was chosen for; empty for its plain subscribers only. Never mutated once handed over. */
  queues: readonly string[];
  /** Header bytes at the start of `msg`; 0 without headers. */
  hdrLen: number;
  msg: Buffer;
}

export abstract class LeafPeer implements Conn, InterestObserver {
  // Conn: a peer never gets its own messages back, has no use for no-responders (its server answers those), and
  // is remote (listener_limit and queue preference, broker.ts).
  readonly echo = false;
  readonly noResponders = false;
  readonly remote = true;
  readonly stats: LinkStats = {
    inMsgs: 0,
    inBytes: 0,
    outMsgs: 0,
    outBytes: 0,
    inOversize: 0,
    inReserved: 0,
    inRefused: 0,
  };
  /** The peer's interest, by nats-server's key (`subject` or `subject queue`). */
  readonly subs = new Map<string, Subscription>();

  // The message being collected: the broker hands it over once per matching subscription of ours (broker.seq
  // tells them apart); it is handed to sendMessage when the next message, an interest line or the end of the turn
  // comes. One object per peer, refilled for every message: a delivery allocates nothing (most have no queue).
  // `pendFrom` set means a message is being collected.
  private pendSeq = -1;
  private readonly pend: LeafMessage = { subject: '', reply: undefined, queues: NO_QUEUES, hdrLen: 0, msg: NO_BYTES };
  private pendFrom: Conn | undefined;
  // The message's bytes, `pendBuf[pendStart, pendEnd)`: pend.msg is set from them only when it is needed.
  private pendBuf: Buffer = NO_BYTES;
  private pendStart = 0;
  private pendEnd = 0;
  /**
   * Subjects the peer may not touch (server/reserved.ts): set by a link whose peer is not the process's own (the
   * leafnode port's); undefined for an uplink, which carries the process's own traffic to its hub.
   */
  protected reserved: ReservedSubjects | undefined;
  /** Local interest the peer is never told of (UplinkOptions.keptLocal); undefined: all of it is announced. */
  protected keptLocal: ((subject: string) => boolean) | undefined;

  constructor(
    protected readonly broker: Broker,
    protected readonly interest: InterestTable,
    readonly cid: number,
  ) {}

  abstract get publisher(): PublisherHandle;
  abstract get isClosed(): boolean;
  /** Whether interest changes are told to the peer now (a link after CONNECT, an uplink while connected). */
  protected abstract get announcing(): boolean;
  /**
   * Takes one message for the peer, collected from the broker's deliveries. `from` published it. `m` is refilled
   * for the next message: read it during the call, copy what is kept (its `queues` array is never mutated).
   */
  protected abstract sendMessage(m: LeafMessage, from: Conn): void;
  /**
   * sendMessage for a message whose bytes are `buf[start, end)` (`m.msg` not set): true when it was taken so,
   * false for sendMessage to take it with `m.msg` sliced. By default false.
   */
  protected sendMessageAt(_m: LeafMessage, _buf: Buffer, _start: number, _end: number, _from: Conn): boolean {
    return false;
  }
  /** Takes LS+/LS- lines for the peer, in order after every message already handed to sendMessage. */
  protected abstract sendInterest(lines: string): void;
  /** A message is being collected: writePending must run before the turn ends. */
  protected abstract scheduleFlush(): void;

  // --- Conn: messages to the peer ------------------------------------------------------------------------

  deliver(sub: Subscription, subject: string, reply: string | undefined, hdr: number, msg: Buffer, from: Conn): void {
    this.deliverAt(sub, subject, reply, hdr, msg, 0, msg.length, from);
  }

  /** deliver() for `buf[start, end)`: kept as it is until written (sendMessageAt), sliced only if it must be. */
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
    if (this.isClosed) return;
    // A wildcard interest spanning a reserved subject is not delivered it (a literal one is never admitted).
    if (this.reserved !== undefined && sub.wildcard && this.reserved.has(subject)) return;
    const seq = this.broker.seq;
    const m = this.pend;
    if (this.pendFrom !== undefined && this.pendSeq === seq) {
      // The same message through another of our interests: only a queue group it was chosen for adds anything.
      const q = sub.queue;
      if (q !== undefined && !m.queues.includes(q)) {
        // A fresh array for the first queue: the shared empty one is frozen, and one handed over stays unchanged.
        if (m.queues === NO_QUEUES) m.queues = [q];
        else (m.queues as string[]).push(q);
      }
      return;
    }
    this.writePending();
    this.pendSeq = seq;
    m.subject = subject;
    m.reply = reply;
    m.queues = sub.queue === undefined ? NO_QUEUES : [sub.queue];
    m.hdrLen = hdrLen;
    this.pendBuf = buf;
    this.pendStart = start;
    this.pendEnd = end;
    this.pendFrom = from;
    this.scheduleFlush();
  }

  expired(sub: Subscription): void {
    // Peer interest carries no max; kept for the interface.
    const key = interestKey(sub.subject, sub.queue);
    if (this.subs.get(key) === sub) this.subs.delete(key);
  }

  /**
   * Hands the collected message over. Without queues the peer gives it to its plain subscribers only; with them,
   * also to one member of each group named (observed between two nats-server 2.9.10).
   */
  protected writePending(): void {
    const from = this.pendFrom;
    if (from === undefined) return;
    this.pendFrom = undefined;
    const m = this.pend;
    const buf = this.pendBuf;
    const start = this.pendStart;
    const end = this.pendEnd;
    if (!this.sendMessageAt(m, buf, start, end, from)) {
      m.msg = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
      this.sendMessage(m, from);
    }
    // Unless sendMessage led to a new delivery: the publisher's read buffer is not kept alive until the next one.
    if (this.pendFrom === undefined) this.dropPending();
  }

  /** Forgets a collected message (the link is gone). */
  protected dropPending(): void {
    this.pendFrom = undefined;
    this.pendBuf = NO_BYTES;
    this.pend.msg = NO_BYTES;
    this.pend.queues = NO_QUEUES;
  }

  // --- interest to the peer ------------------------------------------------------------------------------

  /** How many subscriptions other than this peer's have the interest: what the peer is told. */
  private othersCount(it: Interest): number {
    return it.count - (this.subs.has(it.key) ? 1 : 0);
  }

  interestChanged(it: Interest, delta: 1 | -1, by: Conn): void {
    // Never echo the peer's own interest back to it (its count is left out of othersCount anyway).
    if (by === this || this.isClosed || !this.announcing) return;
    // Interest in a reserved subject (the process's own inboxes) is not shown to a peer that may not use it.
    if (this.reserved !== undefined && this.reserved.has(it.subject)) return;
    if (this.keptLocal?.(it.subject) === true) return;
    const now = this.othersCount(it);
    let line: string | undefined;
    if (it.queue !== undefined) {
      // A queue group's LS+ is re-sent with its new weight (member count), as nats-server does.
      line = now > 0 ? leafSubLine(it.subject, it.queue, now) : leafUnsubLine(it.subject, it.queue);
    } else if (now === 1 && delta > 0) {
      line = leafSubLine(it.subject, undefined, 0);
    } else if (now === 0 && delta < 0) {
      line = leafUnsubLine(it.subject, undefined);
    }
    if (line === undefined) return;
    // A message collected before this line goes first, keeping the order things happened in.
    this.writePending();
    this.sendInterest(line);
  }

  /** The loop-detection subject, then an LS+ for all interest of others than the peer (after CONNECT). */
  protected interestBurst(loopSubject: string): string {
    let lines = leafSubLine(loopSubject, undefined, 0);
    for (const it of this.interest.values()) {
      if (this.reserved !== undefined && this.reserved.has(it.subject)) continue;
      if (this.keptLocal?.(it.subject) === true) continue;
      const n = this.othersCount(it);
      if (n > 0) lines += leafSubLine(it.subject, it.queue, n);
    }
    return lines;
  }

  // --- from the peer -------------------------------------------------------------------------------------

  /**
   * The peer's LS+ as a subscription in the local broker. `known`: already there (a repeated queue LS+ only changes
   * the weight; the peer's group is one member here, whatever its size). `invalid`: ignored, the caller logs it.
   */
  protected addPeerInterest(subject: string, queue: string | undefined): 'added' | 'known' | 'invalid' {
    const key = interestKey(subject, queue);
    if (this.subs.has(key)) return 'known';
    if (!isValidSubject(subject)) return 'invalid';
    const sub = new Subscription(this, subject, queue, key);
    // Set first: the broker tells observers (this peer among them) as soon as it is in the index.
    this.subs.set(key, sub);
    this.broker.add(sub);
    return 'added';
  }

  protected removePeerInterest(key: string): void {
    const sub = this.subs.get(key);
    if (sub === undefined) return;
    this.subs.delete(key);
    this.broker.remove(sub);
  }

  /** Every interest of the peer leaves the broker; other links hear LS- for what only it was interested in. */
  protected removeAllPeerInterest(): void {
    for (const sub of this.subs.values()) this.broker.remove(sub);
    this.subs.clear();
  }

  /** An LMSG/HMSG from the peer, `buf[start, end)`, published locally. */
  protected publishFromPeer(
    subject: string,
    reply: string | undefined,
    queues: readonly string[],
    hdrLen: number,
    buf: Buffer,
    start = 0,
    end = buf.length,
  ): void {
    this.stats.inMsgs++;
    this.stats.inBytes += end - start;
    // No queues named: the peer's server already served its queue groups, ours get nothing (observed).
    this.broker.publishAt(this, subject, reply, hdrLen, buf, start, end, queues.length === 0 ? NO_QUEUES : queues);
  }

  /** Whether the peer's interest, as we know it, covers `subject` (a buffered message waiting for it). */
  protected peerWants(subject: string): boolean {
    const r = this.broker.sublist.match(subject);
    for (const s of r.psubs) if (s.conn === this) return true;
    for (const group of r.qsubs) for (const s of group) if (s.conn === this) return true;
    return false;
  }
}
