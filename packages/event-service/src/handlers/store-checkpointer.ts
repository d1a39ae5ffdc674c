// The store's checkpoints, on a thread of their own (started by store-writer.ts). In WAL mode every commit appends
// pages to the -wal file, and a checkpoint copies them back into the database file; by SQLite's default the
// committing connection does that itself every 1,000 pages, inside a commit, so the intake (or a sink's marks)
// waited for it. Here a PASSIVE checkpoint (it never waits for a lock, never blocks a writer or a reader) runs every
// CHECKPOINT_MS beside the commits, and the connections checkpoint themselves only far later (store.ts
// WAL_AUTOCHECKPOINT_PAGES, which is also what bounds the -wal file under a sustained intake). In the events-batch
// bench: 25.8-27.2k acked and 25.2-25.7k delivered events/s, against 21.4-23.4k with the writer's own checkpoints.
import { workerData, parentPort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { addonOption } from './sqlite-addon.js';

const CHECKPOINT_MS = 100;

// The existing file only: opening a store removed since would create an empty one at its path.
const db = new Database((workerData as { file: string }).file, { fileMustExist: true, ...addonOption() });
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), CHECKPOINT_MS);
parentPort!.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort!.close();
});
