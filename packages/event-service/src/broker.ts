// Routes published messages to subscriptions: the subscription index, queue-group choice, auto-unsubscribe,
// echo suppression, no-responders replies, the service-wide listener_limit and message counters. It knows no
// sockets: network clients, the embedded API and (later) leafnode links all implement `Conn`.
import { Sublist, NO_RESPONDERS_HEADER, type SublistEntry } from '@event-broker/shared';
import type { PublisherHandle } from './api.js';

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
}

export class Subscription implements SublistEntry {
  /** Messages delivered so far. */
  delivered = 0;
  /** Unsubscribe after this many deliveries; 0 = no limit. */
  max = 0;
  constructor(
    readonly conn: Conn,
    readonly subject: string,
    readonly queue: string | undefined,
    readonly sid: string,
  ) {}
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

  constructor(
    /** The most subscriptions alive in the whole service at once; changeable at run time. */
    public listenerLimit: number,
  ) {}

  get listenerCount(): number {
    return this.sublist.count;
  }

  add(sub: Subscription): AddResult {
    if (this.sublist.count >= this.listenerLimit) return 'listener_limit';
    this.sublist.insert(sub);
    return 'ok';
  }

  remove(sub: Subscription): void {
    this.sublist.remove(sub);
  }

  /** Routes one message; returns how many subscriptions received it. */
  publish(from: Conn, subject: string, reply: string | undefined, hdrLen: number, msg: Buffer): number {
    const c = this.counters;
    c.inMsgs++;
    c.inBytes += msg.length;
    const match = this.sublist.match(subject);
    let delivered = 0;
    const psubs = match.psubs;
    for (let i = 0; i < psubs.length; i++) {
      const sub = psubs[i]!;
      if (sub.conn === from && !from.echo) continue;
      this.deliverTo(sub, subject, reply, hdrLen, msg, from);
      delivered++;
    }
    const qsubs = match.qsubs;
    for (let g = 0; g < qsubs.length; g++) {
      const sub = pickQueueMember(qsubs[g]!, from);
      if (sub === undefined) continue;
      this.deliverTo(sub, subject, reply, hdrLen, msg, from);
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
    this.sublist.remove(sub);
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

/** One member of a queue group, chosen at random as nats-server does; skips the publisher when echo is off. */
function pickQueueMember(group: readonly Subscription[], from: Conn): Subscription | undefined {
  const n = group.length;
  if (n === 0) return undefined;
  const start = (Math.random() * n) | 0;
  for (let k = 0; k < n; k++) {
    const sub = group[(start + k) % n]!;
    if (sub.conn !== from || from.echo) return sub;
  }
  return undefined;
}
