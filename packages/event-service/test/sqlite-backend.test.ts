// The SQLite EventBackend (handlers/sqlite-backend.ts): the backend conformance suite on a file (appends on the
// store writer's thread) and in memory (appends on this thread), and what only a file shows: an append resolves
// after its commit, seen by another connection, and a group the store cannot take at all rejects, counting nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createLogger } from '@event-broker/shared';
import { tmpDir } from '@event-broker/test-support/tmp';
import { SqliteBackend } from '../src/handlers/sqlite-backend.js';
import { SqliteEventStore } from '../src/handlers/store.js';
import { backendConformance } from './helpers/backend-conformance.js';

const logger = createLogger({ format: 'text', level: 'silent', name: 'test' });

/** A body SQLite's JSON functions refuse (the feed's indexes read it): that event alone fails (store.ts append). */
const unstorable = (id: string) => ({ id, type: 'x', body: null as unknown as string, sinks: ['feed'] });

backendConformance('SQLite file', {
  open: async (t) => new SqliteBackend(new SqliteEventStore(path.join(tmpDir(t), 'events.db')), logger),
  unstorable,
});

backendConformance('SQLite in memory', {
  open: async () => new SqliteBackend(new SqliteEventStore(':memory:'), logger),
  unstorable,
});

test('a file backend appends on the writer thread: resolved means committed, seen by another connection', async (t) => {
  const file = path.join(tmpDir(t), 'events.db');
  const backend = new SqliteBackend(new SqliteEventStore(file), logger);
  t.after(() => backend.close());
  const other = new SqliteEventStore(file, { create: false });
  t.after(() => other.close());
  const [r] = await backend.append([{ id: 'a', type: 't', body: '{"id":"a"}', sinks: ['feed'] }]);
  assert.equal(other.get('a')?.seq, r!.seq);
  assert.equal(backend.held, 1, 'counted as the answer arrived');
  await backend.probe();
});

test('a group the store cannot take rejects, and nothing of it is counted', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  const backend = new SqliteBackend(new SqliteEventStore(file), logger);
  t.after(() => backend.close());
  await backend.append([{ id: 'a', type: 't', body: '{}', sinks: ['feed'] }]);
  // The file replaced under the service: every commit is refused (store-file.ts checkSameFile).
  fs.renameSync(file, path.join(dir, 'moved.db'));
  fs.writeFileSync(file, '');
  await assert.rejects(backend.append([{ id: 'b', type: 't', body: '{}', sinks: ['feed'] }]), {
    code: 'ESTORE_GONE',
  });
  assert.equal(backend.held, 1);
  await assert.rejects(backend.probe(), { code: 'ESTORE_GONE' });
});
