// The event service's settings: the schema (the types in config-types.ts are derived from it, each setting's doc
// and reload behaviour written here, on its field) and the three ways in: TOML files with patches (the CLI), a JS
// object (embedding programs), and back out as TOML; and what a reload puts in force.
// Loading, merging, validation, reload planning and error reporting are shared/config's; this file only says what
// the settings are.
import {
  checkRemoteCredentials,
  checkRemoteTls,
  REDACTED,
  configEntry,
  decodedOrProblems,
  describeValue,
  hostListSetting,
  isLoopbackHost,
  logSection,
  MONITOR_MAX_CONNECTIONS,
  clientPortSection,
  originListSetting,
  remoteCredentialShape,
  remoteTlsShape,
  remoteUrlList,
  schema as s,
  tableList,
  tomlString,
  type ConfigInput,
  type ConfigSources,
  type DecodeProblem,
  type Infer,
  type LoadConfigOptions,
  type LoadedConfig,
  type ReloadPlan,
} from '@event-broker/shared';
import { serviceUsers } from './auth/users-config.js';
import { listenerTlsSection } from './config-tls.js';
import { catalogueSection } from './catalogue/section.js';
import { checkCatalogue } from './catalogue/service-catalogue.js';
import type { LeafUser } from './config-values.js';
import { checkNamedSinksBackend, handlersSchema, sinksSchema } from './handlers/sink-config.js';
import { intakeNeedsStore, intakeSection } from './intake-http/config.js';
import { DEFAULT_STORE_PATH, DOMAIN_NAME, STREAM_NAME, checkStoreBackend } from './handlers/jetstream/store-config.js';

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
      if (!Array.isArray(raw))
        return { ok: false, code: 'ECONFIG_TYPE', reason: `must be ${expected}, got ${describeValue(raw)}` };
      if (raw.length === 0) return { ok: false, code: 'ECONFIG_VALUE', reason: 'must list at least one user' };
      const problems: DecodeProblem[] = [];
      const bad = (code: DecodeProblem['code'], reason: string, at: (string | number)[]) =>
        void problems.push({ code, reason, at });
      const out: LeafUser[] = [];
      const seen = new Set<string>();
      raw.forEach((el: unknown, i) => {
        if (typeof el !== 'object' || el === null || Array.isArray(el))
          return bad('ECONFIG_TYPE', `must be a table, got ${describeValue(el)}`, [i]);
        const entry = el as Record<string, unknown>;
        for (const k of Object.keys(entry)) {
          if (k !== 'user' && k !== 'password')
            bad('ECONFIG_UNKNOWN_KEY', 'unknown key (known here: user, password)', [i, k]);
        }
        const { user, password } = entry;
        let name: string | undefined;
        if (user === undefined) bad('ECONFIG_MISSING', 'is required (a non-empty string)', [i, 'user']);
        else if (typeof user !== 'string' || user === '')
          bad('ECONFIG_TYPE', `must be a non-empty string, got ${describeValue(user)}`, [i, 'user']);
        else if (seen.has(user)) bad('ECONFIG_VALUE', `${describeValue(user)} is listed twice`, [i, 'user']);
        else seen.add((name = user));
        const pw = password === undefined || (typeof password === 'string' && password !== '');
        if (!pw) bad('ECONFIG_TYPE', 'must be a non-empty string', [i, 'password']);
        if (name !== undefined && pw)
          out.push(password === undefined ? { user: name } : { user: name, password: password as string });
      });
      return decodedOrProblems(problems, () => out);
    },
    encode: (users) =>
      `[${users.map((u) => `{ user = ${tomlString(u.user)}${u.password === undefined ? '' : `, password = ${tomlString(REDACTED)}`} }`).join(', ')}]`,
  });
}

/**
 * One `[[leafnodes.remotes]]` entry: the hub's URLs (tried in turn), the client TLS files and one kind of
 * credential, as nats-server 2.9 leaf remotes take them (shared leafnode/remote-settings.ts, the gateway's [upstream]
 * has the same pieces).
 */
