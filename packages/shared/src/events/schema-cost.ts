// What checking an event against a catalogue schema may cost, bounded before Ajv compiles it (data-schema.ts): the
// check runs for every event of the type on the event loop, so no schema may make one event take seconds. Patterns
// run on RE2; `uniqueItems` over objects needs maxItems; `$ref`s stay inside their schema, never recursive, and
// the schema with every `$ref` followed (each event is checked against that) stays small. Why: docs/catalogue.md.
import type { Options } from 'ajv';
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

/** re2js, loaded with the first pattern compiled (a catalogue schema's), not at start-up (issue 16 item 5). */
const require = createRequire(import.meta.url);
let re2js: typeof RE2JS | undefined;
const re2Class = (): typeof RE2JS => (re2js ??= (require('re2js') as typeof import('re2js')).RE2JS);

/** Why a schema was refused; `at` is the path inside the schema (`['properties', 'size', 'type']`), when known. */
export interface SchemaCostProblem {
  at: (string | number)[];
  reason: string;
}

/**
 * Most items a `uniqueItems` check compares pairwise (items that may be objects or arrays: Ajv deep-compares every
 * pair, 20,000 small objects took 13 s). 100 items are at most 100 × the event's size of comparing.
 */
export const MAX_UNIQUE_ITEMS_COMPARED = 100;
/**
 * Subschemas one schema has with every `$ref` followed (a definition used twice counts twice): what one event's
 * check may walk at each of its values. Without `$ref`s it is the subschema count, at most MAX_DATA_SCHEMA_NODES;
 * `$ref`s may reuse definitions up to four times that. Two overlapping `anyOf` branches that each refer to the next
 * of 20 definitions unfold to 2^20 (a million), which took seconds for one event.
 */
export const MAX_UNFOLDED_SUBSCHEMAS = 20_000;

/**
 * Ajv's regExp engine on re2js (RE2 in JavaScript: linear-time matching, no backtracking). ECMAScript forms RE2 spells
 * otherwise (`\uXXXX`, `(?<name>`) are translated; lookaround and backreferences have no linear-time match and are
 * refused when the schema compiles. Always Unicode (Ajv's `u`).
 */
type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;

export function re2Engine(): RegExpEngine {
  const engine = (pattern: string): { test(s: string): boolean; toString(): string } => {
    const re = re2(pattern);
    if (typeof re === 'string') throw new Error(`pattern ${JSON.stringify(pattern)} ${re}`);
    // Ajv keys its compiled patterns by toString: the pattern itself, one flag set for all.
    return { test: (s) => re.test(s), toString: () => pattern };
  };
  // Used only by Ajv's standalone code generation, which this module does not use.
  return Object.assign(engine, { code: 'require("re2js").RE2JS' });
}

/** A pattern compiled by RE2, or why it cannot be. */
function re2(pattern: string): RE2JS | string {
  const source = ecmaClasses(pattern);
  if (source === undefined)
    return 'cannot run on RE2: \\S inside a character class has no RE2 form (write the class without it)';
  try {
    const RE2 = re2Class();
    return RE2.compile(RE2.translateRegExp(source));
  } catch (err) {
    return (
      'cannot run on RE2, the linear-time engine patterns use (no lookaround or backreferences): ' +
      (err as Error).message
    );
  }
}

/**
 * ECMAScript's whitespace (`\s`: WhiteSpace and LineTerminator, ECMA-262 22.2.2.9) and what its `.` excludes
 * (LineTerminator) spelt out: RE2's `\s` is [\t\n\f\r ] alone and its `.` excludes only \n, so `^.+$` would
 * take "a\rb" and `^\s$` refuse "\u00a0", where JSON Schema's ECMAScript patterns do the reverse.
 */
const ECMA_SPACE = '\\t\\n\\u000b\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const ECMA_DOT = '[^\\n\\r\\u2028\\u2029]';

/** `pattern` with `.`, `\s` and `\S` in ECMAScript's meaning; undefined for a `\S` inside a class. */
function ecmaClasses(pattern: string): string | undefined {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      const next = pattern[++i]!;
      if (next === 's') out += inClass ? ECMA_SPACE : `[${ECMA_SPACE}]`;
      else if (next === 'S') {
        if (inClass) return undefined;
        out += `[^${ECMA_SPACE}]`;
      } else out += c + next;
    } else if (inClass) {
      if (c === ']') inClass = false;
      out += c;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (pattern[i + 1] === '^') out += pattern[++i];
    } else out += c === '.' ? ECMA_DOT : c;
  }
  return out;
}

