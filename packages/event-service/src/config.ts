// The event service's settings: the schema behind ServiceConfig (config-types.ts is the contract) and the three
// ways in: TOML files with patches (the CLI), a JS object (embedding programs), and back out as TOML.
// Loading, merging, validation and error reporting are shared/config's; this file only says what the settings are.
import {
  REDACTED,
  configEntry,
  decodedOrProblems,
  describeValue,
  hostListSetting,
  isLoopbackHost,
  MAX_CONTROL_LINE_CAP,
  MAX_PAYLOAD_CAP,
  MONITOR_MAX_CONNECTIONS,
  originListSetting,
  schema as s,
  tomlString,
  type ConfigSources,
  type DecodeProblem,
  type Infer,
  type LoadConfigOptions,
  type LoadedConfig,
} from '@event-broker/shared';
import { resolve } from 'node:path';
import { serviceUsers } from './auth/users-config.js';
import { handlersSchema } from './handlers/sink-config.js';
import type { LeafUser, ServiceConfig, ServiceConfigInput, ServiceConfigInputWithUnits } from './config-types.js';

export type { ServiceConfigInputWithUnits };

const MiB = 1024 * 1024;
/** Node clamps a setTimeout delay above 2^31-1 ms to 1 ms, so a longer duration would fire at once. */
const TIMER_MAX_MS = 2 ** 31 - 1;
const PORT = { min: 0, max: 65535 };
const timer = (minMs = 1) => s.duration({ minMs, maxMs: TIMER_MAX_MS });

/**
 * `[[leafnodes.authorization.users]]`: `user` (a name, or with verify_and_map a certificate identity) and an
 * optional `password` (plain or a bcrypt hash, as nats-server accepts). Printed with each password redacted.
 */
function leafUsers() {
  const expected = 'an array of tables with user and password';
  return s.custom<LeafUser[]>({
    expected,
    // Every entry checked whole, every problem reported (as the sink tables are: sink-config.ts).
    decode(raw) {
      if (!Array.isArray(raw)) return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      if (raw.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: 'must list at least one user' };
      const problems: DecodeProblem[] = [];
      const bad = (code: DecodeProblem['code'], reason: string, at: (string | number)[]) => void problems.push({ code, reason, at });
      const out: LeafUser[] = [];
      const seen = new Set<string>();
      raw.forEach((el: unknown, i) => {
        if (typeof el !== 'object' || el === null || Array.isArray(el)) return bad('ECONFIG_TYPE', `must be a table, got ${describeValue(el)}`, [i]);
        const entry = el as Record<string, unknown>;
        for (const k of Object.keys(entry)) {
          if (k !== 'user' && k !== 'password') bad('ECONFIG_UNKNOWN_KEY', 'unknown key (known here: user, password)', [i, k]);
        }
        const { user, password } = entry;
        let name: string | undefined;
        if (user === undefined) bad('ECONFIG_MISSING', 'is required (a non-empty string)', [i, 'user']);
        else if (typeof user !== 'string' || user === '') bad('ECONFIG_TYPE', `must be a non-empty string, got ${describeValue(user)}`, [i, 'user']);
        else if (seen.has(user)) bad('ECONFIG_VALUE', `${describeValue(user)} is listed twice`, [i, 'user']);
        else seen.add((name = user));
        const pw = password === undefined || (typeof password === 'string' && password !== '');
        if (!pw) bad('ECONFIG_TYPE', 'must be a non-empty string', [i, 'password']);
        if (name !== undefined && pw) out.push(password === undefined ? { user: name } : { user: name, password: password as string });
      });
      return decodedOrProblems(problems, () => out);
    },
    encode: (users) =>
      `[${users.map((u) => `{ user = ${tomlString(u.user)}${u.password === undefined ? '' : `, password = ${tomlString(REDACTED)}`} }`).join(', ')}]`,
  });
}

/**
 * Every setting, its bounds and default. A new section is one more entry here plus its type in config-types.ts
 * (the assertion below keeps the two in step).
 */
