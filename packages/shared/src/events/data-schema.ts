// JSON Schemas for a type's `data` written by users (a catalogue file), where TypeBox's compiler (which takes only
// TypeBox schemas) cannot serve: checked with Ajv (draft 2020-12, or draft-07 when `$schema` names it) and
// ajv-formats. Bounds what a schema may make us allocate before Ajv sees it; reading files is the caller's concern.
import { createRequire } from 'node:module';
import type { Ajv, ErrorObject, Options } from 'ajv';
import type { Ajv2020 } from 'ajv/dist/2020.js';
import { pointerToField, type EventFieldError } from './envelope.js';
import { re2Engine, schemaCost } from './schema-cost.js';

export { MAX_UNFOLDED_SUBSCHEMAS, MAX_UNIQUE_ITEMS_COMPARED } from './schema-cost.js';

/**
 * Ajv (both drafts) and ajv-formats, loaded with the first schema a compiler compiles, not at start-up (issue 16
 * item 5: ~90 files, a third of the bundled CLI, that a configuration without catalogue schemas never uses).
 * CommonJS packages, so required synchronously (`compile` stays synchronous), resolved from this module.
 */
interface AjvClasses {
  Ajv: typeof Ajv;
  Ajv2020: typeof Ajv2020;
  addFormats: (ajv: Ajv) => Ajv;
}
const require = createRequire(import.meta.url);
let ajvClasses: AjvClasses | undefined;

function ajvModules(): AjvClasses {
  if (ajvClasses !== undefined) return ajvClasses;
  // ajv-formats is CommonJS with `exports.default`.
  const formats = require('ajv-formats') as { default?: unknown };
  ajvClasses = {
    Ajv: (require('ajv') as typeof import('ajv')).Ajv,
    Ajv2020: (require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js')).Ajv2020,
    addFormats: (formats.default ?? formats) as AjvClasses['addFormats'],
  };
  return ajvClasses;
}

export const JSON_SCHEMA_DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
export const JSON_SCHEMA_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

/**
 * What one schema may be. Deeper nesting than any hand-written payload schema needs, and few enough nodes that
 * Ajv's generated code stays small (~1 kB of code per 10 nodes): a file cannot make a load allocate much.
 */
export const MAX_DATA_SCHEMA_DEPTH = 32;
export const MAX_DATA_SCHEMA_NODES = 5_000;
export const MAX_DATA_SCHEMA_BYTES = 256 * 1024;
/**
 * Subschemas (the schema and each schema inside it: a property's, an `allOf` branch...) one compiler, i.e. one
 * catalogue load, compiles in all. Ajv generates code for each, 0.7 to 1.3 ms apiece on the event loop (measured:
 * 1,200 properties took 1.6 s and 4 MB), and a load runs at start and on SIGHUP: 10,000 is ~10 s at most, where
 * MAX_CATALOGUE_TYPES schemas of the largest size (5,000 values) would be about an hour and gigabytes.
 */
export const MAX_LOAD_SUBSCHEMAS = 10_000;

/** Why a schema was refused; `at` is the path inside the schema (`['properties', 'size', 'type']`), when known. */
export interface DataSchemaProblem {
  at: (string | number)[];
  reason: string;
}

export type DataCheck = (data: unknown) => EventFieldError[];

export type DataSchemaResult = { ok: true; check: DataCheck } | { ok: false; problems: DataSchemaProblem[] };

const DRAFT_07_IDS = new Set([JSON_SCHEMA_DRAFT_07, 'http://json-schema.org/draft-07/schema']);
const DRAFT_2020_IDS = new Set([JSON_SCHEMA_2020_12, `${JSON_SCHEMA_2020_12}#`]);

const AJV_OPTIONS: Options = {
  // Strict about keywords: a typo (`minimun`) would otherwise check nothing, silently. Annotations that are not
  // keywords go in `description`, `title`, `examples` or `$comment`. Not strict about types (`required` without
  // `type: "object"`), which plain JSON Schema allows and users write.
  strictSchema: true,
  strictTypes: false,
  strictTuples: false,
  strictRequired: false,
  // The first failure only: an intake answers one field, and a hostile event cannot make a check collect thousands.
  allErrors: false,
  // Never a remote $ref (no loadSchema), never console output.
  logger: false,
  // Only the event's own properties: otherwise `required: ["constructor"]` takes {} (its prototype has one) and
  // `properties.toString` checks the inherited function.
  ownProperties: true,
  // `pattern` and `patternProperties` run on RE2 (docs/catalogue.md): linear in the string, for every event.
  code: { regExp: re2Engine() },
};

export interface DataSchemaCompilerOptions {
  /** Subschemas this compiler compiles in all (default MAX_LOAD_SUBSCHEMAS). */
  maxSubschemas?: number;
}

/**
 * Compiles data schemas for one load of a catalogue. One compiler per load: an Ajv instance keeps every schema it
 * compiled, so a reload with a fresh one lets the replaced catalogue's code be freed. Schemas sharing an `$id` in
 * one load are refused (Ajv's registry), as they would be ambiguous for `$ref`.
 */
export class DataSchemaCompiler {
  private draft07: Ajv | undefined;
  private draft2020: Ajv2020 | undefined;
  private readonly maxSubschemas: number;
  private subschemas = 0;

  constructor(opts: DataSchemaCompilerOptions = {}) {
    this.maxSubschemas = opts.maxSubschemas ?? MAX_LOAD_SUBSCHEMAS;
  }

  /** A check for `data`, or why the schema cannot be one. Never throws for any JSON value. */
  compile(schema: unknown): DataSchemaResult {
    const bound = boundProblem(schema);
    if (bound !== undefined) return { ok: false, problems: [bound] };
    if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema)))
      return { ok: false, problems: [{ at: [], reason: 'must be a JSON Schema (an object or a boolean)' }] };
    let ajv: Ajv;
    const lib = ajvModules();
    const declared = typeof schema === 'object' ? (schema as Record<string, unknown>).$schema : undefined;
    if (declared === undefined || (typeof declared === 'string' && DRAFT_2020_IDS.has(declared)))
      ajv = this.draft2020 ??= lib.addFormats(new lib.Ajv2020(AJV_OPTIONS) as unknown as Ajv) as unknown as Ajv2020;
    else if (typeof declared === 'string' && DRAFT_07_IDS.has(declared))
      ajv = this.draft07 ??= lib.addFormats(new lib.Ajv(AJV_OPTIONS));
    else {
      return {
        ok: false,
        problems: [
          {
            at: ['$schema'],
            reason: `must be ${JSON.stringify(JSON_SCHEMA_2020_12)} (the default) or ${JSON.stringify(JSON_SCHEMA_DRAFT_07)}`,
          },
        ],
      };
    }
    if (!ajv.validateSchema(schema)) {
      // The first failure: the meta-schema's alternatives (anyOf) add only noise after it.
      const e = ajv.errors?.[0];
      const problem =
        e === undefined
          ? { at: [], reason: 'is not a valid JSON Schema' }
          : { at: pointerSegments(e.instancePath), reason: metaReason(e) };
      return { ok: false, problems: [problem] };
    }
    const walked = schemaCost(schema);
    if (walked.problem !== undefined) return { ok: false, problems: [walked.problem] };
    if (this.subschemas + walked.subschemas > this.maxSubschemas) {
      const left = this.maxSubschemas - this.subschemas;
      const reason =
        `has ${walked.subschemas} subschemas, more than the ${left} left of the ${this.maxSubschemas} one ` +
        `catalogue load compiles (each is about 1 ms of compiling on the event loop)`;
      return { ok: false, problems: [{ at: [], reason }] };
    }
    this.subschemas += walked.subschemas;
    try {
      const validate = ajv.compile(schema as object | boolean);
      return {
        ok: true,
        check: (data) => {
          try {
            return validate(data) ? [] : dataErrors(validate.errors ?? []);
          } catch (err) {
            // Not expected (schema-cost.ts refuses a schema that refers to itself), but should a check fail, the
            // event is refused and the intake goes on.
            return [
              { field: 'data', reason: `cannot be checked: the type's schema failed (${(err as Error).message})` },
            ];
          }
        },
      };
    } catch (err) {
      // Unknown keywords (strict), a $ref that resolves nowhere, an invalid `pattern`, a repeated `$id`.
      return { ok: false, problems: [{ at: [], reason: (err as Error).message }] };
    }
  }
}

