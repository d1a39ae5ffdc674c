// The gateway's settings: the schema (the types in config-types.ts are derived from it, each setting's doc and
// reload behaviour written here, on its field), loaded from TOML with patches or given as a JS object, printed back,
// and what a reload puts in force. Loading, merging, reload planning and `file:line: key: reason` reporting are
// shared/config's; the hand-written value decoders (lists, algorithms, upstream URLs) are config-decoders.ts's, and
// the [auth] section and its key check are shared's (shared/src/auth): this file says what the settings are.
import os from 'node:os';
import {
  authSection,
  checkAuthKey,
  checkRemoteCredentials,
  checkRemoteTls,
  configEntry,
  hostListSetting,
  logSection,
  MAX_PAYLOAD_CAP,
  MONITOR_MAX_CONNECTIONS,
  clientPortSection,
  originListSetting,
  remoteCredentialShape,
  remoteTlsShape,
  schema as s,
  type ConfigInput,
  type ConfigSources,
  type Infer,
  type LoadConfigOptions,
  type LoadedConfig,
  type ReloadPlan,
} from '@event-broker/shared';
import { upstreamUrls } from './config-decoders.js';

const MiB = 1024 * 1024;

/** `[gateway] workers` by default: one process per core, at most MAX_WORKERS. */
export const MAX_WORKERS = 64;
const CORES = Math.min(MAX_WORKERS, Math.max(1, os.availableParallelism()));

// 4222: NATS's client port, which external clients expect. auth_timeout: nats-server opts.go getDefaultAuthTimeout,
// with TLS configured, the TLS timeout (2s) plus one second.
const clientPort = clientPortSection({ port: 4222, authTimeoutMs: 3_000 });

/**
 * Every setting: its bounds, default, doc and what a reload does with it (`.live()`, `.restart()`; unmarked, as its
 * section; an unmarked section waits for a restart). A new setting is one entry here.
 */
