// Routes published messages to subscriptions: the subscription index, queue-group choice, auto-unsubscribe,
// echo suppression, no-responders replies, the service-wide listener_limit and message counters. It knows no
// sockets: network clients, the embedded API and leafnode links all implement `Conn`.
import { NO_RESPONDERS_HEADER } from '../protocol/index.js';
import type { AuthContext } from './auth-context.js';
import { Sublist, isLiteralSubject, type SublistEntry, type SublistResult } from '../subjects/index.js';
import type { ReservedSubjects } from './reserved.js';

/** Who published a message, for flow control: pausing stops reading from that publisher until resumed. */
export interface PublisherHandle {
  /** Stable id of the publishing connection (the NATS client id; 0 for an in-process connection). */
  readonly id: number;
  /** Who the publisher was verified to be (auth-context.ts); absent: not known (treated as unauthenticated). */
  readonly auth?: AuthContext;
  /** A gateway's link, which takes credit for its clients (server/credit.ts); absent or false: no credit is granted. */
  readonly takesCredit?: boolean;
  pause(): void;
  resume(): void;
  /**
   * A gate that parked this publisher (Broker.admit said no) has room again: the parked message is offered again,
   * then what followed it, in order. Absent: the publisher cannot be parked (an in-process one), so a gate refuses
   * outright.
   */
  unpark?(): void;
}

/**
 * Admission of publishes on the subjects a gate covers: the event intake's event_limit (a hard cap), the gateway's
 * intake credit. A publisher asks before it counts or routes a message (Broker.admit); refused, it is parked: it
 * stops before that message (nothing of it delivered, nothing after it parsed) and stops reading, until the gate
 * calls `publisher.unpark()`.
 */
export interface PublishGate {
  /**
   * May `from` publish this now? true for subjects the gate does not cover. false: the gate parks `from`, to let it
   * go later, when it has `unpark`; without it (an in-process publisher) the publish is refused outright.
   */
  admit(from: Conn, subject: string, reply: string | undefined): boolean;
  /** `from` closed: forget it (parked, or room reserved for it). */
  forget(from: Conn): void;
}

/**
 * Admission of a user's subscriptions (not a leaf link's, not the process's own): the gateway's listener quota,
 * granted by the service it fronts. 'wait': the gate parks `sub.conn` and calls its `publisher.unpark()` once it
 * knows; the connection keeps that SUB (nothing after it parsed, reads paused) and offers it again then.
 * 'refuse': past the limit (`-ERR 'maximum subscriptions exceeded'`).
 */
export interface SubscribeGate {
  admitSub(sub: Subscription): 'ok' | 'wait' | 'refuse';
  /** `conn` closed: forget it (a parked SUB). */
  forget(conn: Conn): void;
}

/** Anything that has subscriptions and publishes: a network client, the embedded connection, a leaf link. */
export interface Conn {
  readonly cid: number;
  /** Deliver messages this connection published to its own subscriptions. */
  readonly echo: boolean;
  /** Publisher asked for a 503 status reply when a request finds no subscriber. */
  readonly noResponders: boolean;
  /** Flow-control handle passed to in-process subscribers. */
  readonly publisher: PublisherHandle;
  /**
   * Sends one message to one of this connection's subscriptions. `msg` holds `hdrLen` header bytes followed by the
   * payload; it may be shared with other subscribers and must not be modified.
   */
  deliver(sub: Subscription, subject: string, reply: string | undefined, hdrLen: number, msg: Buffer, from: Conn): void;
  /**
   * deliver() for the message `buf[start, end)` (a publisher's read chunk), when the connection can use it without
   * a slice (a Buffer object per message was ~8 % of the gateway's time): the broker prefers it. The bytes may not
   * be modified, and are kept past the call only as deliver()'s `msg` may be.
   */
  deliverAt?(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
    from: Conn,
  ): void;
  /** The subscription reached its `max` and was removed from the index; forget it. */
  expired(sub: Subscription): void;
  /**
   * A leafnode link: its subscriptions mirror another server's interest, so they do not count toward
   * listener_limit, and its queue members get a message only when no local member can (nats-server client.go
   * processMsgResults prefers local queue subscribers; observed from 2.9.10).
   */
  readonly remote?: boolean;
  /**
   * The process's own machinery (the event service's health responder): its subscriptions are not listeners a
   * user made, so they do not count toward listener_limit.
   */
  readonly system?: boolean;
}

