// A group commit's deliveries and held rows, written many rows per statement after its events (store-rows.ts): a
// group longer than a chunk, events with one sink, two, none, and duplicates, each gets exactly its rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpDir } from '@event-broker/test-support/tmp';
import { SqliteEventStore } from '../src/handlers/store.js';
import type { NewEvent } from '../src/handlers/event-store.js';

test('a group of 101 events commits each one its deliveries and held row: two sinks, one, none, duplicates none', (t) => {
  const store = new SqliteEventStore(path.join(tmpDir(t), 'events.db'));
  t.after(() => store.close());
  const sinksOf = (i: number): string[] => (i % 3 === 0 ? ['a', 'b'] : i % 3 === 1 ? ['a', 'a'] : []);
  const ev = (i: number): NewEvent => ({ id: `e${i}`, type: 't', body: '{}', sinks: sinksOf(i) });
  store.append([ev(0)]);
  const group = [...Array.from({ length: 101 }, (_, i) => ev(i)), ev(5), ev(0)];
  const res = store.append(group);
  assert.deepEqual(
    res.filter((r) => r.duplicate).map((r) => r.id),
    ['e0', 'e5', 'e0'],
  );
  const wants = (sink: string) =>
    Array.from({ length: 101 }, (_, i) => i)
      .filter((i) => sinksOf(i).includes(sink))
      .map((i) => `e${i}`);
  for (const sink of ['a', 'b']) {
    assert.deepEqual(
      store.due(sink, Date.now(), 1000).map((d) => d.id),
      wants(sink),
      sink,
    );
  }
  const held = Array.from({ length: 101 }, (_, i) => i).filter((i) => sinksOf(i).length > 0).length;
  assert.equal(store.held, held);
  // Each held row counts its event's distinct sinks: e0's two deliveries release it, e1's one does.
  const seqOf = (id: string) => res.find((r) => r.id === id && !r.duplicate)?.seq ?? 1;
  store.delivered('a', [seqOf('e0'), seqOf('e1')]);
  assert.equal(store.held, held - 1);
  store.delivered('b', [seqOf('e0')]);
  assert.equal(store.held, held - 2);
  store.close();
  const reopened = new SqliteEventStore(store.file);
  t.after(() => reopened.close());
  assert.equal(reopened.held, held - 2, 'as counted from the file');
});
