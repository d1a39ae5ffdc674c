// The declarative schema: each setting says its type, bounds, default and how to print itself, and the types of
// the validated result are inferred from it. validate.ts walks a tree against it; format.ts prints one back.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ConfigErrorCode } from './errors.js';
import { describeValue, type ConfigPath, type ValueSource } from './tree.js';
import { describeBytes, formatDuration, formatByteSize, parseDuration, parseByteSize } from './units.js';

/** Why a value (or the part of it `at` points to, e.g. an array element) was refused. */
export interface DecodeProblem {
  code: ConfigErrorCode;
  reason: string;
  at?: ConfigPath;
}

/**
 * A decoded value, or why it was refused. A value with parts (a sink table) lists every problem: the first as the
 * failure itself, the rest in `also`, so a file is fixed in one pass.
 */
export type Decoded<T> = { ok: true; value: T } | ({ ok: false; also?: readonly DecodeProblem[] } & DecodeProblem);

/**
 * What a decoder that checked every part returns: the problems it found (the first as the failure, the rest in
 * `also`), or, when there were none, `value()`.
 */
export function decodedOrProblems<T>(problems: readonly DecodeProblem[], value: () => T): Decoded<T> {
  const [first, ...also] = problems;
  if (first === undefined) return { ok: true, value: value() };
  return { ok: false, ...first, ...(also.length > 0 && { also }) };
}

/** How one kind of setting reads a raw value and writes a normalised one back as a TOML literal. */
export interface LeafSpec<T> {
  /** What the setting accepts, for messages: `an integer from 0 to 65535`. */
  expected: string;
  decode(raw: unknown, source: ValueSource | undefined): Decoded<T>;
  encode(value: T): string;
}

/**
 * What a reload does with a changed setting: `live` puts the new value in force in the running process, `restart`
 * keeps the running value until the process starts again (a bound port, an opened store, the log stream). A
 * field without a mark takes its section's; the root's default is `restart`, so a setting nobody has classified
 * never claims to reload. reload.ts plans a reload from these marks; nats-server reload.go decides the same per option.
 */
export type ReloadMode = 'live' | 'restart';

/** One setting. Immutable: `default`, `optional`, `secret`, `live` and `restart` return a new one. */
export class Leaf<T, O extends boolean = false> {
  readonly kind = 'leaf';
  constructor(
    readonly spec: LeafSpec<T>,
    readonly isOptional: O,
    readonly defaultValue: T | undefined = undefined,
    readonly isSecret = false,
    /** Undefined: the enclosing section's mode. */
    readonly reload: ReloadMode | undefined = undefined,
  ) {}

  /** The value when the key is absent, already normalised (ms, bytes, absolute path). */
  default(value: T): Leaf<T, false> {
    return new Leaf(this.spec, false, value, this.isSecret, this.reload);
  }
  /** Absent means absent: the key is left out of the result. */
  optional(): Leaf<T, true> {
    return new Leaf(this.spec, true, undefined, this.isSecret, this.reload);
  }
  /** Printed as "<redacted>" by formatConfig. Keys named token, secret, password and the like are redacted anyway. */
  secret(): Leaf<T, O> {
    return new Leaf(this.spec, this.isOptional, this.defaultValue, true, this.reload);
  }
  /** A reload puts a new value in force at once. */
  live(): Leaf<T, O> {
    return new Leaf(this.spec, this.isOptional, this.defaultValue, this.isSecret, 'live');
  }
  /** A reload leaves the running value in force; the new one waits for a restart. */
  restart(): Leaf<T, O> {
    return new Leaf(this.spec, this.isOptional, this.defaultValue, this.isSecret, 'restart');
  }
}

/** Checks that need several settings of a section at once, run when the section itself decoded cleanly. */
export interface CheckContext {
  /** Reports a problem on `key` (relative to the section), located at `at`'s line when given (else key's). */
  report(key: ConfigPath, code: ConfigErrorCode, reason: string, at?: ConfigPath): void;
}

