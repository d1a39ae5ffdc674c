// What the intake logs when a group's commit fails: every event of it by id, requests apart from plain publishes.
import type { Logger } from '@event-broker/shared';
import { EventStoreErrorCode } from '../error-codes.js';
import type { Received } from './intake-types.js';
import { storeCodeOf } from './store-file.js';

/** Logs the failed group and returns the store code its requests are answered with. */
export function logCommitFailure(logger: Logger, batch: readonly Received[], err: Error): EventStoreErrorCode {
  // Any failure of a commit not otherwise named (the writer closed) is a commit that failed.
  const storeCode = storeCodeOf(err) ?? EventStoreErrorCode.ESTORE_WRITE;
  const requestIds: string[] = [];
  const plainIds: string[] = [];
  for (const p of batch) (p.reply === undefined && p.settle === undefined ? plainIds : requestIds).push(p.event.id);
  // Requests hear it (its code); plain publishes cannot, so they are logged by id: refused loudly, never silently.
  logger.error(
    { err: err.message, store_code: storeCode, events: batch.length, request_ids: requestIds, plain_ids: plainIds },
    plainIds.length > 0 ? 'event store failed: plain-published events may not be stored' : 'event store failed',
  );
  return storeCode;
}
