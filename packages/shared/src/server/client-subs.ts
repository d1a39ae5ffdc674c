// A client's subscriptions, by sid: its SUBs checked as nats-server checks them (subject and queue, permissions, the
// connection's limit, a repeated sid) and added to the broker, its UNSUBs (at once, or after `max` messages), one
// dropped when a reload narrows its permissions, every one removed when it closes. The table decides; the client
// (client.ts) answers (+OK, -ERR), parks a SUB a subscribe gate waits on, and delivers the messages.
import { Errors, permissionsViolationForSubscription, type ProtocolError } from '../protocol/index.js';
import { isValidQueueName, isValidSubject } from '../subjects/index.js';
import { ThrottledWarn, type Logger } from '../log.js';
import type { ClientPermissions } from './admission.js';
import { Subscription, type Broker, type Conn } from './broker.js';

/** A SUB parked by a subscribe gate. */
export interface ParkedSub {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly sid: string;
}

/**
 * What a SUB comes to: `ok` (added, or a repeated sid ignored: +OK either way), `wait` (a subscribe gate asks for room
 * first: the client parks it and offers it again), or refused with an -ERR that leaves the connection open.
 */
export type SubscribeOutcome = 'ok' | 'wait' | { readonly err: ProtocolError; readonly detail: string };

const LISTENER_LIMIT_WARN = new ThrottledWarn('listener_limit reached, subscriptions refused');

export class ClientSubscriptions {
  readonly bySid = new Map<string, Subscription>();

  constructor(
    /** The server's broker and logger (ClientContext's parts, client.ts). */
    private readonly ctx: { readonly broker: Broker; readonly logger: Logger },
    private readonly conn: Conn & { readonly cid: number },
  ) {}

  /** A SUB from a client allowed `permissions` (undefined: everything) and `max` subscriptions (undefined: no limit). */
  subscribe(sub: ParkedSub, permissions: ClientPermissions | undefined, max: number | undefined): SubscribeOutcome {
    const { subject, queue, sid } = sub;
    if (!isValidSubject(subject) || (queue !== undefined && !isValidQueueName(queue)))
      return { err: Errors.invalidSubject, detail: subject };
    if (permissions !== undefined && !permissions.canSubscribe(subject, queue)) {
      return { err: permissionsViolationForSubscription(subject, queue), detail: 'subscription not permitted' };
    }
    // Checked before the repeated-sid rule: at the limit nats-server refuses even a SUB reusing a live sid.
    if (max !== undefined && this.bySid.size >= max)
      return { err: Errors.maxSubscriptions, detail: `connection has ${this.bySid.size}` };
    // A repeated sid is ignored, as nats-server does.
    if (this.bySid.has(sid)) return 'ok';
    const broker = this.ctx.broker;
    const created = new Subscription(this.conn, subject, queue, sid);
    const added = broker.add(created);
    // The gateway asks the service for room first: nothing after this SUB is parsed or read until it is offered again.
    if (added === 'wait') return 'wait';
    if (added === 'listener_limit') {
      // Throttled: a client can send SUBs faster than a log should grow. A gateway's quota logs its own reason.
      if (broker.listenerCount >= broker.listenerLimit)
        LISTENER_LIMIT_WARN.note(this.ctx.logger, { cid: this.conn.cid, listener_limit: broker.listenerLimit });
      return { err: Errors.maxSubscriptions, detail: `service has ${broker.listenerCount} listeners` };
    }
    this.bySid.set(sid, created);
    return 'ok';
  }

  /** UNSUB: at once, or once the subscription has delivered `max` messages in all. */
  unsubscribe(sid: string, max: number | undefined): void {
    const sub = this.bySid.get(sid);
    if (sub === undefined) return;
    if (max !== undefined && max > 0 && sub.delivered < max) {
      sub.max = max;
    } else {
      this.bySid.delete(sid);
      this.ctx.broker.remove(sub);
    }
  }

  /** Ends subscription `sid` (a reload narrowed the permissions); false when it has none by that sid. */
  drop(sid: string): boolean {
    const sub = this.bySid.get(sid);
    if (sub === undefined) return false;
    this.bySid.delete(sid);
    this.ctx.broker.remove(sub);
    return true;
  }

  /** The broker ended `sub` (its UNSUB max reached). */
  expired(sub: Subscription): void {
    if (this.bySid.get(sub.sid) === sub) this.bySid.delete(sub.sid);
  }

  /** The client closed: every subscription leaves the broker. */
  removeAll(): void {
    for (const sub of this.bySid.values()) this.ctx.broker.remove(sub);
    this.bySid.clear();
  }
}