/** A cross-setting check. A method, not a function type, so Section<Specific> still fits Section<Shape>. */
interface SectionCheck<V> {
  run(value: V, ctx: CheckContext): void;
}

/** A table of settings. Absent and not optional, it is validated as an empty table (so defaults fill it). */
export class Section<S extends Shape, O extends boolean = false> {
  readonly kind = 'table';
  constructor(
    readonly shape: S,
    readonly isOptional: O,
    private readonly checks: readonly SectionCheck<InferShape<S>>[] = [],
    /** Undefined: the enclosing section's mode (the root's: restart). Its fields inherit it unless marked. */
    readonly reload: ReloadMode | undefined = undefined,
  ) {}

  /** Absent means absent; present, it is validated in full (its required keys included). */
  optional(): Section<S, true> {
    return new Section(this.shape, true, this.checks, this.reload);
  }
  /** Adds a cross-setting check (`verify = true` requires `root_ca_path`). */
  check(fn: (value: InferShape<S>, ctx: CheckContext) => void): Section<S, O> {
    return new Section(this.shape, this.isOptional, [...this.checks, { run: fn }], this.reload);
  }
  /** Adds settings or sections, or replaces some (same place, new field): one schema's variant of a shared section. */
  extend<E extends Shape>(more: E): Section<Omit<S, keyof E> & E, O> {
    // The checks read keys of S; an extension that redefines one of them takes that on.
    const checks = this.checks as unknown as readonly SectionCheck<InferShape<Omit<S, keyof E> & E>>[];
    return new Section({ ...this.shape, ...more } as Omit<S, keyof E> & E, this.isOptional, checks, this.reload);
  }
  /**
   * A reload puts its settings in force at once, those marked `restart()` aside. Adding or removing the section is
   * live only when everything in it is (reload.ts).
   */
  live(): Section<S, O> {
    return new Section(this.shape, this.isOptional, this.checks, 'live');
  }
  /** A reload leaves the section as it runs (present or not), fields marked `live()` aside. */
  restart(): Section<S, O> {
    return new Section(this.shape, this.isOptional, this.checks, 'restart');
  }
  runChecks(value: InferShape<S>, ctx: CheckContext): void {
    for (const check of this.checks) check.run(value, ctx);
  }
}

export type AnyField = Leaf<unknown, boolean> | Section<Shape, boolean>;
export interface Shape {
  readonly [key: string]: AnyField;
}

type OptionalKeys<S> = { [K in keyof S]: S[K] extends { isOptional: true } ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
/** Every field's value, by key: homomorphic, so each property keeps the doc comment written on its schema field. */
type Values<S extends Shape> = { -readonly [K in keyof S]: Infer<S[K]> };
/** The validated value of a field. */
export type Infer<F> =
  F extends Leaf<infer T, boolean> ? T : F extends Section<infer S, boolean> ? InferShape<S> : never;
/**
 * The validated value of a section: optional fields become optional properties. Built with Pick (not a key remap)
 * so an editor shows a field's doc comment on the derived type's property too.
 */
export type InferShape<S extends Shape> = Simplify<
  Pick<Values<S>, Exclude<keyof S, OptionalKeys<S>>> & Partial<Pick<Values<S>, OptionalKeys<S>>>
>;

// ---- the kinds of setting ----

const ok = <T>(value: T): Decoded<T> => ({ ok: true, value });
const bad = <T>(code: ConfigErrorCode, reason: string): Decoded<T> => ({ ok: false, code, reason });
const must = (expected: string, raw: unknown): string => `must be ${expected}, got ${describeValue(raw)}`;

/** A TOML basic string: JSON's escapes are TOML's, except DEL, which TOML wants escaped too. */
export function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, '\\u007F');
}

function leaf<T>(spec: LeafSpec<T>): Leaf<T, false> {
  return new Leaf(spec, false);
}

