// Waiting on messages that cross asynchronously (a leafnode link, a gateway): probe until interest has crossed,
// then fence instead of sleeping. NATS keeps one publisher's order along one path, so once a marker published
// after a burst has arrived, everything of the burst that travels that path has arrived too, and anything that
// should not have crossed would have shown by then. Structural types only: any client's subscription fits.
import { WAIT_MS, pace, until } from './wait.js';

/** How often `untilFlows` publishes its probe while interest has not crossed yet. */
const PROBE_EVERY_MS = 50;

let counter = 0;
/** A subject prefix no other test in the process uses, so tests can share a server. */
export function uniqueSubject(tag: string): string {
  return `t${process.pid}.${++counter}.${tag}`;
}

/** Publishes (a probe) until `received()` says one arrived: interest crosses asynchronously, so probe, bounded. */
export async function untilFlows(
  publish: () => void,
  received: () => boolean,
  what: string,
  ms = WAIT_MS,
): Promise<void> {
  const end = Date.now() + ms;
  while (!received()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    publish();
    await pace(PROBE_EVERY_MS);
  }
}

/** What a fence looks for: a payload as text, or a message that gives it (`nats`'s Msg). */
export type Arrival = string | { string(): string };

/**
 * Publishes one marker with `publish` and waits until it is in every list of `lists` (an entry equal to it, or
 * ending with `:marker` for lists that prefix who got it), then takes it out of them again, so they hold only
 * what the test sent. What the same publisher sent before along the same paths has arrived by then. Interest in
 * the marker's subject must already have crossed (untilFlows): it is published once.
 */
export async function fence(
  publish: (marker: string) => void,
  lists: Arrival[] | Arrival[][],
  what: string,
  ms = WAIT_MS,
): Promise<void> {
  const all = (lists.length > 0 && Array.isArray(lists[0]) ? lists : [lists]) as Arrival[][];
  const marker = `fence-${process.pid}-${++counter}`;
  const at = (list: Arrival[]) =>
    list.findIndex((e) => {
      const s = typeof e === 'string' ? e : e.string();
      return s === marker || s.endsWith(`:${marker}`);
    });
  publish(marker);
  await until(() => all.every((l) => at(l) >= 0), `${what} (the fence arrives)`, ms);
  for (const l of all) l.splice(at(l), 1);
}

/** The payloads a subscription receives, as text, in arrival order (a `nats` Subscription fits). */
export function collect(sub: AsyncIterable<{ data: Uint8Array }>): string[] {
  const got: string[] = [];
  const text = new TextDecoder();
  void (async () => {
    for await (const m of sub) got.push(text.decode(m.data));
  })();
  return got;
}
