// One HTTP sink: POSTs the stored events its delivery records name, one at a time and in order, signed the
// Standard Webhooks way (standard-webhooks spec.md), retrying with capped full-jitter backoff (AWS Architecture
// Blog "Exponential Backoff And Jitter"), honouring 429 Retry-After, stopping on 410 Gone, and dead-lettering after
// max_attempts. Each sink runs on its own, so one slow or dead receiver never delays another.
//
// Body options (moat-style): `extraArgs` adds fields to each event, `flattenPayload` sends the event's `data` in
// place of the envelope, `sendAsList` wraps the body in a JSON array, and batching (`batchSize` > 1) sends up to
// that many pending events, in order, in one POST as a JSON array (always an array then, even of one). A batch is delivered, retried, dead-lettered or
// stopped as a whole. Its `webhook-id` is the first event's id when it holds one event (as unbatched), else
// `batch_` + the first 32 hex digits of SHA-256 over its event ids joined by newlines: the same batch retried
// carries the same id, but a batch put together differently (after a restart, or once more events arrived) gets
// another, so receivers of batches dedupe per event by each element's `id` (with flatten_payload there is none).
import { createHash, createHmac } from 'node:crypto';
import https from 'node:https';
import type { Logger } from '@event-broker/shared';
import type { HandlerSink } from '../../config-types.js';
import type { DeliveryRecord, EventStore } from '../store.js';

export interface HttpSinkOptions {
  name: string;
  url: string;
  /** `whsec_<base64>` secrets; every one signs (several during rotation). None: deliveries go unsigned. */
  secrets?: readonly string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxAttempts?: number;
  /** false: an https receiver's certificate is not verified (self-signed). Default true. */
  sslVerify?: boolean;
  /** Fields added to each event's JSON (the event's own fields win on a clash). */
  extraArgs?: Record<string, unknown>;
  /** Send the event's `data` (an object; anything else as `{ data }`) instead of the CloudEvents envelope. */
  flattenPayload?: boolean;
  /** The body is a JSON array even for one event. */
  sendAsList?: boolean;
  /** Events per POST (default 1); more than 1: every body is a JSON array. */
  batchSize?: number;
  /** A batch stops before its body would pass this many bytes (default 1 MiB); its first event always goes. */
  batchBytes?: number;
  /** Wait this long (ms) for a partial batch to fill before sending it (default 0). */
  batchWaitMs?: number;
  /** Backoff: attempt n waits a random time in [0, min(capMs, baseMs * 2^(n-1))]. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  logger: Logger;
  /** Called after deliveries resolve (delivered or dead), so the intake can resume paused publishers. */
  onResolved?: () => void;
  /** Clock and randomness, replaceable in tests. */
  now?: () => number;
  random?: () => number;
}

export type HttpSinkState = 'running' | 'stopped';

/** The delivery options of a [handlers] entry, for `new HttpSink(store, { name, logger, ...httpSinkOptions(conf) })`. */
export function httpSinkOptions(conf: HandlerSink): Omit<HttpSinkOptions, 'name' | 'logger'> {
  return {
    url: conf.url,
    secrets: conf.secrets,
    headers: conf.headers,
    timeoutMs: conf.timeout_ms,
    maxAttempts: conf.max_attempts,
    ...(conf.ssl_verify !== undefined && { sslVerify: conf.ssl_verify }),
    ...(conf.extra_args !== undefined && { extraArgs: conf.extra_args }),
    ...(conf.flatten_payload !== undefined && { flattenPayload: conf.flatten_payload }),
    ...(conf.send_as_list !== undefined && { sendAsList: conf.send_as_list }),
    ...(conf.batch_size !== undefined && { batchSize: conf.batch_size }),
    ...(conf.batch_bytes !== undefined && { batchBytes: conf.batch_bytes }),
    ...(conf.batch_wait_ms !== undefined && { batchWaitMs: conf.batch_wait_ms }),
  };
}