/** Keywords whose value is a schema, an array of schemas, or (MAP_KEYWORDS) a table of them: every schema position. */
const SCHEMA_KEYWORDS = [
  'items',
  'prefixItems',
  'additionalItems',
  'allOf',
  'anyOf',
  'oneOf',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'additionalProperties',
  'propertyNames',
  'unevaluatedItems',
  'unevaluatedProperties',
];
const MAP_KEYWORDS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas', 'dependencies'];
const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Counts the subschemas and finds a `uniqueItems: true` that would compare objects or arrays pairwise without a
 * bound. Ajv checks items of scalar types (`items.type` with no object or array) in one pass, so only the others
 * need maxItems. Walks schema positions only (a valid schema: strict mode refuses unknown keywords), so
 * `uniqueItems` as a property name, an enum value or an example is not taken for the keyword.
 */
export function schemaCost(schema: unknown): { problem?: SchemaCostProblem; subschemas: number } {
  const stack: { v: unknown; at: (string | number)[] }[] = [{ v: schema, at: [] }];
  let subschemas = 0;
  const anchors = new Map<string, unknown>();
  const places = new Map<object, (string | number)[]>();
  while (stack.length > 0) {
    const { v, at } = stack.pop()!;
    subschemas++;
    if (!isTable(v)) continue;
    places.set(v, at);
    const refProblem = refKeywordsProblem(v, at, anchors);
    if (refProblem !== undefined) return { problem: refProblem, subschemas };
    // Found here rather than by Ajv's compile, so the refusal says where the pattern is.
    const patterns: [unknown, (string | number)[]][] = [[v.pattern, [...at, 'pattern']]];
    if (isTable(v.patternProperties))
      for (const p of Object.keys(v.patternProperties)) patterns.push([p, [...at, 'patternProperties', p]]);
    for (const [p, where] of patterns) {
      const re = typeof p === 'string' ? re2(p) : undefined;
      if (typeof re === 'string') return { problem: { at: where, reason: `${JSON.stringify(p)} ${re}` }, subschemas };
    }
    if (v.uniqueItems === true && !scalarItems(v.items)) {
      const max = v.maxItems;
      if (typeof max !== 'number' || max > MAX_UNIQUE_ITEMS_COMPARED) {
        const given = typeof max === 'number' ? `maxItems ${max} is over ${MAX_UNIQUE_ITEMS_COMPARED}: ` : '';
        const reason =
          `compares every pair of items that may be objects or arrays: ${given}give maxItems (at most ` +
          `${MAX_UNIQUE_ITEMS_COMPARED}) beside it, or items of scalar types ("items": {"type": "string"})`;
        return { problem: { at: [...at, 'uniqueItems'], reason }, subschemas };
      }
    }
    for (const [sub, where] of subschemasOf(v, at)) stack.push({ v: sub, at: where });
  }
  const unfolded = unfold(schema, { anchors, places });
  return unfolded === undefined ? { subschemas } : { problem: unfolded, subschemas };
}

/** The schemas directly inside `v`, with their paths. */
function subschemasOf(v: Record<string, unknown>, at: (string | number)[]): [unknown, (string | number)[]][] {
  const out: [unknown, (string | number)[]][] = [];
  for (const k of SCHEMA_KEYWORDS) {
    const sub = v[k];
    if (Array.isArray(sub)) sub.forEach((el, i) => out.push([el, [...at, k, i]]));
    else if (sub !== undefined) out.push([sub, [...at, k]]);
  }
  for (const k of MAP_KEYWORDS) {
    const map = v[k];
    if (isTable(map)) for (const [name, sub] of Object.entries(map)) out.push([sub, [...at, k, name]]);
  }
  return out;
}

const DYNAMIC_KEYWORDS = ['$dynamicRef', '$dynamicAnchor', '$recursiveRef', '$recursiveAnchor'];

/** A keyword `$ref`s resolve by that this module cannot follow, refused; anchors noted for resolve(). */
function refKeywordsProblem(
  v: Record<string, unknown>,
  at: (string | number)[],
  anchors: Map<string, unknown>,
): SchemaCostProblem | undefined {
  for (const k of DYNAMIC_KEYWORDS)
    if (v[k] !== undefined) return { at: [...at, k], reason: `is not supported: ${RECURSION}` };
  if (typeof v.$anchor === 'string') anchors.set(v.$anchor, v);
  // draft-07 names an anchor with a fragment-only $id; any other $id inside would move the base $refs resolve by.
  if (typeof v.$id === 'string' && at.length > 0) {
    if (v.$id.startsWith('#')) anchors.set(v.$id.slice(1), v);
    else return { at: [...at, '$id'], reason: 'is not supported below the top: $refs resolve against the top $id' };
  }
  return undefined;
}

