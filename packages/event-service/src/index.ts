// Public entry of the event service package: the embedded API.
export type * from './api.js';
export type * from './config-types.js';
export type { ServiceConfigInputWithUnits } from './config.js';
export { startEventService, EventServiceError } from './embedded.js';
export { EVENT_SERVICE_ERROR_CODES, type EventServiceErrorCode } from './error-codes.js';
