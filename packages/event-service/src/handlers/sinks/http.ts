// One HTTP sink: POSTs the stored events its delivery records name, one at a time and in order, signed the
// Standard Webhooks way (standard-webhooks spec.md), retrying with capped full-jitter backoff (AWS Architecture
// Blog "Exponential Backoff And Jitter"), honouring 429 Retry-After, stopping on 410 Gone, and dead-lettering after
// max_attempts. Each sink runs on its own, so one slow or dead receiver never delays another.
import { createHmac } from 'node:crypto';
import type { Logger } from '@event-broker/shared';
import type { DeliveryRecord, EventStore } from '../store.js';

export interface HttpSinkOptions {
  name: string;
  url: string;
  /** `whsec_<base64>` secrets; every one signs (several during rotation). None: deliveries go unsigned. */
  secrets?: readonly string[];
  headers?: Record<string, string>;
  timeoutMs?: number;
  maxAttempts?: number;
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
        const [record] = this.store.due(this.opts.name, Number.MAX_SAFE_INTEGER, 1);
        if (record === undefined || record.nextAttemptAt > this.now()) break;
        await this.attempt(record);
      }
    } catch (err) {
      this.opts.logger.error({ sink: this.opts.name, err: (err as Error).message }, 'sink delivery loop failed');
    } finally {
      this.busy = false;
    }
    this.schedule();
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

  private async attempt(record: DeliveryRecord): Promise<void> {
    const attempt = record.attempts + 1;
    const ts = Math.floor(this.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...this.opts.headers,
      // The event id is the webhook id: a redelivery after a crash carries the same one, so receivers dedupe.
      'webhook-id': record.id,
      'webhook-timestamp': String(ts),
    };
    if (this.opts.secrets !== undefined && this.opts.secrets.length > 0) {
      headers['webhook-signature'] = signWebhook(this.opts.secrets, record.id, ts, record.body);
    }
    const ac = new AbortController();
    this.inflight = ac;
    const timer = setTimeout(() => ac.abort(), this.opts.timeoutMs ?? 10_000);
    let status = 0;
    let retryAfter: string | null = null;
    let problem: string;
    try {
      const res = await fetch(this.opts.url, { method: 'POST', headers, body: record.body, signal: ac.signal });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      await res.arrayBuffer().catch(() => undefined);
      problem = `HTTP ${status}`;
    } catch (err) {
      problem = ac.signal.aborted ? `timed out after ${this.opts.timeoutMs ?? 10_000} ms` : `unreachable: ${(err as Error).cause ?? (err as Error).message}`;
    } finally {
      clearTimeout(timer);
      this.inflight = undefined;
    }
    if (this.closed) return; // shutting down: the record stays pending and is retried after restart
    if (status >= 200 && status < 300) {
      this.store.delivered(this.opts.name, [record.seq]);
      this.stats.delivered++;
      this.lastDeliveredAt = this.now();
      this.opts.onResolved?.();
      return;
    }
    this.lastError = { at: this.now(), message: status === 410 ? 'HTTP 410 Gone: sink stopped' : problem };
    if (status === 410) {
      // The receiver says it is gone for good: stop, and leave the rest pending for a replay or a new config.
      this.store.dead(this.opts.name, record.seq, 'HTTP 410 Gone: sink stopped');
      this.stats.dead++;
      this.state = 'stopped';
      this.opts.logger.warn({ sink: this.opts.name, url: this.opts.url }, 'sink answered 410 Gone: stopped');
      this.opts.onResolved?.();
      return;
    }
    this.stats.failedAttempts++;
    if (attempt >= (this.opts.maxAttempts ?? 10)) {
      this.store.dead(this.opts.name, record.seq, `${problem} after ${attempt} attempts`);
      this.stats.dead++;
      this.opts.logger.warn({ sink: this.opts.name, id: record.id, attempts: attempt, problem }, 'delivery dead-lettered');
      this.opts.onResolved?.();
      return;
    }
    const hinted = status === 429 ? retryAfterMs(retryAfter, this.now()) : undefined;
    const ceiling = Math.min(this.opts.backoffCapMs ?? 60_000, (this.opts.backoffBaseMs ?? 500) * 2 ** (attempt - 1));
    const delay = hinted ?? Math.floor(this.random() * ceiling);
    this.stats.retries++;
    this.store.failed(this.opts.name, record.seq, { nextAttemptAt: this.now() + delay, error: problem });
  }
}