const leafRemote = s
  .table({
    /** `nats://host:port`, `tls://host:port` or `host:port` (port 7422 when absent), tried in turn. */
    urls: remoteUrlList({
      bareHostPort: true,
      credentialSettings: "the remote's user and password, token or credentials",
    }),
    ...remoteTlsShape,
    ...remoteCredentialShape,
    /** A `.creds` file (user JWT and NKEY seed, as nsc writes it) for a hub in operator mode; read at each connect. */
    credentials: s.path().optional(),
  })
  .check((r, ctx) => {
    checkRemoteTls(r, ctx);
    checkRemoteCredentials(r, ctx);
  });

/**
 * Every setting: its bounds, default, doc and what a reload does with it (`.live()`, `.restart()`; unmarked, as its
 * section; an unmarked section waits for a restart). A new setting is one entry here.
 */
export const serviceSchema = s
  .table({
    /** The NATS client port (TCP, and TLS with [tls]): nats-server's limits and defaults, and the service's own. */
    service: clientPortSection({ port: 10132, authTimeoutMs: 2_000 })
      .extend({
        /** The most events held for the handlers at once (accepted, not yet delivered to every handler). */
        event_limit: s.integer({ min: 1 }).default(100_000),
        /** The most subscriptions (listeners) alive in the whole service at once. */
        listener_limit: s.integer({ min: 1 }).default(10_000),
        /** When set, clients must send it as CONNECT auth_token. Not with `users` (nats-server refuses both). */
        token: s.string().optional().secret(),
        // nats-server authorization { users [...] }: user, password (plain or bcrypt), permissions (auth/users-config.ts).
        /** When set, clients must send one of them as CONNECT user and pass (nats-server authorization { users }). */
        users: serviceUsers().optional(),
      })
      .check((svc, ctx) => {
        // nats-server opts.go (authorization block): "Can not have a token and a users array".
        if (svc.token !== undefined && svc.users !== undefined) {
          ctx.report(
            ['token'],
            'ECONFIG_VALUE',
            "cannot be set together with [[service.users]] (nats-server refuses a token beside users): give the token's clients a user and password, or remove users",
          );
        }
      }),
    // Certificates, key and CA reload (setSecureContext); turning TLS on or off, or client verification, does not:
    // INFO's tls_required and the tls.Server's requestCert are fixed for the port's life.
    /** The client (and WebSocket) port's certificate; with verify, client certificates are required. */
    tls: listenerTlsSection(),
    // [websocket], [monitor], [store] and [leafnodes] own something started once (a bound port, the opened store):
    // a reload leaves them as they run. [handlers] reloads (EventHandlers.applySinks adds, removes and replaces
    // sinks); [feed] is read fresh.
    /** NATS over WebSocket; off unless present. */
    websocket: s
      .table({
        host: s.string().default('127.0.0.1'),
        port: s.port(),
        /** Serve plain ws:// even when [tls] is set (dev, loopback only). Without [tls] it is always plain. */
        no_tls: s.boolean().default(false),
        // Which web pages may open a connection (nats-server websocket same_origin, allowed_origins; both off by default).
        /** A page's Origin must match the Host it connected to (nats-server same_origin); 403 otherwise. */
        same_origin: s.boolean().default(false),
        /** When not empty, a page's Origin must be one of these (nats-server allowed_origins); 403 otherwise. */
        allowed_origins: originListSetting(),
      })
      .optional()
      .restart(),
    /** The monitoring HTTP port (nats-server's /varz, /connz, ... and /metrics); off unless present. */
    monitor: s
      .table({
        /** Monitoring data names clients, so loopback unless asked otherwise. */
        host: s.string().default('127.0.0.1'),
        port: s.port(),
        // CORS (monitor/http.ts).
        /** Pages of these origins may read the answers cross-origin; none by default. */
        allowed_origins: originListSetting(),
        // The DNS-rebinding guard (shared/http/host-check.ts).
        /** Host names answered besides loopback names, IP literals, the port's host and the machine's name. */
        allowed_hosts: hostListSetting(),
        // What HTTP clients may hold (shared monitor/http.ts): far below a default 1024-descriptor limit, so a flood of
        // requests or SSE streams never takes the descriptors NATS clients need.
        /** HTTP connections served at once; past it, 503 (a few more are dropped at accept). */
        max_connections: s.integer({ min: 1 }).default(MONITOR_MAX_CONNECTIONS),
        /** Event feed SSE streams (`/events/stream`) open at once; past it, 503. At most max_connections. */
        max_streams: s.integer({ min: 1 }).default(64),
      })
      .check((m, ctx) => {
        // A stream holds a connection: more streams than connections could never be open.
        if (m.max_streams > m.max_connections) {
          ctx.report(
            ['max_streams'],
            'ECONFIG_RANGE',
            `must not exceed max_connections (${m.max_connections}), got ${m.max_streams}`,
          );
        }
      })
      .optional()
      .restart(),
    /** The durable event store; the section's presence turns the event intake (events.>) on. */
    store: s
      .table({
        // The durable event store (handlers/store.ts). Relative to the config file's directory in a file, the cwd
        // for embedded input; the default is data/events.db under the working directory the service started in.
        /** SQLite database file (created with its directory); absolute once resolved. backend = "sqlite" only. */
        path: s.path().default(DEFAULT_STORE_PATH),
        // Which store (issue 13): one machine's SQLite file, or a stream on the NATS cluster the leaf remotes reach.
        /** "sqlite": the file at path; "jetstream": a JetStream stream reached through [[leafnodes.remotes]]. */
        backend: s.oneOf(['sqlite', 'jetstream']).default('sqlite'),
        // The keys below are backend = "jetstream" only (checkStoreBackend), and absent unless set, so a SQLite
        // configuration never prints settings it does not use; handlers/jetstream/store-config.ts fills the defaults.
        /** The events stream's name (the dead letters go to `<stream>_DEAD`); default "EVENTS". */
        stream: s.string({ pattern: STREAM_NAME }).optional(),
        /** Copies JetStream keeps of each event (a PubAck waits for them): 1 to 5, at most the cluster's nodes; default 1. */
        replicas: s.integer({ min: 1, max: 5 }).optional(),
        /** Events older than this are removed by JetStream, delivered or not; absent or 0: kept forever. */
        max_age: s.duration({ minMs: 0 }).optional(),
        /** The stream's size bound: once reached, new events are refused (never old ones dropped); absent: no bound. */
        max_bytes: s.size({ min: 1 }).optional(),
        /** The JetStream domain (`$JS.<domain>.API`); absent: the one the hub announces in its leaf INFO, else none. */
        domain: s.string({ pattern: DOMAIN_NAME }).optional(),
        // A PubAck waits for the replicas: over a WAN link to an R3 cluster the default may be short.
        /** How long a JetStream request (a PubAck included) may take before it fails; default 5s. */
        request_timeout: s.timer({ minMs: 100 }).optional(),
        // A retry of an id within the window is a duplicate whatever its routing; beyond it, only with the same one.
        /** How long JetStream remembers an event id (Nats-Msg-Id); default 2m (nats-server's), at most max_age. */
        duplicate_window: s.duration({ minMs: 1000 }).optional(),
        /** How long a claimed delivery may go unsettled before another instance gets it: a killed instance's wait. */
        ack_wait: s.timer({ minMs: 1000 }).optional(),
      })
      .check(checkStoreBackend)
      .optional()
      .restart(),
    /** Which sinks receive events; turns the handlers on (store at data/events.db unless [store] says). */
    handlers: handlersSchema.live(),
    /** Producers beyond NATS: `[intake.http]`, CloudEvents over HTTP (intake-http/config.ts). Needs [store] or [handlers]. */
    intake: intakeSection,
    /** Named sinks beside the handlers (`[sinks.NAME]`, the same table as a handler's; default filter every event). */
    sinks: sinksSchema.live(),
    /** How long the event feed keeps events (absent: the same defaults). Held and dead-lettered events stay. */
    feed: s
      .table({
        // The event feed's retention (handlers/store-retention.ts): events beyond the newest max_events or older than max_age are
        // deleted, except those still owed to a sink or dead-lettered. Read at each housekeeping pass.
        max_events: s.integer({ min: 1 }).default(1_000_000),
        /** ms, default 7 days ("168h"). */
        max_age: s.duration({ minMs: 1000, maxMs: 100 * 365 * 24 * 3_600_000 }).default(7 * 24 * 3_600_000),
      })
      .optional()
      .live(),
    /**
     * The leafnode port (hub side): nats-server 2.9 leaves and the event gateway attach here. A leaf is trusted
     * with every message, so it binds loopback unless told otherwise, and off loopback it must name who may attach
     * (authorization credentials, or certificate identities with tls.verify_and_map). With [tls] (or its own tls) it
     * requires client certificates chained to root_ca_path.
     */
    leafnodes: s
      .table({
        // Loopback unless asked: a leaf is trusted with every message (issue 11). nats-server's default is 0.0.0.0.
        /** Any other address than loopback needs authorization or tls.verify_and_map. */
        host: s.string().default('127.0.0.1'),
        // Optional so that remotes alone open no port, as in nats-server (leafnodeListener).
        /** nats-server's; 0 binds an ephemeral port. Absent: 7422, or no port at all when remotes are given. */
        port: s.port().optional(),
        // More are turned away with `maximum connections exceeded` before any INFO. nats-server has no such bound;
        // leaves are few and finish CONNECT within milliseconds, so 100 leaves room for a fleet redialling together
        // after a restart.
        /** Connections that have not completed CONNECT (TLS handshake included) at once; more are refused before INFO. */
        max_unauthenticated: s.integer({ min: 1 }).default(100),
        // nats-server leafnodes { authorization { user, password, users, timeout } } (opts.go parseLeafAuthorization),
        // plus `token`, which nats-server 2.9 has for clients only; leafnode/auth.ts decides.
        /**
         * Who may attach by credentials in the leaf's CONNECT: at most one of user and password; users; token.
         * Passwords and tokens may be bcrypt hashes ($2a$...), as nats-server accepts; otherwise they are compared in
         * constant time.
         */
        authorization: s
          .table({
            user: s.string().optional(),
            password: s.string().optional(),
            /** CONNECT auth_token (nats-server 2.9 has none for leafnodes; a nats-server 2.10+ leaf sends a URL's lone user info as one). */
            token: s.string().optional(),
            /** Several leaves, each its own credentials; with tls.verify_and_map, the certificate identities allowed. */
            users: leafUsers().optional(),
            /** From the INFO to an admitted CONNECT, in ms; absent: [service] auth_timeout. */
            timeout: s.timer().optional(),
          })
          .optional()
          .check((auth, ctx) => {
            if (auth.user !== undefined && auth.password === undefined) {
              ctx.report(
                ['password'],
                'ECONFIG_MISSING',
                'is required when user is set (a user alone proves nothing)',
                ['user'],
              );
            }
            if (auth.password !== undefined && auth.user === undefined) {
              ctx.report(['user'], 'ECONFIG_MISSING', 'is required when password is set', ['password']);
            }
            // nats-server validateLeafNodeAuthOptions: "can not have a single user/pass and a users array".
            if (auth.user !== undefined && auth.users !== undefined) {
              ctx.report(
                ['users'],
                'ECONFIG_VALUE',
                'conflicts with user: give a single user and password, or users, not both',
              );
            }
            if (auth.token !== undefined && (auth.user !== undefined || auth.users !== undefined)) {
              ctx.report(
                ['token'],
                'ECONFIG_VALUE',
                'conflicts with user/users: a leaf authenticates with a token or with user credentials, not both',
              );
            }
          }),
        // As nats-server's leafnodes { tls {} }: lets the client port stay plain while the link is TLS. Client
        // certificates are required either way.
        /** The leaf port's own certificate; absent: the service's [tls]. */
        tls: s
          .table({
            cert_path: s.path(),
            key_path: s.path(),
            /** The CA leaf certificates must chain to. */
            root_ca_path: s.path(),
            // nats-server leafnodes { tls { verify_and_map } }: the certificate names the leaf; it must be one of
            // authorization.users (email, DNS or URI SAN, else the subject DN).
            /** The certificate names the leaf: it must map to one of authorization.users (absent: false). */
            verify_and_map: s.boolean().optional(),
          })
          .optional(),
        // nats-server leafnodes { remotes [...] } (opts.go parseRemoteLeafNodes): hubs this service dials as a leaf, each
        // link its own (leafnode/remotes.ts). Dialled once, at start.
        /** Hubs (nats-server 2.9 or another event service) this service attaches to as a leaf; each entry its own link. */
        remotes: tableList(leafRemote).optional(),
      })
      .optional()
      .restart()
      .check((leaf, ctx) => {
        if (leafnodeListener(leaf) === undefined) return;
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
              ctx.report(
                ['authorization', 'users', i, 'password'],
                'ECONFIG_MISSING',
                'is required unless [leafnodes.tls] verify_and_map = true admits this user by its certificate',
              );
            }
          });
        }
        // A port that names nobody admits whoever reaches it (with TLS: any certificate of the CA), and a leaf gets
        // every message: only on loopback. The host line is where the fix goes.
        const namesSomeone =
          mapped || auth?.user !== undefined || auth?.users !== undefined || auth?.token !== undefined;
        if (!namesSomeone && !isLoopbackHost(leaf.host)) {
          ctx.report(
            ['host'],
            'ECONFIG_VALUE',
            `${JSON.stringify(leaf.host)} is not a loopback address, and the leafnode port would admit any peer that reaches it${leaf.tls ? ' with a certificate of root_ca_path' : ''}: set [leafnodes.authorization] (user and password, users, or token) or [leafnodes.tls] verify_and_map with authorization.users, or bind 127.0.0.1`,
          );
        }
      }),
    /** Event types beyond the built-in ones, from files (docs/catalogue.md); reloaded live. */
    catalogue: catalogueSection,
    log: logSection,
  })
  .check(checkNamedSinksBackend);

