// Structured logging for both processes: pino, one event a line. "json" writes pino's JSON; "text" writes the same
// events through pino-pretty synchronously (no worker thread), for people at a terminal. Callers log ids, subjects
// and sizes, never payloads, tokens or keys; the redact list below is the safety net for fields that slip in.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export interface LogOptions {
  format?: 'text' | 'json';
  level?: string;
  /** Name of the process or component (`event-service`, `event-gateway`). */
  name?: string;
  /** Where to write; standard output by default. */
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

export function createLogger(opts: LogOptions = {}): Logger {
  const level = opts.level ?? 'info';
  const base = { name: opts.name ?? 'event-broker', level, redact: { paths: REDACT, censor: '<redacted>' } };
  if (level === 'silent') return pino({ ...base, enabled: false });
  if (opts.format === 'json') {
    return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: false }));
  }
  const stream = pretty({
    colorize: false,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
    ...(opts.destination && { destination: opts.destination }),
  });
  return pino(base, stream);
}
