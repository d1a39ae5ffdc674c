// Subject permissions decided as nats-server decides them (client.go canSubscribe, pubAllowedFullCheck,
// checkDenySub, deliverMsg's reply tracking): publish and subscribe allow/deny lists with wildcards and queue
// entries, deny filtering deliveries to wildcard subscriptions, and replies to requests the client received
// (`allow_responses`, a user JWT's `resp`). Where the lists come from (a service user in the config, a gateway
// token's `nats` claim) and any rule a process layers on top (the gateway's reply-subjects.ts) are the caller's;
// which -ERR to send is client.ts's, its text protocol/errors.ts's.
import { Sublist, isValidQueueName, isValidSubject, subjectMatches, type SublistResult } from '../subjects/index.js';
import type { ClientPermissions } from './admission.js';

/** One entry of a permission list: a subject pattern and, in subscribe lists, an optional queue pattern. */
export interface PermissionRule {
  readonly subject: string;
  readonly queue: string | undefined;
}

/** How replies to received requests may be published (nats-server ResponsePermission). */
export interface ResponsePermission {
  /** Replies allowed per reply subject; Infinity for no limit. */
  readonly maxMsgs: number;
  /** How long after delivery a reply subject stays open, in ms; Infinity for no limit. */
  readonly expiresMs: number;
}

/**
 * nats-server server/const.go DEFAULT_ALLOW_RESPONSE_MAX_MSGS and _EXPIRATION: what `allow_responses = true`
 * (or a max or ttl of 0) means.
 */
export const DEFAULT_RESPONSE_PERMISSION: ResponsePermission = Object.freeze({ maxMsgs: 1, expiresMs: 2 * 60_000 });

/**
 * Validated lists. An allow list `undefined` means none (everything the deny list leaves); an empty one allows
 * nothing, as nats-server's config reads `publish = []`.
 */
export interface PermissionLists {
  readonly pubAllow: readonly PermissionRule[] | undefined;
  readonly pubDeny: readonly PermissionRule[];
  readonly subAllow: readonly PermissionRule[] | undefined;
  readonly subDeny: readonly PermissionRule[];
  readonly response: ResponsePermission | undefined;
}

/**
 * `subject` or, in subscribe lists, `subject queue` (nats-server client.go splitSubjectQueue); undefined when it is
 * not one (a bad subject or queue, a queue in a publish list, more than two words).
 */
export function parsePermissionRule(entry: unknown, opts: { queue: boolean }): PermissionRule | undefined {
  if (typeof entry !== 'string') return undefined;
  const parts = entry.trim().split(/\s+/);
  if (parts.length > (opts.queue ? 2 : 1)) return undefined;
  const [subject, queue] = parts as [string, string | undefined];
  if (!isValidSubject(subject)) return undefined;
  if (queue !== undefined && !isValidQueueName(queue)) return undefined;
  return { subject, queue };
}

// nats-server client.go replyPermLimit: above this many tracked reply subjects, expired and used-up ones are pruned.
const REPLY_PRUNE_AT = 4096;
// Decisions cached per rule set. nats-server keeps 128 per connection (maxPermCacheSize); rule sets are shared by
// every connection holding the same lists, so a few more pay off.
const DECISION_CACHE_MAX = 512;

/** A bounded subject → decision memo; when full, the oldest quarter goes (Map iteration is insertion order). */
class DecisionCache {
  private readonly map = new Map<string, boolean>();

  get(key: string): boolean | undefined {
    return this.map.get(key);
  }

  set(key: string, allowed: boolean): boolean {
    if (this.map.size >= DECISION_CACHE_MAX) {
      let drop = DECISION_CACHE_MAX >> 2;
      for (const k of this.map.keys()) {
        this.map.delete(k);
        if (--drop === 0) break;
      }
    }
    this.map.set(key, allowed);
    return allowed;
  }
}

/** A pattern list in a sublist (no match cache of its own: the decisions are cached above it). */
function ruleList(rules: readonly PermissionRule[]): Sublist<PermissionRule> | undefined {
  if (rules.length === 0) return undefined;
  const list = new Sublist<PermissionRule>({ cacheMax: 0 });
  for (const r of rules) list.insert(r);
  return list;
}

/**
 * True when subscription subject `sub` asks for nothing beyond pattern `pattern`. The sublist compares a
 * subscription's tokens literally, so a pattern `*` token also accepts a subscribed `>`: nats-server lets
 * `SUB foo.>` through an allow of `foo.*` that way. Refused here: `foo.>` reaches `foo.a.b`, which the list does not.
 */
