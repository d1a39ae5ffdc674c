// Temporary directories and the files tests write into them; each directory is removed in `t.after`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What tmpDir needs of a test: node:test's TestContext fits, so does a suite's `{ after }`. */
export interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

/** A fresh directory under the OS temp dir, named `prefix` + random, removed after the test. */
export function tmpDir(t: AfterHook, prefix = 'event-broker-test-'): string {
  const dir = untrackedTmpDir(prefix);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A temporary directory the caller removes: for one a process started later still writes into (a server's store),
 * which must go after that process's own after-hook stops it (hooks run in the order they were added).
 */
export function untrackedTmpDir(prefix = 'event-broker-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Writes `dir/name` (creating its directories) and returns the path. Lines are joined with newlines and end with
 * one (a config file); a string or bytes are written as they are.
 */
export function write(
  dir: string,
  name: string,
  content: readonly string[] | string | Uint8Array,
  mode?: number,
): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const data = typeof content === 'string' || content instanceof Uint8Array ? content : content.join('\n') + '\n';
  fs.writeFileSync(file, data, mode === undefined ? undefined : { mode });
  return file;
}
