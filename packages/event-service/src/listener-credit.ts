// Answers `$EVENTS.CREDIT.listeners` (shared server/credit.ts): a gateway asks for room under listener_limit before
// admitting its clients' subscriptions, so each of them counts toward the limit although the link carries only
// deduplicated interest (issue 12: one gateway client made 20,000 subscriptions in the service). What is granted
// counts as listeners (Broker.listenerCount) until returned or the link closes.
import { SystemConn, creditSubject, parseCreditMessage, type Broker, type Conn } from '@event-broker/shared';

export class ListenerCreditResponder extends SystemConn {
  // A plain subscription even with remotes: credit belongs to a gateway's link to this instance, so its interest is
  // kept from the hub (leafnode/remotes.ts keptLocal) and only gateways attached here ask.
  constructor(broker: Broker) {
    super(broker, creditSubject('listeners'), 'listener-credit');
  }

  deliver(_sub: unknown, _subject: string, reply: string | undefined, hdrLen: number, msg: Buffer, from: Conn): void {
    const m = parseCreditMessage(msg.subarray(hdrLen));
    // Only a gateway's link is granted listener credit (server/credit.ts): a client subscribes for itself and counts as
    // it does; a nats-server leaf asks for none, and one of its clients must not take the limit in its name.
    if (m !== undefined && from.remote === true && from.publisher.takesCredit === true) {
      if ('return' in m) {
        this.broker.returnListeners(from, m.return);
        return;
      }
      if ('have' in m) {
        this.broker.listenersLeft(from, m.have);
        return;
      }
      if (reply !== undefined) this.answer(reply, this.broker.grantListeners(from, m.want));
      return;
    }
    if (reply !== undefined) this.answer(reply, 0);
  }

  private answer(reply: string, granted: number): void {
    const body = Buffer.from(JSON.stringify({ granted }));
    // After the request's own routing is done (the broker's seq belongs to that publish).
    queueMicrotask(() => this.broker.publish(this, reply, undefined, 0, body));
  }
}