/** nats-server's leafnode port, where [leafnodes] names none. */
const LEAFNODE_PORT = 7422;

/**
 * Where the [leafnodes] port listens, or undefined for none: [leafnodes] without remotes listens (on 7422 unless
 * `port` says), as it always has; with remotes, only when `port` is given (nats-server opens no leafnode listener
 * for a configuration with remotes and no port).
 */
export function leafnodeListener(
  leaf: { host: string; port?: number; remotes?: unknown[] } | undefined,
): { host: string; port: number } | undefined {
  if (leaf === undefined) return undefined;
  if (leaf.port !== undefined) return { host: leaf.host, port: leaf.port };
  return leaf.remotes === undefined ? { host: leaf.host, port: LEAFNODE_PORT } : undefined;
}

/** The resolved configuration: every default filled in, durations in ms, sizes in bytes, paths absolute. */
export type ServiceConfig = Infer<typeof serviceSchema>;
/** What startEventService takes: any subset, durations and sizes also as text ("30s", "1MB"), a list as one string. */
export type ServiceConfigInputWithUnits = ConfigInput<ServiceConfig>;

/** The base TOML file (without it, the defaults; patches, if any, apply over them), patches, cwd. */
export type LoadServiceConfigOptions = LoadConfigOptions;
/** The configuration and where each leaf came from (`service.port`: default, base or patch file and line). */
export type LoadedServiceConfig = LoadedConfig<ServiceConfig>;

const entry = configEntry(serviceSchema, {
  check: (config, sources) => {
    intakeNeedsStore(config, sources);
    checkCatalogue(config);
  },
});

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
export function resolveServiceConfig(input: ServiceConfigInputWithUnits = {}): ServiceConfig {
  return entry.resolve(input);
}

/**
 * The configuration as TOML (for --print-config): `service.token` and any token/secret/password/key setting
 * printed as "<redacted>", durations and sizes in short form ("2m", "1MB"), each value followed by its source
 * when `sources` is given. Loading the text back gives the same configuration, redacted values aside.
 */
export const formatConfig: (config: ServiceConfig, sources?: ConfigSources) => string = entry.format;

/**
 * What a reload from `running` to `next` puts in force: `next` with every restart-only setting (as the schema marks
 * it) at its running value, and the changes split into those applied now and those waiting for a restart.
 */
export const planServiceReload: (running: ServiceConfig, next: ServiceConfig) => ReloadPlan<ServiceConfig> =
  entry.planReload;
