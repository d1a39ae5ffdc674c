// The service's interest as leaf links see it: how many subscriptions have each (subject, queue) pair, kept from
// the broker's interest changes. Links use it to send LS+/LS- to their leaf; what each link says is link.ts's.
import type { Broker, Conn, Subscription } from '../server/broker.js';

/** One subject (and queue group) somebody is interested in. */
export interface Interest {
  readonly key: string;
  readonly subject: string;
  readonly queue: string | undefined;
  /** Subscriptions having it, every connection's (leaf links' included). */
  count: number;
}

/** Told of each change of an interest, with the connection whose subscription caused it. */
export interface InterestObserver {
  interestChanged(interest: Interest, delta: 1 | -1, by: Conn): void;
}

/** nats-server keys leaf interest as `subject` or `subject queue` (leafnode.go keyFromSub); so do we. */
export function interestKey(subject: string, queue: string | undefined): string {
  return queue === undefined ? subject : `${subject} ${queue}`;
}

export class InterestTable {
  private readonly interests = new Map<string, Interest>();
  private readonly observers = new Set<InterestObserver>();
  private readonly stop: () => void;

  constructor(broker: Broker) {
    this.stop = broker.onInterestChange((sub, delta) => this.change(sub, delta));
  }

  /** Every current interest (for a link's first LS+ burst). */
  values(): IterableIterator<Interest> {
    return this.interests.values();
  }

  observe(o: InterestObserver): void {
    this.observers.add(o);
  }

  unobserve(o: InterestObserver): void {
    this.observers.delete(o);
  }

  close(): void {
    this.stop();
    this.observers.clear();
  }

  private change(sub: Subscription, delta: 1 | -1): void {
    const key = interestKey(sub.subject, sub.queue);
    let it = this.interests.get(key);
    if (it === undefined) {
      if (delta < 0) return;
      it = { key, subject: sub.subject, queue: sub.queue, count: 0 };
      this.interests.set(key, it);
    }
    it.count += delta;
    if (it.count <= 0) this.interests.delete(key);
    for (const o of this.observers) o.interestChanged(it, delta, sub.conn);
  }
}
