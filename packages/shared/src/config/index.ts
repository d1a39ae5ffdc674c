// TOML configuration with patches: a base file and patch files deep-merged in order, validated against a
// declarative schema, every value traced to its file and line. Each service declares its own schema.
import { loadLayers, type LoadLayersOptions } from './load.js';
import type { InferShape, Section, Shape } from './schema.js';
import { embeddedLayer } from './tree.js';
import { validate, type Validated } from './validate.js';

export * from './errors.js';
export * from './changes.js';
export * from './commands.js';
export * from './entry.js';
export { MAX_CONTROL_LINE_CAP, MAX_PAYLOAD_CAP, clientPortSection, type ClientPortDefaults } from './limits.js';
export { planReload, type ReloadPlan } from './reload.js';
export { stringOrList, type StringOrListOptions } from './string-or-list.js';
export { tableList } from './table-list.js';
export { formatToml, isSecretName, REDACTED, type FormatOptions } from './format.js';
export {
  loadLayers,
  parseTomlLayer,
  readTomlLayer,
  type FileRole,
  type LoadedLayers,
  type LoadLayersOptions,
} from './load.js';
export { mergeAll, mergeLayers } from './patch.js';
export {
  decodedOrProblems,
  schema,
  tomlString,
  Leaf,
  Section,
  type AnyField,
  type CheckContext,
  type Decoded,
  type DecodeProblem,
  type Infer,
  type InferShape,
  type LeafSpec,
  type ReloadMode,
  type Shape,
  type StringOptions,
} from './schema.js';
export {
  describeSource,
  describeValue,
  embeddedLayer,
  formatKey,
  type ConfigPath,
  type ConfigSources,
  type ConfigTable,
  type ConfigValue,
  type Layer,
  type ValueSource,
} from './tree.js';
export { formatDuration, formatByteSize, parseDuration, parseByteSize } from './units.js';
export { closest, validate, type Validated, type ValidateOptions } from './validate.js';

/**
 * Reads `basePath` and `patchPaths` (patches deep-merged over the base in order), validates the result against
 * `root` and fills defaults. No files at all gives the defaults. Throws ConfigError listing every problem.
 */
export function loadConfig<S extends Shape>(
  root: Section<S, boolean>,
  opts: LoadLayersOptions = {},
): Validated<InferShape<S>> {
  const { layer, files } = loadLayers(opts);
  return validate(root, layer, { files });
}

/**
 * Validates a JS object given by an embedding program, as a file would be. Numbers for durations are milliseconds
 * here; relative paths resolve against the process's cwd; `undefined` members count as absent.
 */
export function resolveConfig<S extends Shape>(root: Section<S, boolean>, input: unknown): Validated<InferShape<S>> {
  return validate(root, embeddedLayer(input));
}
