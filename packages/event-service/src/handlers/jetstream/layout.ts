// Where the JetStream backend keeps what (jetstream/backend.ts, jetstream/sink-queue.ts): one stream of events,
// one of dead letters, a durable consumer per sink, and the headers each message carries. Subjects are under
// `eventstore.<STREAM>.`, never under `events.>`: a client publishing there must go through the intake's checks.
//
// Routing is in the subject, so each sink's consumer sees exactly what it owes: an event's subject carries one token
// per sink slot, `1` when the event is routed to that sink and `0` when not, in SINK_SLOTS order, then its id:
// `eventstore.<S>.e.<feed>.<cfgingest>.<event_feed>.<id>`. A replay copy made owed again to one sink has that
// sink's slot alone set: `eventstore.<S>.r.0.1.0.<id>`. A sink's consumer filters on its slot (nats-server 2.9 has
// one filter subject per consumer): `eventstore.<S>.*.1.*.*.*` for feed, events and replay copies alike, so its
// num_pending counts its own backlog and no message of another sink is pulled and skipped.
//
// Named sinks (a later issue) would take slots after the handlers', in an order every instance agrees on (kept with
// the stream, e.g. in its description, never derived from one instance's config): a slot more is a token more, so
// the stream's subjects, the sinks' filters and get's lookups change with it. That is a new layout; the stream check
// (stream-setup.ts) refuses a stream of another layout by its subjects, so the change comes with a migration.

/** [store] stream default. */
export const DEFAULT_STREAM = 'EVENTS';

/**
 * The sinks with a routing slot, in slot order: the handlers, as sink-config.ts HANDLER_DEFAULT_FILTERS lists them
 * (test/jetstream-layout.test.ts checks they agree). Part of every stored subject: never reorder it.
 */
export const SINK_SLOTS = Object.freeze(['feed', 'cfgingest', 'event_feed'] as const);

/** Every routing of an event (2^slots of them), as its slot tokens: what get(id) looks up. */
export const ROUTINGS: readonly string[] = Array.from({ length: 2 ** SINK_SLOTS.length }, (_, n) =>
  SINK_SLOTS.map((_s, i) => ((n >> i) & 1 ? '1' : '0')).join('.'),
);

/** A subject token for an event id (ids may hold any character): base64url, which subjects allow. */
export function idToken(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export interface StreamLayout {
  /** The events stream: `[store] stream`. */
  readonly stream: string;
  /**
   * Its subjects: events and replay copies, as one subject with the kind a wildcard (`e` or `r`): nats-server 2.9
   * accepts a consumer filter only when it is a subset of one of the stream's subjects, and a sink's filter spans both.
   */
  readonly subjects: readonly string[];
  /** The dead letters stream: `<stream>_DEAD`. */
  readonly deadStream: string;
  readonly deadSubjects: readonly string[];
  /** An event routed to `sinks`: one subject per id and routing. Throws on a sink without a slot. */
  event(id: string, sinks: readonly string[]): string;
  /** The subject an event with this id has under each possible routing (get(id) reads them: one holds it). */
  eventSubjects(id: string): string[];
  /** Filter for events only (the feed skips replay copies). */
  readonly eventFilter: string;
  /** A dead letter's copy made owed again to `sink` by a replay. Throws on a sink without a slot. */
  replay(sink: string, id: string): string;
  /** What `sink`'s consumer delivers: events routed to it and its replay copies. Throws on a sink without a slot. */
  sinkFilter(sink: string): string;
  /** A dead letter of `sink`. */
  dead(sink: string, id: string): string;
  /** Filter for one sink's dead letters. */
  deadFilter(sink: string): string;
  /** A sink's durable consumer on the events stream. */
  durable(sink: string): string;
  /**
   * A core NATS subject, in no stream: a replay of `sink`'s dead letters, announced by the instance that made it, so
   * every instance's stopped pump for that sink runs again (backend-sink.ts).
   */
  replayed(sink: string): string;
}

export function streamLayout(stream: string = DEFAULT_STREAM): StreamLayout {
  const base = `eventstore.${stream}`;
  const any = SINK_SLOTS.map(() => '*').join('.');
  const routing = (sinks: readonly string[]): string => {
    const slots = SINK_SLOTS.map(() => '0');
    for (const sink of sinks) slots[slotOf(sink)] = '1';
    return slots.join('.');
  };
  return {
    stream,
    subjects: [`${base}.*.${any}.*`],
    deadStream: `${stream}_DEAD`,
    deadSubjects: [`${base}.d.*.*`],
    event: (id, sinks) => `${base}.e.${routing(sinks)}.${idToken(id)}`,
    eventSubjects: (id) => ROUTINGS.map((r) => `${base}.e.${r}.${idToken(id)}`),
    // Not `e.>`: a filter must be a subset of a stream subject (`>` is not of `*.*.*.*.*`).
    eventFilter: `${base}.e.${any}.*`,
    replay: (sink, id) => `${base}.r.${routing([sink])}.${idToken(id)}`,
    sinkFilter: (sink) => {
      const slot = slotOf(sink);
      return `${base}.*.${SINK_SLOTS.map((_s, i) => (i === slot ? '1' : '*')).join('.')}.*`;
    },
    dead: (sink, id) => `${base}.d.${sink}.${idToken(id)}`,
    deadFilter: (sink) => `${base}.d.${sink}.*`,
    durable: (sink) => `${stream}_${sink}`,
    // Two tokens after the stream's name: neither stream's subjects (five and three tokens) take it.
    replayed: (sink) => `${base}.replayed.${sink}`,
  };
}

/** A sink's slot; a sink without one is a programming error (the handlers are the only sinks so far). */
function slotOf(sink: string): number {
  const slot = (SINK_SLOTS as readonly string[]).indexOf(sink);
  if (slot < 0)
    throw new Error(`JetStream layout: sink ${JSON.stringify(sink)} has no routing slot (${SINK_SLOTS.join(', ')})`);
  return slot;
}

/** Headers on the messages (beside JetStream's own Nats-Msg-Id, the event id on an event). */
export const HEADERS = Object.freeze({
  /** The event's type. */
  type: 'Event-Type',
  /**
   * Comma-separated sinks the event was routed to at intake (a replay copy: the one sink). The subject's slots are
   * what routes; a sink queue checks this too, as a safety net against messages not written by the backend.
   */
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