/** Told after a subscription enters (`+1`) or leaves (`-1`) the index, whatever the reason. */
export type InterestChangeObserver = (sub: Subscription, delta: 1 | -1) => void;

export class Subscription implements SublistEntry {
  /** Messages delivered so far. */
  delivered = 0;
  /** Unsubscribe after this many deliveries; 0 = no limit. */
  max = 0;
  /** The subject has `*` or `>`: a delivery may need a deny-list check (client.ts). */
  readonly wildcard: boolean;
  constructor(
    readonly conn: Conn,
    readonly subject: string,
    readonly queue: string | undefined,
    readonly sid: string,
  ) {
    this.wildcard = !isLiteralSubject(subject);
  }
}

export interface BrokerCounters {
  inMsgs: number;
  inBytes: number;
  outMsgs: number;
  outBytes: number;
  slowConsumers: number;
}

/** 'wait': a subscribe gate parks the SUB until it lets the connection go (SubscribeGate). */
export type AddResult = 'ok' | 'listener_limit' | 'wait';

export class Broker {
  readonly sublist = new Sublist<Subscription>();
  readonly counters: BrokerCounters = { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0, slowConsumers: 0 };
  /**
   * The publish being routed, numbered, so a Conn receiving one message through several subscriptions can tell
   * (leaf links send it once). Restored after each delivery: an in-process callback may publish in between.
   */
  seq = 0;
  private published = 0;
  private readonly interestObservers: InterestChangeObserver[] = [];
  private gates: readonly PublishGate[] = [];
  private subscribeGate: SubscribeGate | undefined;
  /** Subscriptions of remote (leaf) connections, left out of listener_limit: their own count is credit (below). */
  private remoteSubs = 0;
  /** Subscriptions of the process's own machinery (system connections), left out of listener_limit. */
  private systemSubs = 0;
  /**
   * Listener credit granted to leaf links (a gateway's share for its clients' subscriptions: server/credit.ts),
   * counted as listeners until returned or the link closes.
   */
  private readonly listenerCredit = new Map<Conn, number>();
  private listenerCreditTotal = 0;
  /**
   * Subjects only system connections may touch (reserved.ts), set once at start (the event service's JetStream
   * store); each non-system connection enforces them. Undefined: none, and nobody pays for the check.
   */
  reserved: ReservedSubjects | undefined;

  constructor(
    /** The most subscriptions alive in the whole service at once; changeable at run time. */
    public listenerLimit: number,
  ) {}

  /** What listener_limit bounds: the users' subscriptions, with the credit granted for those behind leaf links. */
  get listenerCount(): number {
    return this.sublist.count - this.remoteSubs - this.systemSubs + this.listenerCreditTotal;
  }

  /** The process's own subscriptions (the handlers', responders'): shown apart, never taking a user's room. */
  get systemSubscriptions(): number {
    return this.systemSubs;
  }

  /** Leaf links' interest, as subscriptions in the index. */
  get remoteSubscriptions(): number {
    return this.remoteSubs;
  }

  /** Listener credit granted to leaf links and not returned: part of listenerCount. */
  get listenerCreditGranted(): number {
    return this.listenerCreditTotal;
  }

  /** Grants `conn` up to `want` listeners of room (none past listener_limit); returns how many. */
  grantListeners(conn: Conn, want: number): number {
    const n = Math.max(0, Math.min(want, this.listenerLimit - this.listenerCount));
    if (n > 0) {
      this.listenerCredit.set(conn, (this.listenerCredit.get(conn) ?? 0) + n);
      this.listenerCreditTotal += n;
    }
    return n;
  }

  /** `conn` says it has `n` left: it keeps no more than that (credit lost on the way is not kept reserved). */
  listenersLeft(conn: Conn, n: number): void {
    const c = this.listenerCredit.get(conn);
    if (c !== undefined && c > n) this.returnListeners(conn, c - n);
  }

