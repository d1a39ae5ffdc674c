// The three ways into and out of a process's configuration, given its schema: TOML files with patches (the CLI),
// a JS object (embedding programs and tests), and back out as TOML (--print-config). A process adds only what the
// schema cannot say (the gateway reads its [auth] key file); what the settings are is its own schema's.
import type { ConfigLoadOptions, LoadedConfig } from './commands.js';
import { formatToml } from './format.js';
import { loadLayers } from './load.js';
import { planReload, type ReloadPlan } from './reload.js';
import { schema as s, type Infer, type InferShape, type Section, type Shape } from './schema.js';
import { embeddedLayer, type ConfigSources } from './tree.js';
import { validate } from './validate.js';

/** [log], the same in every process. */
export const logSection = s
  .table({
    // pino's stream is chosen at start; the level changes live.
    format: s.oneOf(['text', 'json']).default('text').restart(),
    level: s.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  })
  .live();

export type LogSection = Infer<typeof logSection>;
export type LogFormat = LogSection['format'];
export type LogLevel = LogSection['level'];

/**
 * A section as an embedding program may give it: any subset; durations and sizes also as text, lists as one string.
 * Written from the resolved type, not derived from the schema: what a hand-decoded setting accepts is its decoder's
 * business and can differ from what it resolves to (a sink is "host:port" or a table with `secret`; resolved, a
 * table with `secrets`), and a Leaf records only the resolved type.
 */
export type LooseSection<T> = {
  [K in keyof T]?: T[K] extends number ? number | string : T[K] extends string[] ? string | string[] : T[K];
};

/** What an embedding program passes for configuration `C`: any subset of each section, loosely typed. */
export type ConfigInput<C> = {
  [K in keyof C]?: LooseSection<NonNullable<C[K]>>;
};

export interface LoadConfigOptions extends ConfigLoadOptions {
  /** Directory relative file names resolve against (default: the process's cwd). */
  cwd?: string;
}

export interface ConfigEntry<C> {
  /**
   * Reads the base and patch files and validates the merge. In files an integer duration is seconds (as in
   * nats-server) and an integer size is bytes; relative paths resolve against the directory of the file naming
   * them. Throws ConfigError listing every problem as `file:line: key: reason`.
   */
  load(opts?: LoadConfigOptions): LoadedConfig<C>;
  /**
   * Validates and completes an embedding program's settings as a file would be. Durations given as numbers are
   * MILLISECONDS here (JS timers' unit), unlike a file's seconds; strings ("10s") mean the same in both. Relative
   * paths resolve against the process's cwd. Throws ConfigError naming `<embedded>`.
   */
  resolve(input: unknown): C;
  /**
   * The configuration as TOML: secrets redacted, durations and sizes short, each value followed by its source when
   * `sources` is given. Reading it back gives the same configuration, redacted values aside.
   */
  format(config: C, sources?: ConfigSources): string;
  /**
   * What a reload from `running` to `next` puts in force (restart-only settings at their running values, as the
   * schema marks them) and which changes apply now or wait for a restart.
   */
  planReload(running: C, next: C): ReloadPlan<C>;
}

export interface ConfigEntryOptions<C> {
  /** Checks beyond the schema, after it (files the settings name); throws ConfigError. */
  check?(config: C, sources: ConfigSources): void;
}

/** load, resolve and format for the configuration `root` describes. */
export function configEntry<S extends Shape>(
  root: Section<S, boolean>,
  opts: ConfigEntryOptions<InferShape<S>> = {},
): ConfigEntry<InferShape<S>> {
  return {
    load(o = {}) {
      const { layer, files } = loadLayers({
        ...(o.configPath !== undefined && { basePath: o.configPath }),
        ...(o.patchPaths !== undefined && { patchPaths: o.patchPaths }),
        ...(o.cwd !== undefined && { cwd: o.cwd }),
      });
      const { value, sources } = validate(root, layer, { files });
      opts.check?.(value, sources);
      return { config: value, sources };
    },
    resolve(input) {
      const { value, sources } = validate(root, embeddedLayer(input));
      opts.check?.(value, sources);
      return value;
    },
    format(config, sources) {
      return formatToml(root, config, sources === undefined ? {} : { sources });
    },
    planReload(running, next) {
      return planReload(root, running, next);
    },
  };
}
