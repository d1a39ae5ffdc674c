// What an HTTP sink is given (http.ts): its options, the logger it reports through, and how a [handlers] entry
// becomes those options. Apart from the sink, so the main thread (handlers/lifecycle.ts, sink-pool.ts) maps its
// configuration without loading the delivery code the sink worker runs.
import type { HandlerSink } from '../../config-types.js';

/** What a sink logs through: the service's logger, or in the sink worker one that forwards to it (sink-worker.ts). */
export interface SinkLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

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
  /** POSTs outstanding at once (default 1: strict order); more: unordered, see the top of http.ts. */
  maxInFlight?: number;
  /**
   * In order (maxInFlight 1): POSTs sent on the one connection before the first is answered (HTTP/1.1 pipelining,
   * default 1: none). After a failure the POSTs behind it are dropped and sent again after it, in order.
   */
  pipelining?: number;
  /** Backoff: attempt n waits a random time in [0, min(capMs, baseMs * 2^(n-1))]. */
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Mutual TLS and a private CA for https and grpc(s) receivers (PEM files, read when connections are made). */
  tls?: { caPath?: string; certPath?: string; keyPath?: string };
  /** Events per second on average (token bucket), `burst` at once; absent: unlimited. */
  rate?: number;
  burst?: number;
  logger: SinkLogger;
  /** Called after deliveries resolve (delivered or dead), so the intake can resume paused publishers. */
  onResolved?: () => void;
  /** Called when `state`, `stats`, `lastError` or `lastDeliveredAt` changed (the sink worker reports them). */
  onChange?: () => void;
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
    ...(conf.max_in_flight !== undefined && { maxInFlight: conf.max_in_flight }),
    ...(conf.pipelining !== undefined && { pipelining: conf.pipelining }),
    ...(conf.backoff !== undefined && { backoffBaseMs: conf.backoff.base_ms, backoffCapMs: conf.backoff.max_ms }),
    ...((conf.ca_path ?? conf.cert_path ?? conf.key_path) !== undefined && {
      tls: {
        ...(conf.ca_path !== undefined && { caPath: conf.ca_path }),
        ...(conf.cert_path !== undefined && { certPath: conf.cert_path }),
        ...(conf.key_path !== undefined && { keyPath: conf.key_path }),
      },
    }),
    ...(conf.rate !== undefined && { rate: conf.rate }),
    ...(conf.burst !== undefined && { burst: conf.burst }),
  };
}

/** A sink's URL as logs and status show it: no user, password, query or fragment (any may hold a credential). */
export function displayUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(unreadable url)';
  }
}
