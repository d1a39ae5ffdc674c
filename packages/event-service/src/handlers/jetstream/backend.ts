// The event store on JetStream (`[store] backend = "jetstream"`): appends acknowledged after JetStream's PubAck (so
// after the stream's replicas have them), duplicates refused by event id at any time, reads (reads.ts), `held` from
// the sinks' consumers (held.ts). Reaching JetStream and choosing its domain is connection.ts's, the streams
// stream-setup.ts's, the sinks' consumers and dead letters sink-queue.ts's and dead-letters.ts's.
import { headers, type NatsConnection, type NatsError, type PubAck } from 'nats';
import type { Logger } from '@event-broker/shared';
import type {
  AppendResult,
  DeliveryRecord,
  EventBackend,
  FeedRead,
  FeedResult,
  NewEvent,
  SinkQueue,
  SinkQueueOptions,
  StoredEvent,
} from '../event-backend.js';
import { openJetStreamApi, type HubInfo } from './connection.js';
import type { JetStreamDeps } from './deps.js';
import { HeldReader } from './held.js';
import { HEADERS, streamLayout } from './layout.js';
import { streamReads, type Reads } from './reads.js';
import { deadLetters, replay, sinkCounts } from './dead-letters.js';
import { JetStreamSinkQueue } from './sink-queue.js';
import { deadLettersStream, ensureStream, eventsStream } from './stream-setup.js';
import type { JetStreamStoreConfig } from './store-config.js';

// nats-server errors.json: what a PubAck error means for the one event it answers.
/** JSStreamWrongLastSequenceErrF: its subject already holds a message, i.e. the id was stored before. */
const WRONG_LAST_SEQUENCE = 10071;
/** JSStreamMessageExceedsMaximumErr: larger than the stream (or the server) accepts. */
const MESSAGE_TOO_LARGE = 10054;
/** JSStreamStoreFailedF ("maximum bytes exceeded" and the other store limits with discard new). */
const STORE_LIMIT = 10077;

export interface JetStreamBackendOptions extends HubInfo {
  /** A connection through the service's own broker (internal-port.ts), or how to make one (closed with the backend). */
  nc: NatsConnection | (() => Promise<NatsConnection>);
  /** `[store]`, defaults filled (store-config.ts jetStreamStoreConfig). */
  config: JetStreamStoreConfig;
  logger: Logger;
}

/** Reaches JetStream, creates or checks both streams; rejects with a JetStreamStoreError saying what to change. */
export async function openJetStreamBackend(opts: JetStreamBackendOptions): Promise<EventBackend> {
  const owned = typeof opts.nc === 'function';
  const nc = typeof opts.nc === 'function' ? await opts.nc() : opts.nc;
  try {
    const api = await openJetStreamApi(nc, opts.config, opts);
    const layout = streamLayout(opts.config.stream);
    const logger = opts.logger;
    for (const want of [eventsStream(layout, opts.config), deadLettersStream(layout, opts.config)]) {
      const done = await ensureStream(api.jsm, want);
      logger.info(
        { stream: want.name, replicas: want.num_replicas, domain: api.domain.domain },
        done === 'created' ? 'JetStream stream created' : 'JetStream stream checked',
      );
    }
    return new JetStreamBackend({ nc, js: api.js, jsm: api.jsm, layout, logger }, opts.config, owned);
  } catch (err) {
    if (owned) await nc.close().catch(() => undefined);
    throw err;
  }
}

class JetStreamBackend implements EventBackend {
  readonly kind = 'jetstream';
  private readonly deps: JetStreamDeps;
  private readonly reads: Reads;
  private readonly heldReader: HeldReader;
  private readonly enc = new TextEncoder();

  constructor(
    base: Omit<JetStreamDeps, 'settled'>,
    private readonly config: JetStreamStoreConfig,
    private readonly ownsConnection: boolean,
  ) {
    this.heldReader = new HeldReader(base.jsm, base.layout, base.logger);
    this.deps = { ...base, settled: () => this.heldReader.settled() };
    this.reads = streamReads(base, config.requestTimeoutMs);
  }

  get held(): number {
    return this.heldReader.value;
  }

  refreshHeld(): Promise<number> {
    return this.heldReader.refresh();
  }

