// The gateway's resolved configuration: the TOML file's shape (sections and key names as written), every default
// filled in, values normalised: durations in milliseconds, sizes in bytes, paths absolute, URLs with their port.
import type { ConfigInput, LogSection } from '@event-broker/shared';

export type { LogFormat, LogLevel, LogSection } from '@event-broker/shared';

/** JWS algorithms the gateway can verify (RFC 7518, RFC 8037; `Ed25519` is RFC 9864's name for EdDSA on Ed25519). */
export type JwsAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519';

/** The client-facing NATS listener. Limits as nats-server's, with its defaults. */
export interface GatewaySection {
  host: string; // default "127.0.0.1": loopback unless asked (set "0.0.0.0" to serve other hosts)
  port: number; // default 4222 (NATS's client port: external clients expect it); 0 binds an ephemeral port
  max_connections: number; // default 65536
  max_payload: number; // bytes, default 1 MiB; at most max_pending
  max_control_line: number; // bytes, default 4096
  max_pending: number; // bytes, default 64 MiB
  /** Per connection; 0 = no limit (nats-server max_subscriptions). */
  max_subscriptions: number; // default 0
  /** A token without `nats.subs` gets this many subscriptions; 0 = no default (max_subscriptions alone). */
  default_max_subscriptions: number; // default 0; at most max_subscriptions when that is set
  /** A token without `nats.payload` may publish messages up to this size; absent: max_payload alone. */
  default_max_payload?: number; // bytes; at most max_payload
  ping_interval: number; // ms, default 120000
  ping_max: number; // default 2
  write_deadline: number; // ms, default 10000
  /** From accept to a verified CONNECT, TLS handshake included. */
  auth_timeout: number; // ms, default 3000 (nats-server with TLS: tls timeout 2s + 1s)
  /** Name in INFO and in the leaf CONNECT upstream; defaults to the server id. */
  server_name?: string;
  /** SIGTERM's lame-duck drain: every client closed within this (the event service's default). */
  lame_duck_duration: number; // ms, default 25000
  /** Clients are left this long to move on their own before the rest are closed; shorter than lame_duck_duration. */
  lame_duck_grace_period: number; // ms, default 10000
  /** Stored patches (`config patch`) and the pid file; unset: `data` beside the config file. Not from a stored patch. */
  data_dir?: string;
}

/** NATS over WebSocket for browsers (nats.ws): same admission, same [tls]. Off unless present. */
export interface WebsocketSection {
  host: string; // default "127.0.0.1": loopback unless asked (set "0.0.0.0" to serve other hosts)
  port: number;
  /** A page's Origin must match the Host it connected to (nats-server same_origin); 403 otherwise. */
  same_origin: boolean; // default false
  /** When not empty, a page's Origin must be one of these (nats-server allowed_origins); 403 otherwise. */
  allowed_origins: string[]; // default []
}

/** The gateway's server certificate and the CA its clients' certificates must chain to. Required. */
export interface TlsSection {
  cert_path: string;
  key_path: string;
  /** Required while verify = true. */
  root_ca_path?: string;
  /** Require a client certificate chained to root_ca_path. */
  verify: boolean; // default true
  min_version: 'TLSv1.2' | 'TLSv1.3'; // default "TLSv1.2"
}

/** How tokens in CONNECT (`auth_token` or `jwt`) are verified. Exactly one of the three key settings. */
export interface AuthSection {
  /** A JSON Web Key Set file (public keys; `kid` picks the key). */
  jwks_path?: string;
  /** A PEM public key (SPKI): RSA, EC P-256/384/521 or Ed25519. */
  public_key_path?: string;
  /** A file whose bytes, less one trailing newline, are an HMAC key (HS256 by default). */
  secret_path?: string;
  /** Accepted `iss` values (a string in the file is a list of one). */
  issuer: string[];
  /** Accepted `aud` values; a token must name one of them. */
  audience: string[];
  /** The allow-list; absent, every algorithm the key can verify. `none` is always refused. */
  algorithms?: JwsAlgorithm[];
  /** Leeway for `exp` and `nbf` against clock skew. */
  clock_tolerance: number; // ms, default 0
  /** Token ids (`jti`) refused at connect; on reload, live connections holding one are closed. */
  revoked: string[]; // default []
}

/** The leafnode link into the event service (or a nats-server hub). */
export interface UpstreamSection {
  /** `nats://host:port` or `tls://host:port` (port 7422 when absent), tried in order. */
  urls: string[];
  /** The certificate the gateway presents upstream; with it the link is TLS whatever the scheme. */
  cert_path?: string;
  key_path?: string;
  /** Trust only this CA for the upstream's certificate (default: Node's bundled roots). */
  root_ca_path?: string;
  /** Sent in the leaf CONNECT with `password` when the hub's leafnode authorization names users; never logged or printed. */
  user?: string;
  /** Plain; the hub may hold it as a bcrypt hash. Required with `user`. */
  password?: string;
  /** Sent as CONNECT auth_token (the event service's [leafnodes.authorization] token); not with `user`. */
  token?: string;
  /** Publishes accepted from clients held while the link is down; when full, publishing clients are paused. */
  buffer_bytes: number; // bytes, default 8 MiB; at least gateway.max_payload
  auth_stamp: 'all' | 'events'; // default "all": which client messages carry the Gateway-Auth header
  /** First wait before redialling; doubles (with jitter) up to reconnect_max_delay. */
  reconnect_delay: number; // ms, default 1000 (nats-server's leafnode reconnect interval)
  reconnect_max_delay: number; // ms, default 10000
}

/** Monitoring HTTP (/healthz and friends); off unless present. */
export interface MonitorSection {
  host: string; // default "127.0.0.1"
  port: number;
  /** Pages of these origins may read the answers cross-origin (CORS); none by default. */
  allowed_origins: string[]; // default []
  /** Host names answered besides loopback names, IP literals, the listener's host and the machine's name (DNS rebinding). */
  allowed_hosts: string[]; // default []
  /** HTTP connections served at once; past it, 503 (a few more are dropped at accept). */
  max_connections: number; // default 128
}

export interface GatewayConfig {
  gateway: GatewaySection;
  websocket?: WebsocketSection;
  tls: TlsSection;
  auth: AuthSection;
  upstream: UpstreamSection;
  monitor?: MonitorSection;
  log: LogSection;
}

/** What resolveGatewayConfig takes: any subset of each section (durations and sizes also as text, a list as one string), validated and completed like a TOML file. */
export type GatewayConfigInput = ConfigInput<GatewayConfig>;
