// Configuration errors: one ConfigError carries every problem found in a load (not just the first), each as
// `file:line: dotted.key: reason` with a stable code, so an operator fixes a file in one pass.

/** The stable codes: API for callers and documentation alike. Each problem has one; so does the error. */
export const CONFIG_ERROR_CODES = {
  ECONFIG_FILE:
    'a configuration file cannot be read (missing, a directory, no permission), or a secret key file every user may write',
  ECONFIG_SYNTAX: 'a file is not valid TOML 1.0 (the problem names line and column)',
  ECONFIG_UNKNOWN_KEY: 'a key the schema does not know (the closest known key is suggested when one is near)',
  ECONFIG_TYPE: 'a value of the wrong type (a string where an integer belongs, a table where a value belongs)',
  ECONFIG_RANGE: 'a number, duration or size outside its bounds',
  ECONFIG_VALUE: 'a value of the right type but not an accepted form (enum member, duration or size text, empty)',
  ECONFIG_MISSING: 'a required key is absent, or a key another setting requires',
} as const;

export type ConfigErrorCode = keyof typeof CONFIG_ERROR_CODES;

/** One problem: where (file and line when known), which key, why. */
export interface ConfigProblem {
  /** Absolute file path, or `<embedded>` for a JS-object input, `<defaults>` for a schema default. */
  file: string;
  /** 1-based line, when the problem is tied to one. */
  line?: number;
  /** 1-based column, for syntax errors. */
  column?: number;
  /** Dotted key (`service.port`, `handlers[0].url`); empty for a file or syntax problem. */
  key: string;
  reason: string;
  code: ConfigErrorCode;
}

/** `file:line[:column]: key: reason`, leaving out what is unknown. */
export function formatProblem(p: ConfigProblem): string {
  let at = p.file;
  if (p.line !== undefined && p.line > 0) {
    at += `:${p.line}`;
    if (p.column !== undefined) at += `:${p.column}`;
  }
  return p.key === '' ? `${at}: ${p.reason}` : `${at}: ${p.key}: ${p.reason}`;
}

/**
 * Thrown by every loader and validator. `code` is the first problem's code; each problem carries its own.
 * The message is one line per problem, in file order then line order.
 */
export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    if (problems.length === 0) throw new TypeError('ConfigError needs at least one problem');
    const lines = problems.map(formatProblem);
    const head =
      problems.length === 1 ? 'invalid configuration' : `invalid configuration (${problems.length} problems)`;
    super(`${head}:\n  ${lines.join('\n  ')}`, options);
    this.name = 'ConfigError';
    this.code = problems[0]!.code;
    this.problems = problems;
  }
}

/** Orders problems by where they were found: file order as loaded, then line; unlocated last within a file. */
export function sortProblems(problems: ConfigProblem[], fileOrder: readonly string[]): ConfigProblem[] {
  const rank = (f: string): number => {
    const i = fileOrder.indexOf(f);
    return i === -1 ? fileOrder.length : i;
  };
  return problems
    .map((p, i) => ({ p, i }))
    .sort(
      (a, b) =>
        rank(a.p.file) - rank(b.p.file) ||
        (a.p.line ?? Number.MAX_SAFE_INTEGER) - (b.p.line ?? Number.MAX_SAFE_INTEGER) ||
        a.i - b.i,
    )
    .map(({ p }) => p);
}
