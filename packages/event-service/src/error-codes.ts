// The stable `code`s of EventServiceError (the embedded API), listed once so the class's type, the README's
// "Error codes" table and test/docs.test.ts agree. Callers switch on these strings: they are API.

/** Every EventServiceError code. `'503'` matches the NATS clients' no-responders status. */
export const EVENT_SERVICE_ERROR_CODES = ['503', 'TIMEOUT', 'BAD_SUBJECT', 'LISTENER_LIMIT', 'MAX_PAYLOAD', 'CLOSED', 'SLOW_CONSUMER'] as const;

export type EventServiceErrorCode = (typeof EVENT_SERVICE_ERROR_CODES)[number];
