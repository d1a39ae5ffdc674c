// What the HTTP intake answers: each event's outcome as a status and a result entry (`{id, duplicate}` or
// `{status, error}`), and a request's status from its events': one event's own; a batch's 200 only when every
// event is stored (or was already), else the status a producer should act on (503 or 429 first: retry the whole
// batch, stored events come back as duplicates; then the first refusal's), with every event's result and the first
// refusal as `error`, its field prefixed with the element (`[3].type`).
import type http from 'node:http';
import { EventReplyErrorCode, IntakeHttpErrorCode } from '../error-codes.js';
import { errorBody, type ErrorReply } from '../handlers/error-reply.js';
import type { IntakeResult } from '../handlers/intake-types.js';

/** Seconds a producer is told to wait: at event_limit (sinks drain it), after a store failure (it is reopened). */
const RETRY_AFTER_LIMIT_S = 1;
const RETRY_AFTER_STORE_S = 5;

export type ErrorCode = EventReplyErrorCode | IntakeHttpErrorCode;

/** One event's outcome. */
export type Outcome =
  { status: 200; id: string; duplicate: boolean } | { status: number; error: ErrorReply<ErrorCode> };

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const STATUS_OF: Readonly<Record<EventReplyErrorCode, number>> = {
  [EventReplyErrorCode.EEVENT_INVALID]: 400,
  [EventReplyErrorCode.EEVENT_LIMIT]: 429,
  [EventReplyErrorCode.EEVENT_STORE]: 503,
};

export function outcomeOf(r: IntakeResult): Outcome {
  if (r.ok) return { status: 200, id: r.id, duplicate: r.duplicate };
  return { status: STATUS_OF[r.error.code], error: r.error };
}

export function refusal(status: number, code: ErrorCode, reason: string, field?: string): Outcome {
  return { status, error: { code, reason, ...(field !== undefined && { field }) } };
}

function retryHeaders(status: number): Record<string, string> {
  if (status === 429) return { 'retry-after': String(RETRY_AFTER_LIMIT_S) };
  if (status === 503) return { 'retry-after': String(RETRY_AFTER_STORE_S) };
  return {};
}

function entry(o: Outcome): unknown {
  return 'id' in o ? { id: o.id, duplicate: o.duplicate } : { status: o.status, ...errorBody(o.error) };
}

/** A single event's answer (structured or binary mode). */
export function singleAnswer(o: Outcome, headers: Record<string, string> = {}): HttpAnswer {
  if ('id' in o) return { status: 200, headers, body: entry(o) };
  return { status: o.status, headers: { ...headers, ...retryHeaders(o.status) }, body: errorBody(o.error) };
}

/** A batch's answer: every event's result, in order. */
export function batchAnswer(outcomes: readonly Outcome[], headers: Record<string, string> = {}): HttpAnswer {
  const results = outcomes.map(entry);
  const failed = outcomes.findIndex((o) => !('id' in o));
  if (failed < 0) return { status: 200, headers, body: { results } };
  const retry = outcomes.find((o) => o.status === 503) ?? outcomes.find((o) => o.status === 429);
  const status = (retry ?? outcomes[failed]!).status;
  const first = outcomes[failed] as { error: ErrorReply<ErrorCode> };
  const field = `[${failed}]${first.error.field ? (first.error.field.startsWith('[') ? '' : '.') + first.error.field : ''}`;
  return {
    status,
    headers: { ...headers, ...retryHeaders(status) },
    body: { ...errorBody({ ...first.error, field }), results },
  };
}

/** Writes an answer as JSON. `close`: the connection ends after it (a body left unread). */
export function writeAnswer(res: http.ServerResponse, a: HttpAnswer, close = false): void {
  const text = JSON.stringify(a.body);
  res.writeHead(a.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...(close && { connection: 'close' }),
    ...a.headers,
  });
  res.end(text);
}
