// The values of the settings whose decoders are written by hand (a users list, leaf users, a sink): the decoder
// produces them, so their types are written here, once, for the decoders and their readers alike. Every other
// configuration type is derived from the schema (config-types.ts); these sit apart so the decoders, which the
// schema imports, can use them without an import cycle.

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

/** One entry of `[[leafnodes.authorization.users]]` (config.ts leafUsers). */
export interface LeafUser {
  /** A user name; with tls.verify_and_map, a certificate identity: an email, DNS or URI SAN, or the subject DN ("CN=gw,O=acme"). */
  user: string;
  /** Required unless tls.verify_and_map admits the user by certificate alone; then, if set, the CONNECT must carry it too. */
  password?: string;
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
  /** [1] POSTs pipelined on the one connection of an in-order sink (HTTP/1.1 pipelining; sinks/http.ts). */
  pipelining?: number;
  // Issue 14: mutual TLS, backoff, rate limit, attribute matchers (sink-config.ts decodes them).
  /** [system CAs] PEM CA bundle an https/grpcs receiver's certificate must chain to (absolute path). */
  ca_path?: string;
  /** [none] PEM client certificate (and key_path) presented to the receiver: mutual TLS. Both or neither. */
  cert_path?: string;
  key_path?: string;
  /** [500 ms, 60 s] Retry backoff: attempt n waits a random time in [0, min(max_ms, base_ms * 2^(n-1))]. */
  backoff?: { base_ms: number; max_ms: number };
  /** [unlimited] Deliveries (events) per second, on average, with `burst` at once. */
  rate?: number;
  /** [rate, at least 1] Events a sink may send at once before `rate` paces it. */
  burst?: number;
  /** [none] Attribute matchers, all of which an event must satisfy (besides `filter`) to be routed to the sink. */
  match?: SinkMatch;
}

/**
 * Attribute matchers of a sink (`[sinks.NAME.match]`): each present list must contain the event's value (producer:
 * `producer.id`; authid: the verified `authid`), or for tags and projects share at least one value with the event's.
 */
export interface SinkMatch {
  producer?: string[];
  tags?: string[];
  projects?: string[];
  authid?: string[];
}