  /** Takes back up to `n` of the listener credit granted to `conn`. */
  returnListeners(conn: Conn, n: number): void {
    const c = this.listenerCredit.get(conn);
    if (c === undefined) return;
    const back = Math.min(c, n);
    if (back === c) this.listenerCredit.delete(conn);
    else this.listenerCredit.set(conn, c - back);
    this.listenerCreditTotal -= back;
  }

  /** Observes every change of interest; returns a function that stops it. */
  onInterestChange(observer: InterestChangeObserver): () => void {
    this.interestObservers.push(observer);
    return () => {
      const i = this.interestObservers.indexOf(observer);
      if (i >= 0) this.interestObservers.splice(i, 1);
    };
  }

  /** Whether any gate is installed: a publisher asks admit() only then, so an ungated broker costs one test. */
  get gated(): boolean {
    return this.gates.length > 0;
  }

  /** Installs a gate; returns a function that removes it. */
  addGate(gate: PublishGate): () => void {
    this.gates = [...this.gates, gate];
    return () => {
      this.gates = this.gates.filter((g) => g !== gate);
    };
  }

  /** Every gate admits this publish (see PublishGate); ask before counting or routing it. */
  admit(from: Conn, subject: string, reply: string | undefined): boolean {
    const gates = this.gates;
    for (let i = 0; i < gates.length; i++) if (!gates[i]!.admit(from, subject, reply)) return false;
    return true;
  }

  /** Installs the one subscribe gate (SubscribeGate); returns a function that removes it. */
  setSubscribeGate(gate: SubscribeGate): () => void {
    this.subscribeGate = gate;
    return () => {
      if (this.subscribeGate === gate) this.subscribeGate = undefined;
    };
  }

  /** A connection closed: gates forget it, its listener credit returns. Its subscriptions it removes itself. */
  connClosed(conn: Conn): void {
    this.returnListeners(conn, Number.MAX_SAFE_INTEGER);
    for (const g of this.gates) g.forget(conn);
    this.subscribeGate?.forget(conn);
  }

  add(sub: Subscription): AddResult {
    if (sub.conn.remote) this.remoteSubs++;
    else if (sub.conn.system) this.systemSubs++;
    else if (this.listenerCount >= this.listenerLimit) return 'listener_limit';
    else if (this.subscribeGate !== undefined) {
      const v = this.subscribeGate.admitSub(sub);
      // A connection that cannot be parked (in-process) is refused rather than left waiting.
      if (v === 'refuse' || (v === 'wait' && sub.conn.publisher.unpark === undefined)) return 'listener_limit';
      if (v === 'wait') return 'wait';
    }
    this.sublist.insert(sub);
    this.interestChanged(sub, 1);
    return 'ok';
  }

  remove(sub: Subscription): void {
    if (this.sublist.remove(sub)) this.removed(sub);
  }

  private removed(sub: Subscription): void {
    if (sub.conn.remote) this.remoteSubs--;
    else if (sub.conn.system) this.systemSubs--;
    this.interestChanged(sub, -1);
  }

  private interestChanged(sub: Subscription, delta: 1 | -1): void {
    const os = this.interestObservers;
    for (let i = 0; i < os.length; i++) os[i]!(sub, delta);
  }

  /**
   * Routes one message; returns how many subscriptions received it. `queues`, from a leaf link's LMSG, names the
   * only queue groups the message is for (none when empty); without it every matching group gets it.
   */
  publish(
    from: Conn,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer,
    queues?: readonly string[],
  ): number {
    return this.route(from, subject, reply, hdrLen, msg, 0, msg.length, this.sublist.match(subject), queues);
  }

  /**
   * publish() for a message that is `buf[start, end)` (a client's PUB in its read chunk): sliced only once some
   * subscription takes it, so a publish nobody listens to allocates nothing (the slice was a sixth of the
   * publish-only bench's profile).
   */
  publishAt(
    from: Conn,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
    queues?: readonly string[],
  ): number {
    const match = this.sublist.match(subject);
    if (match.psubs.length === 0 && match.qsubs.length === 0) {
      this.seq = ++this.published;
      this.counters.inMsgs++;
      this.counters.inBytes += end - start;
      if (reply !== undefined && from.noResponders) this.sendNoResponders(from, reply);
      return 0;
    }
    return this.route(from, subject, reply, hdrLen, buf, start, end, match, queues);
  }