export function coversSubscription(pattern: string, sub: string): boolean {
  const p = pattern.split('.');
  const s = sub.split('.');
  for (let i = 0; i < s.length; i++) {
    const pt = p[i];
    if (pt === '>') return true;
    if (pt === undefined) return false;
    if (s[i] === '>' && pt !== '>') return false;
  }
  return p.length === s.length;
}

/** Does `queue` fall under one of the queue groups found (nats-server client.go queueMatches)? */
function queueMatches(queue: string, qsubs: SublistResult<PermissionRule>['qsubs']): boolean {
  for (const group of qsubs) {
    const name = group[0]!.queue!;
    // `*` and `>` can be literal queue names too, so the literal comparison comes first (as nats-server's).
    if (queue === name || subjectMatches(name, queue)) return true;
  }
  return false;
}

/**
 * Compiled, immutable lists, shared by every connection holding the same ones (a service user's connections, a
 * gateway token template's); decisions are cached here. Per-connection reply tracking is Permissions'. Two
 * deliberate refusals where nats-server 2.9 admits: a wildcard subscription reaching past its allow entry
 * (coversSubscription), and a queue subscription to a subject a plain deny entry names (nats-server lets a
 * non-matching queue deny entry override it).
 */
export class PermissionRules {
  /** Anything allowed at all? False for NONE (a gateway token without a `nats` claim). */
  readonly granted: boolean;
  readonly response: ResponsePermission | undefined;
  /** An allow list is in force (possibly empty, which allows nothing); otherwise only the deny list limits. */
  private readonly pubAllowListed: boolean;
  private readonly pubAllow: Sublist<PermissionRule> | undefined;
  private readonly pubDeny: Sublist<PermissionRule> | undefined;
  private readonly subAllowListed: boolean;
  private readonly subAllow: Sublist<PermissionRule> | undefined;
  private readonly subDeny: Sublist<PermissionRule> | undefined;
  private readonly pubCache = new DecisionCache();
  private readonly subCache = new DecisionCache();
  private readonly deliverCache = new DecisionCache();

  /** Nothing allowed. */
  static readonly NONE: PermissionRules = new PermissionRules(undefined);
  /** No lists: everything allowed (a service user without `permissions`). */
  static readonly ALL: PermissionRules = new PermissionRules({
    pubAllow: undefined,
    pubDeny: [],
    subAllow: undefined,
    subDeny: [],
    response: undefined,
  });

  /** `undefined`: nothing allowed. Subclasses (the gateway's) add their own rules around these. */
  protected constructor(readonly lists: PermissionLists | undefined) {
    this.granted = lists !== undefined;
    this.response = lists?.response;
    this.pubAllowListed = lists?.pubAllow !== undefined;
    this.pubAllow = ruleList(lists?.pubAllow ?? []);
    this.pubDeny = ruleList(lists?.pubDeny ?? []);
    this.subAllowListed = lists?.subAllow !== undefined;
    this.subAllow = ruleList(lists?.subAllow ?? []);
    this.subDeny = ruleList(lists?.subDeny ?? []);
  }

  static compile(lists: PermissionLists): PermissionRules {
    return new PermissionRules(lists);
  }

  /** The allow/deny lists alone, without reply grants (nats-server pubAllowedFullCheck before `resp`). */
  publishListed(subject: string): boolean {
    if (!this.granted) return false;
    if (!this.pubAllowListed && this.pubDeny === undefined) return true;
    const hit = this.pubCache.get(subject);
    if (hit !== undefined) return hit;
    let allowed =
      !this.pubAllowListed || (this.pubAllow !== undefined && this.pubAllow.match(subject).psubs.length > 0);
    if (allowed && this.pubDeny !== undefined) allowed = this.pubDeny.match(subject).psubs.length === 0;
    return this.pubCache.set(subject, allowed);
  }

  /** nats-server client.go canSubscribe, with coversSubscription keeping wildcard subscriptions inside the allow list. */
  subscribe(subject: string, queue: string | undefined): boolean {
    if (!this.granted) return false;
    if (!this.subAllowListed && this.subDeny === undefined) return true;
    const key = queue === undefined ? subject : `${subject} ${queue}`;
    const hit = this.subCache.get(key);
    if (hit !== undefined) return hit;
    let allowed = true;
    if (this.subAllowListed) {
      allowed = false;
      if (this.subAllow !== undefined) {
        const r = this.subAllow.match(subject);
        allowed = r.psubs.some((rule) => coversSubscription(rule.subject, subject));
        // A queue listed for the subject decides alone: `foo` plus `foo v1` allows plain `foo` and group v1 only.
        const groups =
          queue === undefined ? [] : r.qsubs.filter((g) => g.some((rule) => coversSubscription(rule.subject, subject)));
        if (groups.length > 0) allowed = queueMatches(queue!, groups);
      }
    }
    if (allowed && this.subDeny !== undefined) {
      const r = this.subDeny.match(subject);
      // nats-server lets a matching queue-less deny be overridden by the queue test; here any deny entry wins.
      allowed = r.psubs.length === 0 && !(queue !== undefined && r.qsubs.length > 0 && queueMatches(queue, r.qsubs));
    }
    return this.subCache.set(key, allowed);
  }

