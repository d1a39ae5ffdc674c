// Event credit (issue 12, item 2): the event service parks a publisher at event_limit, and every external client
// reaches it through the gateway's one leafnode link, so a plain event over the link without credit would park the
// link, and with it every client of the gateway. Instead the gateway asks the service for room ahead of its
// clients' events (`$EVENTS.CREDIT.events`, shared server/credit.ts), spends one per plain event it hands to the
// link, and parks only the client that finds none left: that client's parser stops before the event and its reads
// pause (shared Client.unpark lets it go), as the service parks a direct publisher, while everyone else goes on.
// Requests (with a reply) are never parked: the service refuses them itself at the limit (EEVENT_LIMIT). A hub that
// does not answer credit (a plain nats-server, a service without its event intake) means no gate at all.
import {
  Uplink,
  type Broker,
  type Conn,
  type LeafMessage,
  type Logger,
  type PublishGate,
  type PublisherHandle,
  type Subscription,
} from '@event-broker/shared';
import { CreditChannel } from './credit-channel.js';

/** The event intake's subjects (event-service handlers/intake.ts `events.>`): the events credit counts. */
const EVENT_PREFIX = 'events.';
/**
 * What one request asks for. The service grants at most an eighth of event_limit to one holder (intake-room.ts), so
 * at the default limit (100,000) a steady publisher is served 256 at a time, and asks again at half of it.
 */
const WANT = 256;
/** A request unanswered this long (the service answers once room frees) is sent again, replacing it there. */
const ASK_TIMEOUT_MS = 2000;
/** Credit not spent for this long goes back: kept here, it is room no other publisher of the service can use. */
const IDLE_RETURN_MS = 1000;

/**
 * The gateway's link, telling the event credit of each plain event it takes for the hub: credit is spent where the
 * event really leaves, after the client's permissions and the hub's interest said yes, so a refused publish spends
 * nothing (the gate is asked before the permissions: shared Client.onPubAt).
 */
export class GatewayUplink extends Uplink {
  private spend: ((n: 1 | -1) => void) | undefined;
  private spentSeq = -1;

  /**
   * Calls `fn(1)` once per plain event on `events.…` handed to the hub, `fn(-1)` when one was dropped before it was
   * sent; undefined stops it.
   */
  onPlainEvent(fn: ((n: 1 | -1) => void) | undefined): void {
    this.spend = fn;
  }

  // deliver() comes here too (LeafPeer.deliver).
  override deliverAt(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    buf: Buffer,
    start: number,
    end: number,
    from: Conn,
  ): void {
    const spend = this.spend;
    // Spent as it is handed over, before the next publish is admitted (the link writes it a moment later), and once:
    // one message may reach us through several of the hub's interests (broker.seq tells them apart).
    if (
      spend !== undefined &&
      reply === undefined &&
      this.broker.seq !== this.spentSeq &&
      subject.startsWith(EVENT_PREFIX) &&
      !this.isClosed
    ) {
      this.spentSeq = this.broker.seq;
      spend(1);
    }
    super.deliverAt(sub, subject, reply, hdrLen, buf, start, end, from);
  }

  /** Dropped before it was sent (over the hub's max_payload once stamped): the service never spent it, nor do we. */
  protected override notSent(m: LeafMessage): void {
    if (this.spend !== undefined && m.reply === undefined && m.subject.startsWith(EVENT_PREFIX)) this.spend(-1);
  }
}

export interface EventCreditStats {
  /** The hub answers event credit (the service's intake runs): plain events are gated. */
  active: boolean;
  /** Credit in hand now: plain events the gateway may send before it asks again. */
  held: number;
  /** Requests awaiting their answer (0 or 1). */
  outstanding_asks: number;
  /** Credit messages exchanged with the service: requests and returns sent, answers received (each also in in_msgs and out_msgs). */
  messages_total: number;
  /** Clients parked before an event now, waiting for credit. */
  clients_held: number;
  granted_total: number;
  spent_total: number;
  returned_total: number;
  /** Times a client was parked for want of credit. */
  holds_total: number;
}

export class EventCredit implements PublishGate {
  private readonly channel: CreditChannel;
  private credit = 0;
  /** Ask again once credit falls to this: half of what the latest grant brought it to. */
  private lowWater = 0;
  /** Clients parked before an event, in the order they were parked. */
  private readonly parked = new Set<PublisherHandle>();
  private removeGate: (() => void) | undefined;
  private releasing = false;
  private releaseScheduled = false;
  private askScheduled = false;
  private spentSinceCheck = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  /** After an answer of 0 with clients still parked (the service has room again soon, or a bug): ask again later. */
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly counts = { granted: 0, spent: 0, returned: 0, parks: 0 };

  constructor(
    private readonly broker: Broker,
    private readonly uplink: GatewayUplink,
    private readonly logger: Logger,
  ) {
    this.channel = new CreditChannel(broker, uplink, {
      kind: 'events',
      askTimeoutMs: ASK_TIMEOUT_MS,
      granted: (k) => this.granted(k),
      activeChanged: (on) => (on ? this.activate() : this.deactivate()),
      linkChanged: (up) => this.linkChanged(up),
      timedOut: () => this.scheduleAsk(),
    });
    uplink.onPlainEvent((n) => (n === 1 ? this.spent() : this.refund()));
    if (this.channel.active) this.activate();
  }

