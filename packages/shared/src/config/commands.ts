// `<program> config patch FILE` and `<program> config show`, for any process configured with TOML and patches
// (the event service and the gateway): a patch is validated against everything the process loads, stored in the
// data directory's patches/ (applied after the command line's --patch files, in file-name order, on every start and
// reload), and the running process is told to reload (SIGHUP to the pid in its pid file). What the settings are,
// where the data directory is and what can change live is the process's ConfigCommandSpec.
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ConfigChanges, ConfigChange } from './changes.js';
import { ConfigError, formatProblem } from './errors.js';
import type { ConfigSources } from './tree.js';

/** Persisted patches, `NNNN-name.toml`: the sequence number keeps file-name order = the order they were added. */
export const PATCHES_DIR = 'patches';

export interface LoadedConfig<C> {
  config: C;
  /** Where each leaf came from, by dotted key. */
  sources: ConfigSources;
}

export interface ConfigLoadOptions {
  configPath?: string;
  patchPaths?: readonly string[];
}

/** What a process tells the commands about itself. */
export interface ConfigCommandSpec<C> {
  /** The command's name in messages (`event-service`). */
  program: string;
  /** What the running process is called in messages (`service`, `gateway`). */
  noun: string;
  /** The pid file's name in the data directory (`event-service.pid`). */
  pidFile: string;
  /** The dotted key of the data directory setting, which a stored patch may not set (`service.data_dir`). */
  dataDirKey: string;
  /** Loads and validates (throws ConfigError). */
  load(opts: ConfigLoadOptions): LoadedConfig<C>;
  /** Where the pid file and stored patches live for this configuration. */
  dataDir(config: C, configPath: string | undefined): string;
  /** The configuration as TOML, secrets redacted, each value's source as a comment. */
  format(config: C, sources: ConfigSources): string;
  /** What a reload from `running` to `next` changes now and what waits for a restart. */
  changes(running: C, next: C): ConfigChanges;
}

/** The data directory: the configured one, else `data` beside the config file (the working directory's without one). */
export function dataDirBeside(configured: string | undefined, configPath: string | undefined): string {
  if (configured !== undefined) return configured;
  return configPath === undefined ? resolve('data') : join(dirname(resolve(configPath)), 'data');
}

