// Per-client subject permissions read from a token's `nats` claim, shaped like a NATS user JWT (nats-io/jwt v2
// Permissions: pub/sub allow and deny lists, resp). The lists are decided as nats-server decides them by the shared
// machinery (shared/server/permissions.ts); this module reads the claim and layers on the gateway's own rules: which
// reply and gateway subjects no grant reaches (reply-subjects.ts). Which -ERR to send is the client connection's.
import {
  DEFAULT_RESPONSE_PERMISSION,
  parsePermissionRule,
  coversSubscription,
  Permissions as NatsPermissions,
  PermissionRules as NatsPermissionRules,
  Sublist,
  type PermissionLists,
  type PermissionRule,
  type PermissionsOptions,
  type ResponsePermission,
} from '@event-broker/shared';
import {
  grantPrefix,
  isBroadInboxEntry,
  isGatewaySubject,
  isInboxGrant,
  isInboxSubject,
  mayBeGatewaySubject,
} from './reply-subjects.js';

export type { PermissionsOptions, ResponsePermission };

/** The claim as a NATS user JWT spells it (nats-io/jwt v2 `Permissions`); `resp.ttl` is Go nanoseconds. */
export interface NatsPermissionsClaim {
  pub?: { allow?: string[]; deny?: string[] };
  sub?: { allow?: string[]; deny?: string[] };
  resp?: { max?: number; ttl?: number };
}

const NS_PER_MS = 1_000_000;

/** A pattern list in a sublist (no match cache: the inbox grants are few and tried after their prefixes). */
function ruleList(rules: readonly PermissionRule[]): Sublist<PermissionRule> | undefined {
  if (rules.length === 0) return undefined;
  const list = new Sublist<PermissionRule>({ cacheMax: 0 });
  for (const r of rules) list.insert(r);
  return list;
}

/**
 * A claim's compiled lists plus the gateway's rules around them: a gateway subject is reached by no grant, and a
 * reply subject (`_INBOX…`) only inside one of the client's own inbox grants (reply-subjects.ts).
 */
export class PermissionRules extends NatsPermissionRules {
  /** The private inbox grants: as prefixes when plain `…>`, else as patterns. */
  private readonly inboxPrefixes: readonly string[];
  private readonly inboxPatterns: Sublist<PermissionRule> | undefined;
  /** The allow entries reaching every client's inbox (`_INBOX.>`): honoured for nothing, named in a warning. */
  readonly broadInboxEntries: readonly string[];

  /** Nothing allowed: no `nats` claim. */
  static override readonly NONE: PermissionRules = new PermissionRules(undefined);

  private constructor(lists: PermissionLists | undefined) {
    super(lists);
    const grants = (lists?.subAllow ?? []).filter((r) => isInboxGrant(r.subject));
    this.inboxPrefixes = grants.map((r) => grantPrefix(r.subject)).filter((p): p is string => p !== undefined);
    this.inboxPatterns = ruleList(grants.filter((r) => grantPrefix(r.subject) === undefined));
    this.broadInboxEntries = (lists?.subAllow ?? []).filter((r) => isBroadInboxEntry(r.subject)).map((r) => r.subject);
  }

  /** @internal Built by permissionRulesFromClaims, which validates the claim first. */
  static override compile(lists: PermissionLists): PermissionRules {
    return new PermissionRules(lists);
  }

  /** The lists' decision (nats-server's), but never a gateway subject, and a reply subject only inside a grant. */
  override subscribe(subject: string, queue: string | undefined): boolean {
    if (!this.granted) return false;
    if (mayBeGatewaySubject(subject)) {
      if (isGatewaySubject(subject)) return false;
      if (isInboxSubject(subject) && !this.inboxGranted(subject)) return false;
    }
    return super.subscribe(subject, queue);
  }

  /** A reply reaches a wildcard subscription only inside the client's own inbox grants, a gateway subject never. */
  override deliver(subject: string): boolean {
    // Not cached (reply subjects are unique); the first character keeps other subjects at one test.
    if (mayBeGatewaySubject(subject) && !this.deliverableReply(subject)) return false;
    return super.deliver(subject);
  }

  /** Is the subscription `subject` (maybe a wildcard) inside one of the private inbox grants? */
  private inboxGranted(subject: string): boolean {
    for (const p of this.inboxPrefixes) {
      // `_INBOX.alice.` + at least one token, as `_INBOX.alice.>` would match it.
      if (subject.length > p.length && subject.startsWith(p)) return true;
    }
    return (
      this.inboxPatterns !== undefined &&
      this.inboxPatterns.match(subject).psubs.some((rule) => coversSubscription(rule.subject, subject))
    );
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

/** One connection's permissions under a claim's rules; no grant, reply grants included, reaches a gateway subject. */
export class Permissions extends NatsPermissions {
  constructor(rules: PermissionRules, opts: PermissionsOptions = {}) {
    super(rules, opts);
  }

  override get rules(): PermissionRules {
    return super.rules as PermissionRules;
  }

  override canPublish(subject: string): boolean {
    // Before the lists and the reply grants (reply-subjects.ts).
    if (mayBeGatewaySubject(subject) && isGatewaySubject(subject)) return false;
    return super.canPublish(subject);
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
function parseClaim(nats: unknown): PermissionLists | string {
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

function parseLists(
  v: unknown,
  name: string,
  queues: boolean,
): { allow?: PermissionRule[]; deny?: PermissionRule[] } | string {
  if (v === undefined) return {};
  if (!isObject(v)) return `${name} must be an object`;
  const out: { allow?: PermissionRule[]; deny?: PermissionRule[] } = {};
  for (const which of ['allow', 'deny'] as const) {
    const list = v[which];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) return `${name}.${which} must be an array of subjects`;
    const rules: PermissionRule[] = [];
    for (const entry of list) {
      const rule = parsePermissionRule(entry, { queue: queues });
      if (rule === undefined) return `${name}.${which} has an invalid entry ${describe(entry)}`;
      rules.push(rule);
    }
    out[which] = rules;
  }
  return out;
}

function parseResponse(v: unknown): ResponsePermission | undefined | string {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return 'resp must be an object';
  const max = v['max'] ?? 0;
  const ttl = v['ttl'] ?? 0;
  if (typeof max !== 'number' || !Number.isInteger(max)) return 'resp.max must be an integer';
  if (typeof ttl !== 'number' || !Number.isFinite(ttl)) return 'resp.ttl must be a number of nanoseconds';
  // 0 takes nats-server's defaults (auth.go validateResponsePermissions); a negative value means no limit (its
  // checks are `> 0`).
  return {
    maxMsgs: max === 0 ? DEFAULT_RESPONSE_PERMISSION.maxMsgs : max < 0 ? Infinity : max,
    expiresMs: ttl === 0 ? DEFAULT_RESPONSE_PERMISSION.expiresMs : ttl < 0 ? Infinity : ttl / NS_PER_MS,
  };
}

function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
