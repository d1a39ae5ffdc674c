// The CloudEvents HTTP protocol binding (cloudevents/spec cloudevents/bindings/http-protocol-binding.md), request
// side: which mode a POST is in (structured, binary, batch: section 3), and its body and headers turned into event
// objects for the intake, which validates them as it does NATS events. Socket-free: headers and bytes in, events or
// a refusal out. Binary mode carries scalar attributes only: the product's object and list extensions (producer,
// actor, object, target, tags, projects) have no header form, and are refused there with a pointer to structured mode.

import { MAX_EVENT_DEPTH } from '@event-broker/shared';

/** What a request is refused with before any event is taken: its status, a code and where. */
export interface BindingRefusal {
  status: 400 | 413 | 415;
  field?: string;
  reason: string;
}

export type BindingMode = 'structured' | 'binary' | 'batch';

export const STRUCTURED = 'application/cloudevents+json';
export const BATCH = 'application/cloudevents-batch+json';

/** A media type's essence (lower case, no parameters) and its charset parameter, when given. */
export function mediaType(header: string | undefined): { essence: string; charset?: string } | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const [essence, ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    if (p.slice(0, eq).trim().toLowerCase() === 'charset')
      charset = p
        .slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '')
        .toLowerCase();
  }
  return { essence: essence!.trim().toLowerCase(), ...(charset !== undefined && { charset }) };
}

/** Headers as node's `req.headersDistinct` has them: lower-case names, every value of a repeated header. */
export type Headers = Readonly<Record<string, readonly string[] | undefined>>;

const first = (h: Headers, name: string): string | undefined => h[name]?.[0];

/**
 * The mode (section 3.1.3 / 3.2 / 3.3): the two CloudEvents media types name theirs; any other request with
 * `ce-specversion` is binary; anything else is not a CloudEvent (415).
 */
export function bindingMode(h: Headers): { ok: true; mode: BindingMode } | { ok: false; refusal: BindingRefusal } {
  const type = mediaType(first(h, 'content-type'));
  const unsupported = (reason: string) => ({ ok: false as const, refusal: { status: 415 as const, reason } });
  if (type?.essence === STRUCTURED || type?.essence === BATCH) {
    if (type.charset !== undefined && type.charset !== 'utf-8')
      return unsupported(`charset ${JSON.stringify(type.charset)} is not supported: send UTF-8`);
    return { ok: true, mode: type.essence === STRUCTURED ? 'structured' : 'batch' };
  }
  if (type?.essence.startsWith('application/cloudevents'))
    return unsupported(`${type.essence} is an event format this service does not read: send ${STRUCTURED}`);
  if (h['ce-specversion'] !== undefined) return { ok: true, mode: 'binary' };
  return unsupported(
    `expected Content-Type ${STRUCTURED}, ${BATCH}, or a binary-mode event (ce-specversion and the other ce- headers)`,
  );
}

/** The product's extensions that are objects or lists: no header can carry them (binary mode is scalar-only). */
const NOT_IN_HEADERS = new Set(['producer', 'actor', 'object', 'target', 'tags', 'projects']);

/** RFC 7230 3.2.6's quoted-string: a value wholly in double quotes, backslash escapes undone. */
const QUOTED = /^"((?:[^"\\]|\\.)*)"$/s;

/**
 * A ce- header value decoded (section 3.1.3.2): unescaped first when it is a quoted-string (what older senders wrote
 * instead of encoding spaces and quotes), then `%XX` sequences as UTF-8 (an invalid or overlong sequence refused);
 * undefined when malformed or holding a raw character outside printable ASCII (which must be encoded).
 */
