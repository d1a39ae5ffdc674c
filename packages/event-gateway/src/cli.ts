#!/usr/bin/env node
// `event-gateway --config gateway.toml [--patch p.toml ...] [--patch-dir DIR] [--print-config]`: loads and
// validates the configuration (errors name file, key and line; exit 2) and runs the gateway. SIGHUP reloads every
// file (token rules, revocations, limits, the certificate for new handshakes; a bad file changes nothing); SIGTERM
// is a lame-duck drain, SIGINT an immediate orderly close; either exits 0 within a bound, and a second signal exits
// at once (shared/src/process/run.ts). `event-gateway config patch|show` is config-commands.ts's; patches stored
// there apply after --patch. With `[gateway] workers` > 1 this process is the primary of that many gateway
// processes sharing the ports (cluster.ts); signals, reloads and the pid file stay this process's.
import cluster from 'node:cluster';
import { RUN_OPTIONS_USAGE, runProcess } from '@event-broker/shared';
import { GatewayPrimary, runWorker } from './cluster.js';
import { CONFIG_USAGE, PID_FILE, loadInForce, runConfigCommand } from './config-commands.js';
import { formatGatewayConfig } from './config.js';
import type { GatewayConfig } from './config-types.js';
import { EventGateway } from './server.js';
import { VERSION } from './version.js';

const USAGE = `usage: event-gateway --config FILE [--patch FILE]... [--patch-dir DIR] [--print-config]

  --config FILE     the gateway's TOML configuration
  --patch FILE      TOML patch deep-merged over it, in order; the later wins (repeatable)
${RUN_OPTIONS_USAGE}

${CONFIG_USAGE}`;

if (cluster.isWorker) runWorker();
else
  runProcess<GatewayConfig, EventGateway | GatewayPrimary>(process.argv.slice(2), {
    name: 'event-gateway',
    version: VERSION,
    usage: USAGE,
    configCommand: runConfigCommand,
    load: loadInForce,
    print: formatGatewayConfig,
    pidFile: PID_FILE,
    create: (config, logger) =>
      config.gateway.workers > 1 ? new GatewayPrimary(config, logger) : new EventGateway(config, logger),
    lameDuckMs: (gateway) => gateway.config.gateway.lame_duck_duration,
  });
