// The store's file as the operator configured it: what must be true of it before SQLite is let at it, whether it is
// still the file that was opened, and the errors that name it. SQLite itself takes a zero-length file, or a path
// with only a `-wal` beside it, for a new database and starts empty over what may have been the store; and its
// messages ("unable to open database file") name neither the file nor the setting. What is stored is store.ts's.
import fs from 'node:fs';
import path from 'node:path';
import { EVENT_STORE_ERROR_CODES, EventStoreErrorCode } from '../error-codes.js';

/** The setting that names the store's file, in every message about it. */
export const STORE_PATH_KEY = 'store.path';

/**
 * What each code says when nothing more precise is known, in the words /healthz and /handlerz may show: no file,
 * no directory, nothing SQLite or the file system wrote (the log has those).
 */
const SUMMARY: Record<EventStoreErrorCode, string> = {
  ESTORE_OPEN: 'cannot be opened',
  ESTORE_EMPTY: 'the file is empty (0 bytes): not opened as a new store',
  ESTORE_ORPHAN_WAL: 'a -wal file lies there without its database: not opened as a new store',
  ESTORE_CORRUPT: 'not an SQLite database, or damaged',
  ESTORE_GONE: 'the file was removed or replaced while the service had it open',
  ESTORE_WRITE: 'a commit failed',
  ESTORE_REFUSED: 'one event was refused',
};

/**
 * An event store that cannot be used: `code` is stable, the message names the setting and the file. The message
 * is the operator's (the log, the CLI's exit); /healthz and /handlerz show `summary` (storeProblem), and a NATS
 * client is told the code only (intake.ts answer).
 */
export class EventStoreError extends Error {
  override readonly name = 'EventStoreError';
  /** The setting that names the file. */
  readonly key: string;
  /**
   * `reason` without the file, its directory or SQLite's and the file system's own words: what an HTTP client of
   * the monitoring port may read (anyone reaching it would otherwise learn the server's file layout).
   */
  readonly summary: string;

  constructor(
    readonly code: EventStoreErrorCode,
    readonly file: string,
    /** What is wrong with the file, without the setting and the file (the message adds them). */
    readonly reason: string,
    opts: { key?: string; cause?: unknown; summary?: string } = {},
  ) {
    const key = opts.key ?? STORE_PATH_KEY;
    super(`${key}: ${file}: ${reason}`, opts.cause === undefined ? {} : { cause: opts.cause });
    this.key = key;
    this.summary = opts.summary ?? SUMMARY[code];
  }
}

/** A store problem as /healthz and /handlerz show it: which setting, the code, a reason without the path. */
export interface StoreProblem {
  store_code: EventStoreErrorCode;
  setting: string;
  reason: string;
}

/**
 * `err` as an HTTP client may see it. An EventStoreError, or one passed on from the store's threads (its own
 * properties survive as a plain Error's), gives its code, key and summary; anything else (the writer closed, no
 * answer in time) is a commit that failed, whose words stay in the log.
 */
export function storeProblem(err: unknown): StoreProblem {
  const e = (typeof err === 'object' && err !== null ? err : {}) as { key?: unknown; summary?: unknown };
  const code = storeCodeOf(err);
  if (code === undefined)
    return { store_code: EventStoreErrorCode.ESTORE_WRITE, setting: STORE_PATH_KEY, reason: SUMMARY.ESTORE_WRITE };
  return {
    store_code: code,
    setting: typeof e.key === 'string' ? e.key : STORE_PATH_KEY,
    reason: typeof e.summary === 'string' ? e.summary : SUMMARY[code],
  };
}

/** A StoreProblem in one line: `store.path: reason (ESTORE_CODE)`. */
export function describeStoreProblem(p: StoreProblem): string {
  return `${p.setting}: ${p.reason} (${p.store_code})`;
}

/**
 * The EventStoreError code `err` carries, if it carries one: its own, or one passed on from the store's threads (a
 * worker's error reaches the main thread as a plain Error with its `code` kept).
 */
export function storeCodeOf(err: unknown): EventStoreErrorCode | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && Object.hasOwn(EVENT_STORE_ERROR_CODES, code)
    ? (code as EventStoreErrorCode)
    : undefined;
}

/** Which of our codes an SQLite error code (better-sqlite3's SqliteError.code, `SQLITE_NOTADB`) means. */
function codeOf(sqliteCode: string | undefined, opening: boolean): EventStoreErrorCode {
  if (sqliteCode === 'SQLITE_NOTADB' || sqliteCode?.startsWith('SQLITE_CORRUPT'))
    return EventStoreErrorCode.ESTORE_CORRUPT;
  return opening ? EventStoreErrorCode.ESTORE_OPEN : EventStoreErrorCode.ESTORE_WRITE;
}

/**
 * `err` (from SQLite or the file system) as an EventStoreError naming the file: one already is stays as it is.
 * `opening`: it happened while opening the store (ESTORE_OPEN unless the file is not a database).
 */
