// A group of events as handed to the store writer's thread (store-writer.ts): one flat array of its fields and a
// table of its sink lists, rather than an object per event. postMessage's structured clone writes and reads every
// object's property names; flat, a group of 250 1 KiB events costs ~1.5 us an event less over both threads (packing
// and unpacking included). One big string for the group measured slower than either (bench/RESULTS.md).
import type { AppendResult, FeedColumns, NewEvent } from './event-store.js';

/** Slots per event: id, type, body, sink list index, has columns (1/0), producer, actor, authid, authtype. */
const SLOTS = 9;

export interface PackedEvents {
  fields: (string | number | null)[];
  /** The distinct sink lists of the group. */
  sinks: (readonly string[])[];
}

export function packEvents(events: readonly NewEvent[]): PackedEvents {
  // Pushed, not preallocated: a holey array is cloned element by element as a sparse one, and read back as a
  // dictionary.
  const fields: (string | number | null)[] = [];
  const sinks: (readonly string[])[] = [];
  // By content (routing makes a list per event), the names joined; a list found is compared, so a name holding the
  // separator cannot stand for another list.
  const index = new Map<string, number>();
  for (const e of events) {
    const key = e.sinks.join('\0');
    let s = index.get(key);
    if (s === undefined || !sameList(sinks[s]!, e.sinks)) {
      s = sinks.push(e.sinks) - 1;
      index.set(key, s);
    }
    const c = e.columns;
    fields.push(
      e.id,
      e.type,
      e.body,
      s,
      c === undefined ? 0 : 1,
      c?.producer ?? null,
      c?.actor ?? null,
      c?.authid ?? null,
      c?.authtype ?? null,
    );
  }
  return { fields, sinks };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function unpackEvents(packed: PackedEvents): NewEvent[] {
  const { fields: f, sinks } = packed;
  const events: NewEvent[] = [];
  for (let at = 0; at < f.length; at += SLOTS) {
    const columns: FeedColumns | undefined =
      f[at + 4] === 1
        ? {
            producer: f[at + 5] as string | null,
            actor: f[at + 6] as string | null,
            authid: f[at + 7] as string | null,
            authtype: f[at + 8] as string | null,
          }
        : undefined;
    events.push({
      id: f[at] as string,
      type: f[at + 1] as string,
      body: f[at + 2] as string,
      sinks: sinks[f[at + 3] as number]!,
      ...(columns !== undefined && { columns }),
    });
  }
  return events;
}

/**
 * A group's results as the writer's thread answers them: per event its sequence, negated for a duplicate, 0 for an
 * event refused alone (its reason next in `errors`). The ids are the events', which the main thread holds.
 */
export interface PackedResults {
  seqs: number[];
  errors: string[];
}

export function packResults(results: readonly AppendResult[]): PackedResults {
  const seqs: number[] = [];
  const errors: string[] = [];
  for (const r of results) {
    if (r.error !== undefined) {
      seqs.push(0);
      errors.push(r.error);
    } else seqs.push(r.duplicate ? -r.seq : r.seq);
  }
  return { seqs, errors };
}

export function unpackResults(events: readonly { id: string }[], packed: PackedResults): AppendResult[] {
  let error = 0;
  return packed.seqs.map((seq, i) => {
    const id = events[i]!.id;
    if (seq === 0) return { id, seq: 0, duplicate: false, error: packed.errors[error++]! };
    return seq < 0 ? { id, seq: -seq, duplicate: true } : { id, seq, duplicate: false };
  });
}