function rangeText(min: number | undefined, max: number | undefined, show: (n: number) => string = String): string {
  if (min !== undefined && max !== undefined) return ` from ${show(min)} to ${show(max)}`;
  if (min !== undefined) return ` of at least ${show(min)}`;
  if (max !== undefined) return ` of at most ${show(max)}`;
  return '';
}

function inRange(n: number, min: number | undefined, max: number | undefined): boolean {
  return (min === undefined || n >= min) && (max === undefined || n <= max);
}

export interface StringOptions {
  /** Refuse "" (the default: an empty host or name is always a mistake). */
  allowEmpty?: boolean;
  /** A further rule, e.g. `{ test: /^\S+$/, reason: 'must not contain spaces' }`. */
  pattern?: { test: RegExp; reason: string };
}

function string(opts: StringOptions = {}): Leaf<string> {
  const expected = opts.allowEmpty ? 'a string' : 'a non-empty string';
  return leaf<string>({
    expected,
    decode(raw) {
      if (typeof raw !== 'string') return bad('ECONFIG_TYPE', must(expected, raw));
      if (raw === '' && !opts.allowEmpty) return bad('ECONFIG_VALUE', 'must not be empty');
      if (opts.pattern && !opts.pattern.test.test(raw))
        return bad('ECONFIG_VALUE', `${opts.pattern.reason}, got ${describeValue(raw)}`);
      return ok(raw);
    },
    encode: tomlString,
  });
}

/** A whole number from a TOML integer (or a float with no fraction), or a JS number. */
function toInteger(raw: unknown): number | bigint | undefined {
  if (typeof raw === 'bigint') return raw;
  if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
  return undefined;
}

function integer(opts: { min?: number; max?: number } = {}): Leaf<number> {
  const expected = `an integer${rangeText(opts.min, opts.max)}`;
  return leaf<number>({
    expected,
    decode(raw) {
      const n = toInteger(raw);
      if (n === undefined) return bad('ECONFIG_TYPE', must(expected, raw));
      if (typeof n === 'bigint' || !Number.isSafeInteger(n) || !inRange(n, opts.min, opts.max)) {
        return bad('ECONFIG_RANGE', must(expected, raw));
      }
      return ok(n);
    },
    encode: String,
  });
}

function boolean(): Leaf<boolean> {
  return leaf<boolean>({
    expected: 'true or false',
    decode: (raw) => (typeof raw === 'boolean' ? ok(raw) : bad('ECONFIG_TYPE', must('true or false', raw))),
    encode: String,
  });
}

function oneOf<const V extends readonly string[]>(values: V): Leaf<V[number]> {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return leaf<V[number]>({
    expected,
    decode(raw) {
      if (typeof raw !== 'string') return bad('ECONFIG_TYPE', must(expected, raw));
      return values.includes(raw) ? ok(raw) : bad('ECONFIG_VALUE', must(expected, raw));
    },
    encode: tomlString,
  });
}

/**
 * A duration, normalised to milliseconds. In a file an integer is seconds (as nats-server reads it); in embedded
 * input a number is milliseconds (JS timers' unit). Strings as Go spells them: "250ms", "10s", "2m", "1h30m".
 */
function duration(opts: { minMs?: number; maxMs?: number } = {}): Leaf<number> {
  const expected = `a duration (seconds, or a string such as "250ms", "10s", "2m")${rangeText(opts.minMs, opts.maxMs, formatDuration)}`;
  return leaf<number>({
    expected,
    decode(raw, source) {
      let ms: number | undefined;
      if (typeof raw === 'string') {
        ms = parseDuration(raw);
        if (ms === undefined) return bad('ECONFIG_VALUE', must(expected, raw));
      } else {
        const n = toInteger(raw);
        if (n === undefined) return bad('ECONFIG_TYPE', must(expected, raw));
        ms = typeof n === 'bigint' ? Infinity : source?.kind === 'embedded' ? n : n * 1000;
      }
      if (!Number.isSafeInteger(ms) || !inRange(ms, opts.minMs, opts.maxMs))
        return bad('ECONFIG_RANGE', must(expected, raw));
      return ok(ms);
    },
    encode: (ms) => tomlString(formatDuration(ms)),
  });
}

