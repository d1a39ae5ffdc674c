// What the event intake (intake.ts) is given and what it tells: the connection, store and options it needs, its
// counters and its error replies' shape. Apart from the intake so its group-commit logic reads on its own.
import type { EventCatalogue, EventEnvelope, Logger, PublishGate } from '@event-broker/shared';
import type { Msg, Subscription } from '../api.js';
import type { EventReplyErrorCode } from '../error-codes.js';
import type { ErrorReply } from './error-reply.js';
import type { AppendResult, NewEvent } from './event-store.js';

/** Stable codes in error replies: `{"error": {"code", "field"?, "store_code"?, "reason"}}` (error-codes.ts, the README). */
export type IntakeErrorCode = EventReplyErrorCode;

/**
 * An error reply: its field path and reason may echo what the request carried (an attribute's name, the subject's
 * token), so they are clipped to fit (error-reply.ts). EEVENT_STORE carries the store's code alone (`store_code`): the
 * file and SQLite's message are for the log (with the event's id) and /healthz, not for any client allowed to publish.
 */
export type IntakeReplyError = ErrorReply<IntakeErrorCode>;

/** What the intake needs of the service: an in-process subscribe and publish (the embedded connection). */
export interface IntakeConn {
  subscribe(subject: string, opts: { callback: (msg: Msg) => void; queue?: string }): Subscription;
  publish(subject: string, data?: Uint8Array | string): void;
}

/**
 * What the intake needs of the store: the held count (read on every event) and a durable append. The service's is its
 * EventBackend (event-backend.ts: SQLite's commits on the store writer's thread, or JetStream's publish acks); a
 * synchronous EventStore serves too (tests that drive an intake themselves).
 */
export interface IntakeStore {
  readonly held: number;
  append(events: readonly NewEvent[]): AppendResult[] | Promise<AppendResult[]>;
  /**
   * Appends that may be in flight at once, answered in the order they were made (default 1): the SQLite writer's
   * thread takes the next group while the intake answers the last, instead of waiting for it.
   */
  readonly commitDepth?: number;
}

export interface IntakeOptions {
  /** The store; throws while it cannot be opened (answered EEVENT_STORE with its code, logged with its message). */
  store: () => IntakeStore;
  /**
   * Commits a group durably; without it the store's append. Called again only after the previous call settled (one
   * commit in flight: sequences in arrival order), whatever the store's commitDepth.
   */
  commit?: (events: NewEvent[]) => Promise<AppendResult[]>;
  /** The most events held (stored, not yet delivered to every sink that wants them); read live for reloads. */
  eventLimit: () => number;
  /** Installs the intake's gate on the broker (event_limit as a hard cap: intake-room.ts); returns its removal. */
  addGate: (gate: PublishGate) => () => void;
  /** The sinks that want an event; each gets a delivery record. */
  sinksFor: (event: EventEnvelope) => string[];
  logger: Logger;
  /** The event types taken, read for each event (a reload replaces them); default the process-wide catalogue. */
  catalogue?: () => EventCatalogue;
  /** Called after each commit with the newly stored (non-duplicate) events' count, so sinks can wake. */
  onStored?: (count: number) => void;
  /**
   * [service] max_payload, read live: a stored event (re-serialised, its id assigned) may be no larger, and no reply
   * is (a refusal is shortened to fit). Default: unbounded.
   */
  maxPayloadBytes?: () => number;
  /**
   * The queue group for `events.>` (with leafnode remotes: one instance of several takes each event). The credit
   * subject stays a plain subscription: credit belongs to a link attached to this instance (remotes.ts CREDIT_KEPT_LOCAL).
   */
  queues?: { readonly events: string };
}

/** What one submitted event (EventIntake.submit) came to: committed (perhaps as a duplicate of its id), or refused. */
export type IntakeResult = { ok: true; id: string; duplicate: boolean } | { ok: false; error: IntakeReplyError };

export interface IntakeStats {
  accepted: number;
  duplicates: number;
  invalid: number;
  refusedAtLimit: number;
  storeFailures: number;
  /** Plain publishers parked at the limit now (intake-room.ts; /handlerz paused_publishers). */
  readonly parkedPublishers: number;
  /** Group commits settled (stored or failed), and the time they took from sending to answer, in seconds. */
  commits: number;
  commitSeconds: number;
}

/** An event taken in, not yet committed, with the reply (a request's) or callback (submit's) its answer goes to. */
export interface Received {
  event: EventEnvelope;
  body: string;
  reply?: string | undefined;
  settle?: (result: IntakeResult) => void;
}

/** Where an answer goes: a request's reply subject, or a submitted event's callback. */
export type Answerable = Pick<Received, 'reply' | 'settle'>;