  /**
   * Each event published to its own subject (its routing and id: layout.ts) with its id as Nats-Msg-Id, all of the
   * group at once (one connection: JetStream stores them in order), resolved after every PubAck. A duplicate is
   * answered by JetStream: within the stream's duplicate window (`[store] duplicate_window`) by the PubAck
   * (`duplicate`, the first copy's seq: observed on nats-server 2.9.10), whatever its routing; later, the publish
   * expects its subject to be empty (Nats-Expected-Last-Subject-Sequence: 0) and the refusal names a duplicate, whose
   * seq is then read. That subject holds the routing, so what is not caught is a retry beyond the window whose routing
   * changed in between (a [handlers] reload changed a filter): it is stored a second time, delivered to its new
   * sinks, and get(id) reads the first copy. Otherwise an id is refused for as long as the stream keeps its first
   * copy, at no cost to an event that is new (measured: test/jetstream-append.test.ts).
   */
  async append(events: readonly NewEvent[]): Promise<AppendResult[]> {
    // Every subject first: a sink without a routing slot throws before anything of the group is published.
    const subjects = events.map((e) => this.deps.layout.event(e.id, e.sinks));
    const settled = await Promise.allSettled(events.map((e, i) => this.publish(e, subjects[i]!)));
    // Each event's own outcome: acknowledged (stored, or a duplicate) or refused by JetStream's answer, or unknown
    // (no answer: a timeout, the connection lost). What was acknowledged is stored whatever became of the rest, so
    // it is counted in `held` before a rejection.
    const results: AppendResult[] = [];
    let owed = 0;
    let unknown = 0;
    let firstUnknown: unknown;
    settled.forEach((s, i) => {
      const e = events[i]!;
      if (s.status === 'rejected') {
        if (unknown++ === 0) firstUnknown = s.reason;
        return;
      }
      results.push(s.value);
      if (s.value.error !== undefined) return;
      for (const sink of e.sinks) this.heldReader.know(sink);
      if (!s.value.duplicate && e.sinks.length > 0) owed++;
    });
    this.heldReader.added(owed);
    if (unknown > 0) {
      // The caller cannot be told which of these are stored: the group rejects, and its retry (same ids) is
      // answered a duplicate for each that was.
      const stored = results.filter((r) => r.error === undefined).length;
      throw new Error(
        `JetStream did not acknowledge ${unknown} of ${events.length} events (${stored} acknowledged): whether they are stored is unknown, and a retry with the same ids is safe: ${(firstUnknown as Error).message}`,
        { cause: firstUnknown },
      );
    }
    return results;
  }

  /**
   * One event's publish: its result, an `error` when JetStream's answer refused it (nothing of it stored), or a
   * rejection when no answer came (whether it is stored is unknown).
   */
  private async publish(e: NewEvent, subject: string): Promise<AppendResult> {
    const { js, layout } = this.deps;
    const h = headers();
    h.set(HEADERS.type, e.type);
    h.set(HEADERS.sinks, e.sinks.join(','));
    let ack: PubAck;
    try {
      ack = await js.publish(subject, this.enc.encode(e.body), {
        msgID: e.id,
        headers: h,
        expect: { streamName: layout.stream, lastSubjectSequence: 0 },
        timeout: this.config.requestTimeoutMs,
      });
    } catch (err) {
      const apiError = (err as NatsError).api_error;
      // No answer from JetStream: the outcome is unknown.
      if (apiError === undefined) throw err;
      if (apiError.err_code === WRONG_LAST_SEQUENCE) {
        // A failed read here is an unknown outcome too (rejected: the retry asks again).
        const first = await this.reads.atSubject(subject, e.id);
        if (first !== undefined) return { id: e.id, seq: first.seq, duplicate: true };
        return refusedAlone(
          e,
          'its subject held a message when it was published (this id stored before), gone when read back (removed by max_age or deleted meanwhile): not stored; publishing it again stores it',
        );
      }
      if (apiError.err_code === MESSAGE_TOO_LARGE)
        return refusedAlone(e, 'larger than the stream accepts (max_payload)');
      if (apiError.err_code === STORE_LIMIT) {
        return refusedAlone(
          e,
          `the stream is full (${apiError.description}): [store] max_bytes refuses new events once reached`,
        );
      }
      // Any other answer refused this event alone: JetStream answered, so it is not stored.
      return refusedAlone(e, `JetStream refused it: ${apiError.description} (err_code ${apiError.err_code})`);
    }
    return { id: e.id, seq: ack.seq, duplicate: ack.duplicate };
  }

  get(id: string): Promise<StoredEvent | undefined> {
    return this.reads.get(id);
  }

  feed(q: FeedRead): Promise<FeedResult> {
    return this.reads.feed(q);
  }

  lastSeq(): Promise<number> {
    return this.reads.lastSeq();
  }

  sinkQueue(sink: string, opts: SinkQueueOptions): SinkQueue {
    this.heldReader.know(sink);
    return new JetStreamSinkQueue(this.deps, sink, { ...opts, ackWaitMs: this.config.ackWaitMs });
  }

  deadLetters(opts?: { sink?: string; after?: number; limit?: number }): Promise<DeliveryRecord[]> {
    return deadLetters(this.deps, opts);
  }

  replay(sink: string, ids?: readonly string[]): Promise<number> {
    return replay(this.deps, sink, ids);
  }

  sinkCounts(sink: string): Promise<{ pending: number; dead: number }> {
    return sinkCounts(this.deps, sink);
  }

  async close(): Promise<void> {
    this.heldReader.close();
    await this.reads.close();
    if (this.ownsConnection) await this.deps.nc.drain().catch(() => undefined);
  }
}

function refusedAlone(e: NewEvent, why: string): AppendResult {
  return { id: e.id, seq: 0, duplicate: false, error: why };
}
