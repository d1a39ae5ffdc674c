// What the EventStore and EventBackend conformance suites (store-conformance.ts, backend-conformance.ts) both check
// of an append whose middle event the store refuses: the refusal is that event's alone.
import assert from 'node:assert/strict';
import type { AppendResult } from '../../src/handlers/event-store.js';

/** The results of appending `[ok1, <refused>, ok2]`: both neighbours stored, the middle one refused with a reason. */
export function assertMiddleRefused(res: readonly AppendResult[], refusedId: string): void {
  assert.deepEqual(
    res.map((r) => [r.id, r.duplicate, r.error === undefined]),
    [
      ['ok1', false, true],
      [refusedId, false, false],
      ['ok2', false, true],
    ],
  );
  assert.equal(res[1]!.seq, 0);
  assert.ok(res[1]!.error!.length > 0, 'the refusal says why');
}
