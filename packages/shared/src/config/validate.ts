// Validates a merged layer against a schema: fills defaults, normalises values, and collects every problem (unknown
// keys with a suggestion, wrong types, ranges, missing keys) with the file and line it came from.
import { ConfigError, sortProblems, type ConfigErrorCode, type ConfigProblem } from './errors.js';
import type { AnyField, InferShape, Section, Shape } from './schema.js';
import {
  describeValue,
  formatKey,
  isTable,
  sourceFile,
  sourceLine,
  type ConfigPath,
  type ConfigSources,
  type ConfigTable,
  type ConfigValue,
  type Layer,
  type ValueSource,
} from './tree.js';

export interface Validated<T> {
  value: T;
  /** The source of every leaf in `value`: the file and line that set it, `embedded`, or `default`. */
  sources: ConfigSources;
}

export interface ValidateOptions {
  /** Files in load order, so problems are listed file by file. */
  files?: readonly string[];
}

/** Validates `layer` against `root`. Throws one ConfigError listing every problem. */
export function validate<S extends Shape>(
  root: Section<S, boolean>,
  layer: Layer,
  opts: ValidateOptions = {},
): Validated<InferShape<S>> {
  const run = new Validation(root as unknown as Section<Shape, boolean>, layer);
  const value = run.section(root as unknown as Section<Shape, boolean>, layer.tree, []);
  if (run.problems.length > 0 || value === undefined) {
    throw new ConfigError(sortProblems(run.problems, opts.files ?? []));
  }
  return { value: value as InferShape<S>, sources: run.out };
}

class Validation {
  readonly problems: ConfigProblem[] = [];
  readonly out = new Map<string, ValueSource>();

  constructor(
    private readonly root: Section<Shape, boolean>,
    private readonly layer: Layer,
  ) {}

  section(sec: Section<Shape, boolean>, raw: ConfigValue | undefined, path: ConfigPath): ConfigTable | undefined {
    if (raw === undefined) {
      if (sec.isOptional) return undefined;
      raw = {};
    }
    if (!isTable(raw)) {
      this.report(path, 'ECONFIG_TYPE', `must be a table, got ${describeValue(raw)}`);
      return undefined;
    }
    const before = this.problems.length;
    for (const key of Object.keys(raw)) {
      if (!Object.hasOwn(sec.shape, key))
        this.report([...path, key], 'ECONFIG_UNKNOWN_KEY', this.unknownReason(sec, key, path));
    }
    const value: ConfigTable = {};
    for (const [key, field] of Object.entries(sec.shape)) {
      const v = this.field(field, raw[key], [...path, key]);
      if (v !== undefined) value[key] = v;
    }
    if (this.problems.length === before) {
      sec.runChecks(value as InferShape<Shape>, {
        report: (key, code, reason, at) => this.report([...path, ...key], code, reason, at && [...path, ...at]),
      });
    }
    return value;
  }

  private field(field: AnyField, raw: ConfigValue | undefined, path: ConfigPath): ConfigValue | undefined {
    if (field.kind === 'table') return this.section(field, raw, path);
    const key = formatKey(path);
    if (raw === undefined) {
      if (field.defaultValue !== undefined) {
        this.out.set(key, { kind: 'default' });
        return field.defaultValue as ConfigValue;
      }
      if (!field.isOptional) this.report(path, 'ECONFIG_MISSING', `is required (${field.spec.expected})`);
      return undefined;
    }
    const source = this.sourceOf(path);
    const decoded = field.spec.decode(raw, source);
    if (!decoded.ok) {
      for (const p of [decoded, ...(decoded.also ?? [])])
        this.report(p.at ? [...path, ...p.at] : path, p.code, p.reason);
      return undefined;
    }
    this.out.set(key, source ?? { kind: 'default' });
    return decoded.value as ConfigValue;
  }

  /** The source recorded for `path`, else for its nearest ancestor (a missing key reports its table's line). */
  private sourceOf(path: ConfigPath): ValueSource | undefined {
    for (let n = path.length; n >= 0; n--) {
      const src = this.layer.sources.get(formatKey(path.slice(0, n)));
      if (src !== undefined) return src;
    }
    return undefined;
  }

  private report(path: ConfigPath, code: ConfigErrorCode, reason: string, at?: ConfigPath): void {
    const src = this.sourceOf(at ?? path);
    const line = sourceLine(src);
    this.problems.push({
      file: sourceFile(src),
      ...(line !== undefined && { line }),
      key: formatKey(path),
      reason,
      code,
    });
  }

  private unknownReason(sec: Section<Shape, boolean>, key: string, path: ConfigPath): string {
    const near = closest(key, Object.keys(sec.shape));
    if (near !== undefined) return `unknown key (did you mean "${formatKey([...path, near])}"?)`;
    const elsewhere = findKey(this.root, key, []);
    if (elsewhere !== undefined && elsewhere.length > 0) {
      return `unknown key (there is "${formatKey([...elsewhere, key])}" in [${formatKey(elsewhere)}])`;
    }
    if (elsewhere !== undefined) return `unknown key (there is a top-level "${key}")`;
    const known = Object.keys(sec.shape);
    return known.length === 0 ? 'unknown key' : `unknown key (known here: ${known.join(', ')})`;
  }
}

/** The path of a section (other than the one searched from) that has `key`, if any. */
function findKey(sec: Section<Shape, boolean>, key: string, path: string[]): string[] | undefined {
  if (Object.hasOwn(sec.shape, key)) return path;
  for (const [k, f] of Object.entries(sec.shape)) {
    if (f.kind !== 'table') continue;
    const found = findKey(f, key, [...path, k]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The known key nearest to `key` when it is plausibly a typo: edit distance at most a third of its length. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(key.length / 3));
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d <= limit && d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return best;
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("prot" is one edit from "port"). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
