// Subjects reserved to the process's own (system) connections: nobody else may publish to them or subscribe to them,
// and a wildcard subscription that spans them (`>`) is never delivered one, as a nats-server deny permission behaves
// (client.go canSubscribe, checkDenySub). The event service reserves its JetStream store's subjects this way
// (handlers/jetstream/reserved-subjects.ts); which connections are system is each Conn's (broker.ts Conn.system).
// Enforced by the client (client.ts, through withReserved), the in-process connection and the leafnode port's links.
import { Sublist } from '../subjects/index.js';
import type { ClientPermissions } from './admission.js';

// Decisions cached per subject, as permissions.ts does; the oldest quarter goes when full.
const CACHE_MAX = 1024;
const DOT = 46;

/**
 * An immutable set of reserved subject patterns. Every pattern's first token is literal, so a subject whose first
 * token is none of them costs a few `startsWith` and no lookup: the publish path of a subject outside the set
 * stays as cheap as it was.
 */
export class ReservedSubjects {
  /** The patterns, in the order given (logs, tests). */
  readonly patterns: readonly string[];
  /** Each pattern's first token with its dot: a subject not starting with one of these is not reserved. */
  private readonly prefixes: readonly string[];
  /**
   * Prefixes reserved whole (a `<first>.>` pattern): a subject under one is reserved without a lookup, so the store's
   * inbox replies, each a subject of its own, neither miss the cache nor churn it.
   */
  private readonly whole: ReadonlySet<string>;
  /** The prefixes' first characters: most subjects are told apart by one comparison. */
  private readonly firstChars: ReadonlySet<number>;
  private readonly list = new Sublist<{ subject: string; queue: undefined }>({ cacheMax: 0 });
  private readonly cache = new Map<string, boolean>();

  /** Throws when a pattern's first token is a wildcard (the prefix test needs a literal one) or a pattern is bad. */
  constructor(patterns: readonly string[]) {
    const prefixes = new Set<string>();
    const whole = new Set<string>();
    for (const p of patterns) {
      const first = p.split('.', 1)[0]!;
      if (first === '*' || first === '>' || first === p)
        throw new Error(`reserved subject ${JSON.stringify(p)}: needs a literal first token and a second`);
      prefixes.add(`${first}.`);
      if (p === `${first}.>`) whole.add(`${first}.`);
      this.list.insert({ subject: p, queue: undefined });
    }
    this.patterns = Object.freeze([...patterns]);
    this.prefixes = Object.freeze([...prefixes]);
    this.whole = whole;
    this.firstChars = new Set(this.prefixes.map((p) => p.charCodeAt(0)));
  }

  /**
   * Is `subject` under a reserved pattern? For a literal subject (a publish, a delivery) that is the question; for
   * a subscription it is nats-server's deny test: its tokens are compared literally, so `eventstore.>` is reserved
   * while `>` and `*.x.>` are not (those are filtered on delivery instead).
   */
  has(subject: string): boolean {
    if (!this.firstChars.has(subject.charCodeAt(0))) return false;
    const prefixes = this.prefixes;
    let candidate: string | undefined;
    for (let i = 0; i < prefixes.length; i++) {
      const p = prefixes[i]!;
      // The prefix's dot where the subject has it first: `events.x` is told from `eventstore.` in one comparison.
      if (subject.charCodeAt(p.length - 1) === DOT && subject.startsWith(p)) {
        candidate = p;
        break;
      }
    }
    if (candidate === undefined) return false;
    if (this.whole.has(candidate)) return subject.length > candidate.length;
    const hit = this.cache.get(subject);
    if (hit !== undefined) return hit;
    const reserved = this.list.match(subject).psubs.length > 0;
    if (this.cache.size >= CACHE_MAX) {
      let drop = CACHE_MAX >> 2;
      for (const k of this.cache.keys()) {
        this.cache.delete(k);
        if (--drop === 0) break;
      }
    }
    this.cache.set(subject, reserved);
    return reserved;
  }
}

/**
 * A connection's permissions with the reserved subjects denied on top: publishing to one and subscribing to one are
 * refused, a wildcard subscription is not delivered one. `own` undefined (no permissions of its own): the reserved
 * set alone. Replies the own permissions open (`allow_responses`) never open a reserved subject. `reserved`
 * undefined (nothing reserved, or a system connection, which they do not bind): `own` as it is, so a connection
 * without permissions still pays nothing per message.
 */
export function withReserved(
  own: ClientPermissions | undefined,
  reserved: ReservedSubjects | undefined,
): ClientPermissions | undefined {
  if (reserved === undefined) return own;
  if (own === undefined) {
    return {
      canPublish: (subject) => !reserved.has(subject),
      canSubscribe: (subject) => !reserved.has(subject),
      canDeliver: (subject) => !reserved.has(subject),
      canReplyTo: (reply) => !reserved.has(reply),
    };
  }
  const ownDeliver = own.canDeliver?.bind(own);
  const merged: ClientPermissions = {
    canPublish: (subject) => !reserved.has(subject) && own.canPublish(subject),
    canSubscribe: (subject, queue) => !reserved.has(subject) && own.canSubscribe(subject, queue),
    canDeliver: (subject) => !reserved.has(subject) && (ownDeliver === undefined || ownDeliver(subject)),
    canReplyTo: (reply) => !reserved.has(reply),
  };
  if (own.noteReply !== undefined) merged.noteReply = own.noteReply.bind(own);
  return merged;
}

/**
 * The subject a publish is refused for, or undefined: its subject when the permissions deny it, else its reply when
 * that names a reserved subject (the process's own responders would answer there in its name).
 */
export function publishDenied(
  perms: ClientPermissions,
  subject: string,
  reply: string | undefined,
): string | undefined {
  if (!perms.canPublish(subject)) return subject;
  return reply !== undefined && perms.canReplyTo?.(reply) === false ? reply : undefined;
}