export function percentDecode(header: string): string | undefined {
  const quoted = QUOTED.exec(header);
  const value = quoted === null ? header : quoted[1]!.replace(/\\(.)/gs, '$1');
  // Anything past printable ASCII must come percent-encoded; node hands raw bytes over as Latin-1 (mojibake).
  if (/[^\x20-\x7e]/.test(value)) return undefined;
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** A binary-mode event: its attributes from the ce- headers, data from the body and Content-Type (3.1.1, 3.1.3). */
export function binaryEvent(
  h: Headers,
  body: Buffer,
): { ok: true; event: Record<string, unknown> } | { ok: false; refusal: BindingRefusal } {
  const bad = (field: string, reason: string) => ({
    ok: false as const,
    refusal: { status: 400 as const, field, reason },
  });
  const event: Record<string, unknown> = {};
  for (const [header, values] of Object.entries(h)) {
    if (!header.startsWith('ce-') || values === undefined) continue;
    const name = header.slice(3);
    if (values.length !== 1) return bad(name, `the ${header} header is sent ${values.length} times`);
    if (NOT_IN_HEADERS.has(name))
      return bad(
        name,
        `is an object or list attribute, which binary mode cannot carry: send this event in structured mode (${STRUCTURED})`,
      );
    if (name === 'datacontenttype') return bad(name, 'is the Content-Type header in binary mode, not a ce- header');
    if (name === 'data' || name === 'data_base64') return bad(name, 'is the body in binary mode, not a ce- header');
    const value = percentDecode(values[0]!);
    if (value === undefined) return bad(name, `the ${header} header is not valid percent-encoded UTF-8`);
    event[name] = value;
  }
  const contentType = first(h, 'content-type');
  if (contentType !== undefined && contentType !== '') event.datacontenttype = contentType;
  if (body.length === 0) return { ok: true, event };
  const type = mediaType(contentType);
  const textual = type?.charset === undefined || type.charset === 'utf-8';
  if (type !== undefined && textual && (type.essence === 'application/json' || type.essence.endsWith('+json'))) {
    if (jsonNestsDeeperThan(body, MAX_BODY_DEPTH)) return bad('data', `nests deeper than ${MAX_BODY_DEPTH} levels`);
    try {
      event.data = JSON.parse(body.toString('utf8'));
    } catch (err) {
      return bad('data', `the body is not the JSON its Content-Type says: ${(err as Error).message}`);
    }
  } else if (type !== undefined && textual && type.essence.startsWith('text/')) {
    event.data = body.toString('utf8');
  } else {
    event.data_base64 = body.toString('base64');
  }
  return { ok: true, event };
}

/**
 * The deepest a request body may nest before it is parsed: a batch's event (level 2) at the intake's own bound
 * (shared events/limits.ts). Deeper is refused by the intake anyway; V8's JSON.parse of megabytes of `[[[[...` takes
 * seconds of the event loop, so it is refused by a scan of the bytes first.
 */
export const MAX_BODY_DEPTH = MAX_EVENT_DEPTH + 1;

/** Does the JSON text in `body` open more than `max` arrays or objects at once? Strings are skipped; O(bytes). */
export function jsonNestsDeeperThan(body: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A request body's JSON value (at most MAX_BODY_DEPTH levels deep), or why not. */
export function parseBody(
  body: Buffer,
  field = '',
): { ok: true; value: unknown } | { ok: false; refusal: BindingRefusal } {
  if (jsonNestsDeeperThan(body, MAX_BODY_DEPTH))
    return { ok: false, refusal: { status: 400, field, reason: `nests deeper than ${MAX_BODY_DEPTH} levels` } };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) };
  } catch (err) {
    return { ok: false, refusal: { status: 400, field, reason: `not JSON: ${(err as Error).message}` } };
  }
}

/** A structured event's body: one JSON value (the intake says whether it is an event). */
export function structuredEvent(body: Buffer): { ok: true; event: unknown } | { ok: false; refusal: BindingRefusal } {
  const parsed = parseBody(body);
  return parsed.ok ? { ok: true, event: parsed.value } : parsed;
}

/**
 * A batch (3.3): a JSON array of structured events, at most `maxBatch` of them. An element larger than
 * `maxPayloadBytes` as JSON is marked (refused alone, 413); the others go on.
 */
export function batchEvents(
  body: Buffer,
  limits: { maxBatch: number; maxPayloadBytes: number },
): { ok: true; events: unknown[]; tooLarge: ReadonlySet<number> } | { ok: false; refusal: BindingRefusal } {
  const parsed = parseBody(body);
  if (!parsed.ok) return parsed;
  const value = parsed.value;
  if (!Array.isArray(value))
    return { ok: false, refusal: { status: 400, field: '', reason: 'a batch must be a JSON array of events' } };
  if (value.length > limits.maxBatch) {
    return {
      ok: false,
      refusal: {
        status: 413,
        reason: `${value.length} events in one batch; at most ${limits.maxBatch} ([intake.http] max_batch)`,
      },
    };
  }
  const tooLarge = new Set<number>();
  value.forEach((el: unknown, i) => {
    let text: string;
    try {
      text = JSON.stringify(el) ?? '';
    } catch {
      return; // nested too deep to stringify: the intake refuses it by its depth (shared events/limits.ts)
    }
    // A cheap bound first: a string's length in UTF-16 units is at most its UTF-8 bytes.
    if (text.length > limits.maxPayloadBytes / 3 && Buffer.byteLength(text) > limits.maxPayloadBytes) tooLarge.add(i);
  });
  return { ok: true, events: value, tooLarge };
}
