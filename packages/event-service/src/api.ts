// The embedded API's public types: what a Node service sees when it runs the event service in-process.
// Kept apart from the implementation so tests, the CLI and other packages can depend on the shape alone.
import type { PublisherHandle } from '@event-broker/shared';
import type { ServiceConfig } from './config-types.js';
import type { RemoteStatus } from './leafnode/remotes.js';

/** Message headers as NATS carries them: case-preserving names, each with one or more values. */
export type MsgHeaders = Record<string, string | string[]>;

/** A message delivered to an in-process subscriber. `data` is shared with other subscribers: do not mutate it. */
export interface Msg {
  readonly subject: string;
  readonly reply?: string;
  readonly headers?: MsgHeaders;
  readonly data: Uint8Array;
  /** The subscription's sid within the embedded connection. */
  readonly sid: number;
  /** The NATS status code when the message is a status (503 = no responders). */
  readonly status?: number;
  /** Decodes the payload as UTF-8. */
  string(): string;
  /** Parses the payload as JSON. */
  json<T = unknown>(): T;
  /** Publishes `data` to this message's reply subject; false when there is none. */
  respond(data?: Uint8Array | string, opts?: { headers?: MsgHeaders }): boolean;
  /**
   * Who published it, for flow control: pausing stops reading from that publisher's socket (a network client) until
   * resumed. In-process publishers are not paused (the handle is a no-op for them).
   */
  readonly publisher: PublisherHandle;
}

/** Who published a message (flow control); the broker core's type, re-exported for embedders. */
export type { PublisherHandle } from '@event-broker/shared';

export interface PublishOptions {
  reply?: string;
  headers?: MsgHeaders;
}

export interface SubscribeOptions {
  queue?: string;
  /** Unsubscribe automatically after this many messages. */
  max?: number;
  /** Called synchronously for each message; without it, iterate the subscription. */
  callback?: (msg: Msg) => void;
}

export interface Subscription extends AsyncIterable<Msg> {
  readonly subject: string;
  readonly queue?: string;
  readonly sid: number;
  /** Messages delivered so far. */
  readonly received: number;
  unsubscribe(max?: number): void;
  readonly closed: Promise<void>;
}

export interface RequestOptions {
  timeoutMs?: number;
  headers?: MsgHeaders;
}

/** Live figures of a running service. */
export interface ServiceStats {
  connections: number;
  total_connections: number;
  /**
   * Users' subscriptions alive in the whole service (network and in-process), with the credit granted to gateways
   * for their clients' subscriptions: what listener_limit bounds.
   */
  listeners: number;
  listener_limit: number;
  /** Listener credit granted to gateways (part of `listeners`). */
  listener_credit: number;
  /** The service's own subscriptions (intake, feed, responders): never counted as listeners. */
  system_subscriptions: number;
  /** The most events held for the handlers at once. */
  event_limit: number;
  /** Events held for the handlers now (0 without [store] or [handlers]); never above event_limit. */
  events_held: number;
  /** Room under event_limit granted to gateways as credit and not yet used. */
  events_reserved: number;
  in_msgs: number;
  in_bytes: number;
  out_msgs: number;
  out_bytes: number;
  slow_consumers: number;
}

/** A running event service, as `startEventService` returns it. */
export interface EventService {
  /** The client port actually bound (meaningful when the config asked for port 0). */
  readonly port: number;
  readonly host: string;
  /** The WebSocket port actually bound, when [websocket] is configured. */
  readonly websocketPort?: number;
  /** The monitoring HTTP port actually bound, when [monitor] is configured. */
  readonly monitorPort?: number;
  /** The leafnode port actually bound, when [leafnodes] is configured. */
  readonly leafnodePort?: number;
  readonly serverId: string;
  /** The resolved configuration in force (defaults filled, durations in ms, sizes in bytes). */
  readonly config: Readonly<ServiceConfig>;
  stats(): ServiceStats;
  /**
   * Each [[leafnodes.remotes]] link: URL, state, what the hub's leaf INFO announced (`hub.jetstream`, `hub.domain`)
   * and the latest failure; empty without remotes.
   */
  remotes(): readonly RemoteStatus[];
  publish(subject: string, data?: Uint8Array | string, opts?: PublishOptions): void;
  subscribe(subject: string, opts?: SubscribeOptions): Subscription;
  /** Resolves with the first reply; rejects with code 503 when nobody listens, or on timeout. */
  request(subject: string, data?: Uint8Array | string, opts?: RequestOptions): Promise<Msg>;
  /** Stops accepting, flushes what clients were sent, closes every connection. */
  close(): Promise<void>;
}

/**
 * `startEventService(config, { clientPort: false })`: the service for a program that wants the broker inside its
 * own process only. No client port is opened, so the handle has no `port` or `host`; the rest is EventService's.
 */
export type InProcessEventService = Omit<EventService, 'port' | 'host'>;
