// The options issue 14 added to a sink table (sink-config.ts reads the rest): the TLS files of an https or grpcs
// receiver, the retry backoff, the rate limit and the attribute matchers. Each reports every problem it finds.
import { formatDuration, schema as s, type DecodeProblem, type ValueSource } from '@event-broker/shared';
import type { HandlerSink, SinkMatch } from '../config-values.js';

/** Collects every problem of one sink table (each located inside it by `at`). */
export type Report = (code: DecodeProblem['code'], reason: string, at?: (string | number)[]) => void;

/** An integer of at least 1 (TOML integers arrive as bigint), `dflt` when absent; undefined when not one. */
export function positiveInt(raw: unknown, dflt: number): number | undefined {
  if (raw === undefined) return dflt;
  const n = typeof raw === 'bigint' ? Number(raw) : raw;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

const pathLeaf = s.path();
const durationLeaf = s.duration({ minMs: 1, maxMs: 2 ** 31 - 1 });
/** A key `backoff` leaves out: the pace of a sink without `backoff` (sinks/account.ts SinkAccount.backoff). */
const DEFAULT_BACKOFF = { base_ms: 500, max_ms: 60_000 };
/** A bound on `rate` (events/s) far above what one sink delivers, so a typo is caught rather than meaning unlimited. */
const MAX_RATE = 1_000_000;
const MATCH_KEYS = ['producer', 'tags', 'projects', 'authid'] as const;

/** ca_path, cert_path, key_path: files resolved like the config's other paths, for https and grpcs receivers only. */
export function decodeTls(
  t: Record<string, unknown>,
  url: string | undefined,
  source: ValueSource | undefined,
  report: Report,
) {
  const out: Pick<HandlerSink, 'ca_path' | 'cert_path' | 'key_path'> = {};
  for (const k of ['ca_path', 'cert_path', 'key_path'] as const) {
    if (t[k] === undefined) continue;
    const d = pathLeaf.spec.decode(t[k], source);
    if (!d.ok) report(d.code, d.reason, [k]);
    else out[k] = d.value;
  }
  if ((t.cert_path === undefined) !== (t.key_path === undefined)) {
    const [given, missing] = t.cert_path === undefined ? ['key_path', 'cert_path'] : ['cert_path', 'key_path'];
    report('ECONFIG_MISSING', `needs ${missing} too (a client certificate and its key go together)`, [given]);
  }
  const scheme = url === undefined ? undefined : new URL(url).protocol;
  if (scheme !== undefined && scheme !== 'https:' && scheme !== 'grpcs:') {
    for (const k of ['ca_path', 'cert_path', 'key_path'] as const) {
      if (t[k] !== undefined)
        report('ECONFIG_VALUE', `is for https:// and grpcs:// receivers only (TLS), and url is ${scheme}//`, [k]);
    }
  }
  return out;
}

/** A grpc:// or grpcs:// sink URL (as toUrl in sink-config.ts normalised it). */
export function isGrpcUrl(url: string): boolean {
  return /^grpcs?:/i.test(url);
}

/** HTTP body and signing options a gRPC sink has no use for (docs/sinks-grpc.md): refused rather than ignored. */
const HTTP_ONLY = ['secret', 'extra_args', 'flatten_payload', 'send_as_list', 'pipelining'] as const;

/** A grpc(s) sink's table: each HTTP-only key it sets is a problem. */
export function refuseHttpOnly(t: Record<string, unknown>, report: Report): void {
  for (const k of HTTP_ONLY) {
    if (t[k] === undefined) continue;
    const why =
      k === 'pipelining'
        ? 'it is HTTP/1.1 pipelining, and gRPC calls already share one HTTP/2 connection'
        : k === 'secret'
          ? 'gRPC deliveries are not signed (Standard Webhooks is HTTP): authenticate with cert_path/key_path or an authorization header'
          : 'gRPC deliveries are CloudEvents protobuf messages, their shape fixed (docs/sinks-grpc.md)';
    report('ECONFIG_VALUE', `is for http(s) receivers only: ${why}; remove it`, [k]);
  }
}

/** `backoff = { base = "1s", max = "5m" }`: durations as the config's others; base <= max. */
export function decodeBackoff(raw: unknown, source: ValueSource | undefined, report: Report): HandlerSink['backoff'] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    report('ECONFIG_TYPE', 'must be a table: { base = "1s", max = "5m" }', ['backoff']);
    return undefined;
  }
  const t = raw as Record<string, unknown>;
  const out = { ...DEFAULT_BACKOFF };
  let ok = true;
  for (const k of Object.keys(t)) {
    if (k !== 'base' && k !== 'max') {
      report('ECONFIG_UNKNOWN_KEY', 'unknown key (known: base, max)', ['backoff', k]);
      ok = false;
    }
  }
  for (const [k, field] of [
    ['base', 'base_ms'],
    ['max', 'max_ms'],
  ] as const) {
    if (t[k] === undefined) continue;
    const d = durationLeaf.spec.decode(t[k], source);
    if (!d.ok) {
      report(d.code, d.reason, ['backoff', k]);
      ok = false;
    } else out[field] = d.value;
  }
  if (ok && out.base_ms > out.max_ms) {
    report('ECONFIG_RANGE', `must not exceed max (${formatDuration(out.max_ms)}), got ${formatDuration(out.base_ms)}`, [
      'backoff',
      t.base === undefined ? 'max' : 'base',
    ]);
    ok = false;
  }
  return ok ? out : undefined;
}

/** `rate` events/s (> 0) and `burst` (an integer >= 1, with rate only). */
export function decodePacing(t: Record<string, unknown>, report: Report): Pick<HandlerSink, 'rate' | 'burst'> {
  const out: Pick<HandlerSink, 'rate' | 'burst'> = {};
  if (t.rate !== undefined) {
    const n = typeof t.rate === 'bigint' ? Number(t.rate) : t.rate;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > MAX_RATE)
      report('ECONFIG_RANGE', `must be a number of events per second above 0, at most ${MAX_RATE}`, ['rate']);
    else out.rate = n;
  }
  if (t.burst !== undefined) {
    const n = positiveInt(t.burst, 1);
    if (n === undefined || n > MAX_RATE)
      report('ECONFIG_RANGE', `must be an integer from 1 to ${MAX_RATE} (events)`, ['burst']);
    else if (t.rate === undefined)
      report('ECONFIG_MISSING', 'burst paces nothing without rate: set rate too', ['burst']);
    else out.burst = n;
  }
  return out;
}

/** `match = { producer = [...], tags = [...], projects = [...], authid = [...] }`: lists of non-empty strings. */
export function decodeMatch(raw: unknown, report: Report): SinkMatch | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    report('ECONFIG_TYPE', `must be a table of string lists (${MATCH_KEYS.join(', ')})`, ['match']);
    return undefined;
  }
  const out: SinkMatch = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!(MATCH_KEYS as readonly string[]).includes(k)) {
      report('ECONFIG_UNKNOWN_KEY', `unknown key (known: ${MATCH_KEYS.join(', ')})`, ['match', k]);
      continue;
    }
    if (!Array.isArray(v) || v.length === 0) {
      report('ECONFIG_VALUE', 'must be a non-empty array of strings (leave the key out to match any)', ['match', k]);
      continue;
    }
    const bad = v.findIndex((x: unknown) => typeof x !== 'string' || x === '');
    if (bad >= 0) report('ECONFIG_VALUE', 'must be a non-empty string', ['match', k, bad]);
    else out[k as keyof SinkMatch] = [...new Set(v as string[])];
  }
  return out;
}
