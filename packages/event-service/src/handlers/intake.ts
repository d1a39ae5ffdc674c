// Event intake: an in-process subscriber on `events.>` that turns CloudEvents structured JSON messages into stored
// events. Messages are committed in groups (one transaction, one fsync each), and a request is answered only after
// its group's commit, like a JetStream publish ack. At most the backend's commitDepth groups are in flight (SQLite's
// writer thread takes 2, answered in order: store-writer.ts; JetStream 1, until every PubAck); what arrives meanwhile
// forms the next group, so groups grow with the load. An event the store cannot take fails alone (store.ts
// append), and every request is answered, whatever fails inside. Producers that are not NATS clients (intake-http)
// hand parsed events to submit(): the same checks, limit and group commit. Delivering is the sinks' concern.
import {
  creditSubject,
  eventCatalogue,
  type AuthContext,
  type EventCatalogue,
  type EventEnvelope,
  type EventFieldError,
} from '@event-broker/shared';
import type { Msg, Subscription } from '../api.js';
import { EventReplyErrorCode, EventStoreErrorCode } from '../error-codes.js';
import { stampAuthContext, writeAuthContext } from './authcontext.js';
import { clip, errorReplyText, MAX_FIELD_CHARS, MAX_REASON_CHARS } from './error-reply.js';
import { storeCodeOf } from './store-file.js';
import { feedColumns, type AppendResult } from './event-store.js';
import { IntakeRoom } from './intake-room.js';
import { logCommitFailure } from './intake-failure.js';

/**
 * The most events in one group commit. Groups are the events that arrived during the previous commit (~250 at the
 * bench's flat-out intake); this only bounds one transaction and the copy handed to the writer's thread when a
 * backlog built up behind a slow disk under a large event_limit.
 */
const MAX_GROUP = 4096;
/** While the store cannot be opened, paused publishers are re-checked this often (as often as it is re-opened). */
const RECHECK_MS = 1000;

/** The subject events are published on: `events.<type>`. */
export const INTAKE_SUBJECT = 'events.>';

import type {
  Answerable,
  IntakeConn,
  IntakeOptions,
  IntakeReplyError,
  IntakeResult,
  IntakeStats,
  Received,
} from './intake-types.js';

export type {
  IntakeConn,
  IntakeErrorCode,
  IntakeOptions,
  IntakeReplyError,
  IntakeResult,
  IntakeStats,
  IntakeStore,
} from './intake-types.js';

export class EventIntake {
  private sub: Subscription | undefined;
  private creditSub: Subscription | undefined;
  private removeGate: (() => void) | undefined;
  /** Room under event_limit: the gate that parks plain publishers, and the gateways' credit. */
  readonly room: IntakeRoom;
  private batch: Received[] = [];
  /** Groups sent to the store and not yet settled (at most the store's commitDepth). */
  private commits = 0;
  /**
   * The groups' events while they count as in flight: until each group's answer is taken, in the same turn as the
   * store's count takes them (store-writer.ts), before any reply lets a requester publish again.
   */
  private inFlight = 0;
  /** The last group's settlement; the groups settle in the order they were sent. */
  private commitDone: Promise<void> | undefined;
  private flushScheduled: NodeJS.Immediate | undefined;
  /** released() asks again: the store could not say whether parked publishers have room. */
  private recheck: NodeJS.Timeout | undefined;
  /** The latest group commit that failed as a whole, until one succeeds (or clearStoreFailure): /healthz. */
  private storeFailure: { at: number; error: Error } | undefined;
  private readonly catalogue: () => EventCatalogue;
  readonly stats: IntakeStats;

  constructor(
    private readonly conn: IntakeConn,
    private readonly opts: IntakeOptions,
  ) {
    this.catalogue = opts.catalogue ?? (() => eventCatalogue);
    this.room = new IntakeRoom({
      held: () => this.held,
      limit: opts.eventLimit,
      answer: (reply, granted) => this.replyJson(reply, { granted }),
      logger: opts.logger,
    });
    const room = this.room;
    this.stats = {
      accepted: 0,
      duplicates: 0,
      invalid: 0,
      refusedAtLimit: 0,
      storeFailures: 0,
      get parkedPublishers() {
        return room.parkedPublishers;
      },
      commits: 0,
      commitSeconds: 0,
    };
  }

  start(): void {
    const q = this.opts.queues;
    this.sub ??= this.conn.subscribe(INTAKE_SUBJECT, {
      callback: (msg) => this.receive(msg),
      ...(q && { queue: q.events }),
    });
    this.creditSub ??= this.conn.subscribe(creditSubject('events'), {
      callback: (msg) => this.room.onCredit(msg.publisher, msg.reply, msg.data),
    });
    this.removeGate ??= this.opts.addGate(this.room);
  }

