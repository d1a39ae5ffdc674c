// A group as the store writer's thread receives it (store-writer-wire.ts): packed, cloned as postMessage clones it,
// unpacked, every event is what was sent, its sinks and filter columns included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import { packEvents, packResults, unpackEvents, unpackResults } from '../src/handlers/store-writer-wire.js';
import type { AppendResult, NewEvent } from '../src/handlers/event-store.js';

test('a packed group unpacks, after a structured clone, to the events sent: sinks, columns present or not', () => {
  const columns = { producer: 'p', actor: null, authid: 'alice', authtype: 'app_user' };
  const events: NewEvent[] = [
    { id: 'a', type: 't', body: '{"a":1}', sinks: ['feed'], columns },
    { id: 'b', type: 't', body: '{}', sinks: ['feed'] },
    { id: 'c', type: 'u', body: '{"é":"\u2028"}', sinks: [], columns: { ...columns, producer: null } },
    { id: 'd', type: 't', body: '{}', sinks: ['feed', 'cfgingest'], columns },
    // Names holding the separator: not mistaken for one another's lists.
    { id: 'e', type: 't', body: '{}', sinks: ['x\0y'] },
    { id: 'f', type: 't', body: '{}', sinks: ['x', 'y'] },
    { id: 'g', type: 't', body: '{}', sinks: ['feed'] },
  ];
  const packed = packEvents(events);
  assert.equal(packed.sinks.length, 5, 'each distinct list once');
  assert.deepEqual(unpackEvents(deserialize(serialize(packed)) as typeof packed), events);
  assert.deepEqual(unpackEvents(packEvents([])), []);
});

test("a group's results unpack, after a structured clone, to what the store answered: stored, duplicate, refused alone", () => {
  const results: AppendResult[] = [
    { id: 'a', seq: 7, duplicate: false },
    { id: 'b', seq: 0, duplicate: false, error: 'malformed JSON (SQLITE_ERROR)' },
    { id: 'c', seq: 3, duplicate: true },
    { id: 'd', seq: 0, duplicate: false, error: 'second' },
    { id: 'e', seq: 8, duplicate: false },
  ];
  const packed = deserialize(serialize(packResults(results))) as ReturnType<typeof packResults>;
  assert.deepEqual(
    unpackResults(
      results.map((r) => ({ id: r.id })),
      packed,
    ),
    results,
  );
});
