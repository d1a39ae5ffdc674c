// The event service's resolved configuration: the TOML file's shape (sections and key names as written), with
// every default filled in and values normalised: durations in milliseconds, sizes in bytes, paths absolute.
import type { ConfigInput, LogSection } from '@event-broker/shared';

export type { LogFormat, LogLevel, LogSection } from '@event-broker/shared';

export interface ServiceSection {
  host: string; // default "127.0.0.1": loopback unless asked (set "0.0.0.0" to serve other hosts)
  port: number; // default 10132; 0 binds an ephemeral port
  /** The most events held for the handlers at once (accepted, not yet delivered to every handler). */
  event_limit: number; // default 100000
  /** The most subscriptions (listeners) alive in the whole service at once. */
  listener_limit: number; // default 10000
  max_payload: number; // bytes, default 1 MiB
  max_connections: number; // default 65536
  max_control_line: number; // bytes, default 4096
  max_pending: number; // bytes, default 64 MiB
  /** Per connection; 0 = unlimited (nats-server's default). */
  max_subscriptions: number; // default 0
  ping_interval: number; // ms, default 120000
  ping_max: number; // default 2
  write_deadline: number; // ms, default 10000
  auth_timeout: number; // ms, default 2000
  /** When set, clients must send it as CONNECT auth_token. Not with `users` (nats-server refuses both). */
  token?: string;
  /** When set, clients must send one of them as CONNECT user and pass (nats-server authorization { users }). */
  users?: ServiceUser[];
  /** Name advertised in INFO (server_name); defaults to the server id. */
  server_name?: string;
  /** SIGTERM: how long the lame-duck drain may take before the remaining clients are closed and the process exits. */
  lame_duck_duration: number; // ms, default 25000
  /** SIGTERM: after telling clients (INFO ldm), how long they are left to leave on their own before any is closed. */
  lame_duck_grace_period: number; // ms, default 10000; shorter than lame_duck_duration
  /** Where `config patch` keeps persisted patches and the service its pid file; default `data` beside the config file. */
  data_dir?: string;
}

/** One client identity of `[[service.users]]`, as nats-server's `authorization { users [...] }` entries. */
export interface ServiceUser {
  /** The CONNECT `user`; logged as who the client is and recorded as the `authid` of the events it publishes. */
  user: string;
  /** The CONNECT `pass`: compared in constant time, or a bcrypt hash ($2a$, $2b$, $2y$) checked off the event loop. */
  password: string;
  /** Absent: the user may publish and subscribe on every subject. */
  permissions?: UserPermissions;
}

/** nats-server's `permissions` block: lists of subjects with `*` and `>`, a subscribe entry optionally `subject queue`. */
export interface UserPermissions {
  /** Absent: any subject. */
  publish?: SubjectPermission;
  /** Absent: any subject. */
  subscribe?: SubjectPermission;
  /** The user may publish to the reply subject of a request delivered to it, within these bounds. */
  allow_responses?: ResponsesPermission;
}

/** A list written `["a.>"]` is `{ allow = ["a.>"] }`. An allow list, even empty, allows only what it names. */
export interface SubjectPermission {
  allow?: string[];
  deny?: string[];
}

/** `allow_responses = true` is `{ max = 1, expires = "2m" }` (nats-server's defaults). */
export interface ResponsesPermission {
  /** Replies per request; -1: no limit. */
  max: number; // default 1
  /** How long after the request a reply may be sent, in ms; -1: no limit. */
  expires: number; // ms, default 120000
}

export interface TlsSection {
  cert_path: string;
  key_path: string;
  root_ca_path?: string;
  /** Require and verify client certificates against root_ca_path. */
  verify: boolean; // default false
}

export interface WebsocketSection {
  host: string; // default "127.0.0.1": loopback unless asked (set "0.0.0.0" to serve other hosts)
  port: number;
  /** Serve plain ws:// even when [tls] is set (dev, loopback only). Without [tls] it is always plain. */
  no_tls: boolean; // default false
  /** A page's Origin must match the Host it connected to (nats-server same_origin); 403 otherwise. */
  same_origin: boolean; // default false
  /** When not empty, a page's Origin must be one of these (nats-server allowed_origins); 403 otherwise. */
  allowed_origins: string[]; // default []
}

/** The monitoring HTTP listener (nats-server's /varz, /connz, ... and /metrics); off unless the section is present. */
export interface MonitorSection {
  host: string; // default "127.0.0.1": monitoring data names clients, so loopback unless asked otherwise
  port: number; // 0 binds an ephemeral port
  /** Pages of these origins may read the answers cross-origin (CORS); none by default. */
  allowed_origins: string[]; // default []
  /** Host names answered besides loopback names, IP literals, the listener's host and the machine's name (DNS rebinding). */
  allowed_hosts: string[]; // default []
  /** HTTP connections served at once; past it, 503 (a few more are dropped at accept). */
  max_connections: number; // default 128
  /** Event feed SSE streams (`/events/stream`) open at once; past it, 503. At most max_connections. */
  max_streams: number; // default 64
}

/** The durable event store; the section's presence turns the event intake (events.>) on. */
export interface StoreSection {
  /** SQLite database file (created with its directory); absolute once resolved. Default "data/events.db" under the cwd. */
  path: string;
}