export const serviceSchema = s.table({
  service: s
    .table({
      host: s.string().default('127.0.0.1'),
      port: s.integer(PORT).default(10132),
      event_limit: s.integer({ min: 1 }).default(100_000),
      listener_limit: s.integer({ min: 1 }).default(10_000),
      max_payload: s.size({ min: 1, max: MAX_PAYLOAD_CAP }).default(MiB),
      max_connections: s.integer({ min: 1 }).default(65_536),
      max_control_line: s.size({ min: 1, max: MAX_CONTROL_LINE_CAP }).default(4096),
      max_pending: s.size({ min: 1 }).default(64 * MiB),
      max_subscriptions: s.integer({ min: 0 }).default(0),
      ping_interval: timer().default(120_000),
      ping_max: s.integer({ min: 1 }).default(2),
      write_deadline: timer().default(10_000),
      auth_timeout: timer().default(2_000),
      token: s.string().optional().secret(),
      // nats-server authorization { users [...] }: user, password (plain or bcrypt), permissions (auth/users-config.ts).
      users: serviceUsers().optional(),
      // nats-server validateOptions: "server name cannot contain spaces".
      server_name: s.string({ pattern: { test: /^\S+$/, reason: 'must not contain spaces' } }).optional(),
      // SIGTERM's lame-duck drain (nats-server lame_duck_duration, lame_duck_grace_period; its defaults are 2m and
      // 10s). 25s keeps the whole exit inside a 30s stop timeout (Kubernetes' default terminationGracePeriodSeconds).
      lame_duck_duration: timer().default(25_000),
      lame_duck_grace_period: timer(0).default(10_000),
      // Persisted patches (`config patch`) and the pid file (config-commands.ts). Unset: `data` beside the config
      // file (the working directory's without one). Read from the base and --patch files only, never a stored patch.
      data_dir: s.path().optional(),
    })
    .check((svc, ctx) => {
      // nats-server opts.go (authorization block): "Can not have a token and a users array".
      if (svc.token !== undefined && svc.users !== undefined) {
        ctx.report(['token'], 'ECONFIG_VALUE', 'cannot be set together with [[service.users]] (nats-server refuses a token beside users): give the token\'s clients a user and password, or remove users');
      }
      // nats-server validateOptions refuses the same: a message larger than the pending budget could never leave.
      if (svc.max_payload > svc.max_pending) {
        ctx.report(['max_payload'], 'ECONFIG_RANGE', `must not exceed max_pending (${svc.max_pending} bytes), got ${svc.max_payload} bytes`);
      }
      // nats-server validateOptions: "lame duck grace period should be strictly lower than lame duck duration".
      if (svc.lame_duck_grace_period >= svc.lame_duck_duration) {
        ctx.report(['lame_duck_grace_period'], 'ECONFIG_RANGE', `must be shorter than lame_duck_duration (${svc.lame_duck_duration} ms), got ${svc.lame_duck_grace_period} ms`);
      }
    }),
  tls: s
    .table({
      cert_path: s.path(),
      key_path: s.path(),
      root_ca_path: s.path().optional(),
      verify: s.boolean().default(false),
    })
    .optional()
    .check((tls, ctx) => {
      if (tls.verify && tls.root_ca_path === undefined) {
        ctx.report(['root_ca_path'], 'ECONFIG_MISSING', 'is required when verify = true (client certificates are checked against it)', ['verify']);
      }
    }),
  websocket: s
    .table({
      host: s.string().default('127.0.0.1'),
      port: s.integer(PORT),
      no_tls: s.boolean().default(false),
      // Which web pages may open a connection (nats-server websocket same_origin, allowed_origins; both off by default).
      same_origin: s.boolean().default(false),
      allowed_origins: originListSetting(),
    })
    .optional(),
  monitor: s
    .table({
      host: s.string().default('127.0.0.1'),
      port: s.integer(PORT),
      // Pages of these origins may read the answers (CORS); none by default (monitor/http.ts).
      allowed_origins: originListSetting(),
      // Names answered besides loopback names and IP literals: the DNS-rebinding guard (shared/http/host-check.ts).
      allowed_hosts: hostListSetting(),
      // What HTTP clients may hold (shared monitor/http.ts): far below a default 1024-descriptor limit, so a flood of
      // requests or SSE streams never takes the descriptors NATS clients need; past either, 503.
      max_connections: s.integer({ min: 1 }).default(MONITOR_MAX_CONNECTIONS),
      max_streams: s.integer({ min: 1 }).default(64),
    })
    .check((m, ctx) => {
      // A stream holds a connection: more streams than connections could never be open.
      if (m.max_streams > m.max_connections) {
        ctx.report(['max_streams'], 'ECONFIG_RANGE', `must not exceed max_connections (${m.max_connections}), got ${m.max_streams}`);
      }
    })
    .optional(),
  store: s
    .table({
      // The durable event store (handlers/store.ts). Relative to the config file's directory in a file, the cwd
      // for embedded input; the default is data/events.db under the working directory the service started in.
      path: s.path().default(resolve('data', 'events.db')),
    })
    // Present (even empty), it turns the event handlers on: the intake on events.> and the store behind it.
    .optional(),
  handlers: handlersSchema,
  feed: s
    .table({
      // Feed retention (handlers/event-feed.ts): events beyond the newest max_events or older than max_age are
      // deleted, except those still owed to a sink or dead-lettered.
      max_events: s.integer({ min: 1 }).default(1_000_000),
      max_age: s.duration({ minMs: 1000, maxMs: 100 * 365 * 24 * 3_600_000 }).default(7 * 24 * 3_600_000),
    })
    .optional(),
  leafnodes: s
    .table({
      // Loopback unless asked: a leaf is trusted with every message (issue 11). nats-server's default is 0.0.0.0.
      host: s.string().default('127.0.0.1'),
      port: s.integer(PORT).default(7422),
      // Sockets that have not completed CONNECT (TLS handshake included) held at once; more are turned away with
      // `maximum connections exceeded` before any INFO. nats-server has no such bound; leaves are few and finish
      // CONNECT within milliseconds, so 100 leaves room for a fleet redialling together after a restart.
      max_unauthenticated: s.integer({ min: 1 }).default(100),
      // nats-server leafnodes { authorization { user, password, users, timeout } } (opts.go parseLeafAuthorization),
      // plus `token`, which nats-server 2.9 has for clients only; leafnode/auth.ts decides.
      authorization: s
        .table({
          user: s.string().optional(),
          password: s.string().optional(),
          token: s.string().optional(),
          users: leafUsers().optional(),
          // From the INFO to an admitted CONNECT; absent: [service] auth_timeout.
          timeout: timer().optional(),
        })
        .optional()
        .check((auth, ctx) => {
          if (auth.user !== undefined && auth.password === undefined) {
            ctx.report(['password'], 'ECONFIG_MISSING', 'is required when user is set (a user alone proves nothing)', ['user']);
          }
          if (auth.password !== undefined && auth.user === undefined) {
            ctx.report(['user'], 'ECONFIG_MISSING', 'is required when password is set', ['password']);
          }
          // nats-server validateLeafNodeAuthOptions: "can not have a single user/pass and a users array".
          if (auth.user !== undefined && auth.users !== undefined) {
            ctx.report(['users'], 'ECONFIG_VALUE', 'conflicts with user: give a single user and password, or users, not both');
          }
          if (auth.token !== undefined && (auth.user !== undefined || auth.users !== undefined)) {
            ctx.report(['token'], 'ECONFIG_VALUE', 'conflicts with user/users: a leaf authenticates with a token or with user credentials, not both');
          }
        }),
      // The leaf port's own certificate, as nats-server's leafnodes { tls {} }: lets the client port stay plain
      // while the link is TLS. Absent: the service's [tls]. Client certificates are required either way.
      tls: s
        .table({
          cert_path: s.path(),
          key_path: s.path(),
          root_ca_path: s.path(),
          // nats-server leafnodes { tls { verify_and_map } }: the certificate names the leaf; it must be one of
          // authorization.users (email, DNS or URI SAN, else the subject DN).
          verify_and_map: s.boolean().optional(),
        })
        .optional(),
    })
    .optional()
    .check((leaf, ctx) => {
      const auth = leaf.authorization;
      const mapped = leaf.tls?.verify_and_map === true;
      if (mapped && (auth?.users === undefined || auth.user !== undefined || auth.token !== undefined)) {
        ctx.report(
          ['tls', 'verify_and_map'],
          'ECONFIG_VALUE',
          'maps each certificate to one of authorization.users: list the leaf identities there (e.g. user = "CN=event-gateway-upstream"), and no single user or token',
        );
      }
      if (!mapped) {
        auth?.users?.forEach((u, i) => {
          if (u.password === undefined) {
            ctx.report(['authorization', 'users', i, 'password'], 'ECONFIG_MISSING', 'is required unless [leafnodes.tls] verify_and_map = true admits this user by its certificate');
          }
        });
      }
      // A port that names nobody admits whoever reaches it (with TLS: any certificate of the CA), and a leaf gets
      // every message: only on loopback. The host line is where the fix goes.
      const namesSomeone = mapped || auth?.user !== undefined || auth?.users !== undefined || auth?.token !== undefined;
      if (!namesSomeone && !isLoopbackHost(leaf.host)) {
        ctx.report(
          ['host'],
          'ECONFIG_VALUE',
          `${JSON.stringify(leaf.host)} is not a loopback address, and the leafnode port would admit any peer that reaches it${leaf.tls ? ' with a certificate of root_ca_path' : ''}: set [leafnodes.authorization] (user and password, users, or token) or [leafnodes.tls] verify_and_map with authorization.users, or bind 127.0.0.1`,
        );
      }
    }),
  log: s.table({
    format: s.oneOf(['text', 'json']).default('text'),
    level: s.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  }),
});

