// Bounded waits for tests against real servers: every promise a test awaits on the network gets a deadline, so a
// broken server fails the test with a message naming what never happened instead of hanging the run.

export const WAIT_MS = 3000;

/** Resolves with `p`, or rejects naming `what` when `ms` pass first. */
export async function within<T>(p: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every few ms; rejects naming `what` (and the last `describe()` when given) after `ms`. */
export async function until(cond: () => boolean, what: string, ms = WAIT_MS, describe?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}${describe ? ` (${describe()})` : ''}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(err: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Reads `n` items from an async iterable, bounded; the iterator is left open for the caller. */
export async function take<T>(iterable: AsyncIterable<T>, n: number, what: string, ms = WAIT_MS): Promise<T[]> {
  const it = iterable[Symbol.asyncIterator]();
  const out: T[] = [];
  await within(
    (async () => {
      while (out.length < n) {
        const r = await it.next();
        if (r.done) throw new Error(`${what}: iteration ended after ${out.length} of ${n}`);
        out.push(r.value);
      }
    })(),
    `${what}: ${n} items`,
    ms,
  );
  return out;
}

/** Reads until the iterable ends, bounded. */
export async function drainAll<T>(iterable: AsyncIterable<T>, what: string, ms = WAIT_MS): Promise<T[]> {
  const out: T[] = [];
  await within(
    (async () => {
      for await (const v of iterable) out.push(v);
    })(),
    `${what}: end of iteration`,
    ms,
  );
  return out;
}

/** A short pause used only to give a wrong delivery the chance to show up (never to wait for a right one). */
export const settle = (ms = 50) => new Promise<void>((r) => setTimeout(r, ms));

let counter = 0;
/** A subject prefix no other test in the process uses, so tests can share a server. */
export function uniqueSubject(tag: string): string {
  return `t${process.pid}.${++counter}.${tag}`;
}
