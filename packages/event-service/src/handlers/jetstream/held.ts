// `held` on JetStream: the events not yet delivered to every sink they were routed to (what event_limit bounds),
// read from the sinks' durable consumers. Each consumer filters on its sink's routing slot (layout.ts), so its
// num_pending (not yet claimed) plus num_ack_pending (claimed, unsettled) is exactly what that sink still owes. The
// events held are the union of those backlogs; `held` is the largest of them, a lower bound of the union (an event
// owed to two sinks counts once in each; the sum would be an upper bound). The exact union would need each message's
// state across consumers, which JetStream does not keep in one place: reading it means scanning the backlogs, not
// cheap at every publish. Every instance reads the same consumers, so what another instance delivers counts here
// too: hence the poll beside the refreshes after our own appends and settles.
import type { JetStreamManager } from 'nats';
import type { Logger } from '@event-broker/shared';
import type { StreamLayout } from './layout.js';

/** How often `held` is re-read when nothing here changed it: other instances deliver too. */
export const HELD_POLL_MS = 250;
/** A settle triggers a refresh at most this often (a busy sink settles thousands a second). */
const SETTLE_DEBOUNCE_MS = 20;
/** nats-server errors.json JSConsumerNotFoundErr: the sink's consumer is not made yet. */
const CONSUMER_NOT_FOUND = 10014;

export class HeldReader {
  /** As last read, plus what our appends added since. */
  value = 0;
  private readonly sinks = new Set<string>();
  private running: Promise<number> | undefined;
  private again = false;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly layout: StreamLayout,
    private readonly logger: Logger,
  ) {
    this.poll = setInterval(() => void this.refresh().catch(() => undefined), HELD_POLL_MS);
    this.poll.unref();
  }

  /** A sink whose consumer counts (named by a sink queue, or by an appended event's routing). */
  know(sink: string): void {
    this.sinks.add(sink);
  }

  /** Our appends stored `n` new events owed to some sink: counted at once, corrected by the refresh that follows. */
  added(n: number): void {
    if (n === 0) return;
    this.value += n;
    void this.refresh().catch(() => undefined);
  }

  /** A delivery settled: a refresh soon (debounced). */
  settled(): void {
    if (this.debounce !== undefined || this.closed) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.refresh().catch(() => undefined);
    }, SETTLE_DEBOUNCE_MS);
    this.debounce.unref();
  }

  /** Re-reads now; one read at a time, and a read asked for during one runs after it (it may miss what changed). */
  refresh(): Promise<number> {
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = this.read().finally(() => {
      this.running = undefined;
      if (this.again && !this.closed) {
        this.again = false;
        void this.refresh().catch(() => undefined);
      }
    });
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
  }

  private async read(): Promise<number> {
    if (this.closed) return this.value;
    const owed = await Promise.all(
      [...this.sinks].map(async (sink) => {
        try {
          const ci = await this.jsm.consumers.info(this.layout.stream, this.layout.durable(sink));
          return ci.num_pending + ci.num_ack_pending;
        } catch (err) {
          if ((err as { api_error?: { err_code?: number } }).api_error?.err_code === CONSUMER_NOT_FOUND) return 0;
          this.logger.debug({ sink, err: (err as Error).message }, 'held: reading the sink consumer failed');
          throw err;
        }
      }),
    );
    this.value = owed.reduce((a, b) => Math.max(a, b), 0);
    return this.value;
  }
}
