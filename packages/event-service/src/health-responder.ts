// Answers `$EVENTS.HEALTH` requests with the service's id, so a gateway attached over a leafnode link can prove
// that a message really travels to the service and back (its /healthz), not merely that a socket is open.
import { Subscription, type Broker, type Conn, type PublisherHandle } from '@event-broker/shared';

/** The subject a gateway's health probe sends its request to. */
export const HEALTH_SUBJECT = '$EVENTS.HEALTH';

const NO_PUBLISHER: PublisherHandle = Object.freeze({ id: 0, pause() {}, resume() {} });

export class HealthResponder implements Conn {
  readonly cid = 0;
  readonly echo = false;
  readonly noResponders = false;
  readonly publisher = NO_PUBLISHER;
  readonly system = true;
  private readonly sub: Subscription;
  private readonly answer: Buffer;

  constructor(
    private readonly broker: Broker,
    serverId: string,
  ) {
    this.answer = Buffer.from(JSON.stringify({ server_id: serverId, ok: true }));
    this.sub = new Subscription(this, HEALTH_SUBJECT, undefined, 'health');
    broker.add(this.sub);
  }

  deliver(_sub: Subscription, _subject: string, reply: string | undefined): void {
    // The reply goes out after the request's own routing is done (the broker's seq belongs to that publish).
    if (reply !== undefined) queueMicrotask(() => this.broker.publish(this, reply, undefined, 0, this.answer));
  }

  expired(): void {}

  close(): void {
    this.broker.remove(this.sub);
  }
}
