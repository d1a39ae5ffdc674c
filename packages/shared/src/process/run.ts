// The command line both processes share (`event-service`, `event-gateway`): arguments, the configuration loaded
// with its stored patches (refused: every problem as `file:line: key: reason`, exit 2), --print-config, the pid file
// `config patch` signals, and the signals: SIGHUP reloads (a bad file changes nothing), SIGTERM is a lame-duck drain,
// SIGINT an immediate orderly close, a second signal exits at once, and closing is bounded. What the process is, how
// it starts and what a reload changes live are its own (ProcessRunOptions).
import { parseArgs } from 'node:util';
import type { ConfigChanges } from '../config/changes.js';
import { tomlFilesIn, writePidFile, type ConfigLoadOptions, type LoadedConfig } from '../config/commands.js';
import { ConfigError, formatProblem } from '../config/errors.js';
import type { ConfigSources } from '../config/tree.js';
import { createLogger, type Logger, type LogOptions } from '../log.js';
import { TlsConfigError } from '../tls.js';

/** Closing (after the lame duck, if any) may take this long before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 10_000;

/** The usage lines after --config and --patch, the same for every process. */
export const RUN_OPTIONS_USAGE = `  --patch-dir DIR   every *.toml in DIR, in file-name order, as patches before the --patch files
                    (listed again on each SIGHUP)
  --print-config    print the merged configuration (secrets redacted, each value's source) and exit
  --version         print the version and exit
  --help            this text`;

/** What the runner needs of the running process. */
export interface RunnableProcess<C> {
  listen(): Promise<void>;
  /** Puts a reloaded configuration in force; throws (ConfigError, TlsConfigError) before changing anything. */
  applyConfig(next: C): ConfigChanges;
  /** SIGTERM: drain, then close. */
  lameDuck(): Promise<void>;
  /** SIGINT: close now, in order. */
  close(): Promise<void>;
}

export interface ProcessRunOptions<
  C extends { log: Pick<LogOptions, 'format' | 'level'> },
  P extends RunnableProcess<C>,
> {
  /** The program's name, in messages and as the logger's name (`event-service`). */
  name: string;
  version: string;
  /** The whole --help text. */
  usage: string;
  /** `<name> config ...` (argv after `config`): the exit code. */
  configCommand(argv: string[]): number;
  /** The configuration in force (base, --patch files, stored patches) and the data directory; throws ConfigError. */
  load(opts: ConfigLoadOptions): { loaded: LoadedConfig<C>; dataDir: string };
  /** --print-config's text. */
  print(config: C, sources: ConfigSources): string;
  /** The pid file's name in the data directory (`config patch` finds the process through it). */
  pidFile: string;
  /** Makes the process (listen() is called next; a throw from either is `cannot start`, exit 1). */
  create(config: C, logger: Logger): P;
  /** The lame-duck drain's own length, added to the shutdown bound on SIGTERM. */
  lameDuckMs(proc: P): number;
  /**
   * Log `configuration reloaded` with the changed keys after each change's line (the gateway's applyConfig logs its
   * own, with the connections a revocation closed).
   */
  logReloaded?: boolean;
}

/** Runs the command line `argv` (after node and the script) and exits with its code once logs have drained. */
export function runProcess<C extends { log: Pick<LogOptions, 'format' | 'level'> }, P extends RunnableProcess<C>>(
  argv: string[],
  opts: ProcessRunOptions<C, P>,
): void {
  main(argv, opts).then(
    (code) => {
      process.exitCode = code;
      // Let pino's asynchronous destination drain, then exit even if a handle lingers.
      setTimeout(() => process.exit(code), 50).unref();
    },
    (err: Error) => {
      process.stderr.write(`${opts.name}: ${err.stack ?? err.message}\n`);
      process.exit(1);
    },
  );
}

