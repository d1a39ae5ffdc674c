#!/usr/bin/env node
// `event-service --config base.toml [--patch p.toml ...] [--print-config]`: loads and validates the configuration
// (errors name file, key and line, exit 2), runs the service, and on SIGTERM/SIGINT stops accepting, flushes,
// closes and exits 0 within a bound; a second signal exits at once.
import { parseArgs } from 'node:util';
import { createLogger } from '@event-broker/shared';
import { formatConfig, loadServiceConfig } from './config.js';
import { EventServer } from './server.js';
import { VERSION } from './version.js';

/** Shutdown may take this long before the process exits anyway. */
const SHUTDOWN_BOUND_MS = 10_000;

const USAGE = `usage: event-service [--config FILE] [--patch FILE]... [--print-config]

  --config FILE     base TOML configuration (without it: the embedded defaults)
  --patch FILE      TOML patch deep-merged over the base, in order; the later wins (repeatable)
  --print-config    print the merged configuration (secrets redacted, each value's source) and exit
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
    process.stderr.write(`event-service: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`event-service ${VERSION}\n`);
    return 0;
  }
  let loaded;
  try {
    loaded = loadServiceConfig({
      ...(args.config !== undefined && { configPath: args.config }),
      patchPaths: args.patch ?? [],
    });
  } catch (err) {
    process.stderr.write(`event-service: configuration refused\n${(err as Error).message}\n`);
    return 2;
  }
  if (args['print-config']) {
    process.stdout.write(formatConfig(loaded.config, loaded.sources));
    return 0;
  }
  const config = loaded.config;
  const logger = createLogger({ format: config.log.format, level: config.log.level, name: 'event-service' });
  const server = new EventServer(config, logger);
  try {
    await server.listen();
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot listen');
    return 1;
  }
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
      server.close().then(
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Let pino's asynchronous destination drain, then exit even if a handle lingers.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: Error) => {
    process.stderr.write(`event-service: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
