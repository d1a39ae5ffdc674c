// Credit: how a gateway in front of the event service keeps the service's limits for its many clients without
// the service parking the one leafnode link they share. The gateway asks for room before it needs it, spends it as
// its clients publish events or subscribe, and gives back what it does not use; the service counts what it granted
// as taken, so event_limit and listener_limit stay hard caps whoever is behind the link (issue 12). Ours, not
// nats-server's: the messages are plain NATS requests on `$EVENTS.CREDIT.<kind>`, which a hub without them (a plain
// nats-server) shows no interest in, so a gateway attached there needs no credit.

/** What the credit counts: events held for the handlers, or listeners (subscriptions). */
export type CreditKind = 'events' | 'listeners';

export const CREDIT_SUBJECT_ROOT = '$EVENTS.CREDIT';

export function creditSubject(kind: CreditKind): string {
  return `${CREDIT_SUBJECT_ROOT}.${kind}`;
}

/**
 * A request (`{"want": n}`, with a reply subject: answered `{"granted": k}`, k ≤ n), a return of unused credit
 * (`{"return": n}`, no reply), or what the holder has left (`{"have": n}`, no reply): the service keeps no more than
 * that for it, so credit lost on the way (a message granted for and never sent) cannot stay reserved.
 */
export type CreditMessage = { readonly want: number } | { readonly return: number } | { readonly have: number };

/**
 * Only a peer that says it takes credit (a gateway's uplink: CONNECT `"credit": true`) is granted any: credit granted
 * to a plain client or a nats-server leaf would be room nobody could use, taken by whoever asked.
 */
export const CREDIT_CONNECT_FIELD = 'credit';

export interface CreditGrant {
  readonly granted: number;
}

/** The largest count one message may carry: bounds what a peer can ask for or claim to return. */
export const MAX_CREDIT = 1 << 20;

/** Parses a credit message; undefined when it is not one (ignored: a peer's bad message changes nothing). */
export function parseCreditMessage(data: Uint8Array): CreditMessage | undefined {
  if (data.byteLength > 64) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (isCount(o['want'])) return { want: o['want'] };
  if (isCount(o['return'])) return { return: o['return'] };
  const have = o['have'];
  if (have === 0 || isCount(have)) return { have };
  return undefined;
}

/** Parses a grant; undefined when it is not one. */
export function parseCreditGrant(data: Uint8Array): CreditGrant | undefined {
  if (data.byteLength > 64) return undefined;
  try {
    const o = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')) as Record<
      string,
      unknown
    >;
    return isCount(o['granted']) || o['granted'] === 0 ? { granted: o['granted'] as number } : undefined;
  } catch {
    return undefined;
  }
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_CREDIT;
}
