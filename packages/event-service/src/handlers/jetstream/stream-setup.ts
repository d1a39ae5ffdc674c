// The streams the JetStream backend keeps, created at open or checked when they exist: the events stream and the
// dead letters stream (layout.ts names both). An existing stream with other settings is never changed by the
// service: its settings may be someone's decision (a larger replica count, a longer max_age), and some changes
// (storage, subjects) would lose or hide events. The error names each difference and how to resolve it.
import { DiscardPolicy, nanos, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from 'nats';
import { JetStreamStoreError } from './connection.js';
import type { StreamLayout } from './layout.js';
import type { JetStreamStoreConfig } from './store-config.js';

/** The settings the service wants, and those it compares with an existing stream. */
export type WantedStream = Pick<
  StreamConfig,
  | 'name'
  | 'subjects'
  | 'storage'
  | 'num_replicas'
  | 'retention'
  | 'max_age'
  | 'max_bytes'
  | 'max_msgs'
  | 'discard'
  | 'duplicate_window'
>;

/** The events stream as `[store]` describes it. */
export function eventsStream(layout: StreamLayout, config: JetStreamStoreConfig): WantedStream {
  return {
    name: layout.stream,
    subjects: [...layout.subjects],
    storage: StorageType.File,
    num_replicas: config.replicas,
    // Limits: messages stay after every consumer acked them (the feed reads them; interest or work-queue retention
    // would delete an event once delivered).
    retention: RetentionPolicy.Limits,
    max_age: nanos(config.maxAgeMs),
    max_bytes: config.maxBytes ?? -1,
    max_msgs: -1,
    // An accepted event must never be dropped to make room for a new one (discard: old would delete the oldest,
    // delivered to its sinks or not): a full stream refuses new events instead, and the publisher is told.
    discard: DiscardPolicy.New,
    // Nats-Msg-Id duplicates inside the window are answered by the PubAck itself (`duplicate: true`, the first
    // copy's seq), whatever their routing; older ids are caught by the expected-last-subject-sequence check when
    // their routing is the same (backend.ts append). So the window need only cover a client's retries of one
    // request (and a routing change by a reload between them), not the whole life of an id.
    duplicate_window: nanos(config.duplicateWindowMs),
  };
}

/**
 * The dead letters stream: as durable as the events (same replicas), kept until replayed or removed by hand, so no
 * age limit; bounded like the events stream, refusing rather than dropping.
 */
export function deadLettersStream(layout: StreamLayout, config: JetStreamStoreConfig): WantedStream {
  return {
    ...eventsStream(layout, config),
    name: layout.deadStream,
    subjects: [...layout.deadSubjects],
    max_age: 0,
  };
}

/** A stream create unanswered within request_timeout is asked about again this many times in all. */
const CREATE_TRIES = 3;

/**
 * Creates the stream, or checks an existing one has the wanted settings; JetStreamStoreError otherwise. Creating a
 * replicated stream elects its raft group, which on a loaded cluster can outlast request_timeout: a create that got
 * no answer is asked again (the stream is then found made, or made now; an identical create is not an error).
 */
export async function ensureStream(jsm: JetStreamManager, want: WantedStream): Promise<'created' | 'checked'> {
  for (let tries = 1; ; tries++) {
    try {
      return await ensureStreamOnce(jsm, want);
    } catch (err) {
      if (tries >= CREATE_TRIES || !unanswered(err)) throw err;
    }
  }
}

/** A refusal whose cause is the request's timeout (nats.js NatsError code TIMEOUT): no answer, not a no. */
function unanswered(err: unknown): boolean {
  return err instanceof JetStreamStoreError && (err.cause as { code?: unknown } | undefined)?.code === 'TIMEOUT';
}

async function ensureStreamOnce(jsm: JetStreamManager, want: WantedStream): Promise<'created' | 'checked'> {
  let have: StreamConfig;
  try {
    have = (await jsm.streams.info(want.name)).config;
  } catch (err) {
    if ((err as { api_error?: { err_code?: number } }).api_error?.err_code !== STREAM_NOT_FOUND)
      throw refused(want, err);
    try {
      await jsm.streams.add(want);
      return 'created';
    } catch (addErr) {
      // Another instance created it meanwhile: check that one.
      if ((addErr as { api_error?: { err_code?: number } }).api_error?.err_code !== STREAM_NAME_IN_USE)
        throw refused(want, addErr);
      have = (await jsm.streams.info(want.name)).config;
    }
  }
  const diffs = differences(want, have);
  if (diffs.length > 0) {
    throw new JetStreamStoreError(
      'EJETSTREAM_STREAM',
      `store.stream: the stream ${JSON.stringify(want.name)} exists with other settings: ${diffs.join('; ')}. The service never changes an existing stream: set [store] to match it, change the stream yourself (nats stream edit ${want.name}), or name another stream with [store] stream`,
    );
  }
  return 'checked';
}

// nats-server errors.json: JSStreamNotFoundErr, JSStreamNameExistErr.
const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

function refused(want: WantedStream, err: unknown): JetStreamStoreError {
  const e = err as Error & { api_error?: { code: number; err_code: number; description: string } };
  const why = e.api_error ? `${e.api_error.description} (${e.api_error.err_code})` : e.message;
  const hint =
    e.api_error?.err_code === INSUFFICIENT_RESOURCES
      ? `: [store] replicas = ${want.num_replicas} needs that many JetStream nodes in the cluster, and max_bytes must fit their storage`
      : '';
  return new JetStreamStoreError(
    'EJETSTREAM_STREAM',
    `store.stream: JetStream refused the stream ${JSON.stringify(want.name)}: ${why}${hint}`,
    { cause: err },
  );
}

// nats-server errors.json: JSInsufficientResourcesErr.
const INSUFFICIENT_RESOURCES = 10023;

/** Each wanted setting the existing stream does not have, as `key is X, [store] wants Y (setting)`. */
function differences(want: WantedStream, have: StreamConfig): string[] {
  const out: string[] = [];
  const diff = (key: string, h: unknown, w: unknown, setting: string) => {
    if (JSON.stringify(h) !== JSON.stringify(w)) out.push(`${key} is ${show(h)}, wanted ${show(w)} (${setting})`);
  };
  diff('subjects', [...(have.subjects ?? [])].sort(), [...want.subjects].sort(), 'the stream layout of this version');
  diff('storage', have.storage, want.storage, 'events are kept on disk');
  diff('num_replicas', have.num_replicas, want.num_replicas, '[store] replicas');
  diff('retention', have.retention, want.retention, 'events stay after delivery, for the feed');
  diff('max_age', have.max_age, want.max_age, `[store] max_age, in ns${want.max_age === 0 ? ': 0 is unlimited' : ''}`);
  diff('max_bytes', have.max_bytes, want.max_bytes, '[store] max_bytes, -1 is unlimited');
  diff('max_msgs', have.max_msgs, want.max_msgs, 'no message count limit');
  diff('discard', have.discard, want.discard, 'a full stream refuses new events, never drops accepted ones');
  diff('duplicate_window', have.duplicate_window, want.duplicate_window, '[store] duplicate_window, in ns');
  return out;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
