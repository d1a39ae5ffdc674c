// The [handlers] and [sinks] settings: each handler (feed, cfgingest, event_feed) and each named sink
// (`[sinks.NAME]`) is an address ("host:port", meaning HTTP POST to it) or a table (url, filter, match, headers,
// secret, max_attempts, timeout_ms, TLS files, backoff, rate, burst, body and batching options). config.ts places
// the sections; this module reads one sink's value, the [sinks] table, and says which events each handler wants by
// default. Which sinks an event goes to is routing.ts's.
import {
  decodedOrProblems,
  formatDuration,
  REDACTED,
  schema as s,
  tomlString,
  type CheckContext,
  type Decoded,
  type DecodeProblem,
  type ValueSource,
} from '@event-broker/shared';
import type { HandlerSink } from '../config-values.js';
import { grpcMetadataProblem, headerProblem } from './sinks/headers.js';
import {
  decodeBackoff,
  decodeMatch,
  decodePacing,
  decodeTls,
  isGrpcUrl,
  positiveInt,
  refuseHttpOnly,
  type Report,
} from './sink-options.js';

/** The handlers and the events each wants unless its `filter` says otherwise (Flipt-style noun:verb). */
export const HANDLER_DEFAULT_FILTERS = {
  // Compliance events for the feed service (a receiver of ours, not the event feed): compliance results, scan jobs,
  // profiles.
  feed: ['compliance:ingest', 'scanJob:*', 'profile:*'],
  // Client-run data and node terminations for config ingest.
  cfgingest: ['cfg:ingest', 'node:terminated'],
  // Every event, for the receiver named event_feed (the service's own event feed, /events, needs no sink).
  event_feed: ['*:*'],
} as const;

export type HandlerName = keyof typeof HANDLER_DEFAULT_FILTERS;

const DEFAULT_MAX_ATTEMPTS = 10;
const DEFAULT_TIMEOUT_MS = 10_000;
/** The longest a Node timer waits (2^31 - 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const ADDRESS = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;
/** `noun:verb` with `*` for either side; a leading `!` makes it an exclusion. */
const FILTER = /^!?(\*|[A-Za-z][A-Za-z0-9]*):(\*|[A-Za-z][A-Za-z0-9]*)$/;
const KEYS = new Set([
  'url',
  'filter',
  'match',
  'ca_path',
  'cert_path',
  'key_path',
  'backoff',
  'rate',
  'burst',
  'headers',
  'secret',
  'max_attempts',
  'timeout_ms',
  'ssl_verify',
  'extra_args',
  'flatten_payload',
  'send_as_list',
  'batch_size',
  'batch_bytes',
  'batch_wait_ms',
  'max_in_flight',
  'pipelining',
]);
const MAX_BATCH_SIZE = 10_000;
/** Each POST in flight holds a connection to the receiver; past a few dozen a receiver is more likely the limit. */
const MAX_IN_FLIGHT = 256;
/** POSTs pipelined on an in-order sink's connection: enough to hide the round trip, not a receiver's whole queue. */
const MAX_PIPELINING = 64;

/** The receiver kinds a sink URL may name (h/grpc writes the gRPC transport; here the schemes are only accepted). */
const URL_FORMS = '"host:port" or an http(s) URL (or grpc(s)://host:port)';

