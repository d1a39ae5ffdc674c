// What one HTTP sink delivery carries, the Standard Webhooks way (standard-webhooks spec.md): its body, its
// headers (webhook-id, timestamp, signature, the configured ones), and how a receiver's Retry-After is read. How
// the POST travels is transport.ts's, what is sent when is http.ts's.
//
// Body options (moat-style): `extraArgs` adds fields to each event, `flattenPayload` sends the event's `data` in
// place of the envelope, `sendAsList` wraps the body in a JSON array, and batching (`batchSize` > 1) sends up to
// that many pending events, in order, in one POST as a JSON array (always an array then, even of one). A batch is
// delivered, retried, dead-lettered or stopped as a whole. Its `webhook-id` is the first event's id when it holds
// one event (as unbatched), else `batch_` + the first 32 hex digits of SHA-256 over its event ids joined by
// newlines: the same batch retried carries the same id, but a batch put together differently (after a restart, or
// once more events arrived) gets another, so receivers of batches dedupe per event by each element's `id` (with
// flatten_payload there is none).
import { createHash, createHmac } from 'node:crypto';
import { headerProblem } from './headers.js';
import type { HttpSinkOptions } from './options.js';

/** One stored event's JSON as this sink sends it (the stored body untouched when no option changes it). */
export function shapeEvent(
  body: string,
  opts: { extraArgs?: Record<string, unknown>; flattenPayload?: boolean },
): string {
  const extra = opts.extraArgs !== undefined && Object.keys(opts.extraArgs).length > 0 ? opts.extraArgs : undefined;
  if (extra === undefined && opts.flattenPayload !== true) return body;
  const envelope = JSON.parse(body) as Record<string, unknown>;
  let out: Record<string, unknown> = envelope;
  if (opts.flattenPayload === true) {
    const data = envelope.data;
    out =
      typeof data === 'object' && data !== null && !Array.isArray(data)
        ? (data as Record<string, unknown>)
        : { data: data ?? null };
  }
  return JSON.stringify(extra === undefined ? out : { ...extra, ...out });
}

/**
 * What an HTTP header value may hold as undici writes it (Latin-1 bytes): tab, visible ASCII and 0x80-0xff. An id
 * with anything else (a line break, text past Latin-1: the intake takes any non-empty id) would be refused by
 * undici on every attempt and dead-lettered as "unreachable".
 */
const HEADER_SAFE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The webhook-id of a delivery: the event id for one event (a digest of it when no header can carry it, the same
 * on every redelivery), a digest of the ids for a batch.
 */
export function batchWebhookId(ids: readonly string[]): string {
  if (ids.length === 1) {
    const id = ids[0]!;
    return HEADER_SAFE.test(id) ? id : `evt_${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
  }
  return `batch_${createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 32)}`;
}

/** A `whsec_<base64>` secret's HMAC key. */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** The webhook-signature value for keys made by secretKey (a WebhookFormat keeps its keys, not its secrets). */
export function sign(keys: readonly Buffer[], id: string, timestampSec: number, body: string): string {
  return keys
    .map((k) => `v1,${createHmac('sha256', k).update(`${id}.${timestampSec}.${body}`).digest('base64')}`)
    .join(' ');
}

/** The Standard Webhooks signature header value for one message: `v1,<base64>` per secret, space-separated. */
export function signWebhook(secrets: readonly string[], id: string, timestampSec: number, body: string): string {
  return sign(secrets.map(secretKey), id, timestampSec, body);
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** One POST of a delivery: the events' webhook-id, the request headers and the body (UTF-8, as sent). */
export interface WebhookRequest {
  id: string;
  headers: Record<string, string>;
  body: Buffer;
}

type FormatOptions = Pick<
  HttpSinkOptions,
  'name' | 'secrets' | 'headers' | 'extraArgs' | 'flattenPayload' | 'sendAsList' | 'batchSize'
>;

/** How one sink writes its deliveries: its body options, its configured headers and its signing keys. */
export class WebhookFormat {
  private readonly keys: Buffer[];
  /** With batching on, every body is an array (a batch of one too), so a receiver sees one shape. */
  private readonly asList: boolean;
  /**
   * The configured headers, names lower-cased (the config does it; a program may not): undici sends a name given
   * in two cases twice, so a `Content-Type` would go beside the sink's own, and receivers read the first.
   */
  private readonly headers: Record<string, string>;

  constructor(private readonly opts: FormatOptions) {
    this.keys = (opts.secrets ?? []).map(secretKey);
    this.asList = (opts.batchSize ?? 1) > 1 || opts.sendAsList === true;
    // Validated with the configuration already; a program building a sink itself learns here, not per delivery.
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      const problem = headerProblem(name, value);
      if (problem !== undefined) throw new TypeError(`sink ${opts.name}: header ${JSON.stringify(name)}: ${problem}`);
    }
    this.headers = Object.fromEntries(Object.entries(opts.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  }

  /** The POST delivering these stored events (in order; one when unbatched), stamped with `nowMs`. */
  request(batch: readonly { id: string; body: string }[], nowMs: number): WebhookRequest {
    const ts = Math.floor(nowMs / 1000);
    const shaped = batch.map((r) => shapeEvent(r.body, this.opts));
    const text = this.asList ? `[${shaped.join(',')}]` : shaped[0]!;
    // Encoded once, here: the content-length is its length, and the POST (made ahead, transport.ts postNext) goes
    // without encoding it on the way.
    const body = Buffer.from(text);
    // The event id is the webhook id: a redelivery after a crash carries the same one, so receivers dedupe.
    const id = batchWebhookId(batch.map((r) => r.id));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...this.headers,
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'content-length': String(body.length),
    };
    if (this.keys.length > 0) headers['webhook-signature'] = sign(this.keys, id, ts, text);
    return { id, headers, body };
  }
}
