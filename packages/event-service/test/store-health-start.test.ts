// A store the service cannot use stops it at start (issue 11, finding 5): the event-service command with a
// `[store] path` it cannot use (a file in its directory's way, a directory, an empty file, a -wal without its
// database, a corrupt file) exits 1 naming the file, the key and the store's code; nothing at the path is created or
// changed. The embedded API rejects such a store with EventStoreError. Real processes and files. A store that
// breaks while the service runs is store-health.test.ts.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startEventService } from '../src/index.js';
import { CHILD_MS } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { runToExit } from './helpers/cli.js';

/** What is at `file` (and beside it) before and after: a refused store must leave everything as it was. */
function snapshot(file: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    let v: string | null = null;
    try {
      const st = fs.statSync(f);
      v = st.isDirectory() ? 'dir' : fs.readFileSync(f).toString('base64');
    } catch {
      // absent
    }
    out[path.basename(f)] = v;
  }
  return out;
}

/** A WAL that holds committed events, copied while its connection was open (SQLite deletes it on close). */
function realWal(t: TestContext): Buffer {
  const dir = tmpDir(t);
  const file = path.join(dir, 'source.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0');
  db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT)');
  db.prepare('INSERT INTO events (body) VALUES (?)').run('{"acknowledged":true}');
  const wal = fs.readFileSync(`${file}-wal`);
  db.close();
  assert.ok(wal.length > 0);
  return wal;
}

interface BrokenStore {
  what: string;
  /** Makes the broken store in `dir`; returns the configured path. */
  make(t: TestContext, dir: string): string;
  code: string;
  reason: RegExp;
}

const BROKEN: BrokenStore[] = [
  {
    what: 'a path whose directory cannot be created (a regular file is in the way)',
    make: (_t, dir) => {
      fs.writeFileSync(path.join(dir, 'plain'), 'not a directory');
      return path.join(dir, 'plain', 'events.db');
    },
    code: 'ESTORE_OPEN',
    reason: /not a directory/i,
  },
  {
    what: 'a path that is a directory',
    make: (_t, dir) => {
      fs.mkdirSync(path.join(dir, 'events.db'));
      return path.join(dir, 'events.db');
    },
    code: 'ESTORE_OPEN',
    reason: /is a directory/,
  },
  {
    what: 'a zero-length database file',
    make: (_t, dir) => {
      fs.writeFileSync(path.join(dir, 'events.db'), '');
      return path.join(dir, 'events.db');
    },
    code: 'ESTORE_EMPTY',
    reason: /empty \(0 bytes\)/,
  },
  {
    what: 'a -wal without its database',
    make: (t, dir) => {
      fs.writeFileSync(path.join(dir, 'events.db-wal'), realWal(t));
      return path.join(dir, 'events.db');
    },
    code: 'ESTORE_ORPHAN_WAL',
    reason: /events\.db-wal.*without its database/,
  },
  {
    what: 'a corrupt file',
    make: (_t, dir) => {
      fs.writeFileSync(path.join(dir, 'events.db'), Buffer.alloc(8192, 'garbage '));
      return path.join(dir, 'events.db');
    },
    code: 'ESTORE_CORRUPT',
    reason: /not a database/,
  },
];

for (const broken of BROKEN) {
  test(`the CLI refuses to start on ${broken.what}: exit 1, the file and store.path named, nothing changed`, async (t) => {
    const dir = tmpDir(t);
    const file = broken.make(t, dir);
    const before = snapshot(file);
    const conf = write(dir, 'service.toml', [
      '[service]',
      'host = "127.0.0.1"',
      'port = 0',
      '[monitor]',
      'host = "127.0.0.1"',
      'port = 0',
      '[store]',
      `path = ${JSON.stringify(file)}`,
      '[log]',
      'format = "json"',
    ]);
    // Bounded: today's code may start instead of refusing; then the wait fails and the child is killed.
    const r = await runToExit(t, ['--config', conf], CHILD_MS).catch((err: Error) => ({
      code: `did not exit: ${err.message}`,
      stdout: '',
      stderr: '',
    }));
    assert.equal(r.code, 1, `exit code; stdout: ${r.stdout} stderr: ${r.stderr}`);
    const said = r.stdout + r.stderr;
    assert.ok(said.includes(file), `the file is named: ${said}`);
    assert.match(said, /store\.path/);
    assert.match(said, broken.reason);
    assert.match(said, new RegExp(broken.code));
    assert.deepEqual(snapshot(file), before, 'the files at the path are left as they were');
  });
}

test('the embedded API rejects a store it cannot open with EventStoreError naming the file and store.path', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'events.db');
  fs.writeFileSync(file, '');
  await assert.rejects(
    // A service that starts anyway is closed, so a failing run does not keep the test process alive.
    startEventService({
      service: { host: '127.0.0.1', port: 0 },
      store: { path: file },
      log: { level: 'silent' },
    }).then(async (svc) => {
      await svc.close();
      return svc;
    }),
    (err: Error & { code?: string }) => {
      assert.equal(err.name, 'EventStoreError');
      assert.equal(err.code, 'ESTORE_EMPTY');
      assert.ok(err.message.startsWith(`store.path: ${file}: `), err.message);
      return true;
    },
  );
  assert.equal(fs.statSync(file).size, 0);
});
