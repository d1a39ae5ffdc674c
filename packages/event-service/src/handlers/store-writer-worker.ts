// The store writer's thread (started by store-writer.ts): appends the intake's groups through a connection of its
// own, one transaction each, and answers with their results once committed.
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWriter, StoreWriterData, ToWriter } from './store-writer.js';
import { storeError } from './store-file.js';
import type { AppendResult, NewEvent } from './event-store.js';
import { SqliteEventStore } from './store.js';
import { packResults, unpackEvents } from './store-writer-wire.js';

/**
 * While the sink worker's connection holds the write lock (marking deliveries, a millisecond or two), a commit is
 * tried again after this long, for up to LOCK_WAIT_MS. SQLite's own busy wait sleeps 1, 2, 5, 10 ms and more
 * between tries, which kept the intake idle well past the lock's release.
 */
const LOCK_RETRY_MS = 0.2;
const LOCK_WAIT_MS = 5000;

const port = parentPort!;
const data = workerData as StoreWriterData;
// The file the main thread opened, never a new one: a store removed since fails here, naming it (the thread's
// 'error', which store-writer.ts passes on to the commits it refuses).
// Its appends are counted as held by the main thread as it takes the answer (store-writer.ts), not here.
const store = new SqliteEventStore(data.file, {
  heldCounter: data.heldCounter,
  create: false,
  deferAppendedHeld: true,
});
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function append(events: readonly NewEvent[]): AppendResult[] {
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (;;) {
    const results = store.tryAppend(events);
    if (results !== undefined) return results;
    if (performance.now() > deadline) return store.append(events); // SQLite's own wait, then its error
    Atomics.wait(sleeper, 0, 0, LOCK_RETRY_MS);
  }
}

port.on('message', (m: ToWriter) => {
  if (m.t === 'close') {
    store.close();
    port.close();
    return;
  }
  let reply: FromWriter;
  try {
    if (m.t === 'probe') store.probe();
    store.lastAppendedHeld = 0;
    const results = m.t === 'append' ? append(unpackEvents(m.events)) : [];
    reply = { t: 'appended', id: m.id, results: packResults(results), held: store.lastAppendedHeld };
  } catch (err) {
    // Passed on whole: the log names the file and what failed, /healthz the summary, a requester the code (intake.ts).
    const e = storeError(err, data.file);
    reply = { t: 'failed', id: m.id, code: e.code, reason: e.reason, key: e.key, summary: e.summary };
  }
  port.postMessage(reply);
});