export function storeError(
  err: unknown,
  file: string,
  opts: { key?: string; opening?: boolean } = {},
): EventStoreError {
  if (err instanceof EventStoreError) return err;
  const e = err as { message?: unknown; code?: unknown };
  const sqliteCode = typeof e.code === 'string' && e.code.startsWith('SQLITE_') ? e.code : undefined;
  const code = codeOf(sqliteCode, opts.opening ?? false);
  const message = typeof e.message === 'string' ? e.message : String(err);
  const what = code === EventStoreErrorCode.ESTORE_CORRUPT ? `${SUMMARY.ESTORE_CORRUPT}: ` : '';
  return new EventStoreError(code, file, `${what}${message}${sqliteCode === undefined ? '' : ` (${sqliteCode})`}`, {
    ...opts,
    cause: err,
  });
}

/** The file's stat, or undefined when there is none (ENOTDIR: a file stands where a directory of the path would). */
function statOf(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Checks the path before SQLite opens it, and makes its directory when `create`: throws EventStoreError for a
 * directory at the path, an empty file, a `-wal` without its database, a directory that cannot be made, and (not
 * `create`) a missing file. Never writes at the path itself.
 */
export function checkStorePath(file: string, opts: { key?: string; create: boolean }): void {
  // `summary`: the reason without the path or the file system's message (EventStoreError.summary).
  const fail = (code: EventStoreErrorCode, reason: string, more: { cause?: unknown; summary?: string } = {}) =>
    new EventStoreError(code, file, reason, {
      ...(opts.key !== undefined && { key: opts.key }),
      ...more,
      summary: more.summary ?? reason,
    });
  let st: fs.Stats | undefined;
  try {
    st = statOf(file);
  } catch (err) {
    throw fail(EventStoreErrorCode.ESTORE_OPEN, `cannot be read: ${(err as Error).message}`, {
      cause: err,
      summary: `cannot be read${errnoOf(err)}`,
    });
  }
  if (st !== undefined) {
    if (st.isDirectory()) throw fail(EventStoreErrorCode.ESTORE_OPEN, 'is a directory, not a store file');
    if (st.size === 0) {
      // SQLite would take it for a new database. An empty file at a store's path is what a failed copy, a full
      // disk or a truncation leaves of one: the operator decides (move it away to start a new store).
      const wal = statOf(`${file}-wal`);
      throw fail(
        EventStoreErrorCode.ESTORE_EMPTY,
        `the file is empty (0 bytes)${wal !== undefined ? ` beside a ${wal.size}-byte ${path.basename(file)}-wal` : ''}: not opened as a new store; ` +
          'if no store is meant to be there, remove it',
        { summary: SUMMARY.ESTORE_EMPTY },
      );
    }
    return;
  }
  const wal = statOf(`${file}-wal`);
  if (wal !== undefined) {
    // The WAL holds the latest commits (acknowledged events) until they are checkpointed into the database file;
    // SQLite would start a new database beside it.
    throw fail(
      EventStoreErrorCode.ESTORE_ORPHAN_WAL,
      `${path.basename(file)}-wal (${wal.size} bytes) lies there without its database: not opened as a new store; ` +
        'restore the database file, or remove the -wal if no store is meant to be there',
      { summary: SUMMARY.ESTORE_ORPHAN_WAL },
    );
  }
  if (!opts.create)
    throw fail(EventStoreErrorCode.ESTORE_OPEN, 'does not exist (it is created only by the service at start)');
  const dir = path.dirname(file);
  if (statOf(dir)?.isDirectory() === false) {
    throw fail(EventStoreErrorCode.ESTORE_OPEN, `its directory cannot be made: ${dir} is a file, not a directory`, {
      summary: 'its directory cannot be made: a file is in the way',
    });
  }
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw fail(EventStoreErrorCode.ESTORE_OPEN, `its directory cannot be made: ${(err as Error).message}`, {
      cause: err,
      summary: `its directory cannot be made${errnoOf(err)}`,
    });
  }
}

/** The file system's code of `err` (`: EACCES`), which names no path, or nothing. */
function errnoOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? `: ${code}` : '';
}

/** The file's identity (device and inode), to tell later whether the path still names it. */
export interface FileIdentity {
  dev: number;
  ino: number;
}

export function identityOf(file: string): FileIdentity {
  const st = fs.statSync(file);
  return { dev: st.dev, ino: st.ino };
}

/**
 * Throws ESTORE_GONE when the path no longer names the file that was opened: SQLite goes on writing to the removed
 * file, and what it wrote would be lost at the next start.
 */
export function checkSameFile(file: string, opened: FileIdentity, key?: string): void {
  let now: fs.Stats | undefined;
  try {
    now = statOf(file);
  } catch (err) {
    throw new EventStoreError(EventStoreErrorCode.ESTORE_GONE, file, `cannot be checked: ${(err as Error).message}`, {
      ...(key !== undefined && { key }),
      cause: err,
      summary: `cannot be checked${errnoOf(err)}`,
    });
  }
  const k = key !== undefined ? { key } : {};
  if (now === undefined)
    throw new EventStoreError(
      EventStoreErrorCode.ESTORE_GONE,
      file,
      'was removed while the service had it open: refusing writes that would be lost at the next start',
      { ...k, summary: 'was removed while the service had it open' },
    );
  if (now.dev !== opened.dev || now.ino !== opened.ino) {
    throw new EventStoreError(
      EventStoreErrorCode.ESTORE_GONE,
      file,
      'was replaced by another file while the service had it open: refusing writes that would not be in it',
      {
        ...k,
        summary: 'was replaced by another file while the service had it open',
      },
    );
  }
}