// Compile-time: the schema's inferred type is exactly ServiceConfig, both ways.
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesContract: Exactly<Infer<typeof serviceSchema>, ServiceConfig> = true;
void schemaMatchesContract;

/** The base TOML file (without it, the defaults; patches, if any, apply over them), patches, cwd. */
export type LoadServiceConfigOptions = LoadConfigOptions;
/** The configuration and where each leaf came from (`service.port`: default, base or patch file and line). */
export type LoadedServiceConfig = LoadedConfig<ServiceConfig>;

const entry = configEntry(serviceSchema);

/**
 * Reads the base and patch files and validates the merge. In files, an integer duration is seconds (as in
 * nats-server) and an integer size is bytes; relative paths resolve against the directory of the file naming them.
 * Throws ConfigError (codes ECONFIG_*) listing every problem as `file:line: key: reason`.
 */
export const loadServiceConfig: (opts?: LoadServiceConfigOptions) => LoadedServiceConfig = entry.load;

/**
 * Validates and completes an embedding program's settings, as a file would be. Durations given as numbers are
 * MILLISECONDS here (JS timers' unit), unlike a file's seconds; strings ("10s", "250ms") mean the same in both.
 * Sizes: bytes or "1MB". Relative paths resolve against the process's cwd. Throws ConfigError naming `<embedded>`.
 */
export function resolveServiceConfig(input: ServiceConfigInput | ServiceConfigInputWithUnits = {}): ServiceConfig {
  return entry.resolve(input);
}

/**
 * The configuration as TOML (for --print-config): `service.token` and any token/secret/password/key setting
 * printed as "<redacted>", durations and sizes in short form ("2m", "1MB"), each value followed by its source
 * when `sources` is given. Loading the text back gives the same configuration, redacted values aside.
 */
export const formatConfig: (config: ServiceConfig, sources?: ConfigSources) => string = entry.format;
