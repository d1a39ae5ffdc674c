// Reading a catalogue file or a schema file whole, within a size bound: only a regular file is opened (a FIFO would
// block the load until a writer came, /dev/zero would never end, and both report size 0 to stat), and no more than
// the bound is read even from a file that grows between the stat and the read.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';

export type FileText = { text: string } | { code: 'ECONFIG_FILE' | 'ECONFIG_RANGE'; problem: string };

/** The file's text (UTF-8, a byte-order mark dropped), or why it cannot be read: never throws. */
export function readFileText(path: string, maxBytes: number, what = 'file'): FileText {
  try {
    // stat before open: opening a FIFO for reading waits for a writer.
    if (!statSync(path).isFile()) return { code: 'ECONFIG_FILE', problem: 'is not a regular file' };
    const fd = openSync(path, 'r');
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return { code: 'ECONFIG_FILE', problem: 'is not a regular file' };
      if (st.size > maxBytes) return { code: 'ECONFIG_RANGE', problem: `is ${st.size} bytes, over ${maxBytes}` };
      // One byte past the size seen: a file that grew since is noticed, and the read stays bounded.
      const buf = Buffer.alloc(st.size + 1);
      let n = 0;
      for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, null)) > 0;) n += r;
      if (n > st.size) return { code: 'ECONFIG_FILE', problem: 'changed while it was read: try again' };
      const text = buf.toString('utf8', 0, n);
      return { text: text.startsWith('\uFEFF') ? text.slice(1) : text };
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
