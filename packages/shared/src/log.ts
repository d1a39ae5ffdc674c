// Structured logging for both processes: pino, one event a line. "json" writes pino's JSON; "text" writes the same
// events formatted by pino-pretty. Both go to standard output through one asynchronous buffered writer (sonic-boom,
// as pino.destination makes it), which pino flushes when the process exits, so the last lines (`shutting down`,
// `server stopped`) are not lost. Text is formatted on the logging thread: a line costs microseconds and the broker
// logs per connection or per throttled warning, never per message, while the pino-pretty worker thread this used
// to start cost a second Node isolate at every start (~200 ms CPU of a ~600 ms start, issue 16 item 5).
// Callers log ids, subjects and sizes, never payloads, tokens or keys; the redact list below is the safety net for
// fields that slip in.
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LogOptions {
  format?: 'text' | 'json';
  level?: string;
  /** Name of the process or component (`event-service`, `event-gateway`). */
  name?: string;
  /**
   * Where to write; standard output by default. A stream given here lives on this thread, so "text" is formatted on
   * this thread too (tests capture lines this way); only standard output gets the worker.
   */
  destination?: NodeJS.WritableStream;
}

const REDACT = [
  'token',
  'auth_token',
  'jwt',
  'pass',
  'password',
  'secret',
  'key',
  '*.token',
  '*.auth_token',
  '*.jwt',
  '*.pass',
  '*.password',
  '*.secret',
  '*.key',
  'payload',
  'data',
];

const PRETTY = { colorize: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true };

let stdoutText: DestinationStream | undefined;
const require = createRequire(import.meta.url);

/** pino-pretty's formatter with our options, loaded on first use: a JSON-only process never loads it. */
function prettyFormatter(): (line: string) => string {
  const { prettyFactory } = require('pino-pretty') as typeof import('pino-pretty');
  return prettyFactory(PRETTY);
}

/** A given destination (tests capture lines this way; an embedding program): formatted and written at once. */
function prettyHere(destination: NodeJS.WritableStream): DestinationStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({ ...PRETTY, sync: true, destination });
}

/**
 * Standard output's text: each line formatted here and written through an asynchronous sonic-boom (flushed at
 * exit). One per process, shared by every text logger (an embedding program or a test starting many services).
 */
function prettyToStdout(): DestinationStream {
  if (stdoutText === undefined) {
    const format = prettyFormatter();
    const out = pino.destination({ dest: 1, sync: false });
    stdoutText = { write: (line: string) => out.write(format(line)) };
  }
  return stdoutText;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base = { name: opts.name ?? 'event-broker', level, redact: { paths: REDACT, censor: '<redacted>' } };
  if (level === 'silent') return pino({ ...base, enabled: false });
  if (opts.format === 'json') {
    return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: false }));
  }
  if (opts.destination === undefined) return pino(base, prettyToStdout());
  return pino(base, prettyHere(opts.destination));
}

/** The least time between two lines of one ThrottledWarn. */
export const THROTTLED_WARN_MS = 10_000;

/**
 * A warn line for something a peer can make happen at will (a refused connection or request, a dropped message): at
 * most one line per interval, carrying how many happened since the last one (`count`, or one field per kind), so a
 * flood cannot flood the log. The first is written at once with its fields; the rest within the interval are
 * counted and written as one line, with the latest fields, when the interval is over (a timer that holds no process
 * open), so no occurrence goes unreported.
 */
export class ThrottledWarn<Kind extends string = 'count'> {
  private counts = new Map<Kind, number>();
  private latest: { logger: Logger; fields: Record<string, unknown> } | undefined;
  private loggedAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;

  /** `kinds`: the fields every line carries, 0 when none happened (a single `count` when absent). */
  constructor(
    private readonly msg: string,
    private readonly opts: { readonly kinds?: readonly Kind[]; readonly intervalMs?: number } = {},
  ) {}

  note(logger: Logger, fields: Record<string, unknown>, kind: Kind = 'count' as Kind): void {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    this.latest = { logger, fields };
    const interval = this.opts.intervalMs ?? THROTTLED_WARN_MS;
    const wait = this.loggedAt + interval - Date.now();
    if (wait <= 0) {
      this.write();
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.write(), wait);
      this.timer.unref();
    }
  }

  private write(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const latest = this.latest;
    if (latest === undefined) return;
    const counts: Record<string, number> = {};
    for (const k of this.opts.kinds ?? []) counts[k] = 0;
    for (const [k, n] of this.counts) counts[k] = n;
    latest.logger.warn({ ...latest.fields, ...counts }, this.msg);
    this.counts.clear();
    this.latest = undefined;
    this.loggedAt = Date.now();
  }
}

/** Peer-chosen text (a leaf's name, a Host header) shortened for a log line: at most `max` characters. */
export function clipped(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
