#!/usr/bin/env node
// `event-service --config base.toml [--patch p.toml ...] [--patch-dir DIR] [--print-config]`: loads and validates
// the configuration (errors name file, key and line, exit 2) and runs the service. SIGHUP reloads every file
// (server.applyConfig applies what can change live; a bad file changes nothing). SIGTERM is a lame-duck drain,
// SIGINT an immediate orderly close; either exits 0 within a bound, and a second signal exits at once
// (shared/src/process/run.ts). `event-service config patch|show` is config-commands.ts's. Patches stored there
// apply after --patch, every load.
import { RUN_OPTIONS_USAGE, runProcess } from '@event-broker/shared';
import { CONFIG_USAGE, PID_FILE, loadInForce, runConfigCommand } from './config-commands.js';
import { formatConfig } from './config.js';
import { EventServer } from './server.js';
import { VERSION } from './version.js';

const USAGE = `usage: event-service [--config FILE] [--patch FILE]... [--patch-dir DIR] [--print-config]

  --config FILE     base TOML configuration (without it: the embedded defaults)
  --patch FILE      TOML patch deep-merged over the base, in order; the later wins (repeatable)
${RUN_OPTIONS_USAGE}

${CONFIG_USAGE}`;

runProcess(process.argv.slice(2), {
  name: 'event-service',
  version: VERSION,
  usage: USAGE,
  configCommand: runConfigCommand,
  load: loadInForce,
  print: formatConfig,
  pidFile: PID_FILE,
  create: (config, logger) => new EventServer(config, logger),
  lameDuckMs: (server) => server.config.service.lame_duck_duration,
  logReloaded: true,
});