/** Node clamps a setTimeout delay above 2^31-1 ms to 1 ms, so a longer duration would fire at once. */
const TIMER_MAX_MS = 2 ** 31 - 1;

/** A duration a Node timer waits for: at least `minMs` (default 1), at most TIMER_MAX_MS. */
function timer(opts: { minMs?: number } = {}): Leaf<number> {
  return duration({ minMs: opts.minMs ?? 1, maxMs: TIMER_MAX_MS });
}

/** A TCP port; 0 binds an ephemeral one. */
function port(): Leaf<number> {
  return integer({ min: 0, max: 65535 });
}

/** A size, normalised to bytes: an integer, or a string such as "64KB", "1MB", "1MiB" (1024 multiples; "1K" = 1000). */
function size(opts: { min?: number; max?: number } = {}): Leaf<number> {
  const expected = `a size (bytes, or a string such as "64KB", "1MB")${rangeText(opts.min, opts.max, describeBytes)}`;
  return leaf<number>({
    expected,
    decode(raw) {
      let bytes: number | undefined;
      if (typeof raw === 'string') {
        bytes = parseByteSize(raw);
        if (bytes === undefined) return bad('ECONFIG_VALUE', must(expected, raw));
      } else {
        const n = toInteger(raw);
        if (n === undefined) return bad('ECONFIG_TYPE', must(expected, raw));
        bytes = typeof n === 'bigint' ? Infinity : n;
      }
      if (!Number.isSafeInteger(bytes) || !inRange(bytes, opts.min, opts.max)) {
        const got = typeof raw === 'string' && Number.isSafeInteger(bytes) ? ` (${bytes} bytes)` : '';
        return bad('ECONFIG_RANGE', `${must(expected, raw)}${got}`);
      }
      return ok(bytes);
    },
    encode: (bytes) => {
      const s = formatByteSize(bytes);
      return typeof s === 'string' ? tomlString(s) : String(s);
    },
  });
}

/** A file path, made absolute against the directory of the file that named it (the process's cwd otherwise). */
function path(): Leaf<string> {
  const expected = 'a non-empty path string';
  return leaf<string>({
    expected,
    decode(raw, source) {
      if (typeof raw !== 'string') return bad('ECONFIG_TYPE', must(expected, raw));
      if (raw === '') return bad('ECONFIG_VALUE', 'must not be empty');
      if (isAbsolute(raw)) return ok(resolve(raw));
      const base = source?.kind === 'base' || source?.kind === 'patch' ? dirname(source.file) : process.cwd();
      return ok(resolve(base, raw));
    },
    encode: tomlString,
  });
}

function stringArray(opts: { allowEmptyStrings?: boolean } = {}): Leaf<string[]> {
  const expected = 'an array of strings';
  return leaf<string[]>({
    expected,
    decode(raw) {
      if (!Array.isArray(raw)) return bad('ECONFIG_TYPE', must(expected, raw));
      for (let i = 0; i < raw.length; i++) {
        const el: unknown = raw[i];
        if (typeof el !== 'string') return { ok: false, code: 'ECONFIG_TYPE', reason: must('a string', el), at: [i] };
        if (el === '' && !opts.allowEmptyStrings)
          return { ok: false, code: 'ECONFIG_VALUE', reason: 'must not be empty', at: [i] };
      }
      return ok([...(raw as string[])]);
    },
    encode: (v) => `[${v.map(tomlString).join(', ')}]`,
  });
}

function table<S extends Shape>(shape: S): Section<S> {
  return new Section(shape, false);
}

/**
 * The schema builders. A field is required unless it has a `.default(...)` or is `.optional()`:
 * `schema.table({ port: schema.integer({ min: 0, max: 65535 }).default(10132) })`.
 */
export const schema = {
  string,
  integer,
  boolean,
  oneOf,
  duration,
  timer,
  port,
  size,
  path,
  stringArray,
  table,
  custom: leaf,
};
