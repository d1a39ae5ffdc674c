// A sink's deliveries on JetStream: a durable pull consumer (layout.durable(sink)) on the events stream, shared by
// every instance, so any instance claims what is owed and JetStream gives each message to one claimant at a time.
// A claim is a message delivered and not yet acked: acked after the receiver's 2xx, nak'd with a delay to retry
// (its delivery count is the attempts), or copied to the dead-letter stream and then acked. A claim left unsettled
// (the instance died) goes to another after the ack wait; one whose POST runs long is kept alive meanwhile.
//
// Order: max_ack_pending = maxInFlight, so with 1 JetStream hands out one message at a time, in stream order, and
// a nak'd one (retrying after its delay) still counts as pending: nothing after it is handed out before it settles.
// It is the consumer's, so every instance's: one whose maxInFlight differs is refused while another uses the
// consumer (createOrCheck), never allowed to change the others' order silently.
//
// The consumer's filter is the sink's routing slot (layout.ts sinkFilter): it sees the events routed to this sink and
// its replay copies, nothing else, so a sink that wants few events never pulls the rest. The Event-Sinks header is
// checked too, as a safety net: a message that does not name this sink (not written by the backend) is acked unread.
//
// Attempts are JetStream's delivery count less one: a claim released by close() or lost with a crashed instance
// counts as an attempt too (its POST may have gone out). next() waits at least a second when nothing is owed: the
// client's shortest pull expiry.
import { AckPolicy, DeliverPolicy, headers as natsHeaders, nanos } from 'nats';
import type { Consumer, ConsumerConfig, ConsumerInfo, ConsumerMessages, JsMsg, Subscription } from 'nats';
import type { Delivery, SinkQueue, SinkQueueOptions } from '../event-backend.js';
import type { JetStreamDeps } from './deps.js';
import { HEADERS } from './layout.js';
import { DEFAULT_ACK_WAIT_MS } from './store-config.js';

export interface JetStreamSinkQueueOptions extends SinkQueueOptions {
  /**
   * How long JetStream waits for a claim's settlement before handing it to another instance: how soon a crashed
   * instance's claims are delivered again. Claims are kept alive while their POST runs (default `[store] ack_wait`'s).
   */
  ackWaitMs?: number;
}

/** The client's shortest pull expiry: next() waits at least this long when nothing is owed. */
const MIN_PULL_MS = 1000;
/** A batch's messages after its first are pulled within this (they are usually there at once). */
const REST_PULL_MS = 1000;

/** JetStream's header with a message's id: the event id on an event (jsstore's append sets it). */
const MSG_ID = 'Nats-Msg-Id';

export class JetStreamSinkQueue implements SinkQueue {
  /** Deliveries claimed and not settled, and their messages. */
  private readonly claims = new Map<Delivery, JsMsg>();
  /** Pulls in progress, stopped by close(). */
  private readonly pulls = new Set<ConsumerMessages>();
  private consumer: Promise<Consumer> | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private replays: Subscription | undefined;
  private closed = false;
  private readonly ackWaitMs: number;
  private readonly durable: string;
  private readonly filter: string;

  constructor(
    private readonly deps: JetStreamDeps,
    private readonly sink: string,
    private readonly opts: JetStreamSinkQueueOptions,
  ) {
    this.ackWaitMs = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    this.durable = deps.layout.durable(sink);
    // A sink without a routing slot throws here, at its queue's creation.
    this.filter = deps.layout.sinkFilter(sink);
  }

  /** Creates the consumer or checks it (next() does too): rejects with the reason it cannot be used. */
  async ready(): Promise<void> {
    await this.ensure();
  }

  async next(max: number, waitMs: number): Promise<Delivery[]> {
    if (this.closed) return [];
    const consumer = await this.ensure();
    const deadline = Date.now() + waitMs;
    const out: Delivery[] = [];
    // A message the safety net skips leaves this pull empty: pull again while the wait lasts.
    while (!this.closed && out.length === 0) {
      const first = await this.pull(consumer, 1, Math.max(MIN_PULL_MS, deadline - Date.now()));
      let got = first;
      // The first says how many more wait undelivered: pull those at once rather than wait for a full batch.
      const more = first[0] === undefined ? 0 : Math.min(Math.max(1, max) - 1, first[0].info.pending);
      if (more > 0 && !this.closed) got = got.concat(await this.pull(consumer, more, REST_PULL_MS));
      let skipped = 0;
      for (const m of got) {
        const d = this.accept(m);
        if (d !== undefined) out.push(d);
        else skipped++;
      }
      // A skipped message was counted as owed by the consumer (the backend reads held from it).
      if (skipped > 0) this.deps.settled();
      if (Date.now() >= deadline) break;
    }
    if (this.closed) {
      // close() ran while pulling: what came meanwhile goes back too.
      for (const d of out) this.claims.get(d)?.nak();
      for (const d of out) this.claims.delete(d);
      return [];
    }
    if (out.length > 0) this.startKeepAlive();
    return out;
  }

