// `event-service config patch FILE` and `event-service config show`: the shared commands (shared/src/config/
// commands.ts: stored patches in the data directory, the pid file, SIGHUP to the running process) with what is the
// service's: its loader and printer, [service] data_dir, and what a reload changes live (the schema's marks, config.ts).
import {
  PATCHES_DIR,
  configUsage,
  dataDirBeside,
  loadInForce as loadInForceWith,
  persistedPatchFiles,
  runConfigCommand as runConfigCommandWith,
  runningPid as runningPidIn,
  tomlFilesIn,
  type ConfigCommandSpec,
  type InForce as InForceOf,
} from '@event-broker/shared';
import {
  formatConfig,
  loadServiceConfig,
  planServiceReload,
  type LoadServiceConfigOptions,
  type ServiceConfig,
} from './config.js';

export { PATCHES_DIR, persistedPatchFiles, tomlFilesIn };

/** The service's pid, written at start in the data directory and removed at exit. */
export const PID_FILE = 'event-service.pid';

const SPEC: ConfigCommandSpec<ServiceConfig> = {
  program: 'event-service',
  noun: 'service',
  pidFile: PID_FILE,
  dataDirKey: 'service.data_dir',
  load: (opts) => loadServiceConfig(opts),
  dataDir: (config, configPath) => dataDirFor(config, configPath),
  format: (config, sources) => formatConfig(config, sources),
  changes: (running, next) => planServiceReload(running, next),
};

export const CONFIG_USAGE = configUsage(SPEC);

/** The data directory: [service] data_dir, else `data` beside the config file (the working directory's without one). */
export function dataDirFor(config: ServiceConfig, configPath: string | undefined): string {
  return dataDirBeside(config.service.data_dir, configPath);
}

export type InForce = InForceOf<ServiceConfig> & { options: LoadServiceConfigOptions };

/**
 * Loads what the service runs with: the base and the command line's patches, which say where the data directory
 * is, then the stored patches over them. Throws ConfigError as loadServiceConfig does.
 */
export function loadInForce(opts: LoadServiceConfigOptions): InForce {
  return loadInForceWith(SPEC, opts);
}

/** The pid of the service using `dataDir`, when one is alive. */
export function runningPid(dataDir: string): number | undefined {
  return runningPidIn(dataDir, PID_FILE);
}

/** `event-service config ...` (argv after `config`): the exit code; output on stdout, problems on stderr. */
export function runConfigCommand(argv: string[]): number {
  return runConfigCommandWith(SPEC, argv);
}
