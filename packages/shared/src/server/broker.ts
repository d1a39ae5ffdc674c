// Routes published messages to subscriptions: the subscription index, queue-group choice, auto-unsubscribe,
// echo suppression, no-responders replies, the service-wide listener_limit and message counters. It knows no
// sockets: network clients, the embedded API and leafnode links all implement `Conn`.
import { NO_RESPONDERS_HEADER } from '../protocol/index.js';
import type { AuthContext } from './auth-context.js';
import { Sublist, isLiteralSubject, type SublistEntry, type SublistResult } from '../subjects/index.js';

/** Who published a message, for flow control: pausing stops reading from that publisher until resumed. */
export interface PublisherHandle {
  /** Stable id of the publishing connection (the NATS client id; 0 for an in-process connection). */
  readonly id: number;
  /** Who the publisher was verified to be (auth-context.ts); absent: not known (treated as unauthenticated). */
  readonly auth?: AuthContext;
  pause(): void;
  resume(): void;
}

/** Anything that holds subscriptions and publishes: a network client, the embedded connection, a leaf link. */
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
export type InterestListener = (sub: Subscription, delta: 1 | -1) => void;

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

export type AddResult = 'ok' | 'listener_limit';

export class Broker {
  readonly sublist = new Sublist<Subscription>();
  readonly counters: BrokerCounters = { inMsgs: 0, inBytes: 0, outMsgs: 0, outBytes: 0, slowConsumers: 0 };
  /**
   * The publish being routed, numbered, so a Conn receiving one message through several subscriptions can tell
   * (leaf links send it once). Restored after each delivery: an in-process callback may publish in between.
   */
  seq = 0;
  private published = 0;
  private readonly interestListeners: InterestListener[] = [];
  /** Subscriptions of remote (leaf) and system connections, left out of listener_limit. */
  private uncountedSubs = 0;

  constructor(
    /** The most subscriptions alive in the whole service at once; changeable at run time. */
    public listenerLimit: number,
  ) {}

  get listenerCount(): number {
    return this.sublist.count - this.uncountedSubs;
  }

  /** Observes every change of interest; returns a function that stops it. */
  onInterestChange(listener: InterestListener): () => void {
    this.interestListeners.push(listener);
    return () => {
      const i = this.interestListeners.indexOf(listener);
      if (i >= 0) this.interestListeners.splice(i, 1);
    };
  }

  add(sub: Subscription): AddResult {
    if (sub.conn.remote || sub.conn.system) this.uncountedSubs++;
    else if (this.listenerCount >= this.listenerLimit) return 'listener_limit';
    this.sublist.insert(sub);
    this.interestChanged(sub, 1);
    return 'ok';
  }

  remove(sub: Subscription): void {
    if (this.sublist.remove(sub)) this.removed(sub);
  }

  private removed(sub: Subscription): void {
    if (sub.conn.remote || sub.conn.system) this.uncountedSubs--;
    this.interestChanged(sub, -1);
  }

  private interestChanged(sub: Subscription, delta: 1 | -1): void {
    const ls = this.interestListeners;
    for (let i = 0; i < ls.length; i++) ls[i]!(sub, delta);
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
    return this.route(from, subject, reply, hdrLen, msg, this.sublist.match(subject), queues);
  }

  /**
   * publish() for a message that is `buf[start, end)` (a client's PUB in its read chunk): sliced only once some
   * subscription takes it, so a publish nobody listens to allocates nothing (the slice was a sixth of the
   * publish-only bench's profile).
   */
  publishAt(from: Conn, subject: string, reply: string | undefined, hdrLen: number, buf: Buffer, start: number, end: number): number {
    const match = this.sublist.match(subject);
    if (match.psubs.length === 0 && match.qsubs.length === 0) {
      this.seq = ++this.published;
      this.counters.inMsgs++;
      this.counters.inBytes += end - start;
      if (reply !== undefined && from.noResponders) this.sendNoResponders(from, reply);
      return 0;
    }
    return this.route(from, subject, reply, hdrLen, buf.subarray(start, end), match);
  }

  private route(
    from: Conn,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer,
    match: SublistResult<Subscription>,
    queues?: readonly string[],
  ): number {
    const c = this.counters;
    const seq = ++this.published;
    this.seq = seq;
    c.inMsgs++;
    c.inBytes += msg.length;
    let delivered = 0;
    const psubs = match.psubs;
    for (let i = 0; i < psubs.length; i++) {
      const sub = psubs[i]!;
      if (sub.conn === from && !from.echo) continue;
      this.deliverTo(sub, subject, reply, hdrLen, msg, from);
      this.seq = seq;
      delivered++;
    }
    const qsubs = match.qsubs;
    for (let g = 0; g < qsubs.length; g++) {
      const group = qsubs[g]!;
      if (queues !== undefined && !queues.includes(group[0]!.queue!)) continue;
      const sub = pickQueueMember(group, from);
      if (sub === undefined) continue;
      this.deliverTo(sub, subject, reply, hdrLen, msg, from);
      this.seq = seq;
      delivered++;
    }
    if (delivered === 0 && reply !== undefined && from.noResponders) this.sendNoResponders(from, reply);
    return delivered;
  }

  private deliverTo(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer,
    from: Conn,
  ): void {
    const c = this.counters;
    c.outMsgs++;
    c.outBytes += msg.length;
    sub.conn.deliver(sub, subject, reply, hdrLen, msg, from);
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
        this.deliverTo(sub, reply, undefined, NO_RESPONDERS_HEADER.length, NO_RESPONDERS_HEADER, from);
        return;
      }
    }
  }
}

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