  async ack(d: Delivery): Promise<void> {
    const m = this.take(d);
    await m.ackAck();
    this.deps.settled();
  }

  async retry(d: Delivery, delayMs: number, _error: string): Promise<void> {
    // JetStream keeps no error per message: the sink reports its last one (/handlerz), a dead letter its final one.
    this.take(d).nak(Math.max(0, Math.round(delayMs)));
    await Promise.resolve();
  }

  async dead(d: Delivery, error: string): Promise<void> {
    const m = this.take(d);
    const { layout, js } = this.deps;
    const h = natsHeaders();
    h.set(HEADERS.id, d.id);
    h.set(HEADERS.seq, String(d.seq));
    h.set(HEADERS.type, d.type);
    h.set(HEADERS.storedAt, String(storedAt(m)));
    h.set(HEADERS.error, error);
    h.set(HEADERS.attempts, String(d.attempts + 1));
    // The dead letter is stored before the claim is settled: a crash between the two leaves the claim owed, and the
    // repeat's dead letter (same message, same id) is a duplicate in the dead stream's window.
    try {
      await js.publish(layout.dead(this.sink, d.id), d.body, {
        headers: h,
        msgID: `${this.sink}.${m.info.streamSequence}`,
      });
    } catch (err) {
      // Not stored: the claim goes back, to be tried (and dead-lettered) again.
      m.nak();
      throw err;
    }
    await m.ackAck();
    this.deps.settled();
  }

  /** A replay of this sink's dead letters, made by any instance (dead-letters.ts replay announces it). */
  watchReplays(replayed: () => void): void {
    if (this.closed) return;
    this.replays?.unsubscribe();
    this.replays = this.deps.nc.subscribe(this.deps.layout.replayed(this.sink), {
      callback: (err) => {
        if (err === null && !this.closed) replayed();
      },
    });
  }

  /** Stops pulling; claims not settled go back to JetStream (nak) for this or another instance to take. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.replays?.unsubscribe();
    clearInterval(this.keepAlive);
    for (const p of this.pulls) p.stop();
    for (const m of this.claims.values()) m.nak();
    this.claims.clear();
    // The naks are on their way before the caller closes the connection.
    if (!this.deps.nc.isClosed()) await this.deps.nc.flush().catch(() => undefined);
  }

  /** The consumer, created with this config if missing, once per queue (a failure is tried again next time). */
  private ensure(): Promise<Consumer> {
    this.consumer ??= this.createOrCheck().catch((err: unknown) => {
      this.consumer = undefined;
      throw err;
    });
    return this.consumer;
  }

  private async createOrCheck(): Promise<Consumer> {
    const { jsm, js, layout, logger } = this.deps;
    const want: Partial<ConsumerConfig> = {
      durable_name: this.durable,
      description: `event sink ${this.sink}`,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.filter,
      ack_wait: nanos(this.ackWaitMs),
      max_ack_pending: Math.max(1, this.opts.maxInFlight),
      max_deliver: -1,
    };
    let info = await this.info();
    if (info === undefined) {
      try {
        info = await jsm.consumers.add(layout.stream, want);
      } catch (err) {
        // Another instance created it meanwhile (with settings of its own): check it as found.
        info = await this.info();
        if (info === undefined) throw this.problem(`cannot be created: ${(err as Error).message}`);
      }
    }
    const c = info.config;
    const fixed: string[] = [];
    if (c.ack_policy !== AckPolicy.Explicit) fixed.push(`ack_policy ${c.ack_policy}`);
    if (c.deliver_policy !== DeliverPolicy.All) fixed.push(`deliver_policy ${c.deliver_policy}`);
    if (c.deliver_subject !== undefined && c.deliver_subject !== '') fixed.push('a push consumer');
    if ((c.filter_subject ?? '') !== this.filter) fixed.push(`filter_subject ${c.filter_subject || 'none'}`);
    if (fixed.length > 0) {
      throw this.problem(
        `exists with other settings (${fixed.join(', ')}; want ack_policy explicit, deliver_policy all, pull, ` +
          `filter_subject ${this.filter}): delete it (nats consumer rm ${layout.stream} ${this.durable}) to have it created anew`,
      );
    }
    if (c.max_ack_pending !== want.max_ack_pending && (info.num_waiting > 0 || info.num_ack_pending > 0)) {
      // Another instance pulls from it now (this queue has pulled nothing yet): changing max_ack_pending under it
      // would change its order (1 keeps order, more does not), silently. Refused, and tried again by next(): once
      // the consumer is idle (each instance restarted or reloaded with the new value) the change goes through.
      throw this.problem(
        `is in use (pulls waiting or claims unsettled) with max_ack_pending ${c.max_ack_pending}, and this instance wants ${want.max_ack_pending} (max_in_flight × batch_size): every instance must give sink ${this.sink} the same max_in_flight and batch_size; the change is made once no instance uses the old value`,
      );
    }
    if (c.ack_wait !== want.ack_wait || c.max_ack_pending !== want.max_ack_pending) {
      // Settings an instance may change (a reload's max_in_flight) while no other uses the consumer.
      await jsm.consumers.update(layout.stream, this.durable, {
        ack_wait: want.ack_wait,
        max_ack_pending: want.max_ack_pending,
      });
      logger.warn(
        {
          sink: this.sink,
          consumer: this.durable,
          max_ack_pending: want.max_ack_pending,
          was: c.max_ack_pending,
          ack_wait_ms: this.ackWaitMs,
        },
        'sink consumer updated: every instance running this sink now claims with these settings',
      );
    }
    return js.consumers.get(layout.stream, this.durable);
  }

