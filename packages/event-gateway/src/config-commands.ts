// `event-gateway config patch FILE` and `event-gateway config show`, the same commands as the event service's
// (shared/src/config/commands.ts): a patch validated over the configuration in force, stored in the data
// directory's patches/ (kept across restarts, applied after --patch files), the running gateway told to reload
// (SIGHUP to the pid in its pid file), each changed setting printed with secrets redacted.
import {
  configUsage,
  dataDirBeside,
  loadInForce as loadInForceWith,
  runConfigCommand as runConfigCommandWith,
  type ConfigCommandSpec,
  type InForce,
} from '@event-broker/shared';
import {
  formatGatewayConfig,
  loadGatewayConfig,
  planGatewayReload,
  type GatewayConfig,
  type LoadGatewayConfigOptions,
} from './config.js';

/** The gateway's pid, written at start in the data directory and removed at exit. */
export const PID_FILE = 'event-gateway.pid';

const SPEC: ConfigCommandSpec<GatewayConfig> = {
  program: 'event-gateway',
  noun: 'gateway',
  pidFile: PID_FILE,
  dataDirKey: 'gateway.data_dir',
  load: (opts) => loadGatewayConfig(opts),
  dataDir: (config, configPath) => dataDirBeside(config.gateway.data_dir, configPath),
  format: (config, sources) => formatGatewayConfig(config, sources),
  changes: (running, next) => planGatewayReload(running, next),
};

export const CONFIG_USAGE = configUsage(SPEC);

/** The base and --patch files, then the patches stored in the data directory. Throws ConfigError. */
export function loadInForce(opts: LoadGatewayConfigOptions): InForce<GatewayConfig> {
  return loadInForceWith(SPEC, opts);
}

/** `event-gateway config ...` (argv after `config`): the exit code. */
export function runConfigCommand(argv: string[]): number {
  return runConfigCommandWith(SPEC, argv);
}
