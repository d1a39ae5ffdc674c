// The load of the cluster tests: events requested on `events.<type>` with the official `nats` client, each once,
// round-robin over clients of different nodes, a bounded number in flight, and each outcome sorted: acknowledged
// (`{"id"}`, a success reply), refused (an error reply) or unanswered (timeout, no responders, connection lost).
// A hook runs once a given number is acknowledged (the kill in the middle), without pausing the load.
import { StringCodec, type NatsConnection } from 'nats';

const sc = StringCodec();

/** The catalogue types used: scanJob events go to both sinks of the tests, profile events to one. */
export const TYPES = ['scanJobCreated', 'profileCreated'] as const;
export type EventType = (typeof TYPES)[number];

export function envelope(id: string, type: EventType): string {
  return JSON.stringify({
    specversion: '1.0',
    id,
    source: '/cluster-test',
    type,
    producer: { id: 'cluster-test', name: 'cluster test', type: 'service' },
    data: { id },
  });
}

export interface LoadOptions {
  clients: readonly NatsConnection[];
  /** How many events; ids are `<prefix>-<n>`, types alternate over TYPES. */
  count: number;
  prefix: string;
  concurrency: number;
  /** Each request's own bound. */
  timeoutMs: number;
  /** The whole load's bound: requests not begun by then are not sent (counted as unsent). */
  deadlineMs: number;
  /** Stops sending once this many are unanswered (a cluster that stopped answering fails fast, not at the deadline). */
  maxUnanswered?: number;
  /** Runs once `acked` events are acknowledged; the load goes on meanwhile (awaited before load() resolves). */
  at?: { acked: number; run: () => Promise<void> };
}

export interface LoadResult {
  /** Acknowledged ids (a success reply), with whether the reply said duplicate. */
  acked: Map<string, { type: EventType; duplicate: boolean }>;
  /** Error replies: id → the reply. */
  refused: Map<string, string>;
  /** No reply: id → why. */
  unanswered: Map<string, string>;
  /** Never requested (the deadline or maxUnanswered came first). */
  unsent: number;
  /** When the hook ran (acked count then), if it did. */
  hookAt?: number;
  ms: number;
}

export function typeOf(n: number): EventType {
  return TYPES[n % TYPES.length]!;
}

/** Requests `count` events (bounded by `deadlineMs`) and sorts their outcomes. */
export async function load(opts: LoadOptions): Promise<LoadResult> {
  const started = Date.now();
  const result: LoadResult = { acked: new Map(), refused: new Map(), unanswered: new Map(), unsent: 0, ms: 0 };
  let next = 0;
  let hook: Promise<void> | undefined;
  const one = async (n: number) => {
    const id = `${opts.prefix}-${n}`;
    const type = typeOf(n);
    const nc = opts.clients[n % opts.clients.length]!;
    try {
      const m = await nc.request(`events.${type}`, sc.encode(envelope(id, type)), { timeout: opts.timeoutMs });
      const text = sc.decode(m.data);
      let reply: { id?: unknown; duplicate?: unknown; error?: unknown } = {};
      try {
        reply = JSON.parse(text) as typeof reply;
      } catch {
        // not JSON: refused below, with its text
      }
      if (reply.id === id && reply.error === undefined)
        result.acked.set(id, { type, duplicate: reply.duplicate === true });
      else result.refused.set(id, text.slice(0, 300));
    } catch (err) {
      result.unanswered.set(id, (err as Error).message);
    }
    if (opts.at !== undefined && hook === undefined && result.acked.size >= opts.at.acked) {
      result.hookAt = result.acked.size;
      hook = opts.at.run();
    }
  };
  const worker = async () => {
    while (next < opts.count) {
      if (Date.now() - started > opts.deadlineMs || result.unanswered.size > (opts.maxUnanswered ?? Infinity)) {
        result.unsent = opts.count - next;
        next = opts.count;
        return;
      }
      await one(next++);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  await hook;
  result.ms = Date.now() - started;
  return result;
}

/** A short account of a load's outcomes, with a sample of each kind of failure. */
export function describeLoad(r: LoadResult): string {
  const sample = (m: Map<string, string>) =>
    [...m]
      .slice(0, 5)
      .map(([id, why]) => `${id}: ${why}`)
      .join('\n    ');
  const kinds = (m: Map<string, string>) => {
    const counts = new Map<string, number>();
    for (const why of m.values()) {
      const k = why.replace(/[0-9a-f-]{8,}|\d+/g, '#').slice(0, 80);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].map(([k, c]) => `${c}× ${k}`).join('; ');
  };
  return [
    `acknowledged ${r.acked.size} (duplicates ${[...r.acked.values()].filter((a) => a.duplicate).length}), ` +
      `refused ${r.refused.size}, unanswered ${r.unanswered.size}, unsent ${r.unsent}, ` +
      `in ${r.ms} ms${r.hookAt === undefined ? '' : `, the kill after ${r.hookAt} acknowledged`}`,
    `  refused: ${kinds(r.refused)}\n    ${sample(r.refused)}`,
    `  unanswered: ${kinds(r.unanswered)}\n    ${sample(r.unanswered)}`,
  ].join('\n');
}