function toUrl(raw: string): string | undefined {
  if (ADDRESS.test(raw)) return `http://${raw}/`;
  try {
    const u = new URL(raw);
    if (u.protocol === 'http:' || u.protocol === 'https:') return u.toString();
    // gRPC names a host and port only: the service and method are the protocol's (CloudEventService/Publish).
    const grpc = u.protocol === 'grpc:' || u.protocol === 'grpcs:';
    const bare = u.pathname === '' || u.pathname === '/';
    if (
      grpc &&
      u.hostname !== '' &&
      u.port !== '' &&
      bare &&
      u.search === '' &&
      u.hash === '' &&
      u.username === '' &&
      u.password === ''
    )
      return `${u.protocol}//${u.host}`;
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * moat style "k=v,k=v", or a table of strings; names lower-cased. Each header is checked as the sink will send it
 * (sinks/headers.ts headerProblem): a header Node refuses would otherwise dead-letter every event as "unreachable".
 */
function decodeHeaders(raw: unknown, grpc: boolean, report: Report): Record<string, string> {
  const out: Record<string, string> = {};
  let pairs: Array<[string, unknown]>;
  if (typeof raw === 'string') {
    pairs = [];
    for (const part of raw.split(',')) {
      if (part.trim() === '') continue;
      const i = part.indexOf('=');
      if (i <= 0) {
        report('ECONFIG_VALUE', `must be "name=value,name=value", got ${JSON.stringify(part)}`, ['headers']);
        continue;
      }
      pairs.push([part.slice(0, i).trim(), part.slice(i + 1).trim()]);
    }
  } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    pairs = Object.entries(raw);
  } else {
    report('ECONFIG_TYPE', 'must be "name=value,..." or a table of strings', ['headers']);
    return out;
  }
  for (const [name, value] of pairs) {
    if (typeof value !== 'string') {
      report('ECONFIG_TYPE', 'must be a string', ['headers', name]);
      continue;
    }
    const problem = headerProblem(name, value) ?? (grpc ? grpcMetadataProblem(name, value) : undefined);
    if (problem !== undefined) report('ECONFIG_VALUE', problem, ['headers', name]);
    else if (Object.hasOwn(out, name.toLowerCase()))
      report('ECONFIG_VALUE', 'given twice (header names are case-insensitive)', ['headers', name]);
    else out[name.toLowerCase()] = value;
  }
  return out;
}

/** TOML values as JSON values: integers (bigint from the TOML reader) become numbers; undefined when not JSON-able. */
function jsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : undefined;
  if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) return v;
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) {
    const out = v.map(jsonValue);
    return out.includes(undefined) ? undefined : out;
  }
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const j = jsonValue(x);
      if (j === undefined) return undefined;
      out[k] = j;
    }
    return out;
  }
  return undefined;
}

/** The optional delivery options, present in the result only when set. */
function decodeOptions(t: Record<string, unknown>, report: Report): Partial<HandlerSink> {
  const out: Partial<HandlerSink> = {};
  for (const k of ['ssl_verify', 'flatten_payload', 'send_as_list'] as const) {
    if (t[k] === undefined) continue;
    if (typeof t[k] !== 'boolean') report('ECONFIG_TYPE', 'must be true or false', [k]);
    else out[k] = t[k];
  }
  if (t.extra_args !== undefined) {
    const extra = jsonValue(t.extra_args);
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
      report('ECONFIG_TYPE', 'must be a table of JSON-able values (added to each delivered event)', ['extra_args']);
    } else out.extra_args = extra as Record<string, unknown>;
  }
  if (t.batch_size !== undefined) {
    const n = positiveInt(t.batch_size, 1);
    if (n === undefined || n > MAX_BATCH_SIZE)
      report('ECONFIG_RANGE', `must be an integer from 1 to ${MAX_BATCH_SIZE}`, ['batch_size']);
    else out.batch_size = n;
  }
  if (t.batch_bytes !== undefined) {
    const n = positiveInt(t.batch_bytes, 1);
    if (n === undefined) report('ECONFIG_RANGE', 'must be an integer of at least 1 (bytes)', ['batch_bytes']);
    else out.batch_bytes = n;
  }
  if (t.batch_wait_ms !== undefined) {
    const n = t.batch_wait_ms === 0 || t.batch_wait_ms === 0n ? 0 : positiveInt(t.batch_wait_ms, 0);
    if (n === undefined || n > 60_000)
      report('ECONFIG_RANGE', 'must be an integer from 0 to 60000 (milliseconds)', ['batch_wait_ms']);
    else out.batch_wait_ms = n;
  }
  if (t.max_in_flight !== undefined) {
    const n = positiveInt(t.max_in_flight, 1);
    if (n === undefined || n > MAX_IN_FLIGHT)
      report('ECONFIG_RANGE', `must be an integer from 1 to ${MAX_IN_FLIGHT}`, ['max_in_flight']);
    else out.max_in_flight = n;
  }
  if (t.pipelining !== undefined) {
    const n = positiveInt(t.pipelining, 1);
    if (n === undefined || n > MAX_PIPELINING)
      report('ECONFIG_RANGE', `must be an integer from 1 to ${MAX_PIPELINING}`, ['pipelining']);
    else if (n > 1 && (out.max_in_flight ?? 1) > 1)
      report('ECONFIG_VALUE', 'is for in-order sinks (max_in_flight = 1): set one or the other', ['pipelining']);
    else out.pipelining = n;
  }
  return out;
}