  /** Routes `buf[start, end)`: sliced once, for the first subscriber that has no deliverAt. */
  private route(
    from: Conn,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
    match: SublistResult<Subscription>,
    queues?: readonly string[],
  ): number {
    const c = this.counters;
    const seq = ++this.published;
    this.seq = seq;
    c.inMsgs++;
    c.inBytes += end - start;
    // A larger message for several subscribers is sliced once here: each would copy a range through a view of its
    // own (Buffer#copy makes one), where a slice is copied with TypedArray#set (outbound.ts SMALL_COPY_BYTES).
    let msg =
      start === 0 && end === buf.length
        ? buf
        : end - start > SHARED_SLICE_BYTES && match.psubs.length + match.qsubs.length > 1
          ? buf.subarray(start, end)
          : undefined;
    let delivered = 0;
    const psubs = match.psubs;
    for (let i = 0; i < psubs.length; i++) {
      const sub = psubs[i]!;
      if (sub.conn === from && !from.echo) continue;
      if (msg === undefined && sub.conn.deliverAt === undefined) msg = buf.subarray(start, end);
      this.deliverTo(sub, subject, reply, hdrLen, msg, buf, start, end, from);
      this.seq = seq;
      delivered++;
    }
    const qsubs = match.qsubs;
    for (let g = 0; g < qsubs.length; g++) {
      const group = qsubs[g]!;
      if (queues !== undefined && !queues.includes(group[0]!.queue!)) continue;
      const sub = pickQueueMember(group, from);
      if (sub === undefined) continue;
      if (msg === undefined && sub.conn.deliverAt === undefined) msg = buf.subarray(start, end);
      this.deliverTo(sub, subject, reply, hdrLen, msg, buf, start, end, from);
      this.seq = seq;
      delivered++;
    }
    if (delivered === 0 && reply !== undefined && from.noResponders) this.sendNoResponders(from, reply);
    return delivered;
  }

  /** One delivery: `msg` when it was sliced (or is whole), else `buf[start, end)` through the conn's deliverAt. */
  private deliverTo(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer | undefined,
    buf: Buffer,
    start: number,
    end: number,
    from: Conn,
  ): void {
    const c = this.counters;
    c.outMsgs++;
    c.outBytes += end - start;
    if (msg === undefined) sub.conn.deliverAt!(sub, subject, reply, hdrLen, buf, start, end, from);
    else sub.conn.deliver(sub, subject, reply, hdrLen, msg, from);
    sub.delivered++;
    if (sub.max > 0 && sub.delivered >= sub.max) this.expire(sub);
  }

  /** Removes a subscription that reached its max (UNSUB <sid> <max>). */
  expire(sub: Subscription): void {
    if (this.sublist.remove(sub)) this.removed(sub);
    sub.conn.expired(sub);
  }

  /**
   * A request nobody listens to: the publisher gets `HMSG <reply> <sid> 16 16` with a 503 status on its own
   * subscription matching the reply subject (nats-server client.go, no-responders).
   */
  private sendNoResponders(from: Conn, reply: string): void {
    const psubs = this.sublist.match(reply).psubs;
    for (let i = 0; i < psubs.length; i++) {
      const sub = psubs[i]!;
      if (sub.conn === from) {
        const h = NO_RESPONDERS_HEADER;
        this.deliverTo(sub, reply, undefined, h.length, h, h, 0, h.length, from);
        return;
      }
    }
  }
}

/** Above this a message routed to several subscribers is sliced once rather than handed over as a range. */
const SHARED_SLICE_BYTES = 64;

/**
 * One member of a queue group, chosen at random as nats-server does; skips the publisher when echo is off. A
 * remote (leaf link) member is the fallback when no local member can take the message.
 */
function pickQueueMember(group: readonly Subscription[], from: Conn): Subscription | undefined {
  const n = group.length;
  if (n === 0) return undefined;
  const start = (Math.random() * n) | 0;
  let remote: Subscription | undefined;
  for (let k = 0; k < n; k++) {
    const sub = group[(start + k) % n]!;
    if (sub.conn === from && !from.echo) continue;
    if (sub.conn.remote !== true) return sub;
    remote ??= sub;
  }
  return remote;
}
