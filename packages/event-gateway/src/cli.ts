#!/usr/bin/env node
// `event-gateway --config gateway.toml [--patch p.toml ...] [--print-config]`: loads and validates the
// configuration (errors name file, key and line; exit 2) and runs the gateway. SIGHUP reloads every file (token
// rules, revocations, limits, the certificate for new handshakes; a bad file changes nothing); SIGTERM and SIGINT
// close in order within a bound, and a second signal exits at once.
import { parseArgs } from 'node:util';
import { ConfigError, createLogger, formatProblem, TlsConfigError, type Logger } from '@event-broker/shared';
import { formatGatewayConfig, loadGatewayConfig, type LoadGatewayConfigOptions } from './config.js';
import { EventGateway } from './server.js';
import { VERSION } from './version.js';

/** Closing may take this long before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 10_000;

const USAGE = `usage: event-gateway --config FILE [--patch FILE]... [--print-config]

  --config FILE     the gateway's TOML configuration
  --patch FILE      TOML patch deep-merged over it, in order; the later wins (repeatable)
  --print-config    print the merged configuration (each value's source) and exit
  --version         print the version and exit
  --help            this text`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        patch: { type: 'string', multiple: true },
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
  const options: LoadGatewayConfigOptions = { ...(args.config !== undefined && { configPath: args.config }), patchPaths: args.patch ?? [] };
  let loaded;
  try {
    loaded = loadGatewayConfig(options);
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
  process.on('SIGHUP', () => reload(gateway, logger, options));
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal, exiting now');
        resolve(0);
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const bound = setTimeout(() => {
        logger.warn({ bound_ms: SHUTDOWN_BOUND_MS }, 'shutdown bound reached, exiting');
        resolve(0);
      }, SHUTDOWN_BOUND_MS);
      bound.unref();
      gateway.close().then(
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

/** SIGHUP: every file read and validated again; refused, the running configuration stays as it was. */
function reload(gateway: EventGateway, logger: Logger, options: LoadGatewayConfigOptions): void {
  logger.info('SIGHUP: reloading the configuration');
  try {
    const { restart } = gateway.applyConfig(loadGatewayConfig(options).config);
    for (const setting of restart) logger.warn({ setting }, 'configuration change needs a restart');
  } catch (err) {
    const problems =
      err instanceof ConfigError ? err.problems.map((p) => formatProblem(p)) : err instanceof TlsConfigError ? [err.message] : [(err as Error).message];
    logger.error({ problems }, 'configuration reload refused; the running configuration is unchanged');
  }
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