/** One sink's value; a table is checked whole, every problem reported (the rest of the config does the same). */
function decodeSink(raw: unknown, source: ValueSource | undefined): Decoded<HandlerSink> {
  const base = {
    filter: [] as string[],
    headers: {},
    secrets: [] as string[],
    max_attempts: DEFAULT_MAX_ATTEMPTS,
    timeout_ms: DEFAULT_TIMEOUT_MS,
  };
  if (typeof raw === 'string') {
    const url = toUrl(raw);
    return url === undefined
      ? { ok: false, code: 'ECONFIG_VALUE', reason: `must be ${URL_FORMS}, got ${JSON.stringify(raw)}` }
      : { ok: true, value: { url, ...base } };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, code: 'ECONFIG_TYPE', reason: 'must be "host:port" or a table with url' };
  const t = raw as Record<string, unknown>;
  const problems: DecodeProblem[] = [];
  const report: Report = (code, reason, at) => void problems.push({ code, reason, ...(at && { at }) });
  for (const k of Object.keys(t))
    if (!KEYS.has(k)) report('ECONFIG_UNKNOWN_KEY', `unknown key (known: ${[...KEYS].join(', ')})`, [k]);
  let url: string | undefined;
  if (typeof t.url !== 'string') report('ECONFIG_MISSING', `url is required: ${URL_FORMS}`, ['url']);
  else {
    url = toUrl(t.url);
    if (url === undefined) report('ECONFIG_VALUE', `must be ${URL_FORMS}, got ${JSON.stringify(t.url)}`, ['url']);
  }
  const filter = t.filter ?? [];
  if (!Array.isArray(filter))
    report('ECONFIG_TYPE', 'must be an array of "noun:verb" strings ("!noun:verb" excludes)', ['filter']);
  else {
    filter.forEach((f: unknown, i) => {
      if (typeof f !== 'string' || !FILTER.test(f))
        report(
          'ECONFIG_VALUE',
          `must be "noun:verb" with * for any, or "!noun:verb" to exclude, got ${JSON.stringify(f)}`,
          ['filter', i],
        );
    });
  }
  const grpc = url !== undefined && isGrpcUrl(url);
  const headers = t.headers === undefined ? {} : decodeHeaders(t.headers, grpc, report);
  if (grpc) refuseHttpOnly(t, report);
  const secrets = t.secret === undefined ? [] : Array.isArray(t.secret) ? t.secret : [t.secret];
  secrets.forEach((sec: unknown, i) => {
    if (typeof sec !== 'string' || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(sec)) {
      report(
        'ECONFIG_VALUE',
        'must be a "whsec_<base64>" secret (or an array of them during rotation)',
        Array.isArray(t.secret) ? ['secret', i] : ['secret'],
      );
    }
  });
  const max_attempts = positiveInt(t.max_attempts, DEFAULT_MAX_ATTEMPTS);
  if (max_attempts === undefined) report('ECONFIG_RANGE', 'must be an integer of at least 1', ['max_attempts']);
  const timeout_ms = positiveInt(t.timeout_ms, DEFAULT_TIMEOUT_MS);
  if (timeout_ms === undefined || timeout_ms > MAX_TIMER_MS)
    report('ECONFIG_RANGE', `must be an integer from 1 to ${MAX_TIMER_MS} (milliseconds)`, ['timeout_ms']);
  const options = decodeOptions(t, report);
  const tls = decodeTls(t, url, source, report);
  const backoff = t.backoff === undefined ? undefined : decodeBackoff(t.backoff, source, report);
  const pacing = decodePacing(t, report);
  const match = t.match === undefined ? undefined : decodeMatch(t.match, report);
  return decodedOrProblems(problems, () => ({
    url: url!,
    filter: filter as string[],
    headers,
    secrets: secrets as string[],
    max_attempts: max_attempts!,
    timeout_ms: timeout_ms!,
    ...options,
    ...tls,
    ...(backoff !== undefined && { backoff }),
    ...pacing,
    ...(match !== undefined && Object.keys(match).length > 0 && { match }),
  }));
}

/** Printed as an inline table, secrets redacted. */
function encodeSink(v: HandlerSink): string {
  const parts = [`url = ${tomlString(v.url)}`];
  if (v.filter.length > 0) parts.push(`filter = [${v.filter.map(tomlString).join(', ')}]`);
  const hk = Object.keys(v.headers);
  if (hk.length > 0)
    parts.push(`headers = { ${hk.map((k) => `${tomlString(k)} = ${tomlString(v.headers[k]!)}`).join(', ')} }`);
  if (v.secrets.length > 0) parts.push(`secret = ${tomlString(REDACTED)}`);
  parts.push(`max_attempts = ${v.max_attempts}`, `timeout_ms = ${v.timeout_ms}`);
  for (const k of [
    'ssl_verify',
    'flatten_payload',
    'send_as_list',
    'batch_size',
    'batch_bytes',
    'batch_wait_ms',
    'max_in_flight',
    'pipelining',
  ] as const) {
    if (v[k] !== undefined) parts.push(`${k} = ${String(v[k])}`);
  }
  if (v.extra_args !== undefined) parts.push(`extra_args = ${tomlInline(v.extra_args)}`);
  // Paths are not secrets (a key file's path names where it is, not what it holds).
  for (const k of ['ca_path', 'cert_path', 'key_path'] as const) {
    if (v[k] !== undefined) parts.push(`${k} = ${tomlString(v[k])}`);
  }
  if (v.backoff !== undefined)
    parts.push(
      `backoff = { base = ${tomlString(formatDuration(v.backoff.base_ms))}, max = ${tomlString(formatDuration(v.backoff.max_ms))} }`,
    );
  if (v.rate !== undefined) parts.push(`rate = ${v.rate}`);
  if (v.burst !== undefined) parts.push(`burst = ${v.burst}`);
  if (v.match !== undefined) parts.push(`match = ${tomlInline(v.match)}`);
  return `{ ${parts.join(', ')} }`;
}

