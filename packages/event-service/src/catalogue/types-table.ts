// A catalogue file's `[types.NAME]` tables, decoded as a setting of the shared config schema (so every problem is
// `file:line: types.NAME.key: reason`): each becomes a type registered in the catalogue being loaded, its `data`
// schema (inline, or a .json file beside the catalogue file) compiled by shared data-schema.ts. Reading the
// catalogue files and combining them is load.ts's.
import { dirname, resolve } from 'node:path';
import {
  decodedOrProblems,
  deriveNounVerb,
  describeValue,
  EVENT_TYPE_PATTERN,
  EventCatalogueError,
  MAX_DATA_SCHEMA_BYTES,
  MAX_DATA_SCHEMA_DEPTH,
  NOUN_VERB_PATTERN,
  schema as s,
  tomlString,
  type DataSchemaCompiler,
  type DecodeProblem,
  type EventCatalogue,
  type EventTypeDefinition,
} from '@event-broker/shared';
import { readWithin } from './read-file.js';

/** Types one file may define: far more than a product has, few enough that a load compiles in a second or two. */
export const MAX_TYPES_PER_FILE = 1_000;
/** A description longer than this is a document, not a description. */
const MAX_DESCRIPTION_CHARS = 1_024;
/** A schema file: its JSON text (whitespace included) may be this much larger than the schema's bound. */
const MAX_SCHEMA_FILE_BYTES = 4 * MAX_DATA_SCHEMA_BYTES;
const TYPE_KEYS = ['noun', 'verb', 'description', 'data', 'handlers'] as const;
const TYPE_RE = new RegExp(EVENT_TYPE_PATTERN);
const PAIR_RE = new RegExp(NOUN_VERB_PATTERN);

/** What decoding a file's types needs from the load: the catalogue it registers into, and what names are taken. */
export interface TypesContext {
  /** The catalogue being loaded (the process-wide one as its base): types register into it as they decode. */
  catalogue: EventCatalogue;
  /** Names of the process-wide catalogue's built-in types, to say why a name is taken. */
  builtIn: ReadonlySet<string>;
  /** The handlers (sinks) a type's `handlers` may name. */
  handlers: readonly string[];
  /** Type name → the file that defined it first in this load. */
  definedIn: Map<string, string>;
  compiler: DataSchemaCompiler;
  /**
   * Types still allowed in this load (all files together), decremented as types register; bytes still allowed to be
   * read (catalogue and schema files together), decremented as files are read (readWithin).
   */
  room: { types: number; bytes: number };
}

type At = (string | number)[];

