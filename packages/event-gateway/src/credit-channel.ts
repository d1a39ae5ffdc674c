// One kind of credit (shared server/credit.ts) as the gateway asks for it: whether the hub answers it at all (its
// own subscription to `$EVENTS.CREDIT.<kind>`: the event service's, never a plain nats-server's), one request at a
// time with a reply on a `_GWH` inbox whose interest goes upstream like the health probe's, re-asked after a timeout,
// and returns. What the credit admits is event-credit.ts's and listener-quota.ts's.
import { randomBytes } from 'node:crypto';
import {
  MAX_CREDIT,
  SystemConn,
  creditSubject,
  parseCreditGrant,
  type Broker,
  type CreditKind,
  type Uplink,
} from '@event-broker/shared';
import { HEALTH_INBOX_ROOT } from './health.js';

export interface CreditChannelOptions {
  kind: CreditKind;
  /** The service's answer, `k` of what was asked (0: nothing now). Late answers count too: the service granted them. */
  granted(k: number): void;
  /** The hub started or stopped answering this kind (its subscription came or went). */
  activeChanged(active: boolean): void;
  /** The link came up (a new link: the service forgot the credit of the old one) or went down. */
  linkChanged(up: boolean): void;
  /** The request went unanswered for `askTimeoutMs`. */
  timedOut(): void;
  askTimeoutMs: number;
}

export class CreditChannel extends SystemConn {
  /** `$EVENTS.CREDIT.<kind>`. */
  readonly subject: string;
  /** Credit messages exchanged with the service since start: requests and returns sent, answers received. */
  messages = 0;
  private readonly inbox: string;
  private next = 0;
  /** The reply subject of the request awaiting its answer. */
  private current: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private on: boolean;
  private checkScheduled = false;
  private readonly stops: Array<() => void> = [];

  constructor(
    broker: Broker,
    private readonly uplink: Uplink,
    private readonly opts: CreditChannelOptions,
  ) {
    // Random, and its own (not the health probe's): the health request, which a `>` subscriber sees, names the probe's
    // inbox, never this one; and no client may read or publish under `_GWH` (reply-subjects.ts), so no answer is forged.
    const inbox = `${HEALTH_INBOX_ROOT}.${randomBytes(16).toString('base64url')}`;
    super(broker, `${inbox}.*`, `credit-${opts.kind}`);
    this.inbox = inbox;
    this.subject = creditSubject(opts.kind);
    this.on = this.hubAnswers();
    this.stops.push(
      broker.onInterestChange((sub) => {
        // Only the hub's own subscription to the subject: a `>` a nats-server hub relays for one of its clients
        // would answer nothing, and parking publishers for an answer that never comes is worse than no credit.
        if (sub.conn === uplink && sub.queue === undefined && sub.subject === this.subject) this.scheduleCheck();
      }),
      uplink.onStateChange((e) => {
        if (e.type === 'closed') return;
        this.forgetAsk();
        this.opts.linkChanged(e.type === 'up');
      }),
    );
  }

  /** The hub answers this kind of credit: the service behind it runs what needs it. */
  get active(): boolean {
    return this.on;
  }

  /** A request awaits its answer. */
  get asking(): boolean {
    return this.current !== undefined;
  }

  /** Asks for `want` (at most one request awaiting its answer); false when none was sent. */
  ask(want: number): boolean {
    if (this.current !== undefined || !this.on || !this.uplink.up) return false;
    const reply = `${this.inbox}.${++this.next}`;
    this.current = reply;
    this.timer = setTimeout(() => {
      if (this.current !== reply) return;
      this.current = undefined;
      this.timer = undefined;
      this.opts.timedOut();
    }, this.opts.askTimeoutMs);
    this.timer.unref();
    this.send(reply, `{"want":${Math.max(1, Math.min(MAX_CREDIT, Math.floor(want)))}}`);
    return true;
  }

  /** Gives `n` back: room the service may give others. */
  /** Tells the service how much credit is left here: it keeps no more than that for this link (drift heals). */
  have(n: number): void {
    if (!this.on || !this.uplink.up) return;
    this.send(undefined, `{"have":${Math.min(Math.max(0, Math.floor(n)), MAX_CREDIT)}}`);
  }

  giveBack(n: number): void {
    if (!this.on || !this.uplink.up) return;
    for (let left = Math.floor(n); left > 0; left -= MAX_CREDIT)
      this.send(undefined, `{"return":${Math.min(left, MAX_CREDIT)}}`);
  }

  deliver(_sub: unknown, subject: string, _reply: string | undefined, hdrLen: number, msg: Buffer): void {
    const g = parseCreditGrant(msg.subarray(hdrLen));
    if (g === undefined) return;
    this.messages++;
    if (subject === this.current) this.forgetAsk();
    this.opts.granted(g.granted);
  }

  override close(): void {
    super.close();
    this.forgetAsk();
    for (const stop of this.stops) stop();
  }

  private send(reply: string | undefined, json: string): void {
    this.messages++;
    this.broker.publish(this, this.subject, reply, 0, Buffer.from(json));
  }

  private forgetAsk(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = undefined;
  }

  private hubAnswers(): boolean {
    return this.uplink.subs.has(this.subject);
  }

  /** After the interest change that prompted it (a link's LS+ burst, an LS-), not inside the broker's index update. */
  private scheduleCheck(): void {
    if (this.checkScheduled) return;
    this.checkScheduled = true;
    queueMicrotask(() => {
      this.checkScheduled = false;
      const on = this.hubAnswers();
      if (on === this.on) return;
      this.on = on;
      if (!on) this.forgetAsk();
      this.opts.activeChanged(on);
    });
  }
}