/** One stored event's JSON as this sink sends it (the stored body untouched when no option changes it). */
export function shapeEvent(body: string, opts: Pick<HttpSinkOptions, 'extraArgs' | 'flattenPayload'>): string {
  const extra = opts.extraArgs !== undefined && Object.keys(opts.extraArgs).length > 0 ? opts.extraArgs : undefined;
  if (extra === undefined && opts.flattenPayload !== true) return body;
  const envelope = JSON.parse(body) as Record<string, unknown>;
  let out: Record<string, unknown> = envelope;
  if (opts.flattenPayload === true) {
    const data = envelope.data;
    out = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : { data: data ?? null };
  }
  return JSON.stringify(extra === undefined ? out : { ...extra, ...out });
}

/** The webhook-id of a delivery: the event id for one event, a digest of the ids for a batch. */
export function batchWebhookId(ids: readonly string[]): string {
  if (ids.length === 1) return ids[0]!;
  return `batch_${createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 32)}`;
}

/** POST over node:https without certificate verification (fetch has no per-request switch for it). */
function postInsecure(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<{ status: number; retryAfter: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, rejectUnauthorized: false, signal }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The Standard Webhooks signature header value for one message: `v1,<base64>` per secret, space-separated. */
export function signWebhook(secrets: readonly string[], id: string, timestampSec: number, body: string): string {
  return secrets
    .map((s) => {
      const key = Buffer.from(s.startsWith('whsec_') ? s.slice(6) : s, 'base64');
      return `v1,${createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;
    })
    .join(' ');
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class HttpSink {
  state: HttpSinkState = 'running';
  /** Since start: accepted deliveries, failed attempts, failed attempts scheduled again, dead letters made. */
  readonly stats = { delivered: 0, failedAttempts: 0, retries: 0, dead: 0 };
  /** The latest failed attempt since start (the status page and /handlerz show it); cleared by nothing. */
  lastError: { at: number; message: string } | undefined;
  /** Epoch ms of the latest successful delivery since start. */
  lastDeliveredAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;
  private inflight: AbortController | undefined;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly opts: HttpSinkOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  get name(): string {
    return this.opts.name;
  }
  get url(): string {
    return this.opts.url;
  }

  /** Something may be due (new events stored, a replay): deliver it now rather than at the next timer. */
  wake(): void {
    if (this.closed || this.state !== 'running' || this.busy) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.pump();
  }

  /** Runs again after a 410 stopped it (a dead-letter replay), and delivers what is due. */
  resume(): void {
    this.state = 'running';
    this.wake();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.inflight?.abort();
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (!this.closed && this.state === 'running') {
        // In order: the oldest pending delivery goes first, and while it backs off the sink waits (a failing
        // receiver is retried at the backoff's pace, not hit once per queued event).
        let batch = this.take();
        if (batch.length === 0) break;
        const size = this.opts.batchSize ?? 1;
        if (batch.length < size && (this.opts.batchWaitMs ?? 0) > 0 && batch[0]!.attempts === 0) {
          // A partial first-try batch waits once for more events (a retry goes as it was).
          await new Promise((r) => setTimeout(r, this.opts.batchWaitMs));
          if (this.closed) break;
          batch = this.take();
          if (batch.length === 0) break;
        }
        await this.attempt(batch);
      }
    } catch (err) {
      this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink delivery loop failed');
    } finally {
      this.busy = false;
    }
    this.schedule();
  }

  /** The next batch: the due head and the pending events after it, within batch_size and batch_bytes. */
  private take(): DeliveryRecord[] {
    const size = this.opts.batchSize ?? 1;
    const records = this.store.due(this.opts.name, Number.MAX_SAFE_INTEGER, size);
    const now = this.now();
    if (records[0] === undefined || records[0].nextAttemptAt > now) return [];
    if (size === 1) return records;
    const limit = this.opts.batchBytes ?? 1024 * 1024;
    const out: DeliveryRecord[] = [];
    let bytes = 2;
    for (const r of records) {
      if (r.nextAttemptAt > now) break;
      bytes += Buffer.byteLength(r.body) + 1;
      if (out.length > 0 && bytes > limit) break;
      out.push(r);
    }
    return out;
  }

  private schedule(): void {
    if (this.closed || this.state !== 'running') return;
    // The head's retry time, not the earliest of all: later records wait behind it.
    const next = this.store.due(this.opts.name, Number.MAX_SAFE_INTEGER, 1)[0]?.nextAttemptAt;
    if (next === undefined) return;
    // Timers are clamped: a far retry is re-checked at least once a minute.
    const delay = Math.min(Math.max(0, next - this.now()), 60_000);
    this.timer = setTimeout(() => this.wake(), delay);
  }

  private async attempt(batch: DeliveryRecord[]): Promise<void> {
    const record = batch[0]!;
    const attempt = record.attempts + 1;
    const ts = Math.floor(this.now() / 1000);
    const shaped = batch.map((r) => shapeEvent(r.body, this.opts));
    // With batching on, every body is an array (a batch of one too), so a receiver sees one shape.
    const body = (this.opts.batchSize ?? 1) > 1 || this.opts.sendAsList === true ? `[${shaped.join(',')}]` : shaped[0]!;
    // The event id is the webhook id: a redelivery after a crash carries the same one, so receivers dedupe.
    const webhookId = batchWebhookId(batch.map((r) => r.id));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...this.opts.headers,
      'webhook-id': webhookId,
      'webhook-timestamp': String(ts),
    };
    if (this.opts.secrets !== undefined && this.opts.secrets.length > 0) {
      headers['webhook-signature'] = signWebhook(this.opts.secrets, webhookId, ts, body);
    }
    const ac = new AbortController();
    this.inflight = ac;
    const timer = setTimeout(() => ac.abort(), this.opts.timeoutMs ?? 10_000);
    let status = 0;
    let retryAfter: string | null = null;
    let problem: string;
    try {
      if (this.opts.sslVerify === false && this.opts.url.startsWith('https:')) {
        ({ status, retryAfter } = await postInsecure(this.opts.url, headers, body, ac.signal));
      } else {
        const res = await fetch(this.opts.url, { method: 'POST', headers, body, signal: ac.signal });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        await res.arrayBuffer().catch(() => undefined);
      }
      problem = `HTTP ${status}`;
    } catch (err) {
      problem = ac.signal.aborted ? `timed out after ${this.opts.timeoutMs ?? 10_000} ms` : `unreachable: ${(err as Error).cause ?? (err as Error).message}`;
    } finally {
      clearTimeout(timer);
      this.inflight = undefined;
    }
    if (this.closed) return; // shutting down: the record stays pending and is retried after restart
    if (status >= 200 && status < 300) {
      this.store.delivered(this.opts.name, batch.map((r) => r.seq));
      this.stats.delivered += batch.length;
      this.lastDeliveredAt = this.now();
      this.opts.onResolved?.();
      return;
    }
    this.lastError = { at: this.now(), message: status === 410 ? 'HTTP 410 Gone: sink stopped' : problem };
    if (status === 410) {
      // The receiver says it is gone for good: stop, and leave the rest pending for a replay or a new config.
      for (const r of batch) this.store.dead(this.opts.name, r.seq, 'HTTP 410 Gone: sink stopped');
      this.stats.dead += batch.length;
      this.state = 'stopped';
      this.opts.logger.warn({ sink: this.opts.name, url: this.opts.url }, 'sink answered 410 Gone: stopped');
      this.opts.onResolved?.();
      return;
    }
    this.stats.failedAttempts++;
    // Each event of a batch counts its own attempts: one that reached max_attempts is dead-lettered, the rest wait.
    const max = this.opts.maxAttempts ?? 10;
    const dead = batch.filter((r) => r.attempts + 1 >= max);
    for (const r of dead) this.store.dead(this.opts.name, r.seq, `${problem} after ${r.attempts + 1} attempts`);
    if (dead.length > 0) {
      this.stats.dead += dead.length;
      this.opts.logger.warn({ sink: this.opts.name, id: webhookId, events: dead.length, attempts: attempt, problem }, 'delivery dead-lettered');
    }
    const retry = batch.filter((r) => r.attempts + 1 < max);
    if (retry.length > 0) {
      const hinted = status === 429 ? retryAfterMs(retryAfter, this.now()) : undefined;
      const ceiling = Math.min(this.opts.backoffCapMs ?? 60_000, (this.opts.backoffBaseMs ?? 500) * 2 ** (attempt - 1));
      const delay = hinted ?? Math.floor(this.random() * ceiling);
      this.stats.retries++;
      for (const r of retry) this.store.failed(this.opts.name, r.seq, { nextAttemptAt: this.now() + delay, error: problem });
    }
    if (dead.length > 0) this.opts.onResolved?.();
  }
}
