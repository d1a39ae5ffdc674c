// Public entry of the event service package: the embedded API.
export type * from './api.js';
export type { RemoteStatus } from './leafnode/remotes.js';
export type * from './config-types.js';
export type { ServiceConfigInputWithUnits } from './config.js';
export { startEventService, EventServiceError } from './embedded.js';
export {
  DEADLETTER_ERROR_CODES,
  EVENT_REPLY_ERROR_CODES,
  EVENT_SERVICE_ERROR_CODES,
  EVENT_STORE_ERROR_CODES,
  FEED_ERROR_CODES,
  type DeadLetterErrorCode,
  type EventReplyErrorCode,
  type EventServiceErrorCode,
  type EventStoreErrorCode,
  type FeedErrorCode,
} from './error-codes.js';
export { EventStoreError } from './handlers/store-file.js';
