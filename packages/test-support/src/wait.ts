// Bounded waits for tests against real servers: every promise a test awaits on the network gets a deadline, so a
// broken server fails the test with a message naming what never happened instead of hanging the run. One family,
// one default, for every package's tests (the service's, the gateway's and shared's had 3 s, 5 s and 15 s).
// A fixed sleep is only for what a condition cannot say: `quietFor` (nothing may happen in a window) and `pace`
// (the rate of a load the test itself generates).

/**
 * The default bound. Generous, because the suite shares two cores with whatever else runs: a passing test never
 * waits it out, it only decides how long a broken one takes to fail.
 */
export const WAIT_MS = 10_000;

/** How often `until` asks its condition again. */
const POLL_MS = 10;

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

/** Polls `cond` until it holds; rejects naming `what` (and the last `describe()` when given) after `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = WAIT_MS,
  describe?: () => string,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}${describe ? ` (${describe()})` : ''}`);
    await delay(POLL_MS);
  }
}

/** Reads `read()` until `ok` holds for its value, which it returns; rejects with the last value seen after `ms`. */
export async function eventually<T>(
  read: () => T | Promise<T>,
  ok: (v: T) => boolean,
  what: string,
  ms = WAIT_MS,
): Promise<T> {
  let last: T | undefined;
  await until(
    async () => ok((last = await read())),
    what,
    ms,
    () => `last seen: ${JSON.stringify(last)}`,
  );
  return last as T;
}

/**
 * Waits out a window in which something must NOT happen (a delivery that should not come, a redial that should
 * wait, a flush that should stay pending): the test asserts afterwards that it did not. Only for absence; what is
 * awaited to happen gets `until`.
 */
export const quietFor = (ms: number): Promise<void> => delay(ms);

/** Spaces the steps of a load the test generates itself (a writer, a sampler, a trickle): a rate, not a wait. */
export const pace = (ms: number): Promise<void> => delay(ms);

function delay(ms: number): Promise<void> {
  return new Promise<void>((r) => setTimeout(r, ms));
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