  stats(): EventCreditStats {
    return {
      active: this.removeGate !== undefined,
      held: this.credit,
      outstanding_asks: this.channel.asking ? 1 : 0,
      messages_total: this.channel.messages,
      clients_held: this.parked.size,
      granted_total: this.counts.granted,
      spent_total: this.counts.spent,
      returned_total: this.counts.returned,
      holds_total: this.counts.parks,
    };
  }

  // --- PublishGate ---------------------------------------------------------------------------------------------

  admit(from: Conn, subject: string, reply: string | undefined): boolean {
    if (reply !== undefined || !subject.startsWith(EVENT_PREFIX)) return true;
    // Parked clients go first: a newcomer waits behind them (releasing: one of them is being offered its event).
    if (this.credit > 0 && (this.parked.size === 0 || this.releasing)) return true;
    const p = from.publisher;
    // Nothing in the gateway publishes events in-process; such a publisher could not be parked, and its event would
    // go up without credit, where the service's own gate decides.
    if (p.unpark === undefined) return true;
    if (!this.parked.has(p)) this.counts.parks++;
    this.parked.add(p);
    this.scheduleAsk();
    return false;
  }

  forget(from: Conn): void {
    this.parked.delete(from.publisher);
  }

  close(): void {
    this.uplink.onPlainEvent(undefined);
    this.channel.close();
    this.removeGate?.();
    this.removeGate = undefined;
    this.stopTimers();
  }

  // --- credit --------------------------------------------------------------------------------------------------

  /** A plain event left for the hub. */
  private spent(): void {
    if (this.removeGate === undefined || this.credit <= 0) return;
    this.credit--;
    this.counts.spent++;
    this.spentSinceCheck++;
    if (this.credit <= this.lowWater) this.scheduleAsk();
  }

  /** A spent event was dropped before it left: the service never counted it, so neither do we. */
  private refund(): void {
    if (this.removeGate === undefined) return;
    this.credit++;
    this.counts.spent--;
  }

  private granted(k: number): void {
    if (this.removeGate === undefined) return;
    if (k > 0) {
      this.credit += k;
      this.counts.granted += k;
      this.lowWater = Math.floor(this.credit / 2);
      this.armIdle();
      this.scheduleRelease();
    } else if (this.parked.size > 0) {
      // "k may be 0 only when the holder already has its share": having less than that here, the service counts
      // credit for us that we no longer have (an event it never got); say what is left, so it lets go of the rest.
      this.channel.have(this.credit);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.scheduleAsk(), ASK_TIMEOUT_MS).unref();
    }
  }

  private scheduleAsk(): void {
    if (this.askScheduled) return;
    this.askScheduled = true;
    // Never inside a publish being routed (a spend happens in the link's delivery): after it.
    queueMicrotask(() => {
      this.askScheduled = false;
      if (this.removeGate === undefined) return;
      if (this.parked.size > 0 || this.credit <= this.lowWater) this.channel.ask(WANT);
    });
  }

  /** Parked clients, oldest first, are offered their event while credit lasts; one that runs out parks again, last. */
  private scheduleRelease(): void {
    if (this.releaseScheduled) return;
    this.releaseScheduled = true;
    queueMicrotask(() => {
      this.releaseScheduled = false;
      this.release(() => this.credit > 0);
      if (this.parked.size > 0) this.scheduleAsk();
    });
  }

  private release(more: () => boolean): void {
    this.releasing = true;
    try {
      while (this.parked.size > 0 && more()) {
        const p = this.parked.values().next().value!;
        this.parked.delete(p);
        try {
          p.unpark!();
        } catch (err) {
          this.logger.error({ err: (err as Error).message }, 'unholding a client failed');
        }
      }
    } finally {
      this.releasing = false;
    }
  }

  /** Credit in hand but unused for IDLE_RETURN_MS goes back to the service. */
  private armIdle(): void {
    if (this.idleTimer !== undefined) return;
    this.spentSinceCheck = 0;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.credit <= 0 || this.removeGate === undefined) return;
      if (this.spentSinceCheck > 0 || this.parked.size > 0) {
        this.armIdle();
        return;
      }
      this.channel.giveBack(this.credit);
      this.counts.returned += this.credit;
      this.credit = 0;
      this.lowWater = 0;
    }, IDLE_RETURN_MS);
    this.idleTimer.unref();
  }

  // --- the hub and the link --------------------------------------------------------------------------------------

  private activate(): void {
    if (this.removeGate !== undefined) return;
    this.credit = 0;
    this.lowWater = 0;
    this.removeGate = this.broker.addGate(this);
    this.logger.info(
      { subject: this.channel.subject },
      'the upstream answers event credit: plain events are sent on credit, a client without it is held',
    );
  }

  /** The service stopped its intake (or the hub is not the service): no credit, no gate; parked clients go on. */
  private deactivate(): void {
    if (this.removeGate === undefined) return;
    this.removeGate();
    this.removeGate = undefined;
    this.credit = 0;
    this.lowWater = 0;
    this.stopTimers();
    this.logger.info(
      { subject: this.channel.subject, clients_held: this.parked.size },
      'the upstream no longer answers event credit: plain events are not gated',
    );
    this.release(() => true);
    this.parked.clear();
  }

  /**
   * Credit belongs to a link: the service forgot it when the old one closed. Through an outage plain events are
   * parked here (no credit), not buffered: sent after the reconnect without credit, more of them than the room would
   * park the new link, every client's traffic with it. Once up, parked clients ask at once.
   */
  private linkChanged(up: boolean): void {
    this.credit = 0;
    this.lowWater = 0;
    this.stopTimers();
    if (up && this.parked.size > 0) this.scheduleAsk();
  }

  private stopTimers(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
