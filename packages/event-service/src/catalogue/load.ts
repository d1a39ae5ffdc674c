// Loading the service's event catalogue: the process-wide one (the built-in types and whatever an embedding program
// registers, read live) as its base, plus the types `[catalogue] files` define. Every file is read and every problem
// reported, as `file:line: types.NAME.key: reason`, in one ConfigError; a load with any problem gives no catalogue.
// Which catalogue is in force, and when it is replaced, is the service's (service-catalogue.ts).
import {
  ConfigError,
  DataSchemaCompiler,
  EventCatalogue,
  eventCatalogue,
  KNOWN_EVENT_TYPES,
  parseTomlLayer,
  schema as s,
  sortProblems,
  validate,
  type ConfigProblem,
} from '@event-broker/shared';
import { MAX_CATALOGUE_LOAD_BYTES, readWithin } from './read-file.js';
import { typesTable, type TypesContext } from './types-table.js';

/** A catalogue file: a few thousand types with their schemas fit well under it. */
export const MAX_CATALOGUE_FILE_BYTES = 4 * 1024 * 1024;
/**
 * Types in all the files of one load. A schema compiles in about 1.5 ms (Ajv generates code for it), on the event
 * loop: 2000 schemas hold a start or a reload for about 3 s.
 */
export const MAX_CATALOGUE_TYPES = 2_000;

export interface LoadedCatalogue {
  catalogue: EventCatalogue;
  /** The files read, in order (absolute). */
  files: readonly string[];
  /** The types the files define, in file order. */
  types: readonly string[];
}

export interface LoadCatalogueOptions {
  /** Handler (sink) names a type's `handlers` may name. */
  handlers: readonly string[];
  /** The catalogue the loaded one builds on (default: the process-wide one). */
  base?: EventCatalogue;
}

const BUILT_IN = new Set(KNOWN_EVENT_TYPES.map((d) => d.type));

/** Reads and compiles `files` (absolute paths). Throws ConfigError listing every problem of every file. */
export function loadCatalogue(files: readonly string[], opts: LoadCatalogueOptions): LoadedCatalogue {
  const catalogue = new EventCatalogue([], { base: opts.base ?? eventCatalogue });
  const ctx: TypesContext = {
    catalogue,
    builtIn: BUILT_IN,
    handlers: opts.handlers,
    definedIn: new Map(),
    compiler: new DataSchemaCompiler(),
    room: { types: MAX_CATALOGUE_TYPES, bytes: MAX_CATALOGUE_LOAD_BYTES },
  };
  const problems: ConfigProblem[] = [];
  const types: string[] = [];
  for (const file of files) {
    try {
      types.push(...loadFile(file, ctx));
    } catch (err) {
      if (err instanceof ConfigError) problems.push(...err.problems);
      // A parser that gave up on a hostile nesting (a RangeError), or any other failure: the file's, not the process's.
      else
        problems.push({ file, key: '', reason: `cannot be loaded: ${(err as Error).message}`, code: 'ECONFIG_VALUE' });
    }
  }
  if (problems.length > 0) throw new ConfigError(sortProblems(problems, files));
  return { catalogue, files: [...files], types };
}

function loadFile(file: string, ctx: TypesContext): string[] {
  const read = readWithin(file, MAX_CATALOGUE_FILE_BYTES, ctx.room);
  if ('problem' in read) throw new ConfigError([{ file, key: '', reason: read.problem, code: read.code }]);
  // As the service's own files: TOML 1.0, every key's line kept (shared config/load.ts), a byte-order mark dropped.
  const layer = parseTomlLayer(read.text, file);
  const fileSchema = s.table({ types: typesTable(ctx).optional() });
  return validate(fileSchema, layer, { files: [file] }).value.types ?? [];
}