const RECURSION =
  'a schema may not refer to itself (each event is checked against the schema with every $ref followed, which ' +
  'must be finite and small)';

class Refusal {
  constructor(readonly problem: SchemaCostProblem) {}
}

/**
 * Follows every `$ref`, counting the subschemas an event's check may walk, refusing a `$ref` that leaves the
 * schema, resolves nowhere or comes back to a schema it is inside of, and stopping past MAX_UNFOLDED_SUBSCHEMAS.
 * Each schema's count is kept, so a definition used many times is counted once per use but walked once.
 */
function unfold(
  root: unknown,
  { anchors, places }: { anchors: Map<string, unknown>; places: Map<object, (string | number)[]> },
): SchemaCostProblem | undefined {
  const sizes = new Map<object, number>();
  const inside = new Set<object>();
  const size = (v: unknown, at: (string | number)[]): number => {
    if (!isTable(v)) return 1;
    const known = sizes.get(v);
    if (known !== undefined) return known;
    inside.add(v);
    let n = 1;
    if (typeof v.$ref === 'string') {
      const target = resolve(v.$ref, root, anchors);
      if (typeof target === 'string') throw new Refusal({ at: [...at, '$ref'], reason: target });
      if (isTable(target) && inside.has(target)) throw new Refusal({ at: [...at, '$ref'], reason: RECURSION });
      // Reported where the target is written (a definition), when it is a schema position.
      n += size(target, (isTable(target) ? places.get(target) : undefined) ?? [...at, '$ref']);
    }
    for (const [sub, where] of subschemasOf(v, at)) {
      n += size(sub, where);
      if (n > MAX_UNFOLDED_SUBSCHEMAS) break;
    }
    inside.delete(v);
    if (n > MAX_UNFOLDED_SUBSCHEMAS) {
      const reason =
        `has more than ${MAX_UNFOLDED_SUBSCHEMAS} subschemas with its $refs followed (each $ref counts what it ` +
        `refers to): each event would be checked against all of them`;
      throw new Refusal({ at: [], reason });
    }
    sizes.set(v, n);
    return n;
  };
  try {
    size(root, []);
    return undefined;
  } catch (err) {
    if (err instanceof Refusal) return err.problem;
    // A chain of $refs deeper than the stack: as good as unbounded.
    if (err instanceof RangeError) return { at: [], reason: `follows $refs too deep: ${RECURSION}` };
    throw err;
  }
}

/** What a `$ref` names inside `root` (`#`, `#/$defs/a`, `#anchor`, or those after the top $id), or why not. */
function resolve(ref: string, root: unknown, anchors: Map<string, unknown>): unknown {
  const id = isTable(root) && typeof root.$id === 'string' ? root.$id.replace(/#.*$/, '') : '';
  const local = id !== '' && ref.startsWith(id) ? ref.slice(id.length) : ref;
  const outside = `${JSON.stringify(ref)} must refer inside its own schema (#, #/$defs/NAME or #ANCHOR)`;
  if (local === '' || local === '#') return root;
  if (!local.startsWith('#')) return outside;
  let fragment: string;
  try {
    fragment = decodeURIComponent(local.slice(1));
  } catch {
    return `${JSON.stringify(ref)} is not a valid URI fragment`;
  }
  if (!fragment.startsWith('/')) return anchors.get(fragment) ?? `${JSON.stringify(ref)} names no $anchor`;
  let cur: unknown = root;
  for (const seg of fragment.slice(1).split('/')) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    cur = Array.isArray(cur) ? cur[Number(key)] : isTable(cur) && Object.hasOwn(cur, key) ? cur[key] : undefined;
    if (cur === undefined) return `${JSON.stringify(ref)} resolves to nothing`;
  }
  return cur;
}

/** Items Ajv's uniqueItems compares in one pass: `items.type` names only types other than object and array. */
function scalarItems(items: unknown): boolean {
  if (!isTable(items)) return false;
  const types = typeof items.type === 'string' ? [items.type] : items.type;
  return Array.isArray(types) && types.length > 0 && !types.some((t) => t === 'object' || t === 'array');
}
