// Reading a catalogue file or a schema file whole, within a size bound: only a regular file is opened (a FIFO would
// block the load until a writer came, /dev/zero would never end, and both report size 0 to stat), and no more than
// the bound is read even from a file that grows between the stat and the read.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

export type FileText = { text: string; bytes: number } | { code: 'ECONFIG_FILE' | 'ECONFIG_RANGE'; problem: string };

/**
 * Bytes one load reads in all, catalogue files and schema files together: a start or a reload parses them on the
 * event loop (TOML: about 2 s and 280 MB of heap for 4.7 MB), and 64 files of 4 MiB would be minutes. A catalogue
 * of 2,000 types with their schemas is about 1 MiB.
 */
export const MAX_CATALOGUE_LOAD_BYTES = 16 * 1024 * 1024;

export interface ReadFileOptions {
  /** What the file is, in a refusal: `cannot read the schema file: ...` (default `file`). */
  what?: string;
  /** What `maxBytes` is, after `over N` in a refusal (a share of a larger bound). */
  bound?: string;
}

/** The file's text (UTF-8, a byte-order mark dropped), or why it cannot be read: never throws. */
export function readFileText(path: string, maxBytes: number, opts: ReadFileOptions = {}): FileText {
  const { what = 'file', bound } = opts;
  try {
    // stat before open: opening a FIFO for reading waits for a writer.
    if (!statSync(path).isFile()) return { code: 'ECONFIG_FILE', problem: 'is not a regular file' };
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return { code: 'ECONFIG_FILE', problem: 'is not a regular file' };
      if (st.size > maxBytes) {
        const over = `is ${st.size} bytes, over ${maxBytes}${bound === undefined ? '' : `, ${bound}`}`;
        return { code: 'ECONFIG_RANGE', problem: over };
      }
      // One byte past the size seen: a file that grew since is noticed, and the read stays bounded.
      const buf = Buffer.alloc(st.size + 1);
      let n = 0;
      for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
      if (n > st.size) return { code: 'ECONFIG_FILE', problem: 'changed while it was read: try again' };
      const text = buf.toString('utf8', 0, n);
      return { text: text.startsWith('\uFEFF') ? text.slice(1) : text, bytes: n };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return { code: 'ECONFIG_FILE', problem: `cannot read the ${what}: ${readError(err)}` };
  }
}

export function readError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return (err as Error).message;
}

/** readFileText within what is left of the load's bytes (`room`), which it decrements by what it read. */
export function readWithin(path: string, maxBytes: number, room: { bytes: number }, what?: string): FileText {
  const limit = Math.min(maxBytes, room.bytes);
  const read = readFileText(path, limit, {
    ...(what !== undefined && { what }),
    ...(limit < maxBytes && {
      bound: `what is left of the ${MAX_CATALOGUE_LOAD_BYTES} one catalogue load reads in all`,
    }),
  });
  if ('bytes' in read) room.bytes -= read.bytes;
  return read;
}
