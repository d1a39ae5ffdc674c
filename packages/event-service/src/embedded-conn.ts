// The in-process connection to the broker: publish, subscribe and request straight through the broker (no socket),
// under the same subject rules and limits as a network client, seeing network clients' messages and seen by them.
// It knows the broker and the [service] limits in force, nothing of the server around them: the embedding API
// (embedded.ts) and the event handlers (handlers/lifecycle.ts) each have one.
import { randomBytes } from 'node:crypto';
import {
  Subscription,
  decodeHeaders,
  encodeHeaders,
  isValidPublishSubject,
  isValidQueueName,
  isValidSubject,
  permissionsViolationForPublish,
  permissionsViolationForSubscription,
  type Broker,
  type Conn,
  type Logger,
  type PublishGate,
  type ReservedSubjects,
} from '@event-broker/shared';
import type {
  Msg,
  MsgHeaders,
  PublishOptions,
  PublisherHandle,
  RequestOptions,
  SubscribeOptions,
  Subscription as SubscriptionApi,
} from './api.js';
import type { ServiceConfig } from './config-types.js';
import type { EventServiceErrorCode } from './error-codes.js';

/** Errors the embedded API throws or rejects with; `code` is stable. */
export class EventServiceError extends Error {
  constructor(
    readonly code: EventServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EventServiceError';
  }
}

const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
const NOOP_PUBLISHER: PublisherHandle = Object.freeze({ id: 0, pause() {}, resume() {} });
const EMPTY = Buffer.alloc(0);

class DeliveredMsg implements Msg {
  private decoded: ReturnType<typeof decodeHeaders> | undefined;
  constructor(
    private readonly conn: EmbeddedConn,
    readonly subject: string,
    readonly reply: string | undefined,
    readonly sid: number,
    private readonly hdrLen: number,
    private readonly raw: Buffer,
    readonly publisher: PublisherHandle,
  ) {}
  get data(): Uint8Array {
    return this.hdrLen === 0 ? this.raw : this.raw.subarray(this.hdrLen);
  }
  private get hdr(): ReturnType<typeof decodeHeaders> | undefined {
    if (this.hdrLen === 0) return undefined;
    return (this.decoded ??= decodeHeaders(this.raw.subarray(0, this.hdrLen)));
  }
  get headers(): MsgHeaders | undefined {
    return this.hdr?.headers;
  }
  get status(): number | undefined {
    return this.hdr?.status;
  }
  string(): string {
    const d = this.data;
    return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('utf8');
  }
  json<T = unknown>(): T {
    return JSON.parse(this.string()) as T;
  }
  respond(data?: Uint8Array | string, opts?: { headers?: MsgHeaders }): boolean {
    if (this.reply === undefined) return false;
    this.conn.publish(this.reply, data, opts);
    return true;
  }
}

/** An in-process subscription: a callback, or a bounded queue read by async iteration. */
class EmbeddedSubscription implements SubscriptionApi {
  received = 0;
  private pendingMsgs: Msg[] = [];
  private queuedBytes = 0;
  private waiting: ((r: IteratorResult<Msg>) => void) | undefined;
  private failure: Error | undefined;
  private done = false;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((r) => (this.resolveClosed = r));

  constructor(
    private readonly conn: EmbeddedConn,
    readonly entry: Subscription,
    readonly sid: number,
    private readonly callback: ((msg: Msg) => void) | undefined,
  ) {}

  get subject(): string {
    return this.entry.subject;
  }
  get queue(): string | undefined {
    return this.entry.queue;
  }

