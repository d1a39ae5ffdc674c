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
/** Dead letters asked for at once while reading: a request holds at most this many beside its page. */
export const DEAD_READ_CHUNK = 256;

/** A dead letter as read, with its place in the dead stream (for the replay's delete). */
interface DeadLetter {
  record: DeliveryRecord;
  deadSeq: number;
  storedAt: number;
}

/**
 * Dead letters oldest event first (then by sink), optionally one sink's, after event sequence `after`, `limit` of
 * them. The dead stream is in the order letters were made, and its subjects carry no event sequence, so the exact
 * order needs every dead letter of the sink (or of all) looked at: one pass over them, DEAD_READ_CHUNK at a time,
 * keeping only the page (the `limit` first so far; a letter that cannot be in it is not even decoded). Memory per
 * request is the page and a chunk; the time grows with the dead letters, which only a replay or an operator removes.
 */
export async function deadLetters(
  deps: JetStreamDeps,
  opts: { sink?: string; after?: number; limit?: number } = {},
): Promise<DeliveryRecord[]> {
  const after = opts.after ?? 0;
  const limit = opts.limit ?? 100;
  if (limit <= 0) return [];
  const page: DeadLetter[] = [];
  await scanDead(deps, opts.sink, (m) => {
    const seq = Number(m.headers?.get(HEADERS.seq) ?? '');
    if (!(seq > after)) return;
    const sink = opts.sink ?? sinkOf(m.subject);
    const key = { record: { seq, sink } };
    if (page.length === limit && byEventThenSink(key, page[limit - 1]!) >= 0) return;
    // Sorted insertion: after the last letter that sorts before or with it (a page is small).
    let at = page.length;
    while (at > 0 && byEventThenSink(key, page[at - 1]!) < 0) at--;
    page.splice(at, 0, toDeadLetter(m, sink));
    if (page.length > limit) page.pop();
  });
  return page.map((d) => d.record);
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
    if (n > 0) {
      deps.settled();
      // Every instance's pump for the sink, stopped by a 410 or not, hears of it (JetStreamSinkQueue.watchReplays).
      deps.nc.publish(layout.replayed(sink));
    }
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

/** Every dead letter (of one sink, or all), in dead-stream order (a replay takes them all). */
async function readDead(deps: JetStreamDeps, sink: string | undefined): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  await scanDead(deps, sink, (m) => out.push(toDeadLetter(m, sink ?? sinkOf(m.subject))));
  return out;
}

/** Hands each dead letter (of one sink, or all) to `visit` in dead-stream order: an ordered consumer, a chunk a pull. */
async function scanDead(deps: JetStreamDeps, sink: string | undefined, visit: (m: JsMsg) => void): Promise<void> {
  const { js, layout } = deps;
  const filter = sink === undefined ? layout.deadSubjects[0]! : layout.deadFilter(sink);
  // Counted first: a pull on an empty stream would wait READ_MS for nothing.
  if ((await deadCount(deps, filter)) === 0) return;
  const consumer = await js.consumers.get(layout.deadStream, { filterSubjects: filter });
  for (;;) {
    const iter = await consumer.fetch({ max_messages: DEAD_READ_CHUNK, expires: READ_MS });
    let got = 0;
    let last = false;
    for await (const m of iter) {
      got++;
      visit(m);
      // Dead letters replayed meanwhile make fewer than asked: stop at the last rather than wait.
      if (m.info.pending === 0) {
        last = true;
        break;
      }
      if (got === DEAD_READ_CHUNK) break;
    }
    if (last || got < DEAD_READ_CHUNK) return;
  }
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

function byEventThenSink(
  a: { record: { seq: number; sink: string } },
  b: { record: { seq: number; sink: string } },
): number {
  if (a.record.seq !== b.record.seq) return a.record.seq - b.record.seq;
  return a.record.sink < b.record.sink ? -1 : a.record.sink > b.record.sink ? 1 : 0;
}
