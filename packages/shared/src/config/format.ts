// Prints a validated configuration back as TOML (for --print-config and `config show`): secrets redacted,
// durations and sizes in their short spelling, optionally each value's source as a comment. Reading the output back
// with the same schema gives the same configuration (redacted values aside).
import type { AnyField, InferShape, Section, Shape } from './schema.js';
import { describeSource, formatKey, type ConfigPath, type ConfigSources } from './tree.js';

export const REDACTED = '<redacted>';

// Names that hold key material or credentials. `key_path` and `cert_path` name files and are not secret;
// a key named `key`, `private_key` or `nkey` holds the key itself.
const SECRET_NAME = /(^|_)(token|secret|password|passwd|passphrase|pass|key|nkey|seed|credentials?|jwt)$/i;

/** True for settings printed as "<redacted>" whatever the schema says. */
export function isSecretName(key: string): boolean {
  return SECRET_NAME.test(key);
}

export interface FormatOptions {
  /** Adds `# /etc/es/base.toml:7`, `# default`, `# embedded` after each value. */
  sources?: ConfigSources;
}

export function formatToml<S extends Shape>(
  root: Section<S, boolean>,
  value: InferShape<S>,
  opts: FormatOptions = {},
): string {
  const out: string[] = [];
  emit(root as unknown as Section<Shape, boolean>, value as Record<string, unknown>, [], out, opts);
  return `${out.join('\n').replace(/^\n+/, '')}\n`;
}

function emit(
  sec: Section<Shape, boolean>,
  value: Record<string, unknown>,
  path: ConfigPath,
  out: string[],
  opts: FormatOptions,
): void {
  const fields = Object.entries(sec.shape) as [string, AnyField][];
  for (const [key, field] of fields) {
    const v = value[key];
    if (field.kind !== 'leaf' || v === undefined) continue;
    const redact = field.isSecret || isSecretName(key);
    let line = `${formatKey([key])} = ${redact ? JSON.stringify(REDACTED) : field.spec.encode(v)}`;
    const src = opts.sources?.get(formatKey([...path, key]));
    if (src !== undefined) line += `  # ${describeSource(src)}`;
    out.push(line);
  }
  for (const [key, field] of fields) {
    const v = value[key];
    if (field.kind !== 'table' || v === undefined) continue;
    const p = [...path, key];
    out.push('', `[${formatKey(p)}]`);
    emit(field, v as Record<string, unknown>, p, out, opts);
  }
}