/**
 * The leafnode listener (hub side): nats-server 2.9 leaves and the event gateway attach here. A leaf is trusted with
 * every message, so it binds loopback unless told otherwise, and off loopback it must name who may attach
 * (authorization credentials, or certificate identities with tls.verify_and_map). With [tls] (or its own tls) it
 * requires client certificates chained to root_ca_path.
 */
export interface LeafnodesSection {
  host: string; // default "127.0.0.1"; any other address needs authorization or tls.verify_and_map
  port: number; // default 7422 (nats-server's); 0 binds an ephemeral port
  /** Connections that have not completed CONNECT (TLS handshake included) at once; more are refused before INFO. */
  max_unauthenticated: number; // default 100
  /** Who may attach by credentials in the leaf's CONNECT (nats-server leafnodes { authorization {} }). */
  authorization?: LeafnodesAuthorization;
  /** The leaf port's own TLS (client certificates always required); absent: the service's [tls]. */
  tls?: LeafnodesTlsSection;
}

/**
 * At most one of: user and password; users; token. Passwords and tokens may be bcrypt hashes ($2a$...), as
 * nats-server accepts; otherwise they are compared in constant time.
 */
export interface LeafnodesAuthorization {
  user?: string;
  password?: string;
  /** CONNECT auth_token (nats-server 2.9 has none for leafnodes; a nats-server 2.10+ leaf sends a URL's lone user info as one). */
  token?: string;
  /** Several leaves, each its own credentials; with tls.verify_and_map, the certificate identities allowed. */
  users?: LeafUser[];
  /** From the INFO to an admitted CONNECT; absent: [service] auth_timeout. */
  timeout?: number; // ms
}

export interface LeafUser {
  /** A user name; with tls.verify_and_map, a certificate identity: an email, DNS or URI SAN, or the subject DN ("CN=gw,O=acme"). */
  user: string;
  /** Required unless tls.verify_and_map admits the user by certificate alone; then, if set, the CONNECT must carry it too. */
  password?: string;
}

export interface LeafnodesTlsSection {
  cert_path: string;
  key_path: string;
  /** The CA leaf certificates must chain to. */
  root_ca_path: string;
  /** The certificate names the leaf: it must map to one of authorization.users (nats-server verify_and_map). */
  verify_and_map?: boolean; // absent: false
}

/** One handler's HTTP sink: `feed = "host:port"` or a table. */
export interface HandlerSink {
  /** Where deliveries are POSTed; "host:port" becomes http://host:port/. */
  url: string;
  /** Flipt-style "noun:verb" patterns (`*` for any); empty = the handler's default set. */
  filter: string[];
  /** Extra request headers, lower-cased names. */
  headers: Record<string, string>;
  /** Standard Webhooks "whsec_" secrets; all sign during a rotation. Empty = unsigned. */
  secrets: string[];
  max_attempts: number; // default 10, then dead-lettered
  timeout_ms: number; // default 10000
  // The options below are present only when the config sets them (absent = the default in brackets).
  /** [true] false: an https sink's certificate is not verified (self-signed receivers). */
  ssl_verify?: boolean;
  /** [none] Extra JSON fields added to each delivered event (moat style); the event's own fields win on a clash. */
  extra_args?: Record<string, unknown>;
  /** [false] Send the event's `data` (an object; else `{ data }`) instead of the CloudEvents envelope. */
  flatten_payload?: boolean;
  /** [false] The body is a JSON array (of one event unless batching). */
  send_as_list?: boolean;
  /** [1] Up to this many events per POST; above 1 every body is a JSON array (even of one event). */
  batch_size?: number;
  /** [1048576] A batch stops growing before its body would pass this many bytes (one event always goes). */
  batch_bytes?: number;
  /** [0] How long a sink waits for a partial batch to fill before sending it, in ms. */
  batch_wait_ms?: number;
  /** [1] POSTs outstanding at once; 1 keeps strict order, more deliver unordered (sinks/http.ts). */
  max_in_flight?: number;
}

/** [handlers]: which sinks receive events; turns the handlers on (store at data/events.db unless [store] says). */
export interface HandlersSection {
  feed?: HandlerSink;
  cfgingest?: HandlerSink;
  event_feed?: HandlerSink;
}

/** [feed]: how long the event feed keeps events (absent: the same defaults). Held and dead-lettered events stay. */
export interface FeedSection {
  max_events: number; // default 1000000
  max_age: number; // ms, default 7 days ("168h")
}

export interface ServiceConfig {
  service: ServiceSection;
  tls?: TlsSection;
  websocket?: WebsocketSection;
  monitor?: MonitorSection;
  leafnodes?: LeafnodesSection;
  store?: StoreSection;
  handlers?: HandlersSection;
  feed?: FeedSection;
  log: LogSection;
}

/** What an embedding program passes: any subset, validated and completed like a TOML file. */
export type ServiceConfigInput = {
  [K in keyof ServiceConfig]?: Partial<NonNullable<ServiceConfig[K]>>;
};

/** The same, durations and sizes also as text ("30s", "1MB") and a list as one string: what startEventService takes. */
export type ServiceConfigInputWithUnits = ConfigInput<ServiceConfig>;