/** The stored patches, in file-name order (code-unit order, the same in every locale). */
export function persistedPatchFiles(dataDir: string): string[] {
  const dir = join(dataDir, PATCHES_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => /^\d+-.*\.toml$/.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.sort(byCodeUnits).map((n) => join(dir, n));
}

/** The *.toml files directly in `dir`, in file-name order (--patch-dir). */
export function tomlFilesIn(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.toml'))
    .map((e) => e.name)
    .sort(byCodeUnits)
    .map((name) => join(resolve(dir), name));
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface InForce<C> {
  loaded: LoadedConfig<C>;
  dataDir: string;
  /** What was loaded: the command line's files then the stored patches (reused to validate one more). */
  options: ConfigLoadOptions & { patchPaths: string[] };
}

/**
 * Loads what the process runs with: the base and the command line's patches, which say where the data directory
 * is, then the stored patches over them. Throws ConfigError as the spec's loader does.
 */
export function loadInForce<C>(spec: ConfigCommandSpec<C>, opts: ConfigLoadOptions): InForce<C> {
  const first = spec.load(opts);
  const dataDir = spec.dataDir(first.config, opts.configPath);
  const persisted = persistedPatchFiles(dataDir);
  const options = { ...opts, patchPaths: [...(opts.patchPaths ?? []), ...persisted] };
  const loaded = persisted.length === 0 ? first : spec.load(options);
  return { loaded, dataDir, options };
}

/** Writes the pid file; the returned function removes it if it still names this process. */
export function writePidFile(dataDir: string, name: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, name);
  fs.writeFileSync(file, `${process.pid}\n`);
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

/** The pid named by the pid file in `dataDir`, when that process is alive. */
export function runningPid(dataDir: string, name: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(join(dataDir, name), 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, someone else's; a stale file otherwise.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** The usage text of `<program> config`. */
export function configUsage(spec: Pick<ConfigCommandSpec<unknown>, 'program' | 'noun'>): string {
  const { program, noun } = spec;
  return `usage: ${program} config patch FILE [--config FILE] [--patch FILE]... [--patch-dir DIR]
       ${program} config show [--config FILE] [--patch FILE]... [--patch-dir DIR]

  Give the same --config, --patch and --patch-dir the ${noun} runs with.
  patch FILE   validate FILE over the configuration in force (base, patches, the stored patches), store it in
               the data directory's patches/ (kept across restarts), signal the running ${noun} to reload, and
               print each setting that changes (secrets redacted); a refused patch is not stored (exit 2)
  show         print the configuration in force (secrets redacted), each value with its source`;
}

/** `<program> config ...` (argv after `config`): the exit code; output on stdout, problems on stderr. */
export function runConfigCommand<C>(spec: ConfigCommandSpec<C>, argv: string[]): number {
  const usage = configUsage(spec);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        patch: { type: 'string', multiple: true },
        'patch-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`${spec.program} config: ${(err as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values: args, positionals } = parsed;
  if (args.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [verb, ...rest] = positionals;
  const ok = (verb === 'show' && rest.length === 0) || (verb === 'patch' && rest.length === 1);
  if (!ok) {
    process.stderr.write(
      `${spec.program} config: expected \`patch FILE\` or \`show\`, got ${JSON.stringify(positionals.join(' '))}\n${usage}\n`,
    );
    return 2;
  }
  const patchDir = args['patch-dir'];
  const opts: ConfigLoadOptions = {
    ...(args.config !== undefined && { configPath: args.config }),
    patchPaths: [...(patchDir === undefined ? [] : tomlFilesIn(patchDir)), ...(args.patch ?? [])],
  };
  let inForce: InForce<C>;
  try {
    inForce = loadInForce(spec, opts);
  } catch (err) {
    return refused(spec, err, 'the configuration in force does not load');
  }
  if (verb === 'show') {
    process.stdout.write(spec.format(inForce.loaded.config, inForce.loaded.sources));
    return 0;
  }
  return patch(spec, inForce, rest[0]!);
}

function patch<C>(spec: ConfigCommandSpec<C>, inForce: InForce<C>, file: string): number {
  const source = resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(source, 'utf8');
  } catch (err) {
    process.stderr.write(`${spec.program} config: cannot read ${source}: ${(err as Error).message}\n`);
    return 2;
  }
  const dir = join(inForce.dataDir, PATCHES_DIR);
  fs.mkdirSync(dir, { recursive: true });
  const stored = join(dir, `${nextNumber(persistedPatchFiles(inForce.dataDir))}-${safeName(source)}`);
  // Validated where it will live, so relative paths in it mean what they will mean at every later load; problems
  // name the operator's file. The temporary name is not a patch name: a reload meanwhile does not see it.
  const tmp = join(dir, `.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  let next: LoadedConfig<C>;
  try {
    next = spec.load({ ...inForce.options, patchPaths: [...inForce.options.patchPaths, tmp] });
    const src = next.sources.get(spec.dataDirKey);
    if (src?.kind === 'patch' && src.file === tmp) {
      throw new ConfigError([
        {
          file: tmp,
          line: src.line,
          key: spec.dataDirKey,
          reason: 'cannot be set by a stored patch (set it in the base file)',
          code: 'ECONFIG_VALUE',
        },
      ]);
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    return refused(spec, err, 'patch refused, nothing stored', (f) => (f === tmp ? source : f));
  }
  fs.renameSync(tmp, stored);
  const plan = spec.changes(inForce.loaded.config, next.config);
  process.stdout.write(`stored ${stored}\n`);
  if (plan.applied.length + plan.restart.length === 0) process.stdout.write('no setting changes\n');
  for (const c of plan.applied) process.stdout.write(`${describeChange(c)}\n`);
  for (const c of plan.restart) process.stdout.write(`${describeChange(c)}  (needs a restart)\n`);
  const pid = runningPid(inForce.dataDir, spec.pidFile);
  if (pid === undefined) {
    process.stdout.write(`no running ${spec.noun} found: the patch applies at the next start\n`);
  } else {
    process.kill(pid, 'SIGHUP');
    process.stdout.write(`${spec.noun} (pid ${pid}) told to reload\n`);
  }
  return 0;
}

/** `service.listener_limit: 100 -> 200`; unset values as `(unset)`. */
export function describeChange(c: ConfigChange): string {
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  return `${c.key}: ${show(c.from)} -> ${show(c.to)}`;
}

function refused(
  spec: ConfigCommandSpec<unknown>,
  err: unknown,
  head: string,
  file: (f: string) => string = (f) => f,
): number {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${spec.program} config: ${head}\n`);
  for (const p of err.problems) process.stderr.write(`${formatProblem({ ...p, file: file(p.file) })}\n`);
  return 2;
}

/** One more than the highest stored sequence number, four digits (file-name order stays numeric to 9999). */
function nextNumber(paths: readonly string[]): string {
  let max = 0;
  for (const p of paths) {
    const m = /^(\d+)-/.exec(basename(p));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return String(max + 1).padStart(4, '0');
}

function safeName(file: string): string {
  const name = basename(file)
    .replace(/\.toml$/, '')
    .replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${name || 'patch'}.toml`;
}