  /**
   * May a message on `subject` reach one of the client's wildcard subscriptions? One can be allowed while a deny
   * entry lies inside it (`>` with deny `secret.>`); nats-server filters such deliveries (client.go
   * loadMsgDenyFilter, checkDenySub). Only plain deny entries filter: a queue deny refuses the SUB itself.
   */
  deliver(subject: string): boolean {
    if (this.subDeny === undefined) return true;
    const hit = this.deliverCache.get(subject);
    if (hit !== undefined) return hit;
    return this.deliverCache.set(subject, this.subDeny.match(subject).psubs.length === 0);
  }
}

/** Tracking of one reply subject delivered to the client (nats-server client.go resp). */
interface ReplyGrant {
  at: number;
  used: number;
}

export interface PermissionsOptions {
  /** Clock for reply expiry, ms; default Date.now. Tests pass their own. */
  now?: () => number;
}

/**
 * One connection's permissions: shared rules plus the reply subjects of requests delivered to it. Not shared
 * between connections (reply grants are per client, as nats-server's c.replies). A reload may put other rules in
 * force (replaceRules) without the connection noticing anything but the decisions.
 */
export class Permissions implements ClientPermissions {
  private replies: Map<string, ReplyGrant> | undefined;
  private readonly now: () => number;
  private current: PermissionRules;

  constructor(rules: PermissionRules, opts: PermissionsOptions = {}) {
    this.current = rules;
    this.replies = rules.response === undefined ? undefined : new Map();
    this.now = opts.now ?? Date.now;
  }

  get rules(): PermissionRules {
    return this.current;
  }

  /**
   * Puts other rules in force (a configuration reload). Reply grants already opened stay while the new rules allow
   * responses at all (nats-server re-registers the user and starts a fresh map; keeping them lets a request in
   * flight be answered).
   */
  replaceRules(rules: PermissionRules): void {
    this.current = rules;
    if (rules.response === undefined) this.replies = undefined;
    else this.replies ??= new Map();
  }

  /**
   * May the client publish to `subject`? The lists (cached), then, for a subject they refuse, whether it is the
   * reply subject of a request delivered to this client within the response max and expiry; each such publish
   * uses one (nats-server pubAllowedFullCheck).
   */
  canPublish(subject: string): boolean {
    if (this.current.publishListed(subject)) return true;
    const replies = this.replies;
    if (replies === undefined) return false;
    const grant = replies.get(subject);
    if (grant === undefined) return false;
    const resp = this.current.response!;
    grant.used++;
    // The grant goes once used up or expired.
    if (grant.used > resp.maxMsgs || this.now() - grant.at > resp.expiresMs) {
      replies.delete(subject);
      return false;
    }
    return true;
  }

  /** May the client subscribe to `subject` (in `queue` when given)? */
  canSubscribe(subject: string, queue?: string): boolean {
    return this.current.subscribe(subject, queue === '' ? undefined : queue);
  }

  /** May a message published on `subject` reach one of this client's (allowed) wildcard subscriptions? */
  canDeliver(subject: string): boolean {
    return this.current.deliver(subject);
  }

  /**
   * Call when a message with reply subject `reply` is delivered to this client: with response permission the client
   * may then publish to it (nats-server client.go deliverMsg). A repeat delivery of the same reply restarts its grant.
   */
  noteReply(reply: string): void {
    const replies = this.replies;
    if (replies === undefined || reply === '') return;
    replies.delete(reply); // re-inserted at the end: the Map stays in delivery order for pruning
    replies.set(reply, { at: this.now(), used: 0 });
    if (replies.size > REPLY_PRUNE_AT) this.pruneReplies();
  }

  /** Reply subjects currently open to this client (for introspection and tests). */
  get openReplies(): number {
    return this.replies?.size ?? 0;
  }

  private pruneReplies(): void {
    const replies = this.replies!;
    const resp = this.current.response!;
    const now = this.now();
    for (const [reply, grant] of replies) {
      if (grant.used >= resp.maxMsgs || now - grant.at > resp.expiresMs) replies.delete(reply);
    }
    // nats-server stops here and lets the map grow; a client fed endless requests it never answers would then
    // grow it without bound, so the oldest grants beyond the limit go as well.
    for (const reply of replies.keys()) {
      if (replies.size <= REPLY_PRUNE_AT) break;
      replies.delete(reply);
    }
  }
}
