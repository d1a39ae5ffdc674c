// `event-service config patch FILE` and `event-service config show`: patching a running service the way operators
// expect. A patch is validated against everything the service loads, stored in the data directory's patches/
// (applied after the command line's --patch files, in file-name order, on every start and reload), and the
// running service is told to reload (SIGHUP to the pid in its pid file). Loading and applying are config.ts's and
// server.applyConfig's; this module only finds the files, stores them and reports.
import fs from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, formatProblem } from '@event-broker/shared';
import { formatConfig, loadServiceConfig, type LoadedServiceConfig, type LoadServiceConfigOptions } from './config.js';
import type { ServiceConfig } from './config-types.js';
import { planReload, type ConfigChange } from './reload.js';

/** The service's pid, written at start in the data directory and removed at exit. */
export const PID_FILE = 'event-service.pid';
/** Persisted patches, `NNNN-name.toml`: the sequence number keeps file-name order = the order they were added. */
export const PATCHES_DIR = 'patches';

export const CONFIG_USAGE = `usage: event-service config patch FILE [--config FILE] [--patch FILE]... [--patch-dir DIR]
       event-service config show [--config FILE] [--patch FILE]... [--patch-dir DIR]

  Give the same --config, --patch and --patch-dir the service runs with.
  patch FILE   validate FILE over the configuration in force (base, patches, the stored patches), store it in
               the data directory's patches/ (kept across restarts), signal the running service to reload, and
               print each setting that changes (secrets redacted); a refused patch is not stored (exit 2)
  show         print the configuration in force (secrets redacted), each value with its source`;

/** The data directory: [service] data_dir, else `data` beside the config file (the working directory's without one). */
export function dataDirFor(config: ServiceConfig, configPath: string | undefined): string {
  if (config.service.data_dir !== undefined) return config.service.data_dir;
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
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => join(dir, n));
}

export interface InForce {
  loaded: LoadedServiceConfig;
  dataDir: string;
  /** What was loaded: the command line's files then the stored patches (reused to validate one more). */
  options: LoadServiceConfigOptions & { patchPaths: string[] };
}

/**
 * Loads what the service runs with: the base and the command line's patches, which say where the data directory
 * is, then the stored patches over them. Throws ConfigError as loadServiceConfig does.
 */
export function loadInForce(opts: LoadServiceConfigOptions): InForce {
  const first = loadServiceConfig(opts);
  const dataDir = dataDirFor(first.config, opts.configPath);
  const persisted = persistedPatchFiles(dataDir);
  const options = { ...opts, patchPaths: [...(opts.patchPaths ?? []), ...persisted] };
  const loaded = persisted.length === 0 ? first : loadServiceConfig(options);
  return { loaded, dataDir, options };
}

/** Writes the pid file; the returned function removes it if it still names this process. */
export function writePidFile(dataDir: string): () => void {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, PID_FILE);
  fs.writeFileSync(file, `${process.pid}\n`);
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
    } catch {
      // already gone
    }
  };
}

/** The pid of the service using `dataDir`, when one is alive. */
export function runningPid(dataDir: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(join(dataDir, PID_FILE), 'utf8').trim(), 10);
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

/** `event-service config ...` (argv after `config`): the exit code; output on stdout, problems on stderr. */
export function runConfigCommand(argv: string[]): number {
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
    process.stderr.write(`event-service config: ${(err as Error).message}\n${CONFIG_USAGE}\n`);
    return 2;
  }
  const { values: args, positionals } = parsed;
  if (args.help) {
    process.stdout.write(`${CONFIG_USAGE}\n`);
    return 0;
  }
  const [verb, ...rest] = positionals;
  const ok = (verb === 'show' && rest.length === 0) || (verb === 'patch' && rest.length === 1);
  if (!ok) {
    process.stderr.write(`event-service config: expected \`patch FILE\` or \`show\`, got ${JSON.stringify(positionals.join(' '))}\n${CONFIG_USAGE}\n`);
    return 2;
  }
  const patchDir = args['patch-dir'];
  const opts: LoadServiceConfigOptions = {
    ...(args.config !== undefined && { configPath: args.config }),
    patchPaths: [...(patchDir === undefined ? [] : tomlFilesIn(patchDir)), ...(args.patch ?? [])],
  };
  let inForce: InForce;
  try {
    inForce = loadInForce(opts);
  } catch (err) {
    return refused(err, 'the configuration in force does not load');
  }
  if (verb === 'show') {
    process.stdout.write(formatConfig(inForce.loaded.config, inForce.loaded.sources));
    return 0;
  }
  return patch(inForce, rest[0]!);
}

function patch(inForce: InForce, file: string): number {
  const source = resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(source, 'utf8');
  } catch (err) {
    process.stderr.write(`event-service config: cannot read ${source}: ${(err as Error).message}\n`);
    return 2;
  }
  const dir = join(inForce.dataDir, PATCHES_DIR);
  fs.mkdirSync(dir, { recursive: true });
  const stored = join(dir, `${nextNumber(persistedPatchFiles(inForce.dataDir))}-${safeName(source)}`);
  // Validated where it will live, so relative paths in it mean what they will mean at every later load; problems
  // name the operator's file. The temporary name is not a patch name: a reload meanwhile does not see it.
  const tmp = join(dir, `.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  let next: LoadedServiceConfig;
  try {
    next = loadServiceConfig({ ...inForce.options, patchPaths: [...inForce.options.patchPaths, tmp] });
    if (next.sources.get('service.data_dir')?.kind === 'patch' && sourceFileOf(next, 'service.data_dir') === tmp) {
      const line = (next.sources.get('service.data_dir') as { line: number }).line;
      throw new ConfigError([{ file: tmp, line, key: 'service.data_dir', reason: 'cannot be set by a stored patch (set it in the base file)', code: 'ECONFIG_VALUE' }]);
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    return refused(err, 'patch refused, nothing stored', (f) => (f === tmp ? source : f));
  }
  fs.renameSync(tmp, stored);
  const plan = planReload(inForce.loaded.config, next.config);
  process.stdout.write(`stored ${stored}\n`);
  if (plan.applied.length + plan.restart.length === 0) process.stdout.write('no setting changes\n');
  for (const c of plan.applied) process.stdout.write(`${describeChange(c)}\n`);
  for (const c of plan.restart) process.stdout.write(`${describeChange(c)}  (needs a restart)\n`);
  const pid = runningPid(inForce.dataDir);
  if (pid === undefined) {
    process.stdout.write('no running service found: the patch applies at the next start\n');
  } else {
    process.kill(pid, 'SIGHUP');
    process.stdout.write(`service (pid ${pid}) told to reload\n`);
  }
  return 0;
}

function sourceFileOf(loaded: LoadedServiceConfig, key: string): string | undefined {
  const src = loaded.sources.get(key);
  return src !== undefined && 'file' in src ? src.file : undefined;
}

/** `service.listener_limit: 100 -> 200`; unset values as `(unset)`. */
function describeChange(c: ConfigChange): string {
  const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));
  return `${c.key}: ${show(c.from)} -> ${show(c.to)}`;
}

function refused(err: unknown, head: string, file: (f: string) => string = (f) => f): number {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`event-service config: ${head}\n`);
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
  const name = basename(file).replace(/\.toml$/, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${name || 'patch'}.toml`;
}

/** The *.toml files directly in `dir`, in file-name order (as cli.ts's --patch-dir). */
export function tomlFilesIn(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.toml'))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => join(resolve(dir), name));
}
