#!/usr/bin/env node
// `event-gateway --config gateway.toml [--patch p.toml ...] [--patch-dir DIR] [--print-config]`: loads and
// validates the configuration (errors name file, key and line; exit 2) and runs the gateway. SIGHUP reloads every
// file (token rules, revocations, limits, the certificate for new handshakes; a bad file changes nothing); SIGTERM
// is a lame-duck drain, SIGINT an immediate orderly close; either exits 0 within a bound, and a second signal exits
// at once. `event-gateway config patch|show` is config-commands.ts's; patches stored there apply after --patch.
import { parseArgs } from 'node:util';
import { ConfigError, createLogger, formatProblem, TlsConfigError, tomlFilesIn, type Logger } from '@event-broker/shared';
import { CONFIG_USAGE, loadInForce, runConfigCommand, writePidFile } from './config-commands.js';
import { formatGatewayConfig, type LoadGatewayConfigOptions } from './config.js';
import { EventGateway } from './server.js';
import { VERSION } from './version.js';

/** Closing (after the lame duck, if any) may take this long before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 10_000;

const USAGE = `usage: event-gateway --config FILE [--patch FILE]... [--patch-dir DIR] [--print-config]

  --config FILE     the gateway's TOML configuration
  --patch FILE      TOML patch deep-merged over it, in order; the later wins (repeatable)
  --patch-dir DIR   every *.toml in DIR, in file-name order, as patches before the --patch files
                    (listed again on each SIGHUP)
  --print-config    print the merged configuration (secrets redacted, each value's source) and exit
  --version         print the version and exit
  --help            this text

${CONFIG_USAGE}`;

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'config') return runConfigCommand(argv.slice(1));
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
    process.stderr.write(`event-gateway: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`event-gateway ${VERSION}\n`);
    return 0;
  }
  const configPath = args.config;
  const patchDir = args['patch-dir'];
  const explicitPatches = args.patch ?? [];
  /** Read again on every load: a reload sees a patch dropped into --patch-dir since the start. */
  const loadOptions = (): LoadGatewayConfigOptions => ({
    ...(configPath !== undefined && { configPath }),
    patchPaths: [...(patchDir === undefined ? [] : tomlFilesIn(patchDir)), ...explicitPatches],
  });
  let loaded, dataDir;
  try {
    ({ loaded, dataDir } = loadInForce(loadOptions()));
  } catch (err) {
    process.stderr.write(`event-gateway: configuration refused\n${(err as Error).message}\n`);
    return 2;
  }
  if (args['print-config']) {
    process.stdout.write(formatGatewayConfig(loaded.config, loaded.sources));
    return 0;
  }
  const config = loaded.config;
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-gateway' });
  let gateway: EventGateway;
  try {
    gateway = new EventGateway(config, logger);
    await gateway.listen();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start');
    return 1;
  }
  process.on('SIGHUP', () => reload(gateway, logger, loadOptions));
  // `config patch` finds the gateway through it and sends SIGHUP (so only once the handler is in place); removed on
  // the way out.
  const removePidFile = writePidFile(dataDir);
  process.once('exit', removePidFile);
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
      const boundMs = SHUTDOWN_BOUND_MS + (lameDuck ? gateway.config.gateway.lame_duck_duration : 0);
      const bound = setTimeout(() => {
        logger.warn({ bound_ms: boundMs }, 'shutdown bound reached, exiting');
        resolve(0);
      }, boundMs);
      bound.unref();
      (lameDuck ? gateway.lameDuck() : gateway.close()).then(
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
function reload(gateway: EventGateway, logger: Logger, options: () => LoadGatewayConfigOptions): void {
  logger.info('SIGHUP: reloading the configuration');
  let plan;
  try {
    plan = gateway.applyConfig(loadInForce(options()).loaded.config);
  } catch (err) {
    const problems =
      err instanceof ConfigError
        ? err.problems.map((p) => ({ problem: formatProblem(p), code: p.code }))
        : err instanceof TlsConfigError
          ? [{ problem: err.message, code: err.code }]
          : undefined;
    if (problems === undefined) {
      logger.error({ err: (err as Error).message }, 'configuration reload failed; the running configuration is unchanged');
      return;
    }
    for (const p of problems) logger.error(p, 'configuration problem');
    logger.error({ problems: problems.map((p) => p.problem) }, 'configuration reload refused; the running configuration is unchanged');
    return;
  }
  // `setting`, not `key`: the logger redacts any field named key.
  for (const c of plan.applied) logger.info({ setting: c.key, from: c.from, to: c.to }, 'configuration changed');
  for (const c of plan.restart) logger.warn({ setting: c.key, running: c.from, configured: c.to }, 'configuration change needs a restart');
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let pino's asynchronous destination drain, then exit even if a handle lingers.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: Error) => {
    process.stderr.write(`event-gateway: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