  /** Unsubscribes, commits and answers what was received, and lets parked publishers go. */
  async stop(): Promise<void> {
    this.removeGate?.();
    this.removeGate = undefined;
    this.sub?.unsubscribe();
    this.sub = undefined;
    this.creditSub?.unsubscribe();
    this.creditSub = undefined;
    this.flush();
    while (this.commitDone !== undefined) await this.commitDone;
    clearTimeout(this.recheck);
    this.recheck = undefined;
    this.room.releaseAll();
  }

  /** Held plus not yet committed: what the limit bounds (with the room promised as credit: intake-room.ts). */
  get held(): number {
    return this.opts.store().held + this.batch.length + this.inFlight;
  }

  /**
   * Sinks call this when deliveries resolve, and a commit when it settles: publishers parked at the limit go on, and
   * waiting credit is granted, once there is room. Never throws (it runs in a commit's settlement, where a throw
   * would be an unhandled rejection): while the store cannot be opened it cannot say there is room, so they stay
   * parked (what they send could not be stored) and are asked about again every RECHECK_MS until it can.
   */
  released(): void {
    this.room.wake();
    if (this.room.parkedPublishers === 0) return;
    try {
      void this.held;
    } catch {
      this.recheck ??= setTimeout(() => {
        this.recheck = undefined;
        this.released();
      }, RECHECK_MS).unref();
    }
  }

  /** Why the store last failed a whole group, while no commit since has succeeded. */
  get lastStoreFailure(): { at: number; error: Error } | undefined {
    return this.storeFailure;
  }

  /** The store was found working again (a probe commit: handlers/lifecycle.ts health). */
  clearStoreFailure(): void {
    this.storeFailure = undefined;
  }

  /**
   * Events from a producer that is not a NATS client, already parsed, published as `auth` (over whatever authcontext
   * they carry): each validated, refused at event_limit, committed in the next group, as a request would be. The
   * promise settles once every event's commit (or refusal) is known; it never rejects.
   */
  submit(values: readonly unknown[], auth: AuthContext): Promise<IntakeResult[]> {
    return Promise.all(
      values.map(
        (value) =>
          new Promise<IntakeResult>((settle) => {
            try {
              writeAuthContext(value, auth);
              this.admit(this.checked(value), undefined, settle);
            } catch (err) {
              // As receive's: a bug, logged; the producer hears it was not stored.
              this.stats.storeFailures++;
              this.opts.logger.error({ err: (err as Error).message }, 'event intake failed');
              settle({ ok: false, error: { code: EventReplyErrorCode.EEVENT_STORE, reason: 'not stored' } });
            }
          }),
      ),
    );
  }

  private receive(msg: Msg): void {
    if (msg.status !== undefined) return; // a status message (no responders to a reply subject) is not an event
    const before = this.batch.length;
    try {
      this.admit(this.parse(msg), msg);
    } catch (err) {
      // Whatever else failed here (a bug), a requester hears it: the embedded connection would log a callback's
      // throw and answer nothing. What failed is the log's; nothing was stored.
      this.stats.storeFailures++;
      this.opts.logger.error({ subject: msg.subject, err: (err as Error).message }, 'event intake failed');
      this.answer(msg, {
        code: EventReplyErrorCode.EEVENT_STORE,
        reason: 'not stored: the service failed to take this event; retrying with the same id is safe',
      });
    }
    // Admitted by the room's gate (a plain publish) but not taken: its room is free again.
    if (msg.reply === undefined && this.batch.length === before) this.room.notTaken();
  }

  /** A parsed event (or why it is not one) refused, or taken into the next group; `msg` is the NATS message. */
  private admit(
    parsed: { event: EventEnvelope; body: string } | { error: IntakeReplyError },
    msg: Msg | undefined,
    settle?: (r: IntakeResult) => void,
  ): void {
    const target = { reply: msg?.reply, ...(settle && { settle }) };
    if ('error' in parsed) {
      this.stats.invalid++;
      const { field, reason } = parsed.error;
      // Clipped as in the reply: a field path can be a name the event made up, of any length.
      this.opts.logger.warn(
        { subject: msg?.subject, field: field && clip(field, MAX_FIELD_CHARS), reason: clip(reason, MAX_REASON_CHARS) },
        'event refused',
      );
      this.answer(target, parsed.error);
      return;
    }
    let free: number;
    try {
      free = this.room.free();
    } catch (err) {
      this.unusable(target, parsed.event.id, err);
      return;
    }
    // A plain publish was admitted by the room's gate before it was routed here (its publisher parked at the limit,
    // or it spent credit); a request (or a submitted event) is refused at the limit, counting the room promised as credit.
    if ((msg?.reply !== undefined || settle !== undefined) && free <= 0) {
      const limit = this.opts.eventLimit();
      this.stats.refusedAtLimit++;
      this.answer(target, {
        code: EventReplyErrorCode.EEVENT_LIMIT,
        reason: `event_limit ${limit} reached: retry later`,
      });
      return;
    }
    this.batch.push({ event: parsed.event, body: parsed.body, ...target });
    this.flushScheduled ??= setImmediate(() => this.flush());
  }

