// An in-process connection of the process's own machinery (the service's health responder, the gateway's health
// probe): one subscription on the broker, no flow control, not counted as a user's listener. What it does with a
// message is the subclass's deliver().
import { Subscription, type Broker, type Conn, type PublisherHandle } from './broker.js';

/**
 * The subject the event service answers with its server id, so a gateway attached over a leafnode link can prove a
 * message really travels to the service and back (the gateway's /healthz). One wire constant for both processes.
 */
export const HEALTH_SUBJECT = '$EVENTS.HEALTH';

// Nothing to pause: a system connection publishes a reply at a time.
const NO_PUBLISHER: PublisherHandle = Object.freeze({ id: 0, pause() {}, resume() {} });

export abstract class SystemConn implements Conn {
  readonly cid = 0;
  readonly echo = false;
  readonly noResponders = false;
  readonly publisher = NO_PUBLISHER;
  readonly system = true;
  private readonly sub: Subscription;

  /** Subscribes to `subject` (sid `sid`, in queue group `queue` when given) at once; close() unsubscribes. */
  constructor(
    protected readonly broker: Broker,
    subject: string,
    sid: string,
    queue?: string,
  ) {
    this.sub = new Subscription(this, subject, queue, sid);
    broker.add(this.sub);
  }

  abstract deliver(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer,
    from: Conn,
  ): void;

  /** Never subscribed with a max. */
  expired(): void {}

  close(): void {
    this.broker.remove(this.sub);
  }
}