  private async info(): Promise<ConsumerInfo | undefined> {
    try {
      return await this.deps.jsm.consumers.info(this.deps.layout.stream, this.durable);
    } catch (err) {
      const message = (err as Error).message;
      if (message.includes('consumer not found')) return undefined;
      if (message.includes('stream not found')) throw this.problem(`has no stream ${this.deps.layout.stream}`);
      throw err;
    }
  }

  private problem(reason: string): Error {
    return new Error(`sink ${this.sink}: JetStream consumer ${this.durable} ${reason}`);
  }

  /** Up to `n` messages, waiting up to `expiresMs` for them; [] when none came or close() stopped it. */
  private async pull(consumer: Consumer, n: number, expiresMs: number): Promise<JsMsg[]> {
    const got: JsMsg[] = [];
    try {
      const iter = await consumer.fetch({ max_messages: n, expires: Math.max(MIN_PULL_MS, expiresMs) });
      this.pulls.add(iter);
      try {
        for await (const m of iter) got.push(m);
      } finally {
        this.pulls.delete(iter);
      }
    } catch (err) {
      // The consumer may be gone (deleted, the stream recreated): the next call checks it again, creating it if
      // need be. What came before the failure goes back.
      this.consumer = undefined;
      for (const m of got) m.nak();
      throw err;
    }
    return got;
  }

  /** A pulled message as a claim of this sink, or undefined when it is someone else's (acked unread). */
  private accept(m: JsMsg): Delivery | undefined {
    const h = m.headers;
    const routed = (h?.get(HEADERS.sinks) ?? '').split(',').map((s) => s.trim());
    if (!routed.includes(this.sink)) {
      this.deps.logger.warn(
        { sink: this.sink, subject: m.subject, seq: m.info.streamSequence },
        'sink skipped a message its routing header does not route to it',
      );
      m.ack();
      return undefined;
    }
    // A replay copy names the event it copies; an event is itself.
    const copySeq = h?.get(HEADERS.seq) ?? '';
    const id = copySeq === '' ? (h?.get(MSG_ID) ?? '') : (h?.get(HEADERS.id) ?? '');
    const seq = copySeq === '' ? m.info.streamSequence : Number(copySeq);
    if (id === '' || !Number.isSafeInteger(seq)) {
      // Not written by the backend (someone published under the store's subjects): nothing to deliver.
      this.deps.logger.warn(
        { sink: this.sink, subject: m.subject, seq: m.info.streamSequence },
        'sink skipped a message without an event id',
      );
      m.term();
      return undefined;
    }
    const d: Delivery = {
      seq,
      id,
      type: h?.get(HEADERS.type) ?? '',
      body: m.string(),
      // The delivery count includes this one; a replay copy is a new message, so a replayed dead letter starts at 0.
      attempts: m.info.redeliveryCount - 1,
    };
    this.claims.set(d, m);
    return d;
  }

  private take(d: Delivery): JsMsg {
    const m = this.claims.get(d);
    if (m === undefined) throw new Error(`sink ${this.sink}: delivery ${d.seq} is not claimed`);
    this.claims.delete(d);
    return m;
  }

  /** While claims are held, JetStream is told every third of the ack wait that they are being worked on. */
  private startKeepAlive(): void {
    if (this.keepAlive !== undefined) return;
    this.keepAlive = setInterval(
      () => {
        if (this.claims.size === 0) {
          clearInterval(this.keepAlive);
          this.keepAlive = undefined;
          return;
        }
        for (const m of this.claims.values()) m.working();
      },
      Math.max(100, Math.floor(this.ackWaitMs / 3)),
    );
    this.keepAlive.unref();
  }
}

/** Epoch ms the event was stored: a replay copy carries it, an event's own message was stored then. */
function storedAt(m: JsMsg): number {
  const carried = Number(m.headers?.get(HEADERS.storedAt) ?? '');
  return carried > 0 ? carried : Math.floor(m.info.timestampNanos / 1e6);
}
