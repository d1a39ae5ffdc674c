// Where the JetStream backend keeps what (jetstream/backend.ts, jetstream/sink-queue.ts): one stream of events,
// one of dead letters, a durable consumer per sink, and the headers each message carries. Subjects are under
// `eventstore.<STREAM>.`, never under `events.>`: a client publishing there must go through the intake's checks.

/** [store] stream default. */
export const DEFAULT_STREAM = 'EVENTS';

/** A subject token for an event id (ids may hold any character): base64url, which subjects allow. */
export function idToken(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export interface StreamLayout {
  /** The events stream: `[store] stream`. */
  readonly stream: string;
  /** Its subjects: events and replay copies. */
  readonly subjects: readonly string[];
  /** The dead letters stream: `<stream>_DEAD`. */
  readonly deadStream: string;
  readonly deadSubjects: readonly string[];
  /** An event: one subject per id, so `get(id)` is a last-by-subject read. */
  event(id: string): string;
  /** Filter for events only (the feed skips replay copies). */
  readonly eventFilter: string;
  /** A dead letter's copy made owed again to `sink` by a replay. */
  replay(sink: string, id: string): string;
  /** A dead letter of `sink`. */
  dead(sink: string, id: string): string;
  /** Filter for one sink's dead letters. */
  deadFilter(sink: string): string;
  /** A sink's durable consumer on the events stream. */
  durable(sink: string): string;
}

export function streamLayout(stream: string = DEFAULT_STREAM): StreamLayout {
  const base = `eventstore.${stream}`;
  return {
    stream,
    subjects: [`${base}.e.*`, `${base}.r.*.*`],
    deadStream: `${stream}_DEAD`,
    deadSubjects: [`${base}.d.*.*`],
    event: (id) => `${base}.e.${idToken(id)}`,
    eventFilter: `${base}.e.*`,
    replay: (sink, id) => `${base}.r.${sink}.${idToken(id)}`,
    dead: (sink, id) => `${base}.d.${sink}.${idToken(id)}`,
    deadFilter: (sink) => `${base}.d.${sink}.*`,
    durable: (sink) => `${stream}_${sink}`,
  };
}

/** Headers on the messages (beside JetStream's own Nats-Msg-Id, the event id on an event). */
export const HEADERS = Object.freeze({
  /** The event's type. */
  type: 'Event-Type',
  /** Comma-separated sinks the event was routed to at intake (a replay copy: the one sink). */
  sinks: 'Event-Sinks',
  /** The event's id (replay copies and dead letters). */
  id: 'Event-Id',
  /** The event's own stream sequence (replay copies and dead letters): Delivery.seq, DeliveryRecord.seq. */
  seq: 'Event-Seq',
  /** Epoch ms the event was first stored (replay copies and dead letters). */
  storedAt: 'Event-Stored-At',
  /** A dead letter's last error and its failed attempts. */
  error: 'Dead-Error',
  attempts: 'Dead-Attempts',
});
