// An array of tables (`[[leafnodes.remotes]]`) whose every element is a flat section of the schema: each element's
// keys decoded by the section's own leaves (defaults, optional, unknown keys with a suggestion) and its checks run,
// every problem reported at the element's key (`file:line: leafnodes.remotes[1].token: reason`). The array is one
// setting to the rest of the config (one reload mark, printed as inline tables, secrets redacted).
import { isSecretName, REDACTED } from './format.js';
import {
  decodedOrProblems,
  Leaf,
  type AnyField,
  type DecodeProblem,
  type InferShape,
  type Section,
  type Shape,
} from './schema.js';
import { describeValue, formatKey, isTable, type ConfigPath } from './tree.js';
import { closest } from './validate.js';

/** Every element validated by `section` (its fields must be settings, not tables); at least `min` (default 1). */
export function tableList<S extends Shape>(section: Section<S, boolean>, opts: { min?: number } = {}) {
  const fields = Object.entries(section.shape) as [string, AnyField][];
  for (const [key, f] of fields) {
    if (f.kind !== 'leaf') throw new TypeError(`tableList: ${key} is a table; only flat sections are supported`);
  }
  const leaves = fields as [string, Leaf<unknown, boolean>][];
  const min = opts.min ?? 1;
  const expected = `an array of tables (${leaves.map(([k]) => k).join(', ')})`;
  type Entry = InferShape<S>;
  return new Leaf<Entry[]>(
    {
      expected,
      decode(raw, source) {
        if (!Array.isArray(raw))
          return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
        if (raw.length < min)
          return { ok: false, code: 'ECONFIG_VALUE', reason: `must list at least ${min} table${min === 1 ? '' : 's'}` };
        const problems: DecodeProblem[] = [];
        const out: Entry[] = [];
        raw.forEach((el: unknown, i) => {
          const bad = (code: DecodeProblem['code'], reason: string, at: ConfigPath) =>
            void problems.push({ code, reason, at: [i, ...at] });
          if (!isTable(el)) return bad('ECONFIG_TYPE', `must be a table, got ${describeValue(el)}`, []);
          const before = problems.length;
          for (const k of Object.keys(el)) {
            if (section.shape[k] !== undefined) continue;
            const near = closest(k, Object.keys(section.shape));
            bad(
              'ECONFIG_UNKNOWN_KEY',
              near === undefined
                ? `unknown key (known here: ${Object.keys(section.shape).join(', ')})`
                : `unknown key (did you mean "${near}"?)`,
              [k],
            );
          }
          const value: Record<string, unknown> = {};
          for (const [k, leaf] of leaves) {
            const v = el[k];
            if (v === undefined) {
              if (leaf.defaultValue !== undefined) value[k] = leaf.defaultValue;
              else if (!leaf.isOptional) bad('ECONFIG_MISSING', `is required (${leaf.spec.expected})`, [k]);
              continue;
            }
            const d = leaf.spec.decode(v, source);
            if (d.ok) value[k] = d.value;
            else for (const p of [d, ...(d.also ?? [])]) bad(p.code, p.reason, [k, ...(p.at ?? [])]);
          }
          if (problems.length > before) return;
          section.runChecks(value as Entry, {
            // A check's `at` (the line to point to) cannot be honoured inside one setting: the key is named instead.
            report: (key, code, reason) => bad(code, reason, key),
          });
          out.push(value as Entry);
        });
        return decodedOrProblems(problems, () => out);
      },
      encode: (list) =>
        `[${list
          .map((e) => {
            const parts = leaves
              .filter(([k]) => (e as Record<string, unknown>)[k] !== undefined)
              .map(([k, leaf]) => {
                const v = (e as Record<string, unknown>)[k];
                const text = leaf.isSecret || isSecretName(k) ? JSON.stringify(REDACTED) : leaf.spec.encode(v);
                return `${formatKey([k])} = ${text}`;
              });
            return `{ ${parts.join(', ')} }`;
          })
          .join(', ')}]`,
    },
    false,
  );
}
