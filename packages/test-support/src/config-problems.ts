// The check the config tests of every package make: a load refused with a ConfigError, and its one problem reading
// `file:line: key: reason` with its code. The error class is passed in: test-support imports no workspace package.
import assert from 'node:assert/strict';

/** What the checks read of a config problem (shared's ConfigProblem). */
export interface ProblemLike {
  readonly file: string;
  readonly line?: number;
  readonly key: string;
  readonly reason: string;
  readonly code: string;
}

/** What the checks read of a config error (shared's ConfigError). */
export interface ConfigErrorLike extends Error {
  readonly code: string;
  readonly problems: readonly ProblemLike[];
}

/** The error `fn` throws, which must be a `cls`; fails when `fn` returns (the configuration was accepted). */
export function refusedWith<E extends ConfigErrorLike>(
  cls: abstract new (...args: never[]) => E,
  fn: () => unknown,
): E {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

/** Asserts a single problem, its code (the error's too), and that the message reads `file:line: key: ...reason...`. */
export function assertOneProblem(
  err: ConfigErrorLike,
  file: string,
  line: number,
  key: string,
  code: string,
  reason: RegExp,
): void {
  assert.equal(err.problems.length, 1, err.message);
  const p = err.problems[0]!;
  assert.deepEqual([p.file, p.line, p.key, p.code], [file, line, key, code], err.message);
  assert.match(p.reason, reason);
  assert.ok(err.message.includes(`${file}:${line}: ${key}: ${p.reason}`), err.message);
  assert.equal(err.code, code);
}
