// The stable `code`s the event service gives callers, listed once so the classes' types, the README's "Error codes"
// tables and test/docs.test.ts agree. Callers switch on these strings: they are API.
//
// The wire codes (what the store, the intake, the feed and the dead-letter API answer) are named by the code through
// their table's const (`FeedErrorCode.EFEED_QUERY`), never written as a bare string elsewhere: docs.test.ts finds any
// such string in src/, and any table code no module uses.

/** `{ CODE: 'CODE' }` of a table: a value to name a code by, of the code's own literal type. */
function codeNames<T extends Record<string, string>>(table: T): { readonly [K in keyof T]: K } {
  return Object.freeze(Object.fromEntries(Object.keys(table).map((k) => [k, k]))) as { readonly [K in keyof T]: K };
}

/** Every EventServiceError code. `'503'` matches the NATS clients' no-responders status. */
export const EVENT_SERVICE_ERROR_CODES = [
  '503',
  'TIMEOUT',
  'BAD_SUBJECT',
  'LISTENER_LIMIT',
  'MAX_PAYLOAD',
  'EVENT_LIMIT',
  'CLOSED',
  'SLOW_CONSUMER',
  'PERMISSIONS_VIOLATION',
] as const;

export type EventServiceErrorCode = (typeof EVENT_SERVICE_ERROR_CODES)[number];

/**
 * Every EventStoreError code (handlers/store-file.ts) with its meaning, as the README lists them; also the
 * `store_code` of an EEVENT_STORE reply, where ESTORE_REFUSED (one event refused, no error raised) is its own.
 */
export const EVENT_STORE_ERROR_CODES = {
  ESTORE_OPEN:
    'the store file cannot be opened or created: its directory cannot be made, the path is a directory, no permission',
  ESTORE_EMPTY:
    'the file is empty (0 bytes): refused rather than started as a new, empty store over what may have been one',
  ESTORE_ORPHAN_WAL:
    'a `-wal` file lies at the path without its database: refused rather than started empty beside what may hold acknowledged events',
  ESTORE_CORRUPT: 'the file is not an SQLite database, or it is damaged',
  ESTORE_GONE:
    'the file was removed or replaced while the service had it open: what it wrote now would be lost at the next start',
  ESTORE_WRITE:
    'a commit failed: an I/O error, a full disk, or the write lock held by another process past the busy timeout',
  ESTORE_REFUSED:
    'the store refused one event alone (a constraint or limit of the database): the rest of its group was stored; the same event is likely refused again',
} as const;

export type EventStoreErrorCode = keyof typeof EVENT_STORE_ERROR_CODES;
export const EventStoreErrorCode = codeNames(EVENT_STORE_ERROR_CODES);

/** The codes in an error reply to a request on `events.<type>` (`{"error": {"code", "field"?, "reason"}}`). */
export const EVENT_REPLY_ERROR_CODES = {
  EEVENT_INVALID:
    'the event was refused before storing: not JSON, not a valid envelope, an unknown type, nested or sized past the limits; `field` names where',
  EEVENT_LIMIT: '`event_limit` events are held (not yet delivered to every sink that wants them): retry later',
  EEVENT_STORE:
    'not stored: the store is down or refused this event; `store_code` is the event store code saying which; retrying with the same id is safe',
} as const;

export type EventReplyErrorCode = keyof typeof EVENT_REPLY_ERROR_CODES;
export const EventReplyErrorCode = codeNames(EVENT_REPLY_ERROR_CODES);

/**
 * The codes of `{"error": {"code", "store_code"?, "reason"}}` from the event feed: `GET /events`, `/events/{id}`,
 * `/events/stream` (with the HTTP status) and replies to `$EVENTS.FEED.QUERY`.
 */
export const FEED_ERROR_CODES = {
  EFEED_QUERY:
    'a query parameter or field is invalid, or the request is not a JSON object; `reason` names it (HTTP 400)',
  EFEED_NOT_FOUND: 'no stored event has that id (HTTP 404)',
  EFEED_TOO_LARGE:
    '`$EVENTS.FEED.QUERY` only: one event, with its `seq` and `stored_at`, does not fit `max_payload`; read it over HTTP',
  EFEED_STORE:
    'the event store cannot be read now; `store_code` is the event store code when it named one (HTTP 503); the file and the detail are in the log',
} as const;

export type FeedErrorCode = keyof typeof FEED_ERROR_CODES;
export const FeedErrorCode = codeNames(FEED_ERROR_CODES);

/** The codes of `{"error": {"code", "store_code"?, "reason"}}` from `GET /deadletters` and `POST /deadletters/{sink}/replay`. */
export const DEADLETTER_ERROR_CODES = {
  EDEADLETTER_QUERY:
    'a bad parameter or body (HTTP 400), a replay without `content-type: application/json` (415), a body over 1 MiB (413), an unknown path (404)',
  EDEADLETTER_SINK: 'no sink of that name is configured (HTTP 404)',
  EDEADLETTER_STORE:
    'the event store cannot be read or written now; `store_code` is the event store code when it named one (HTTP 503); the detail is in the log',
} as const;

export type DeadLetterErrorCode = keyof typeof DEADLETTER_ERROR_CODES;
export const DeadLetterErrorCode = codeNames(DEADLETTER_ERROR_CODES);

/**
 * The codes of `{"error": {"code", "field"?, "reason"}}` from the HTTP intake (`[intake.http]`) besides the events'
 * own (`events.<type>` replies' codes, which it answers with too), with the HTTP status.
 */
export const INTAKE_HTTP_ERROR_CODES = {
  EINTAKE_AUTH: 'no credential, or one that does not verify (HTTP 401, with `WWW-Authenticate`)',
  EINTAKE_FORBIDDEN:
    "the caller may not produce the event's type, or its token's event-type claim is malformed (HTTP 403, with `WWW-Authenticate`); a webhook handshake from an origin not allowed (HTTP 403)",
  EINTAKE_MEDIA_TYPE:
    'not a CloudEvent: neither `application/cloudevents+json` nor `application/cloudevents-batch+json`, and no `ce-specversion` header (HTTP 415)',
  EINTAKE_TOO_LARGE:
    'the body, or one event of a batch, is over its bound: `[service] max_payload` per event, `[intake.http]` `max_body` and `max_batch` (HTTP 413)',
  EINTAKE_REQUEST:
    'no such path (HTTP 404), a method other than POST (HTTP 405), or a malformed webhook handshake (HTTP 400)',
} as const;

export type IntakeHttpErrorCode = keyof typeof INTAKE_HTTP_ERROR_CODES;
export const IntakeHttpErrorCode = codeNames(INTAKE_HTTP_ERROR_CODES);
