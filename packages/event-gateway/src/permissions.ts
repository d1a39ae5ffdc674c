// Per-client subject permissions read from a token's `nats` claim, shaped like a NATS user JWT (nats-io/jwt v2
// Permissions: pub/sub allow and deny lists, resp), decided as nats-server decides them (client.go canSubscribe,
// pubAllowedFullCheck, deliverMsg's reply tracking). Which -ERR to send and when is the listener's business; the
// texts live in shared protocol/errors.ts. Which reply and gateway subjects no grant reaches is reply-subjects.ts's.
import { Sublist, isValidQueueName, isValidSubject, subjectMatches, type ClientPermissions, type SublistResult } from '@event-broker/shared';
import { grantPrefix, isBroadInboxEntry, isGatewaySubject, isInboxGrant, isInboxSubject, mayBeGatewaySubject } from './reply-subjects.js';

/** One entry of a permission list: a subject pattern and, for subscribe lists, an optional queue pattern. */
interface Rule {
  readonly subject: string;
  readonly queue: string | undefined;
}

/** The claim as a NATS user JWT spells it (nats-io/jwt v2 `Permissions`); `resp.ttl` is Go nanoseconds. */
export interface NatsPermissionsClaim {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
  resp?: { max?: number; ttl?: number };
}

/** How replies to received requests may be published (nats-server ResponsePermission). */
export interface ResponsePermission {
  /** Replies allowed per reply subject; Infinity when the claim's max is negative. */
  readonly maxMsgs: number;
  /** How long after delivery a reply subject stays open, in ms; Infinity when the claim's ttl is negative. */
  readonly expiresMs: number;
}

// nats-server server/const.go DEFAULT_ALLOW_RESPONSE_MAX_MSGS and _EXPIRATION, applied by auth.go
// validateResponsePermissions when a resp claim leaves max or ttl at 0.
const DEFAULT_RESPONSE_MAX_MSGS = 1;
const DEFAULT_RESPONSE_EXPIRES_MS = 2 * 60_000;
// nats-server client.go replyPermLimit: above this many tracked reply subjects, expired and used-up ones are pruned.
const REPLY_PRUNE_AT = 4096;
// Decisions cached per rule set. nats-server keeps 128 per connection (maxPermCacheSize); rule sets are shared by
// every connection holding the same claim, so a few more pay off.
const DECISION_CACHE_MAX = 512;
const NS_PER_MS = 1_000_000;

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
function ruleList(rules: readonly Rule[]): Sublist<Rule> | undefined {
  if (rules.length === 0) return undefined;
  const list = new Sublist<Rule>({ cacheMax: 0 });
  for (const r of rules) list.insert(r);
  return list;
}

/**
 * True when subscription subject `sub` asks for nothing beyond pattern `pattern`. The sublist compares a
 * subscription's tokens literally, so a pattern `*` token also accepts a subscribed `>`; nats-server lets
 * `SUB foo.>` through an allow of `foo.*` that way. The gateway refuses it: `foo.>` reaches `foo.a.b`.
 */