async function main<C extends { log: Pick<LogOptions, 'format' | 'level'> }, P extends RunnableProcess<C>>(
  argv: string[],
  opts: ProcessRunOptions<C, P>,
): Promise<number> {
  const { name } = opts;
  if (argv[0] === 'config') return opts.configCommand(argv.slice(1));
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        patch: { type: 'string', multiple: true },
        'patch-dir': { type: 'string' },
        'print-config': { type: 'boolean' },
        version: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${name}: ${(err as Error).message}\n${opts.usage}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${opts.usage}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`${name} ${opts.version}\n`);
    return 0;
  }
  const configPath = args.config;
  const patchDir = args['patch-dir'];
  const explicitPatches = args.patch ?? [];
  /** Read again on every load: a reload sees a patch dropped into --patch-dir since the start. */
  const loadOptions = (): ConfigLoadOptions => ({
    ...(configPath !== undefined && { configPath }),
    patchPaths: [...(patchDir === undefined ? [] : tomlFilesIn(patchDir)), ...explicitPatches],
  });
  let loaded, dataDir;
  try {
    ({ loaded, dataDir } = opts.load(loadOptions()));
  } catch (err) {
    process.stderr.write(`${name}: configuration refused\n${(err as Error).message}\n`);
    return 2;
  }
  if (args['print-config']) {
    process.stdout.write(opts.print(loaded.config, loaded.sources));
    return 0;
  }
  const config = loaded.config;
  const logger = createLogger({ format: config.log.format, level: config.log.level, name });
  let proc: P;
  try {
    proc = opts.create(config, logger);
    await proc.listen();
  } catch (err) {
    // With its stable code when it has one (EventStoreError's ESTORE_*, TlsConfigError's ETLS_*): scripts match it.
    const code = (err as { code?: unknown }).code;
    logger.fatal({ err: (err as Error).message, ...(typeof code === 'string' && { code }) }, 'cannot start');
    return 1;
  }
  process.on('SIGHUP', () => reload(opts, proc, logger, loadOptions()));
  // `config patch` finds the process through it and sends SIGHUP (so only once the handler is in place); removed on
  // the way out.
  const removePidFile = writePidFile(dataDir, opts.pidFile);
  process.once('exit', removePidFile);
  // From here on signals are handled: a supervisor (or a test) that sends SIGHUP earlier would end the process.
  // pino's base fields already carry pid (and hostname).
  logger.info('ready');
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal, exiting now');
        resolve(0);
        return;
      }
      stopping = true;
      // SIGTERM (what service managers send) drains in lame-duck mode; SIGINT (a terminal's Ctrl-C) closes now.
      const lameDuck = signal === 'SIGTERM';
      logger.info({ signal, lame_duck: lameDuck }, 'shutting down');
      const boundMs = SHUTDOWN_BOUND_MS + (lameDuck ? opts.lameDuckMs(proc) : 0);
      const bound = setTimeout(() => {
        logger.warn({ bound_ms: boundMs }, 'shutdown bound reached, exiting');
        resolve(0);
      }, boundMs);
      bound.unref();
      (lameDuck ? proc.lameDuck() : proc.close()).then(
        () => {
          clearTimeout(bound);
          resolve(0);
        },
        (err: Error) => {
          logger.error({ err: err.message }, 'error while shutting down');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

/**
 * SIGHUP: the base, every patch and the stored patches read and validated again. Refused (each problem logged as
 * `file:line: key: reason`), the running configuration stays exactly as it was; accepted, each changed setting is
 * logged (secrets redacted) and those that wait for a restart are named.
 */
function reload<C extends { log: Pick<LogOptions, 'format' | 'level'> }, P extends RunnableProcess<C>>(
  opts: ProcessRunOptions<C, P>,
  proc: P,
  logger: Logger,
  loadOptions: ConfigLoadOptions,
): void {
  logger.info('SIGHUP: reloading the configuration');
  let plan;
  try {
    plan = proc.applyConfig(opts.load(loadOptions).loaded.config);
  } catch (err) {
    const problems =
      err instanceof ConfigError
        ? err.problems.map((p) => ({ problem: formatProblem(p), code: p.code }))
        : err instanceof TlsConfigError
          ? [{ problem: err.message, code: err.code }]
          : undefined;
    if (problems === undefined) {
      logger.error(
        { err: (err as Error).message },
        'configuration reload failed; the running configuration is unchanged',
      );
      return;
    }
    for (const p of problems) logger.error(p, 'configuration problem');
    logger.error(
      { problems: problems.map((p) => p.problem) },
      'configuration reload refused; the running configuration is unchanged',
    );
    return;
  }
  // `setting`, not `key`: the logger redacts any field named key.
  for (const c of plan.applied) logger.info({ setting: c.key, from: c.from, to: c.to }, 'configuration changed');
  for (const c of plan.restart)
    logger.warn({ setting: c.key, running: c.from, configured: c.to }, 'configuration change needs a restart');
  if (opts.logReloaded === true) {
    logger.info(
      { changed: plan.applied.map((c) => c.key), restart_required: plan.restart.map((c) => c.key) },
      'configuration reloaded',
    );
  }
}