  private parse(msg: Msg): { event: EventEnvelope; body: string } | { error: IntakeReplyError } {
    const invalid = (e: EventFieldError): { error: IntakeReplyError } => ({
      error: { code: EventReplyErrorCode.EEVENT_INVALID, field: e.field, reason: e.reason },
    });
    let value: unknown;
    try {
      value = JSON.parse(msg.string());
    } catch (err) {
      return invalid({ field: '', reason: `not JSON: ${(err as Error).message}` });
    }
    // Who published it, as verified, over whatever the producer wrote there (authcontext.ts).
    stampAuthContext(value, msg);
    return this.checked(value, msg.subject.slice(msg.subject.lastIndexOf('.') + 1));
  }

  /** Validated against the catalogue, its type the subject's token (NATS), and within max_payload as stored. */
  private checked(
    value: unknown,
    token?: string,
  ): { event: EventEnvelope; body: string } | { error: IntakeReplyError } {
    const invalid = (e: EventFieldError): { error: IntakeReplyError } => ({
      error: { code: EventReplyErrorCode.EEVENT_INVALID, field: e.field, reason: e.reason },
    });
    // Validation checks the depth first, iteratively (shared events/limits.ts): nothing below recurses into an
    // event nested past MAX_EVENT_DEPTH, and the stringify after it cannot overflow the stack.
    const r = this.catalogue().validate(value, { assignId: true });
    if (!r.ok) return invalid(r.errors[0]!);
    if (token !== undefined && r.event.type !== token) {
      return invalid({
        field: 'type',
        reason: `must equal the subject's last token ${JSON.stringify(token)}, got ${JSON.stringify(r.event.type)}`,
      });
    }
    const body = JSON.stringify(r.event);
    // As published it was within max_payload (the protocol refuses more); as stored, with an assigned id or numbers
    // written back longer (1e21 as 1e+21), it might not be, and every stored event must fit one NATS message.
    const max = this.opts.maxPayloadBytes?.() ?? Number.POSITIVE_INFINITY;
    if (body.length > max / 3 && Buffer.byteLength(body) > max) {
      return invalid({
        field: '',
        reason: `${Buffer.byteLength(body)} bytes as stored (its id assigned, its authcontext written, re-serialised): over max_payload (${max} bytes)`,
      });
    }
    return { event: r.event, body };
  }

  /** Group commit: one transaction for what arrived since the last one started, then the replies. */
  private flush(): void {
    if (this.flushScheduled !== undefined) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    // A commit in flight flushes again when it settles.
    if (this.batch.length === 0 || this.commits >= this.commitDepth()) return;
    let batch = this.batch;
    if (batch.length <= MAX_GROUP) this.batch = [];
    else {
      this.batch = batch.slice(MAX_GROUP);
      batch = batch.slice(0, MAX_GROUP);
    }
    this.commits++;
    this.inFlight += batch.length;
    const events = batch.map((p) => ({
      id: p.event.id,
      type: p.event.type,
      body: p.body,
      sinks: this.opts.sinksFor(p.event),
      columns: feedColumns(p.event),
    }));
    const started = performance.now();
    let commit: Promise<AppendResult[]>;
    try {
      commit = this.opts.commit ? this.opts.commit(events) : Promise.resolve(this.opts.store().append(events));
    } catch (err) {
      commit = Promise.reject(err as Error);
    }
    const done: Promise<void> = commit
      .then(
        (results) => {
          this.inFlight -= batch.length;
          this.committed(batch, results);
        },
        (err: unknown) => {
          this.inFlight -= batch.length;
          this.commitFailed(batch, err as Error);
        },
      )
      .catch((err: unknown) =>
        this.opts.logger.error({ err: (err as Error).message }, 'event intake: answering a commit failed'),
      )
      .finally(() => {
        this.stats.commits++;
        this.stats.commitSeconds += (performance.now() - started) / 1000;
        this.commits--;
        if (this.commitDone === done) this.commitDone = undefined;
        // The group no longer counts as in flight: a publisher paused on that count may have room now, even with
        // no sink resolving anything to say so.
        this.released();
        this.flush();
      })
      // Only stop() awaits this: a rejection here would be unhandled, and end the process. Nothing above throws
      // (released and flush catch what the store throws); a bug that does is logged.
      .catch((err: unknown) =>
        this.opts.logger.error({ err: (err as Error).message }, 'event intake: settling a commit failed'),
      );
    this.commitDone = done;
  }