/** `types`: a table of type tables, each registered into `ctx.catalogue` when it decodes cleanly. */
export function typesTable(ctx: TypesContext) {
  return s.custom<string[]>({
    expected: 'a table of event types ([types.NAME] with noun, verb, description, data, handlers)',
    decode(raw, source) {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Date)
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be a table of types, got ${describeValue(raw)}` };
      const file = source?.kind === 'base' || source?.kind === 'patch' ? source.file : '<embedded>';
      const problems: DecodeProblem[] = [];
      const names = Object.keys(raw);
      if (names.length > MAX_TYPES_PER_FILE)
        return {
          ok: false,
          code: 'ECONFIG_RANGE',
          reason: `defines ${names.length} types, over ${MAX_TYPES_PER_FILE}`,
        };
      const registered: string[] = [];
      for (const name of names) {
        const before = problems.length;
        const def = decodeType(name, (raw as Record<string, unknown>)[name], file, ctx, (code, reason, at) =>
          problems.push({ code, reason, at: [name, ...at] }),
        );
        if (def === undefined || problems.length > before) continue;
        if (ctx.room.types <= 0) {
          problems.push({ code: 'ECONFIG_RANGE', reason: 'one type too many for the whole catalogue', at: [name] });
          break;
        }
        try {
          ctx.catalogue.register(def);
          ctx.room.types--;
          registered.push(name);
        } catch (err) {
          if (!(err instanceof EventCatalogueError)) throw err;
          problems.push({ code: 'ECONFIG_VALUE', reason: err.message, at: [name] });
        }
      }
      return decodedOrProblems(problems, () => registered);
    },
    encode: (names) => `[${names.map(tomlString).join(', ')}]`,
  });
}

type Report = (code: DecodeProblem['code'], reason: string, at: At) => void;

function decodeType(
  name: string,
  raw: unknown,
  file: string,
  ctx: TypesContext,
  bad: Report,
): EventTypeDefinition | undefined {
  if (!TYPE_RE.test(name)) {
    bad('ECONFIG_VALUE', `a type name must match ${EVENT_TYPE_PATTERN} (one subject token)`, []);
    return undefined;
  }
  if (ctx.builtIn.has(name)) return void bad('ECONFIG_VALUE', 'is a built-in type: choose another name', []);
  if (ctx.definedIn.has(name)) {
    const where = ctx.definedIn.get(name)!;
    return void bad('ECONFIG_VALUE', `is defined already${where === file ? '' : ` in ${where}`}`, []);
  }
  if (ctx.catalogue.has(name))
    return void bad('ECONFIG_VALUE', 'is registered by the program embedding the service (registerEventType)', []);
  // Taken from here on, even when the type is refused below: a second definition is a problem of its own.
  ctx.definedIn.set(name, file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Date)
    return void bad(
      'ECONFIG_TYPE',
      `must be a table (noun, verb, description, data, handlers), got ${describeValue(raw)}`,
      [],
    );
  const t = raw as Record<string, unknown>;
  for (const k of Object.keys(t)) {
    if (!(TYPE_KEYS as readonly string[]).includes(k))
      bad('ECONFIG_UNKNOWN_KEY', `unknown key (known here: ${TYPE_KEYS.join(', ')})`, [k]);
  }
  const def: EventTypeDefinition = { type: name };
  for (const part of ['noun', 'verb'] as const) {
    const v = t[part];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !PAIR_RE.test(v))
      bad('ECONFIG_VALUE', `must be one word (a letter, then letters or digits), got ${describeValue(v)}`, [part]);
    else def[part] = v;
  }
  const derived = deriveNounVerb(name);
  if ((t.noun === undefined && derived === undefined) || (t.verb === undefined && derived === undefined))
    bad('ECONFIG_MISSING', 'implies no noun:verb pair (as scanJobCreated or backup_done do): give noun and verb', []);
  if (t.description !== undefined) {
    if (typeof t.description !== 'string')
      bad('ECONFIG_TYPE', `must be a string, got ${describeValue(t.description)}`, ['description']);
    else if (t.description.length > MAX_DESCRIPTION_CHARS)
      bad('ECONFIG_RANGE', `must be at most ${MAX_DESCRIPTION_CHARS} characters`, ['description']);
    else def.description = t.description;
  }
  if (t.handlers !== undefined) {
    const handlers = decodeHandlers(t.handlers, ctx.handlers, bad);
    if (handlers !== undefined) def.handlers = handlers;
  }
  if (t.data !== undefined) {
    const check = decodeData(t.data, file, ctx, bad);
    if (check !== undefined) def.checkData = check;
  }
  return def;
}

function decodeHandlers(raw: unknown, known: readonly string[], bad: Report): string[] | undefined {
  if (!Array.isArray(raw))
    return void bad('ECONFIG_TYPE', `must be an array of handler names, got ${describeValue(raw)}`, ['handlers']);
  const out: string[] = [];
  raw.forEach((h: unknown, i) => {
    if (typeof h !== 'string') bad('ECONFIG_TYPE', `must be a handler name, got ${describeValue(h)}`, ['handlers', i]);
    else if (!known.includes(h))
      bad('ECONFIG_VALUE', `unknown handler ${describeValue(h)} (known: ${known.join(', ')})`, ['handlers', i]);
    else if (out.includes(h)) bad('ECONFIG_VALUE', `${describeValue(h)} is listed twice`, ['handlers', i]);
    else out.push(h);
  });
  return out;
}

/** `data`: an inline schema (a TOML table) or the path of a .json schema file, relative to the catalogue file. */
function decodeData(raw: unknown, file: string, ctx: TypesContext, bad: Report) {
  let schema: unknown;
  let schemaFile: string | undefined;
  if (typeof raw === 'string') {
    if (raw === '') return void bad('ECONFIG_VALUE', 'must not be empty', ['data']);
    schemaFile = resolve(file === '<embedded>' ? process.cwd() : dirname(file), raw);
    const read = readSchemaFile(schemaFile, ctx.room);
    if ('problem' in read) return void bad(read.code, `${schemaFile}: ${read.problem}`, ['data']);
    schema = read.schema;
  } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Date)) {
    const json = tomlToJson(raw, ['data'], bad);
    if (json === undefined) return undefined;
    schema = json;
  } else {
    return void bad(
      'ECONFIG_TYPE',
      `must be a JSON Schema (a table) or the path of a .json schema file, got ${describeValue(raw)}`,
      ['data'],
    );
  }
  const compiled = ctx.compiler.compile(schema);
  if (compiled.ok) return compiled.check;
  for (const p of compiled.problems) {
    // In a schema file the line is the `data` key's; the pointer says where in the file.
    if (schemaFile !== undefined) {
      const pointer = p.at.length === 0 ? '' : ` /${p.at.join('/')}:`;
      bad('ECONFIG_VALUE', `${schemaFile}:${pointer} ${p.reason}`, ['data']);
    } else bad('ECONFIG_VALUE', p.reason, ['data', ...p.at]);
  }
  return undefined;
}

function readSchemaFile(
  path: string,
  room: TypesContext['room'],
): { schema: unknown } | { problem: string; code: 'ECONFIG_FILE' | 'ECONFIG_VALUE' | 'ECONFIG_RANGE' } {
  const read = readWithin(path, MAX_SCHEMA_FILE_BYTES, room, 'schema file');
  if ('problem' in read) return read;
  try {
    return { schema: JSON.parse(read.text) };
  } catch (err) {
    return { code: 'ECONFIG_VALUE', problem: `not JSON: ${(err as Error).message}` };
  }
}

/**
 * A TOML value as JSON: TOML has date-times, integers past 2^53, inf and nan, which JSON has not. Recursion stops at
 * the schema depth bound, so a hostile nesting is refused, not followed.
 */
function tomlToJson(v: unknown, at: At, bad: Report, depth = 1): unknown {
  if (depth > MAX_DATA_SCHEMA_DEPTH + 1)
    return void bad('ECONFIG_RANGE', `nests deeper than ${MAX_DATA_SCHEMA_DEPTH} levels`, at);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    return void bad('ECONFIG_VALUE', `${String(v)} has no JSON form`, at);
  }
  if (typeof v === 'bigint') return void bad('ECONFIG_RANGE', 'an integer past 2^53 has no exact JSON form', at);
  if (v instanceof Date) return void bad('ECONFIG_TYPE', 'a TOML date-time has no JSON form: write it as a string', at);
  let ok = true;
  if (Array.isArray(v)) {
    const out = v.map((el, i) => {
      const j = tomlToJson(el, [...at, i], bad, depth + 1);
      if (j === undefined) ok = false;
      return j;
    });
    return ok ? out : undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [k, el] of Object.entries(v as Record<string, unknown>)) {
    const j = tomlToJson(el, [...at, k], bad, depth + 1);
    if (j === undefined) ok = false;
    // Defined, not assigned: a key named __proto__ is a property like any other, never the prototype.
    else Object.defineProperty(out, k, { value: j, enumerable: true, writable: true, configurable: true });
  }
  return ok ? out : undefined;
}