/** The schema's depth, node count and size against the bounds, walked without recursion (a hostile depth is fine). */
function boundProblem(schema: unknown): DataSchemaProblem | undefined {
  const stack: { v: unknown; depth: number }[] = [{ v: schema, depth: 1 }];
  let nodes = 0;
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (++nodes > MAX_DATA_SCHEMA_NODES)
      return { at: [], reason: `has more than ${MAX_DATA_SCHEMA_NODES} values (arrays, tables and leaves)` };
    if (depth > MAX_DATA_SCHEMA_DEPTH) return { at: [], reason: `nests deeper than ${MAX_DATA_SCHEMA_DEPTH} levels` };
    if (typeof v === 'object' && v !== null) {
      for (const el of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: el, depth: depth + 1 });
    }
  }
  // Bounded depth and nodes: stringify cannot overflow, and the text is at most nodes × the longest string.
  const bytes = Buffer.byteLength(JSON.stringify(schema) ?? '');
  if (bytes > MAX_DATA_SCHEMA_BYTES)
    return { at: [], reason: `is ${bytes} bytes as JSON, over ${MAX_DATA_SCHEMA_BYTES}` };
  return undefined;
}

function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A meta-schema failure: `must be equal to one of the allowed values ("array", "boolean", ...)`. */
function metaReason(e: ErrorObject): string {
  const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
  return allowed === undefined
    ? (e.message ?? e.keyword)
    : `${e.message} (${allowed.map((a) => JSON.stringify(a)).join(', ')})`;
}

/** Ajv's errors for `data` as the intake answers them: the field (`data.size`) and why. */
function dataErrors(errors: ErrorObject[]): EventFieldError[] {
  return errors.slice(0, 1).map((e) => {
    const base = `/data${e.instancePath}`;
    const p = e.params as { missingProperty?: string; additionalProperty?: string; unevaluatedProperty?: string };
    if (e.keyword === 'required' && p.missingProperty !== undefined)
      return { field: pointerToField(`${base}/${escape(p.missingProperty)}`), reason: 'is required' };
    const extra = p.additionalProperty ?? p.unevaluatedProperty;
    if (extra !== undefined)
      return { field: pointerToField(`${base}/${escape(extra)}`), reason: 'is not allowed here' };
    return { field: pointerToField(base), reason: e.message ?? `fails ${e.keyword}` };
  });
}

const escape = (name: string): string => name.replace(/~/g, '~0').replace(/\//g, '~1');