  /** Groups the store takes before the first is answered (its answers come in order); 1 when it cannot say. */
  private commitDepth(): number {
    if (this.opts.commit !== undefined) return 1;
    try {
      return this.opts.store().commitDepth ?? 1;
    } catch {
      return 1;
    }
  }

  private committed(batch: Received[], results: AppendResult[]): void {
    this.storeFailure = undefined;
    let stored = 0;
    let refusedPlain: string[] | undefined;
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      const p = batch[i]!;
      if (r.error !== undefined) {
        // This event alone: the store refused it and stored the rest of its group (store.ts append).
        this.stats.storeFailures++;
        if (p.reply === undefined && p.settle === undefined) (refusedPlain ??= []).push(p.event.id);
        this.opts.logger.warn(
          { id: p.event.id, type: p.event.type, store_code: EventStoreErrorCode.ESTORE_REFUSED, err: r.error },
          'event store refused one event; its group was stored',
        );
        this.answer(p, {
          code: EventReplyErrorCode.EEVENT_STORE,
          store_code: EventStoreErrorCode.ESTORE_REFUSED,
          reason:
            'not stored: the event store refused this event alone (the rest of its group was stored); retrying with the same id is safe, but the same event is likely refused again',
        });
        continue;
      }
      if (r.duplicate) this.stats.duplicates++;
      else stored++;
      if (p.settle) p.settle({ ok: true, id: r.id, duplicate: r.duplicate });
      else this.replyJson(p.reply, r.duplicate ? { id: r.id, duplicate: true } : { id: r.id });
    }
    if (refusedPlain !== undefined)
      this.opts.logger.error({ plain_ids: refusedPlain }, 'plain-published events refused by the store: not stored');
    this.stats.accepted += stored;
    if (stored > 0) this.opts.onStored?.(stored);
  }

  private commitFailed(batch: Received[], err: Error): void {
    this.stats.storeFailures += batch.length;
    this.storeFailure = { at: Date.now(), error: err };
    const storeCode = logCommitFailure(this.opts.logger, batch, err);
    // Not stored, or stored with no confirmation (the writer's thread ended after its commit): a retry with the
    // same id is safe either way (answered as a duplicate if it was).
    for (const p of batch) {
      this.answer(p, {
        code: EventReplyErrorCode.EEVENT_STORE,
        store_code: storeCode,
        reason: 'not stored, or not confirmed: the event store failed the commit; retrying with the same id is safe',
      });
    }
  }

  /** The store cannot be opened: this event is refused, its id logged with why (the file, the reason). */
  private unusable(to: Answerable, id: string, err: unknown): void {
    const storeCode = storeCodeOf(err) ?? EventStoreErrorCode.ESTORE_OPEN;
    this.stats.storeFailures++;
    this.opts.logger.error(
      { id, store_code: storeCode, err: (err as Error).message },
      'event store cannot be used: event refused',
    );
    this.answer(to, {
      code: EventReplyErrorCode.EEVENT_STORE,
      store_code: storeCode,
      reason: 'not stored: the event store cannot be used; retrying with the same id is safe',
    });
  }

  /** An error reply, its field and reason shortened to fit MAX_*_CHARS and max_payload. */
  private answer(to: Answerable, error: IntakeReplyError): void {
    if (to.settle) return to.settle({ ok: false, error });
    const reply = to.reply;
    if (reply === undefined) return;
    this.replyJson(reply, errorReplyText(error, this.opts.maxPayloadBytes?.() ?? Number.POSITIVE_INFINITY));
  }

  private replyJson(reply: string | undefined, body: object | string): void {
    if (reply === undefined) return;
    try {
      this.conn.publish(reply, typeof body === 'string' ? body : JSON.stringify(body));
    } catch (err) {
      this.opts.logger.warn({ reply, err: (err as Error).message }, 'cannot answer an event request');
    }
  }
}