export const gatewaySchema = s
  .table({
    /** The client-facing NATS port. Limits as nats-server's, with its defaults. */
    gateway: clientPort
      .extend({
        // For tokens without nats.subs / nats.payload (auth/limits.ts); a token's own value, like these, only lowers
        // max_subscriptions and max_payload.
        /** A token without `nats.subs` gets this many subscriptions; 0 = no default (max_subscriptions alone). At most max_subscriptions when that is set. */
        default_max_subscriptions: s.integer({ min: 0 }).default(0),
        /** A token without `nats.payload` may publish messages up to this size, in bytes; absent: max_payload alone. At most max_payload. */
        default_max_payload: s.size({ min: 1, max: MAX_PAYLOAD_CAP }).optional(),
        // The uplink's CONNECT named the gateway once: a new name waits for a restart.
        /** Name in INFO and in the leaf CONNECT upstream; defaults to the server id. */
        server_name: clientPort.shape.server_name.restart(),
        // The CLI forks them once (cluster.ts); the in-process startGateway is always one process.
        /** Processes sharing the client ports (the CLI; default: the core count, at most 64). 1 = one process. Each has its own uplink; max_connections is one budget for the whole gateway, held by the first process. */
        workers: s.integer({ min: 1, max: MAX_WORKERS }).default(CORES).restart(),
      })
      .check((gw, ctx) => {
        // A default above the limit it sits under would read as a promise the gateway does not keep.
        if (gw.default_max_payload !== undefined && gw.default_max_payload > gw.max_payload) {
          ctx.report(
            ['default_max_payload'],
            'ECONFIG_RANGE',
            `must not exceed max_payload (${gw.max_payload} bytes), got ${gw.default_max_payload} bytes`,
          );
        }
        if (gw.max_subscriptions > 0 && gw.default_max_subscriptions > gw.max_subscriptions) {
          ctx.report(
            ['default_max_subscriptions'],
            'ECONFIG_RANGE',
            `must not exceed max_subscriptions (${gw.max_subscriptions}), got ${gw.default_max_subscriptions}`,
          );
        }
      }),
    /** NATS over WebSocket for browsers (nats.ws): same admission, same [tls]. Off unless present. */
    websocket: s
      .table({
        /** Loopback unless asked (set "0.0.0.0" to serve other hosts). */
        host: s.string().default('127.0.0.1'),
        port: s.port(),
        // Which web pages may open a connection (nats-server websocket same_origin, allowed_origins; both off by default).
        /** A page's Origin must match the Host it connected to (nats-server same_origin); 403 otherwise. */
        same_origin: s.boolean().default(false),
        /** When not empty, a page's Origin must be one of these (nats-server allowed_origins); 403 otherwise. */
        allowed_origins: originListSetting(),
      })
      .optional()
      // A bound port.
      .restart(),
    /** The gateway's server certificate and the CA its clients' certificates must chain to. Required. */
    tls: s
      .table({
        cert_path: s.path(),
        key_path: s.path(),
        /** Required while verify = true. */
        root_ca_path: s.path().optional(),
        // requestCert is fixed when the TLS server is made; certificates, key, CA and min_version reload.
        /** Require a client certificate chained to root_ca_path. */
        verify: s.boolean().default(true).restart(),
        min_version: s.oneOf(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      })
      .live()
      .check((tls, ctx) => {
        if (tls.verify && tls.root_ca_path === undefined) {
          ctx.report(
            ['root_ca_path'],
            'ECONFIG_MISSING',
            'is required while verify = true (client certificates must chain to it)',
            ['verify'],
          );
        }
      }),
    /** How tokens in CONNECT (`auth_token` or `jwt`) are verified. Exactly one of the three key settings. */
    // Shared with the event service's [intake.http.auth] (shared/src/auth/settings.ts). Every rule and the key file
    // are read again on reload (EventGateway.applyConfig judges live tokens again).
    auth: authSection().live(),
    /** The leafnode link into the event service (or a nats-server hub). */
    upstream: s
      .table({
        /** `nats://host:port` or `tls://host:port` (port 7422 when absent), tried in order. */
        urls: upstreamUrls(),
        // The client TLS files and the credentials a nats-server hub accepts, as the service's leafnode remotes have them.
        ...remoteTlsShape,
        ...remoteCredentialShape,
        /** Publishes accepted from clients and buffered while the link is down, in bytes; when full, publishing clients are paused. At least gateway.max_payload. */
        buffer_bytes: s.size({ min: 1 }).default(8 * MiB),
        // Which client messages go up stamped with Gateway-Auth: every one, or events only (the stamp's bytes cost the
        // gateway path ~30 % of its CPU per small message; the service stores it with events alone).
        /** Which client messages carry the Gateway-Auth header. */
        auth_stamp: s.oneOf(['all', 'events']).default('all'),
        /** First wait before redialling, in ms (nats-server's leafnode reconnect interval); doubles (with jitter) up to reconnect_max_delay. */
        reconnect_delay: s.timer().default(1_000),
        /** ms. */
        reconnect_max_delay: s.timer().default(10_000),
      })
      // The link is dialled once, at start.
      .restart()
      .check((up, ctx) => {
        checkRemoteTls(up, ctx);
        checkRemoteCredentials(up, ctx);
        if (up.reconnect_max_delay < up.reconnect_delay) {
          ctx.report(
            ['reconnect_max_delay'],
            'ECONFIG_RANGE',
            `must be at least reconnect_delay (${up.reconnect_delay} ms), got ${up.reconnect_max_delay} ms`,
          );
        }
      }),
    /** Monitoring HTTP (/healthz and friends); off unless present. */
    monitor: s
      .table({
        host: s.string().default('127.0.0.1'),
        port: s.port(),
        // CORS (shared monitor/http.ts).
        /** Pages of these origins may read the answers cross-origin; none by default. */
        allowed_origins: originListSetting(),
        // The DNS-rebinding guard (shared/http/host-check.ts).
        /** Host names answered besides loopback names, IP literals, the port's host and the machine's name. */
        allowed_hosts: hostListSetting(),
        // HTTP connections served at once (shared monitor/http.ts): a flood of requests never takes the file
        // descriptors NATS clients need.
        /** HTTP connections served at once; past it, 503 (a few more are dropped at accept). */
        max_connections: s.integer({ min: 1 }).default(MONITOR_MAX_CONNECTIONS),
      })
      .optional()
      // A bound port.
      .restart(),
    log: logSection,
  })
  .check((cfg, ctx) => {
    // One publish must fit in the outage buffer, or the first large message would stall its client for good.
    if (cfg.upstream.buffer_bytes < cfg.gateway.max_payload) {
      ctx.report(
        ['upstream', 'buffer_bytes'],
        'ECONFIG_RANGE',
        `must be at least gateway.max_payload (${cfg.gateway.max_payload} bytes), got ${cfg.upstream.buffer_bytes} bytes`,
      );
    }
  });

/** The resolved configuration: every default filled in, durations in ms, sizes in bytes, paths absolute, URLs with their port. */
export type GatewayConfig = Infer<typeof gatewaySchema>;
/** What resolveGatewayConfig takes: any subset of each section (durations and sizes also as text, a list as one string), validated and completed like a TOML file. */
export type GatewayConfigInput = ConfigInput<GatewayConfig>;

/** The base TOML file (without it, the defaults, which lack the required [tls], [auth] and [upstream]), patches, cwd. */
export type LoadGatewayConfigOptions = LoadConfigOptions;
/** The configuration and where each leaf came from (`gateway.port`: default, base or patch file and line). */
export type LoadedGatewayConfig = LoadedConfig<GatewayConfig>;

// The schema's load, resolve and format, each followed by the [auth] key check.
const entry = configEntry(gatewaySchema, { check: (config, sources) => checkAuthKey(config.auth, sources) });

/**
 * Reads the base and patch files, validates the merge, then reads the [auth] key and checks it against the
 * algorithm list. In files an integer duration is seconds (as in nats-server); relative paths resolve against the
 * directory of the file naming them. Throws ConfigError listing every problem as `file:line: key: reason`.
 */
export const loadGatewayConfig: (opts?: LoadGatewayConfigOptions) => LoadedGatewayConfig = entry.load;

/**
 * Validates and completes an embedding program's settings (tests, a host process) as a file would be. Durations
 * given as numbers are MILLISECONDS here, unlike a file's seconds; strings ("10s") mean the same in both. Relative
 * paths resolve against the process's cwd. Throws ConfigError naming `<embedded>`.
 */
export const resolveGatewayConfig: (input: GatewayConfigInput) => GatewayConfig = entry.resolve;

/**
 * The configuration as TOML (for --print-config): secrets redacted by name, durations and sizes short, each value
 * followed by its source when `sources` is given. Reading it back gives the same configuration.
 */
export const formatGatewayConfig: (config: GatewayConfig, sources?: ConfigSources) => string = entry.format;

/**
 * What a reload from `running` to `next` puts in force: `next` with every restart-only setting (as the schema marks
 * it) at its running value, and the changes split into those applied now and those waiting for a restart.
 */
export const planGatewayReload: (running: GatewayConfig, next: GatewayConfig) => ReloadPlan<GatewayConfig> =
  entry.planReload;
