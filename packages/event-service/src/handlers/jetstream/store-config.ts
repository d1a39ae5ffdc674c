// The `[store]` settings of the JetStream backend (config.ts declares them): the names they accept, the check that
// keeps each backend's keys to that backend, and the defaults the backend fills in. Opening the stream is
// stream-setup.ts's.
import { resolve } from 'node:path';
import type { CheckContext } from '@event-broker/shared';
import { DEFAULT_STREAM } from './layout.js';

/** `[store] path`'s default: data/events.db under the directory the service started in. */
export const DEFAULT_STORE_PATH = resolve('data', 'events.db');

// A stream name is also a subject token (eventstore.<STREAM>.e.*, layout.ts) and part of consumer and file names
// (nats-server refuses `.`, `*`, `>`, path separators and white space in them): letters, digits, `_` and `-` are
// safe everywhere. 64 leaves room for `<stream>_DEAD` and `<stream>_<sink>` under nats-server's name limits.
export const STREAM_NAME = {
  test: /^[A-Za-z0-9_-]{1,64}$/,
  reason: 'must be 1 to 64 letters, digits, "_" or "-" (a JetStream stream name and a subject token)',
};
/** A JetStream domain is a subject token too ($JS.<domain>.API). */
export const DOMAIN_NAME = {
  test: /^[A-Za-z0-9_-]{1,64}$/,
  reason: 'must be 1 to 64 letters, digits, "_" or "-" (a JetStream domain, as in jetstream { domain })',
};

/**
 * `[store] duplicate_window`'s default: nats-server's own (2 minutes), or max_age when that is shorter (JetStream
 * refuses a window longer than the stream's max_age, and shortens its own default the same way).
 */
export const DEFAULT_DUPLICATE_WINDOW_MS = 2 * 60_000;

/** `[store] ack_wait`'s default: how long a claim may go unsettled before JetStream hands it to another instance. */
export const DEFAULT_ACK_WAIT_MS = 30_000;

/** Milliseconds a JetStream request (PubAck included) may take: nats.js's own default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** The `[store]` section as config.ts declares it (written out here: config.ts imports this module). */
export interface StoreSettings {
  path: string;
  backend: 'sqlite' | 'jetstream';
  stream?: string;
  replicas?: number;
  max_age?: number;
  max_bytes?: number;
  domain?: string;
  request_timeout?: number;
  duplicate_window?: number;
  ack_wait?: number;
}

/** What the JetStream backend uses, defaults filled in. */
export interface JetStreamStoreConfig {
  stream: string;
  replicas: number;
  /** ms; 0: no age limit. */
  maxAgeMs: number;
  /** undefined: no size limit. */
  maxBytes: number | undefined;
  /** `[store] domain`; undefined: the hub's announced one, else none (backend.ts chooseDomain). */
  domain: string | undefined;
  requestTimeoutMs: number;
  /** The streams' duplicate window, ms: a retry of an id within it is answered as a duplicate whatever its routing. */
  duplicateWindowMs: number;
  /** The sinks' consumers' ack wait, ms: how soon a crashed instance's claims go to another instance. */
  ackWaitMs: number;
}

const JETSTREAM_ONLY = [
  'stream',
  'replicas',
  'max_age',
  'max_bytes',
  'domain',
  'request_timeout',
  'duplicate_window',
  'ack_wait',
] as const;

/** The section's cross-key check: the JetStream keys only with backend = "jetstream", `path` only with sqlite. */
export function checkStoreBackend(store: StoreSettings, ctx: CheckContext): void {
  if (store.backend === 'sqlite') {
    for (const key of JETSTREAM_ONLY) {
      if (store[key] !== undefined) {
        ctx.report(
          [key],
          'ECONFIG_VALUE',
          'is a JetStream setting, unused by backend = "sqlite": set backend = "jetstream" or remove it',
        );
      }
    }
    return;
  }
  // Only a path other than the default can have been written: the default is what an absent key gives.
  if (store.path !== DEFAULT_STORE_PATH) {
    ctx.report(
      ['path'],
      'ECONFIG_VALUE',
      'is the SQLite file, unused by backend = "jetstream" (events go to the stream): remove it, or set backend = "sqlite"',
    );
  }
  // nats-server refuses a stream whose duplicate window is longer than its max_age.
  const maxAge = store.max_age ?? 0;
  if (store.duplicate_window !== undefined && maxAge > 0 && store.duplicate_window > maxAge) {
    ctx.report(
      ['duplicate_window'],
      'ECONFIG_RANGE',
      `must not exceed max_age (${maxAge} ms): JetStream refuses a duplicate window longer than the events are kept, got ${store.duplicate_window} ms`,
    );
  }
}

/** The JetStream backend's settings from a `[store]` section (absent keys: their defaults). */
export function jetStreamStoreConfig(store: Omit<StoreSettings, 'path' | 'backend'> = {}): JetStreamStoreConfig {
  return {
    stream: store.stream ?? DEFAULT_STREAM,
    replicas: store.replicas ?? 1,
    maxAgeMs: store.max_age ?? 0,
    maxBytes: store.max_bytes,
    domain: store.domain,
    requestTimeoutMs: store.request_timeout ?? DEFAULT_REQUEST_TIMEOUT_MS,
    duplicateWindowMs:
      store.duplicate_window ??
      (store.max_age !== undefined && store.max_age > 0
        ? Math.min(store.max_age, DEFAULT_DUPLICATE_WINDOW_MS)
        : DEFAULT_DUPLICATE_WINDOW_MS),
    ackWaitMs: store.ack_wait ?? DEFAULT_ACK_WAIT_MS,
  };
}
