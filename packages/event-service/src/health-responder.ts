// Answers `$EVENTS.HEALTH` requests with the service's id, so a gateway attached over a leafnode link can prove
// that a message really travels to the service and back (its /healthz), not merely that a socket is open.
import { HEALTH_SUBJECT, SystemConn, type Broker } from '@event-broker/shared';

export class HealthResponder extends SystemConn {
  private readonly answer: Buffer;

  /** `queue`: with remotes, one instance of several answers (leafnode/remotes.ts SHARED_WORK_QUEUES). */
  constructor(broker: Broker, serverId: string, queue?: string) {
    super(broker, HEALTH_SUBJECT, 'health', queue);
    this.answer = Buffer.from(JSON.stringify({ server_id: serverId, ok: true }));
  }

  deliver(_sub: unknown, _subject: string, reply: string | undefined): void {
    // The reply goes out after the request's own routing is done (the broker's seq belongs to that publish).
    if (reply !== undefined) queueMicrotask(() => this.broker.publish(this, reply, undefined, 0, this.answer));
  }
}