function covers(pattern: string, sub: string): boolean {
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
function queueMatches(queue: string, qsubs: SublistResult<Rule>['qsubs']): boolean {
  for (const group of qsubs) {
    const name = group[0]!.queue!;
    // `*` and `>` can be literal queue names too, so the literal comparison comes first (as nats-server's).
    if (queue === name || subjectMatches(name, queue)) return true;
  }
  return false;
}

/**
 * The compiled, immutable part of a claim's permissions, shared by every connection presenting the same claim.
 * Decisions are cached here; the per-connection reply tracking is in Permissions.
 */
export class PermissionRules {
  /** Anything allowed at all? False for a token without a `nats` claim: it may connect and do nothing. */
  readonly granted: boolean;
  readonly response: ResponsePermission | undefined;
  /** An allow list is in force (possibly empty, which allows nothing); otherwise only the deny list limits. */
  private readonly pubAllowListed: boolean;
  private readonly pubAllow: Sublist<Rule> | undefined;
  private readonly pubDeny: Sublist<Rule> | undefined;
  private readonly subAllowListed: boolean;
  private readonly subAllow: Sublist<Rule> | undefined;
  private readonly subDeny: Sublist<Rule> | undefined;
  private readonly pubCache = new DecisionCache();
  private readonly subCache = new DecisionCache();
  private readonly deliverCache = new DecisionCache();
  /** The private inbox grants (reply-subjects.ts): as prefixes when plain `…>`, else as patterns. */
  private readonly inboxPrefixes: readonly string[];
  private readonly inboxPatterns: Sublist<Rule> | undefined;
  /** The allow entries reaching every client's inbox (`_INBOX.>`): honoured for nothing, named in a warning. */
  readonly broadInboxEntries: readonly string[];

  /** Nothing allowed: no `nats` claim. */
  static readonly NONE = new PermissionRules(undefined);

  private constructor(spec: ParsedClaim | undefined) {
    this.granted = spec !== undefined;
    this.response = spec?.response;
    this.pubAllowListed = spec?.pubAllow !== undefined;
    this.pubAllow = ruleList(spec?.pubAllow ?? []);
    this.pubDeny = ruleList(spec?.pubDeny ?? []);
    this.subAllowListed = spec?.subAllow !== undefined;
    this.subAllow = ruleList(spec?.subAllow ?? []);
    this.subDeny = ruleList(spec?.subDeny ?? []);
    const grants = (spec?.subAllow ?? []).filter((r) => isInboxGrant(r.subject));
    this.inboxPrefixes = grants.map((r) => grantPrefix(r.subject)).filter((p): p is string => p !== undefined);
    this.inboxPatterns = ruleList(grants.filter((r) => grantPrefix(r.subject) === undefined));
    this.broadInboxEntries = (spec?.subAllow ?? []).filter((r) => isBroadInboxEntry(r.subject)).map((r) => r.subject);
  }

  /** @internal Built by permissionRulesFromClaims, which validates the claim first. */
  static compile(spec: ParsedClaim): PermissionRules {
    return new PermissionRules(spec);
  }

  /** The allow/deny lists alone, without reply grants (nats-server pubAllowedFullCheck before `resp`). */
  publishListed(subject: string): boolean {
    if (!this.granted) return false;
    if (!this.pubAllowListed && this.pubDeny === undefined) return true;
    const hit = this.pubCache.get(subject);
    if (hit !== undefined) return hit;
    let allowed = !this.pubAllowListed || (this.pubAllow !== undefined && this.pubAllow.match(subject).psubs.length > 0);
    if (allowed && this.pubDeny !== undefined) allowed = this.pubDeny.match(subject).psubs.length === 0;
    return this.pubCache.set(subject, allowed);
  }

  /**
   * nats-server client.go canSubscribe, with `covers` keeping wildcard subscriptions inside the allow list, and
   * reply subjects only inside a private inbox grant (reply-subjects.ts).
   */
  subscribe(subject: string, queue: string | undefined): boolean {
    if (!this.granted || (mayBeGatewaySubject(subject) && isGatewaySubject(subject))) return false;
    const inbox = isInboxSubject(subject);
    if (!inbox && !this.subAllowListed && this.subDeny === undefined) return true;
    const key = queue === undefined ? subject : `${subject} ${queue}`;
    const hit = this.subCache.get(key);
    if (hit !== undefined) return hit;
    if (inbox && !this.inboxGranted(subject)) return this.subCache.set(key, false);
    let allowed = true;
    if (this.subAllowListed) {
      allowed = false;
      if (this.subAllow !== undefined) {
        const r = this.subAllow.match(subject);
        allowed = r.psubs.some((rule) => covers(rule.subject, subject));
        // A queue listed for the subject decides alone: `foo` plus `foo v1` allows plain `foo` and group v1 only.
        const groups = queue === undefined ? [] : r.qsubs.filter((g) => g.some((rule) => covers(rule.subject, subject)));
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
   * May a message on `subject` be delivered to this client? A wildcard subscription can be allowed while a deny
   * entry lies inside it (`>` with deny `secret.>`); nats-server filters such deliveries (client.go
   * loadMsgDenyFilter, checkDenySub). Only plain deny entries filter: a queue deny refuses the SUB itself.
   */
  deliver(subject: string): boolean {
    // A reply reaches a wildcard subscription (`>`, `*.>`, its own `_INBOX.alice.<id>.*`) only inside this client's
    // own inbox grants, a gateway subject never. Not cached (reply subjects are unique); the first character keeps other subjects at one test.
    if (mayBeGatewaySubject(subject) && !this.deliverableReply(subject)) return false;
    if (this.subDeny === undefined) return true;
    const hit = this.deliverCache.get(subject);
    if (hit !== undefined) return hit;
    return this.deliverCache.set(subject, this.subDeny.match(subject).psubs.length === 0);
  }

  /** Is the subscription `subject` (maybe a wildcard) inside one of the private inbox grants? */
  private inboxGranted(subject: string): boolean {
    for (const p of this.inboxPrefixes) {
      // `_INBOX.alice.` + at least one token, as `_INBOX.alice.>` would match it.
      if (subject.length > p.length && subject.startsWith(p)) return true;
    }
    return this.inboxPatterns !== undefined && this.inboxPatterns.match(subject).psubs.some((rule) => covers(rule.subject, subject));
  }

  /**
   * False for a message on a reply subject outside this client's inbox grants, or on a gateway subject. The grants'
   * prefixes are tried first: a reply to the client's own requests, the common case, costs one string comparison.
   */
  private deliverableReply(subject: string): boolean {
    for (const p of this.inboxPrefixes) if (subject.length > p.length && subject.startsWith(p)) return true;
    if (isGatewaySubject(subject)) return false;
    if (!isInboxSubject(subject)) return true;
    return this.inboxPatterns !== undefined && this.inboxPatterns.match(subject).psubs.length > 0;
  }
}

/** The claim after validation: lists split into rules; `undefined` allow = no allow list. */
interface ParsedClaim {
  pubAllow: Rule[] | undefined;
  pubDeny: Rule[];
  subAllow: Rule[] | undefined;
  subDeny: Rule[];
  response: ResponsePermission | undefined;
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
 * One connection's permissions: the shared rules plus the reply subjects of requests delivered to it. Not safe to
 * share between connections (reply grants are per client, as nats-server's c.replies).
 */
export class Permissions implements ClientPermissions {
  private readonly replies: Map<string, ReplyGrant> | undefined;
  private readonly now: () => number;

  constructor(
    readonly rules: PermissionRules,
    opts: PermissionsOptions = {},
  ) {
    this.replies = rules.response === undefined ? undefined : new Map();
    this.now = opts.now ?? Date.now;
  }

  /**
   * May the client publish to `subject`? Checks the lists (cached), then, for a subject they refuse, whether it is
   * the reply subject of a request delivered to this client within `resp` max and ttl; each such publish uses one.
   */
  canPublish(subject: string): boolean {
    // Before the lists and the reply grants: no grant reaches a gateway subject (reply-subjects.ts).
    if (mayBeGatewaySubject(subject) && isGatewaySubject(subject)) return false;
    if (this.rules.publishListed(subject)) return true;
    const replies = this.replies;
    if (replies === undefined) return false;
    const grant = replies.get(subject);
    if (grant === undefined) return false;
    const resp = this.rules.response!;
    grant.used++;
    // nats-server pubAllowedFullCheck: the grant goes once used up or expired.
    if (grant.used > resp.maxMsgs || this.now() - grant.at > resp.expiresMs) {
      replies.delete(subject);
      return false;
    }
    return true;
  }

  /** May the client subscribe to `subject` (in `queue` when given)? */
  canSubscribe(subject: string, queue?: string): boolean {
    return this.rules.subscribe(subject, queue === '' ? undefined : queue);
  }

  /** May a message published on `subject` reach one of this client's (allowed) wildcard subscriptions? */
  canDeliver(subject: string): boolean {
    return this.rules.deliver(subject);
  }

  /**
   * Call when a message with reply subject `reply` is delivered to this client: with a `resp` claim the client may
   * then publish to it (nats-server client.go deliverMsg). A repeat delivery of the same reply restarts its grant.
   */
  noteReply(reply: string): void {
    const replies = this.replies;
    if (replies === undefined || reply === '') return;
    replies.delete(reply); // re-inserted at the end: the Map stays in delivery order for pruning
    replies.set(reply, { at: this.now(), used: 0 });
    if (replies.size > REPLY_PRUNE_AT) this.pruneReplies();
  }

  /** Reply subjects currently open to this client (for /connz-style introspection and tests). */
  get openReplies(): number {
    return this.replies?.size ?? 0;
  }

  private pruneReplies(): void {
    const replies = this.replies!;
    const resp = this.rules.response!;
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

export type PermissionsResult = { ok: true; rules: PermissionRules } | { ok: false; reason: string };

// Compiled rule sets by claim text: clients sharing a token template share the lists and their decision caches.
const RULES_CACHE_MAX = 256;
const rulesCache = new Map<string, PermissionRules>();

/**
 * Reads the `nats` claim of a verified token. No claim at all: PermissionRules.NONE (nothing allowed). A claim
 * of the wrong shape, or with a subject that is not one, is refused rather than guessed at.
 */
export function permissionRulesFromClaims(claims: Readonly<Record<string, unknown>>): PermissionsResult {
  const nats = claims['nats'];
  if (nats === undefined) return { ok: true, rules: PermissionRules.NONE };
  const key = JSON.stringify([nats]);
  const cached = rulesCache.get(key);
  if (cached !== undefined) return { ok: true, rules: cached };
  const parsed = parseClaim(nats);
  if (typeof parsed === 'string') return { ok: false, reason: `nats claim: ${parsed}` };
  const rules = PermissionRules.compile(parsed);
  if (rulesCache.size >= RULES_CACHE_MAX) rulesCache.delete(rulesCache.keys().next().value!);
  rulesCache.set(key, rules);
  return { ok: true, rules };
}

/** permissionRulesFromClaims plus a fresh per-connection Permissions. */
export function permissionsFromClaims(
  claims: Readonly<Record<string, unknown>>,
  opts: PermissionsOptions = {},
): { ok: true; permissions: Permissions } | { ok: false; reason: string } {
  const r = permissionRulesFromClaims(claims);
  return r.ok ? { ok: true, permissions: new Permissions(r.rules, opts) } : r;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The claim's lists, or a reason it is refused. */
function parseClaim(nats: unknown): ParsedClaim | string {
  if (!isObject(nats)) return 'must be an object';
  const pub = parseLists(nats['pub'], 'pub', false);
  if (typeof pub === 'string') return pub;
  const sub = parseLists(nats['sub'], 'sub', true);
  if (typeof sub === 'string') return sub;
  const response = parseResponse(nats['resp']);
  if (typeof response === 'string') return response;
  // nats-server buildPermissionsFromJwt: a list is in force only when it has entries, so `allow: []` alone is the
  // same as no allow list (Go's omitempty writes no other form). Here an explicit empty allow list allows nothing:
  // a token that spells out "allow nothing" is not read as "allow everything".
  return {
    // nats-server auth.go validateResponsePermissions: a resp claim without pub.allow closes publishing to all
    // but the granted replies.
    pubAllow: pub.allow ?? (response !== undefined ? [] : undefined),
    pubDeny: pub.deny ?? [],
    subAllow: sub.allow,
    subDeny: sub.deny ?? [],
    response,
  };
}

function parseLists(v: unknown, name: string, queues: boolean): { allow?: Rule[]; deny?: Rule[] } | string {
  if (v === undefined) return {};
  if (!isObject(v)) return `${name} must be an object`;
  const out: { allow?: Rule[]; deny?: Rule[] } = {};
  for (const which of ['allow', 'deny'] as const) {
    const list = v[which];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `${name}.${which} must be an array of subjects`;
    const rules: Rule[] = [];
    for (const entry of list) {
      const rule = parseRule(entry, queues);
      if (rule === undefined) return `${name}.${which} has an invalid entry ${describe(entry)}`;
      rules.push(rule);
    }
    out[which] = rules;
  }
  return out;
}

/** `subject` or, in subscribe lists, `subject queue` (nats-server client.go splitSubjectQueue). */
function parseRule(entry: unknown, queues: boolean): Rule | undefined {
  if (typeof entry !== 'string') return undefined;
  const parts = entry.trim().split(/\s+/);
  if (parts.length > (queues ? 2 : 1)) return undefined;
  const [subject, queue] = parts as [string, string | undefined];
  if (!isValidSubject(subject)) return undefined;
  if (queue !== undefined && !isValidQueueName(queue)) return undefined;
  return { subject, queue };
}

function parseResponse(v: unknown): ResponsePermission | undefined | string {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return 'resp must be an object';
  const max = v['max'] ?? 0;
  const ttl = v['ttl'] ?? 0;
  if (typeof max !== 'number' || !Number.isInteger(max)) return 'resp.max must be an integer';
  if (typeof ttl !== 'number' || !Number.isFinite(ttl)) return 'resp.ttl must be a number of nanoseconds';
  // 0 takes nats-server's defaults; a negative value means no limit (its checks are `> 0`).
  return {
    maxMsgs: max === 0 ? DEFAULT_RESPONSE_MAX_MSGS : max < 0 ? Infinity : max,
    expiresMs: ttl === 0 ? DEFAULT_RESPONSE_EXPIRES_MS : ttl < 0 ? Infinity : ttl / NS_PER_MS,
  };
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