  push(msg: Msg, bytes: number): void {
    this.received++;
    if (this.callback) {
      try {
        this.callback(msg);
      } catch (err) {
        this.conn.logger.error(
          { subject: this.entry.subject, sid: this.sid, err: (err as Error).message },
          'subscriber callback threw',
        );
      }
      return;
    }
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: msg, done: false });
      return;
    }
    this.pendingMsgs.push(msg);
    this.queuedBytes += bytes;
    if (this.queuedBytes > this.conn.maxPendingBytes) {
      // Same rule as for network readers: one that does not keep up is cut rather than keep memory unbounded.
      this.failure = new EventServiceError(
        'SLOW_CONSUMER',
        `subscription ${this.entry.subject} fell ${this.queuedBytes} bytes behind`,
      );
      this.conn.unsubscribe(this);
    }
  }

  /** Ends iteration after what is queued (auto-unsubscribe reached, unsubscribe, close). */
  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiting && this.pendingMsgs.length === 0) {
      const w = this.waiting;
      this.waiting = undefined;
      w({ value: undefined, done: true });
    }
    this.resolveClosed();
  }

  unsubscribe(max?: number): void {
    if (max !== undefined && max > 0 && this.entry.delivered < max) {
      this.entry.max = max;
      return;
    }
    this.conn.unsubscribe(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return {
      next: () => {
        const msg = this.pendingMsgs.shift();
        if (msg !== undefined) {
          this.queuedBytes -= msg.data.byteLength;
          return Promise.resolve({ value: msg, done: false });
        }
        if (this.failure) return Promise.reject(this.failure);
        if (this.done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        this.conn.unsubscribe(this);
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/** The [service] limits an in-process connection enforces; read on use, so a reload reaches it. */
export type EmbeddedLimits = Pick<ServiceConfig['service'], 'max_payload' | 'max_pending' | 'event_limit'>;

export interface EmbeddedConnOptions {
  /** The limits in force (the server's [service] section). */
  limits: () => EmbeddedLimits;
  logger: Logger;
  /** The service's own connection (its handlers'): its subscriptions are not a user's listeners (broker.ts Conn.system). */
  system?: boolean;
}

/** A connection to the broker from inside the process: the embedding program's, or the service's handlers'. */
export class EmbeddedConn implements Conn {
  readonly cid = 0;
  readonly echo = true;
  readonly noResponders = true;
  readonly publisher = NOOP_PUBLISHER;
  private readonly subs = new Map<string, EmbeddedSubscription>();
  readonly system: boolean;
  readonly logger: Logger;
  private readonly limits: () => EmbeddedLimits;
  private nextSid = 1;
  private closed = false;
  private lastValidSubject = '';
  /** The broker's reserved subjects (the JetStream store's), denied unless this is the service's own connection. */
  private readonly reserved: ReservedSubjects | undefined;

  constructor(
    private readonly broker: Broker,
    opts: EmbeddedConnOptions,
  ) {
    this.limits = opts.limits;
    this.logger = opts.logger;
    this.system = opts.system ?? false;
    this.reserved = this.system ? undefined : broker.reserved;
  }

  get maxPendingBytes(): number {
    return this.limits().max_pending;
  }

  /**
   * Puts a gate on this connection's broker (the intake's at event_limit: handlers/intake-room.ts); returns its
   * removal.
   */
  addGate(gate: PublishGate): () => void {
    return this.broker.addGate(gate);
  }

  deliver(
    sub: Subscription,
    subject: string,
    reply: string | undefined,
    hdrLen: number,
    msg: Buffer,
    from: Conn,
  ): void {
    const es = this.subs.get(sub.sid);
    if (es === undefined) return;
    // A wildcard subscription spanning a reserved subject is not delivered it (server/reserved.ts).
    if (this.reserved !== undefined && sub.wildcard && this.reserved.has(subject)) return;
    es.push(new DeliveredMsg(this, subject, reply, es.sid, hdrLen, msg, from.publisher), msg.length);
  }

  expired(sub: Subscription): void {
    const es = this.subs.get(sub.sid);
    if (es === undefined) return;
    this.subs.delete(sub.sid);
    es.end();
  }

  publish(subject: string, data?: Uint8Array | string, opts?: PublishOptions): void {
    this.assertOpen();
    // Services mostly publish to the same few subjects: validating each string once saves a third of an
    // in-process publish (profile of bench inproc: isValidSubject + isLiteralSubject = 34%).
    if (subject !== this.lastValidSubject) {
      if (!isValidPublishSubject(subject))
        throw new EventServiceError('BAD_SUBJECT', `invalid publish subject ${JSON.stringify(subject)}`);
      if (this.reserved?.has(subject))
        throw new EventServiceError('PERMISSIONS_VIOLATION', permissionsViolationForPublish(subject).text);
      this.lastValidSubject = subject;
    }
    if (opts?.reply !== undefined && !isValidPublishSubject(opts.reply)) {
      throw new EventServiceError('BAD_SUBJECT', `invalid reply subject ${JSON.stringify(opts.reply)}`);
    }
    // A reserved reply: the service's own responders would answer there in its name.
    if (opts?.reply !== undefined && this.reserved?.has(opts.reply))
      throw new EventServiceError('PERMISSIONS_VIOLATION', permissionsViolationForPublish(opts.reply).text);
    const payload = toBuffer(data);
    let msg = payload;
    let hdrLen = 0;
    if (opts?.headers !== undefined) {
      const hdr = encodeHeaders(opts.headers);
      hdrLen = hdr.length;
      msg = Buffer.concat([hdr, payload]);
    }
    const limits = this.limits();
    const max = limits.max_payload;
    if (msg.length > max)
      throw new EventServiceError('MAX_PAYLOAD', `message of ${msg.length} bytes exceeds max_payload ${max}`);
    // A gate (the intake at event_limit) parks a network publisher; this one cannot be parked, so it hears why.
    if (this.broker.gated && !this.broker.admit(this, subject, opts?.reply)) {
      throw new EventServiceError(
        'EVENT_LIMIT',
        `event_limit ${limits.event_limit} events are held: not published; retry once room frees, or request`,
      );
    }
    this.broker.publish(this, subject, opts?.reply, hdrLen, msg);
  }

  subscribe(subject: string, opts: SubscribeOptions = {}): EmbeddedSubscription {
    this.assertOpen();
    if (!isValidSubject(subject))
      throw new EventServiceError('BAD_SUBJECT', `invalid subject ${JSON.stringify(subject)}`);
    if (opts.queue !== undefined && !isValidQueueName(opts.queue)) {
      throw new EventServiceError('BAD_SUBJECT', `invalid queue group ${JSON.stringify(opts.queue)}`);
    }
    if (this.reserved?.has(subject)) {
      const text = permissionsViolationForSubscription(subject, opts.queue).text;
      throw new EventServiceError('PERMISSIONS_VIOLATION', text);
    }
    const sid = this.nextSid++;
    const entry = new Subscription(this, subject, opts.queue, String(sid));
    if (opts.max !== undefined && opts.max > 0) entry.max = opts.max;
    const es = new EmbeddedSubscription(this, entry, sid, opts.callback);
    if (this.broker.add(entry) === 'listener_limit') {
      throw new EventServiceError('LISTENER_LIMIT', `listener_limit ${this.broker.listenerLimit} reached`);
    }
    this.subs.set(entry.sid, es);
    return es;
  }

  unsubscribe(es: EmbeddedSubscription): void {
    if (this.subs.get(es.entry.sid) !== es) return;
    this.subs.delete(es.entry.sid);
    this.broker.remove(es.entry);
    es.end();
  }

  request(subject: string, data: Uint8Array | string | undefined, opts: RequestOptions = {}): Promise<Msg> {
    this.assertOpen();
    const inbox = `_INBOX.${randomBytes(12).toString('hex')}`;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    return new Promise<Msg>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const sub = this.subscribe(inbox, {
        max: 1,
        callback: (msg) => {
          clearTimeout(timer);
          if (msg.status === 503) reject(new EventServiceError('503', `no responders for ${subject}`));
          else resolve(msg);
        },
      });
      timer = setTimeout(() => {
        this.unsubscribe(sub);
        reject(new EventServiceError('TIMEOUT', `request to ${subject} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      try {
        this.publish(subject, data, { reply: inbox, ...(opts.headers !== undefined && { headers: opts.headers }) });
      } catch (err) {
        clearTimeout(timer);
        this.unsubscribe(sub);
        reject(err);
      }
    });
  }

  /** Ends every subscription; iterators yield what they have queued, then finish. */
  close(): void {
    this.closed = true;
    for (const es of [...this.subs.values()]) this.unsubscribe(es);
  }

  private assertOpen(): void {
    if (this.closed) throw new EventServiceError('CLOSED', 'the event service is closed');
  }
}

function toBuffer(data: Uint8Array | string | undefined): Buffer {
  if (data === undefined) return EMPTY;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