function tomlInline(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (Array.isArray(v)) return `[${v.map(tomlInline).join(', ')}]`;
  if (typeof v === 'object' && v !== null) {
    const e = Object.entries(v);
    return e.length === 0 ? '{}' : `{ ${e.map(([k, x]) => `${tomlString(k)} = ${tomlInline(x)}`).join(', ')} }`;
  }
  return String(v);
}

const sink = () =>
  s
    .custom<HandlerSink>({ expected: '"host:port" or a table with url', decode: decodeSink, encode: encodeSink })
    .optional();

/** The [handlers] section; absent, no sinks (events are stored for the feed only). */
export const handlersSchema = s.table({ feed: sink(), cfgingest: sink(), event_feed: sink() }).optional();

/**
 * A named sink's name: it keys the store's delivery records, /deadletters?sink=, metrics labels and log lines, so
 * letters, digits, `_` and `-` only (nothing to quote or escape anywhere), starting with a letter, at most 64.
 */
export const SINK_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
/** Each named sink is a pump and a connection pool of its own: past a few dozen, a receiver fan-out belongs elsewhere. */
export const MAX_NAMED_SINKS = 64;

/** `[sinks.NAME]` tables: each a sink as a handler's is; every problem of every one reported. */
function decodeSinks(raw: unknown, source: ValueSource | undefined): Decoded<Record<string, HandlerSink>> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { ok: false, code: 'ECONFIG_TYPE', reason: 'must be a table of sinks: [sinks.NAME] with url' };
  const problems: DecodeProblem[] = [];
  const out: Record<string, HandlerSink> = {};
  const names = Object.keys(raw);
  if (names.length > MAX_NAMED_SINKS)
    problems.push({ code: 'ECONFIG_RANGE', reason: `at most ${MAX_NAMED_SINKS} named sinks, got ${names.length}` });
  for (const [name, v] of Object.entries(raw)) {
    if (!SINK_NAME.test(name)) {
      problems.push({
        code: 'ECONFIG_VALUE',
        reason: 'a sink name is 1 to 64 letters, digits, "_" or "-", starting with a letter',
        at: [name],
      });
      continue;
    }
    if (Object.hasOwn(HANDLER_DEFAULT_FILTERS, name)) {
      problems.push({
        code: 'ECONFIG_VALUE',
        reason: `"${name}" is a handler's name: configure it under [handlers.${name}], or choose another name`,
        at: [name],
      });
      continue;
    }
    const d = decodeSink(v, source);
    if (d.ok) out[name] = d.value;
    else
      for (const p of [d, ...(d.also ?? [])])
        problems.push({ code: p.code, reason: p.reason, at: [name, ...(p.at ?? [])] });
  }
  return decodedOrProblems(problems, () => out);
}

function encodeSinks(v: Record<string, HandlerSink>): string {
  const e = Object.entries(v);
  return e.length === 0 ? '{}' : `{ ${e.map(([k, x]) => `${k} = ${encodeSink(x)}`).join(', ')} }`;
}

/** The [sinks] section: named sinks beside the handlers; absent, none. */
export const sinksSchema = s
  .custom<Record<string, HandlerSink>>({
    expected: 'a table of named sinks ([sinks.NAME] with url)',
    decode: decodeSinks,
    encode: encodeSinks,
  })
  .optional();

/** The JetStream layout routes with a slot per handler (jetstream/layout.ts): a named sink would need a new layout. */
export function checkNamedSinksBackend(
  c: { sinks?: Record<string, unknown>; store?: { backend: string } },
  ctx: CheckContext,
): void {
  if (c.sinks === undefined || c.store?.backend !== 'jetstream') return;
  for (const name of Object.keys(c.sinks))
    ctx.report(
      ['sinks', name],
      'ECONFIG_VALUE',
      'named sinks need [store] backend = "sqlite": the JetStream layout routes to the three [handlers] only',
    );
}
