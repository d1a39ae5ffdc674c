// The raw configuration tree before validation, and where each of its nodes came from. A Layer is what one
// source contributes (a TOML file, a JS object); patch.ts merges layers, schema.ts validates the result.
import { ConfigError } from './errors.js';

/** A raw value as TOML gives it (integers beyond 2^53 stay bigint so they can be refused exactly). */
export type ConfigValue = string | number | bigint | boolean | Date | ConfigValue[] | ConfigTable;
export interface ConfigTable {
  [key: string]: ConfigValue;
}

/** Where a value came from. `line` is 1-based and set for file sources. */
export type ValueSource =
  | { kind: 'default' }
  | { kind: 'embedded' }
  | { kind: 'base'; file: string; line: number }
  | { kind: 'patch'; file: string; line: number; /** 0-based, in the order the patches were given */ patch: number };

/** Dotted key → source. The loader records tables and array elements too; a validated result, leaves only. */
export type ConfigSources = ReadonlyMap<string, ValueSource>;

/** One source's contribution: its tree and the origin of every node in it, keyed by `formatKey`. */
export interface Layer {
  tree: ConfigTable;
  sources: Map<string, ValueSource>;
}

export type ConfigPath = readonly (string | number)[];

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** `service.port`, `handlers[0].url`, `"a.b".c`: TOML spelling, so a quoted key cannot be mistaken for a path. */
export function formatKey(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const k = BARE_KEY.test(seg) ? seg : JSON.stringify(seg);
      out += out === '' ? k : `.${k}`;
    }
  }
  return out;
}

/** True when `key` is `prefix` or lies inside it. */
export function isWithin(key: string, prefix: string): boolean {
  if (prefix === '') return true;
  return key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`);
}

export function isTable(v: unknown): v is ConfigTable {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The file a source names, or the pseudo-file used in problems. */
export function sourceFile(src: ValueSource | undefined): string {
  if (src === undefined || src.kind === 'default') return '<defaults>';
  if (src.kind === 'embedded') return '<embedded>';
  return src.file;
}

export function sourceLine(src: ValueSource | undefined): number | undefined {
  return src !== undefined && (src.kind === 'base' || src.kind === 'patch') ? src.line : undefined;
}

/** A short human label: `default`, `embedded`, `/etc/es/base.toml:7`, `/etc/es/p.toml:3 (patch 1)`. */
export function describeSource(src: ValueSource): string {
  switch (src.kind) {
    case 'default':
    case 'embedded':
      return src.kind;
    case 'base':
      return `${src.file}:${src.line}`;
    case 'patch':
      return `${src.file}:${src.line} (patch ${src.patch + 1})`;
  }
}

/**
 * The layer for a JS object passed by an embedding program. `undefined` members count as absent, so callers may
 * spread optional settings. Values are copied only as deep as plain objects and arrays go; everything else is left
 * for the schema to accept or refuse.
 */
export function embeddedLayer(input: unknown): Layer {
  const sources = new Map<string, ValueSource>();
  const copy = (v: unknown, path: (string | number)[]): ConfigValue => {
    sources.set(formatKey(path), { kind: 'embedded' });
    if (Array.isArray(v)) return v.map((el, i) => copy(el, [...path, i]));
    if (isTable(v)) {
      const out: ConfigTable = {};
      for (const [k, el] of Object.entries(v)) if (el !== undefined) out[k] = copy(el, [...path, k]);
      return out;
    }
    return v as ConfigValue;
  };
  if (!isTable(input)) {
    throw new ConfigError([
      {
        file: '<embedded>',
        key: '',
        reason: `the configuration must be a plain object, got ${describeValue(input)}`,
        code: 'ECONFIG_TYPE',
      },
    ]);
  }
  const tree = copy(input, []) as ConfigTable;
  return { tree, sources };
}

/** A bad value as a problem shows it: `70000`, `"abc"`, `a table`, `an array`, `null`. Long strings are cut. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return `a date-time (${v.toISOString()})`;
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'object') return isTable(v) ? 'a table' : `an object (${v.constructor?.name ?? 'unknown'})`;
  return `a ${typeof v}`;
}
