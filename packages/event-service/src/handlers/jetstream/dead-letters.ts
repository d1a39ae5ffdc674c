// A JetStream backend's dead letters (EventBackend.deadLetters, replay, sinkCounts): each one a message of the dead
// stream (layout.dead(sink, id)) carrying the event's body and, in headers, its id, sequence, type, when it was
// stored, the last error and the attempts made (sink-queue.ts dead() writes them). A replay makes it owed again as a
// replay copy on the events stream (layout.replay(sink, id)), which the sink's consumer delivers like an event.
import { headers as natsHeaders } from 'nats';
import type { JsMsg } from 'nats';
import type { DeliveryRecord } from '../event-backend.js';
import type { JetStreamDeps } from './deps.js';
import { HEADERS } from './layout.js';

/** How long reading the dead letters waits for them (they are stored: they come at once). */
const READ_MS = 5000;

/** A dead letter as read, with its place in the dead stream (for the replay's delete). */
interface DeadLetter {
  record: DeliveryRecord;
  deadSeq: number;
  storedAt: number;
}

/** Dead letters oldest event first (then by sink), optionally one sink's, after event sequence `after`. */
export async function deadLetters(
  deps: JetStreamDeps,
  opts: { sink?: string; after?: number; limit?: number } = {},
): Promise<DeliveryRecord[]> {
  const after = opts.after ?? 0;
  const all = await readDead(deps, opts.sink);
  return all
    .filter((d) => d.record.seq > after)
    .sort(byEventThenSink)
    .slice(0, opts.limit ?? 100)
    .map((d) => d.record);
}

/**
 * Makes a sink's dead letters (all, or those of the given event ids) owed to it again, due now: each is copied to
 * the events stream, then deleted from the dead stream. A crash between the two leaves the dead letter listed while
 * its copy is owed: replayed again, it is delivered once more at worst, never lost. Returns how many.
 */
export async function replay(deps: JetStreamDeps, sink: string, ids?: readonly string[]): Promise<number> {
  const { js, jsm, layout } = deps;
  const wanted = ids === undefined ? undefined : new Set(ids);
  const letters = (await readDead(deps, sink)).filter((d) => wanted === undefined || wanted.has(d.record.id));
  letters.sort(byEventThenSink);
  let n = 0;
  try {
    for (const d of letters) {
      const h = natsHeaders();
      h.set(HEADERS.sinks, sink);
      h.set(HEADERS.id, d.record.id);
      h.set(HEADERS.seq, String(d.record.seq));
      h.set(HEADERS.type, d.record.type);
      h.set(HEADERS.storedAt, String(d.storedAt));
      await js.publish(layout.replay(sink, d.record.id), d.record.body, { headers: h });
      await jsm.streams.deleteMessage(layout.deadStream, d.deadSeq, false);
      n++;
    }
  } finally {
    if (n > 0) deps.settled();
  }
  return n;
}

/**
 * A sink's deliveries owed (its consumer's messages not yet delivered plus those claimed and not settled) and its
 * dead letters. Exact: the consumer's filter is the sink's routing slot (layout.ts), so it counts only its own.
 */
export async function sinkCounts(deps: JetStreamDeps, sink: string): Promise<{ pending: number; dead: number }> {
  const { jsm, layout } = deps;
  let pending = 0;
  try {
    const ci = await jsm.consumers.info(layout.stream, layout.durable(sink));
    pending = ci.num_pending + ci.num_ack_pending;
  } catch (err) {
    // No consumer yet (the sink never ran): everything routed to it is owed, but nothing is counted until it runs.
    if (!(err as Error).message.includes('consumer not found')) throw err;
  }
  return { pending, dead: await deadCount(deps, layout.deadFilter(sink)) };
}

/** The dead stream's messages on `filter`. */
async function deadCount(deps: JetStreamDeps, filter: string): Promise<number> {
  const si = await deps.jsm.streams.info(deps.layout.deadStream, { subjects_filter: filter });
  let n = 0;
  for (const count of Object.values(si.state.subjects ?? {})) n += count;
  return n;
}

/** Every dead letter (of one sink, or all), in dead-stream order, read by an ordered consumer. */
async function readDead(deps: JetStreamDeps, sink: string | undefined): Promise<DeadLetter[]> {
  const { js, layout } = deps;
  const filter = sink === undefined ? layout.deadSubjects[0]! : layout.deadFilter(sink);
  const total = await deadCount(deps, filter);
  if (total === 0) return [];
  const consumer = await js.consumers.get(layout.deadStream, { filterSubjects: filter });
  const iter = await consumer.fetch({ max_messages: total, expires: READ_MS });
  const out: DeadLetter[] = [];
  for await (const m of iter) {
    out.push(toDeadLetter(m, sink ?? sinkOf(m.subject)));
    // Dead letters replayed meanwhile make fewer than counted: stop at the last rather than wait.
    if (m.info.pending === 0) break;
  }
  return out;
}

function toDeadLetter(m: JsMsg, sink: string): DeadLetter {
  const h = m.headers;
  const get = (name: string) => h?.get(name) ?? '';
  const record: DeliveryRecord = {
    sink,
    seq: Number(get(HEADERS.seq)),
    id: get(HEADERS.id),
    type: get(HEADERS.type),
    body: m.string(),
    state: 'dead',
    attempts: Number(get(HEADERS.attempts)) || 0,
    // When it was dead-lettered: no attempt is due before a replay.
    nextAttemptAt: Math.floor(m.info.timestampNanos / 1e6),
    ...(get(HEADERS.error) !== '' && { lastError: get(HEADERS.error) }),
  };
  return { record, deadSeq: m.info.streamSequence, storedAt: Number(get(HEADERS.storedAt)) || 0 };
}

/** The sink of a dead letter's subject `eventstore.<stream>.d.<sink>.<id>`. */
function sinkOf(subject: string): string {
  const parts = subject.split('.');
  return parts[parts.length - 2] ?? '';
}

function byEventThenSink(a: DeadLetter, b: DeadLetter): number {
  if (a.record.seq !== b.record.seq) return a.record.seq - b.record.seq;
  return a.record.sink < b.record.sink ? -1 : a.record.sink > b.record.sink ? 1 : 0;
}
