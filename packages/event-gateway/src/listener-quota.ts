// Listener quota (issue 12, item 3): the link carries the clients' interest deduplicated (a thousand subscriptions
// to `orders.>` are one LS+), so the service cannot count them; the gateway asks the service for room under
// listener_limit (`$EVENTS.CREDIT.listeners`, shared server/credit.ts) and counts every external subscription
// against what was granted. A SUB that finds no quota is parked (nothing after it parsed, the client's reads paused)
// until the service answers; granted 0 means the service is full: that SUB gets nats-server's `-ERR 'maximum
// subscriptions exceeded'` and the connection stays open, as for max_subscriptions. A hub that does not answer
// (a plain nats-server) means no quota at all.
import {
  ThrottledWarn,
  type Broker,
  type Uplink,
  type Conn,
  type Logger,
  type PublisherHandle,
  type SubscribeGate,
  type Subscription,
} from '@event-broker/shared';
import { CreditChannel } from './credit-channel.js';

/**
 * Spare quota kept for the next SUBs, so a client subscribing in a burst rarely waits a round trip. Small: what the
 * gateway has unused is room the service's own clients cannot have (listener_limit defaults to 10,000).
 */
const PREFETCH = 32;
/** Ask ahead once spare quota falls under this. */
const LOW = 8;
/** An unanswered request (the service answers at once: the link went down) is sent again after this. */
const ASK_TIMEOUT_MS = 2000;
/** After the service said it is full, no asking ahead (a parked SUB still asks) for this long. */
const FULL_QUIET_MS = 1000;
/**
 * Spare quota is asked for ahead only while clients are subscribing, and what is spare goes back once none has for
 * this long: an idle gateway keeps exactly its clients' subscriptions, no room the service's own users could have.
 */
const IDLE_MS = 1000;

export interface ListenerQuotaStats {
  /** The hub answers listener credit (the service behind it): every client subscription counts against it. */
  active: boolean;
  /** Quota granted by the service for this link. */
  granted: number;
  /** Client subscriptions alive now, each counted once (not deduplicated). */
  used: number;
  /** Requests awaiting their answer (0 or 1). */
  outstanding_asks: number;
  /** Credit messages exchanged with the service: requests and returns sent, answers received (each also in in_msgs and out_msgs). */
  messages_total: number;
  /** SUBs parked now, waiting for the service's answer. */
  subscriptions_held: number;
  /** SUBs refused since start: the service's listener_limit was reached. */
  refused_total: number;
  /** Times a SUB was parked for the service's answer. */
  holds_total: number;
}

export class ListenerQuota implements SubscribeGate {
  private readonly channel: CreditChannel;
  private granted = 0;
  /** Clients with a SUB parked, in the order they were parked. */
  private readonly parked = new Set<PublisherHandle>();
  /** Set while parked SUBs are offered again: one of them goes ahead of those still parked. */
  private releasing = false;
  /** Set while parked SUBs are offered again after the service said it is full: they are refused. */
  private refusing = false;
  private quietUntil = 0;
  private removeGate: (() => void) | undefined;
  private askScheduled = false;
  private settleScheduled = false;
  /** Whether the shortfall after a reconnect was logged (once per link). */
  private shortfallLogged = false;
  private refused = 0;
  private parks = 0;
  /** When a SUB was last admitted: asking ahead, and keeping spare, only while they come. */
  private lastSubAt = -Infinity;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly stopInterest: () => void;
  private readonly refusedWarn = new ThrottledWarn("subscription refused: the service's listener_limit is reached");

  constructor(
    private readonly broker: Broker,
    uplink: Uplink,
    private readonly logger: Logger,
  ) {
    this.channel = new CreditChannel(broker, uplink, {
      kind: 'listeners',
      askTimeoutMs: ASK_TIMEOUT_MS,
      granted: (k) => this.answered(k),
      activeChanged: (on) => (on ? this.activate() : this.deactivate()),
      linkChanged: (up) => this.linkChanged(up),
      timedOut: () => this.scheduleAsk(),
    });
    // An unsubscribe (or a client gone with its subscriptions) frees quota: for a parked SUB, or back to the service.
    this.stopInterest = broker.onInterestChange((sub, delta) => {
      if (delta < 0 && this.removeGate !== undefined && sub.conn.remote !== true && sub.conn.system !== true)
        this.scheduleSettle();
    });
    if (this.channel.active) this.activate();
  }

  /** Client subscriptions alive: the gateway's broker counts no listeners but theirs (the link's and its own are apart). */
  private get used(): number {
    return this.broker.listenerCount;
  }

  stats(): ListenerQuotaStats {
    return {
      active: this.removeGate !== undefined,
      granted: this.granted,
      used: this.used,
      outstanding_asks: this.channel.asking ? 1 : 0,
      messages_total: this.channel.messages,
      subscriptions_held: this.parked.size,
      refused_total: this.refused,
      holds_total: this.parks,
    };
  }

  // --- SubscribeGate -------------------------------------------------------------------------------------------

