// What differs between two configurations, key by key, with secrets redacted: what a reload logs and what
// `config patch` prints. Which keys change live is the schema's (reload.ts plans a reload from its marks and gives
// the configuration put in force); this module only compares and redacts.
import { isSecretName, REDACTED } from './format.js';

/** One setting that differs between the running and the reloaded configuration. */
export interface ConfigChange {
  /** Dotted key, `service.listener_limit`. */
  key: string;
  /** Running value, secrets redacted; undefined when unset. */
  from: unknown;
  /** Reloaded value, secrets redacted; undefined when unset. */
  to: unknown;
}

export interface ConfigChanges {
  /** Changes taking effect now. */
  applied: ConfigChange[];
  /** Changes that take effect only after a restart. */
  restart: ConfigChange[];
}

/**
 * Every key whose value differs between `running` and `next`, sorted: applied when `inForce` (what the process
 * puts in force: `next` with restart-only settings kept at their running values) has the new value, else restart.
 */
export function configChanges(running: object, next: object, opts: { inForce: object }): ConfigChanges {
  const before = flattenConfig(running);
  const wanted = flattenConfig(next);
  const inForce = flattenConfig(opts.inForce);
  const applied: ConfigChange[] = [];
  const restart: ConfigChange[] = [];
  for (const key of [...new Set([...before.keys(), ...wanted.keys()])].sort()) {
    const from = before.get(key);
    const to = wanted.get(key);
    if (same(from, to)) continue;
    const change = { key, from: redactSetting(key, from), to: redactSetting(key, to) };
    if (same(inForce.get(key), to)) applied.push(change);
    else restart.push(change);
  }
  return { applied, restart };
}

/** Leaves by dotted key; arrays are one leaf (a patch replaces them whole). */
export function flattenConfig(value: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flattenConfig(v, prefix === '' ? k : `${prefix}.${k}`, out);
  } else if (value !== undefined) {
    out.set(prefix, value);
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** A secret's value never reaches a log: tokens, keys, sink secrets, and request headers (they carry credentials). */
export function redactSetting(key: string, value: unknown): unknown {
  if (value === undefined) return undefined;
  const parts = key.split('.');
  if (parts.some(isSecretKey)) return REDACTED;
  return redactInside(value);
}

function isSecretKey(p: string): boolean {
  return isSecretName(p) || p === 'secrets' || p === 'headers';
}

/** An array is one setting here: tables inside it (`[[leafnodes.authorization.users]]`) keep their secrets too. */
function redactInside(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactInside);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isSecretKey(k) ? REDACTED : redactInside(v)]));
  }
  return value;
}