  admitSub(sub: Subscription): 'ok' | 'wait' | 'refuse' {
    const spare = this.granted - this.used;
    // Parked SUBs go first: a newcomer waits behind them.
    if (spare > 0 && (this.parked.size === 0 || this.releasing || this.refusing)) {
      this.lastSubAt = Date.now();
      this.armIdle();
      if (spare - 1 < LOW) this.scheduleAsk();
      return 'ok';
    }
    const p = sub.conn.publisher;
    if (this.refusing || p.unpark === undefined) {
      this.refused++;
      this.refusedWarn.note(this.logger, { granted: this.granted, used: this.used });
      return 'refuse';
    }
    this.parked.add(p);
    this.parks++;
    this.scheduleAsk();
    return 'wait';
  }

  forget(conn: Conn): void {
    this.parked.delete(conn.publisher);
  }

  close(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.stopInterest();
    this.channel.close();
    this.removeGate?.();
    this.removeGate = undefined;
  }

  // --- quota ---------------------------------------------------------------------------------------------------

  private scheduleAsk(): void {
    if (this.askScheduled) return;
    this.askScheduled = true;
    queueMicrotask(() => {
      this.askScheduled = false;
      if (this.removeGate === undefined) return;
      const spare = this.granted - this.used;
      const parked = this.parked.size;
      const now = Date.now();
      // A margin only while clients are subscribing, and not just after the service said it is full.
      const margin = now - this.lastSubAt < IDLE_MS && now >= this.quietUntil ? PREFETCH : 0;
      if (parked === 0 && spare >= (margin > 0 ? LOW : 0)) return;
      // Enough for every parked SUB, the clients' subscriptions not yet covered (after a reconnect), and the margin.
      const want = parked + margin - spare;
      if (want > 0) this.channel.ask(want);
    });
  }

  private answered(k: number): void {
    if (this.removeGate === undefined) return;
    this.granted += k;
    if (this.granted < this.used && !this.shortfallLogged) {
      this.shortfallLogged = true;
      this.logger.warn(
        { granted: this.granted, subscriptions: this.used },
        "the service granted fewer listeners than the gateway's clients hold: existing subscriptions are kept, new ones are refused until they fit",
      );
    }
    if (k === 0) this.quietUntil = Date.now() + FULL_QUIET_MS;
    this.release(k === 0);
    if (this.parked.size > 0) this.scheduleAsk();
  }

  /**
   * Parked SUBs, oldest first, are offered again while quota lasts; `full` (the service answered 0): the rest too,
   * and refused. A client offered its SUB goes on parsing and may be parked again, last.
   */
  private release(full: boolean): void {
    const offer = (p: PublisherHandle) => {
      this.parked.delete(p);
      try {
        p.unpark!();
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'unholding a client failed');
      }
    };
    this.releasing = true;
    try {
      while (this.parked.size > 0 && this.granted > this.used) offer(this.parked.values().next().value!);
    } finally {
      this.releasing = false;
    }
    if (!full) return;
    this.refusing = true;
    try {
      while (this.parked.size > 0) offer(this.parked.values().next().value!);
    } finally {
      this.refusing = false;
    }
  }

  /** Subscriptions went: a parked SUB may now fit; spare beyond twice the margin goes back to the service. */
  private scheduleSettle(): void {
    if (this.settleScheduled) return;
    this.settleScheduled = true;
    queueMicrotask(() => {
      this.settleScheduled = false;
      if (this.removeGate === undefined) return;
      this.release(false);
      const spare = this.granted - this.used;
      if (spare > 2 * PREFETCH && this.parked.size === 0) {
        const back = spare - PREFETCH;
        this.granted -= back;
        this.channel.giveBack(back);
      }
    });
  }

  /** Once no SUB has come for IDLE_MS, spare quota goes back to the service. */
  private armIdle(): void {
    if (this.idleTimer !== undefined) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.removeGate === undefined) return;
      if (Date.now() - this.lastSubAt < IDLE_MS || this.parked.size > 0 || this.channel.asking) {
        this.armIdle();
        return;
      }
      const spare = this.granted - this.used;
      if (spare <= 0) return;
      this.granted -= spare;
      this.channel.giveBack(spare);
    }, IDLE_MS);
    this.idleTimer.unref();
  }

  // --- the hub and the link --------------------------------------------------------------------------------------

  private activate(): void {
    if (this.removeGate !== undefined) return;
    this.granted = 0;
    this.shortfallLogged = false;
    this.removeGate = this.broker.setSubscribeGate(this);
    this.logger.info(
      { subject: this.channel.subject, subscriptions: this.used },
      'the upstream answers listener credit: client subscriptions count toward its listener_limit',
    );
    this.scheduleAsk();
  }

  /** The hub no longer answers: no quota, no gate; parked SUBs go on. */
  private deactivate(): void {
    if (this.removeGate === undefined) return;
    this.removeGate();
    this.removeGate = undefined;
    this.granted = 0;
    this.logger.info(
      { subject: this.channel.subject },
      'the upstream no longer answers listener credit: client subscriptions are not counted there',
    );
    while (this.parked.size > 0) {
      const p = this.parked.values().next().value!;
      this.parked.delete(p);
      try {
        p.unpark!();
      } catch (err) {
        this.logger.error({ err: (err as Error).message }, 'unholding a client failed');
      }
    }
  }

  /**
   * A new link: the service took back what the old one was granted, so the quota is asked for again, for every
   * subscription the clients have. Down: what was granted keeps admitting (the service is asked again once up).
   */
  private linkChanged(up: boolean): void {
    if (!up || this.removeGate === undefined) return;
    this.granted = 0;
    this.shortfallLogged = false;
    this.quietUntil = 0;
    this.scheduleAsk();
  }
}
