// The subscription index every published message goes through: a trie of subject tokens with `*`/`>` branches
// and a bounded cache of match results, shaped after nats-server server/sublist.go. It stores and finds
// subscriptions; choosing a queue member, permissions and delivery are the broker's business.
import { subjectMatches } from './validate.js';

/** What the index needs to know about a subscription. Both fields must stay fixed while it is inserted. */
export interface SublistEntry {
  readonly subject: string;
  /** Queue group name; `undefined` (or `''`, which no SUB can carry) means a plain subscription. */
  readonly queue: string | undefined;
}

/**
 * The subscriptions a published subject reaches. Results are cached and shared between calls: callers must never
 * modify these arrays (tests freeze them to prove nobody does).
 */
export interface SublistResult<S> {
  /** Plain subscribers: each gets a copy. */
  readonly psubs: readonly S[];
  /** One non-empty array per queue group name, merged across every matching pattern: one member of each gets it. */
  readonly qsubs: readonly (readonly S[])[];
}

/** The `/subsz` fields, spelled as nats-server's SublistStats JSON. */
export interface SublistStats {
  num_subscriptions: number;
  num_cache: number;
  num_inserts: number;
  num_removes: number;
  num_matches: number;
  /** Cache hits over matches, 0..1. */
  cache_hit_rate: number;
  /** Largest psubs + queue-group count among cached results. */
  max_fanout: number;
  avg_fanout: number;
}

export interface SublistOptions {
  /** Cached match results kept at most; 0 disables the cache (nats-server NewSublistNoCache). Default 1024. */
  cacheMax?: number;
}

/** nats-server sublist.go slCacheMax: big enough for a hot set of subjects, small enough to scan on a wildcard SUB. */
export const SUBLIST_CACHE_MAX = 1024;

/** One queue group's members at one trie node. A small array of these beats a Map: nodes rarely hold more than one. */
interface QueueGroup<S> {
  readonly name: string;
  readonly subs: Set<S>;
}

/** A trie node: the subscriptions whose subject ends here and the next level, all allocated on first use. */
class Node<S> {
  literal: Map<string, Node<S>> | undefined = undefined;
  /** The `*` child. */
  pwc: Node<S> | undefined = undefined;
  /** The `>` child; only ever holds subscriptions, never children (`>` is always last). */
  fwc: Node<S> | undefined = undefined;
  psubs: Set<S> | undefined = undefined;
  qsubs: QueueGroup<S>[] | undefined = undefined;

  isEmpty(): boolean {
    return (
      this.psubs === undefined &&
      this.qsubs === undefined &&
      this.literal === undefined &&
      this.pwc === undefined &&
      this.fwc === undefined
    );
  }
}

/** A result under construction on a cache miss; returned through the readonly SublistResult view. */
interface ResultBuilder<S> {
  psubs: S[];
  qsubs: S[][];
}

const EMPTY_RESULT: SublistResult<never> = Object.freeze({
  psubs: Object.freeze([]) as readonly never[],
  qsubs: Object.freeze([]) as readonly (readonly never[])[],
});

// Tokens of the subject being matched, inserted or removed. Reused across calls (and Sublist instances) so a cache
// miss allocates only the token strings; safe because no operation here calls out or re-enters.
const scratch: string[] = [];

/**
 * Splits `subject` on `.` into `scratch`, returning the token count, or 0 when any token is empty (`foo..bar`,
 * `.foo`, `foo.`, ''): nats-server's match returns the empty result for those without touching the trie or cache.
 */
function tokenize(subject: string): number {
  let count = 0;
  let start = 0;
  for (;;) {
    const dot = subject.indexOf('.', start);
    if (dot === -1) break;
    if (dot === start) return 0;
    scratch[count++] = subject.substring(start, dot);
    start = dot + 1;
  }
  if (start >= subject.length) return 0;
  scratch[count++] = start === 0 ? subject : subject.substring(start);
  return count;
}

function isEmptyQueue(queue: string | undefined): queue is undefined | '' {
  return queue === undefined || queue.length === 0;
}

/**
 * Subscriptions indexed by subject. Single-threaded and synchronous: no method calls out, so a match result is
 * consistent with every insert and remove made before it.
 */
export class Sublist<S extends SublistEntry> {
  private readonly root = new Node<S>();
  private readonly cache = new Map<string, SublistResult<S>>();
  private readonly cacheMax: number;
  /** Cached keys in the order they were added; see match(). */
  private readonly ring: string[] = [];
  private ringNext = 0;
  /**
   * The last subject matched through the cache, and its result: a publisher mostly repeats its subject, and comparing
   * one string (the parser hands the same string back for a repeated subject) costs less than a Map lookup. Cleared
   * by every insert and remove, as the cache is.
   */
  private lastKey: string | undefined = undefined;
  private lastResult: SublistResult<S> = EMPTY_RESULT;
  private subs = 0;
  private nodes = 0;
  private inserts = 0;
  private removes = 0;
  private matches = 0;
  private cacheHits = 0;

  constructor(options: SublistOptions = {}) {
    this.cacheMax = options.cacheMax ?? SUBLIST_CACHE_MAX;
  }

  /** Subscriptions in the index. */
  get count(): number {
    return this.subs;
  }

  /** Trie nodes; back to 0 once every subscription is removed (empty branches are pruned). */
  get nodeCount(): number {
    return this.nodes;
  }

  /**
   * Adds a subscription; inserting the same object again is ignored. The subject must be valid: callers check
   * isValidSubject first (and answer `-ERR 'Invalid Subject'`); an empty token or a `>` before the last token
   * throws a TypeError here, as nats-server's Insert returns ErrInvalidSubject, and leaves the index unchanged.
   */
  insert(sub: S): void {
    const subject = sub.subject;
    const n = tokenize(subject);
    if (n === 0) throw new TypeError(`invalid subject ${JSON.stringify(subject)}`);
    for (let i = 0; i < n - 1; i++) {
      if (scratch[i] === '>') throw new TypeError(`invalid subject ${JSON.stringify(subject)}`);
    }

    let literal = true;
    let node = this.root;
    for (let i = 0; i < n; i++) {
      const tok = scratch[i]!;
      let next: Node<S> | undefined;
      if (tok === '*') {
        literal = false;
        next = node.pwc;
        if (next === undefined) next = node.pwc = this.newNode();
      } else if (tok === '>') {
        literal = false;
        next = node.fwc;
        if (next === undefined) next = node.fwc = this.newNode();
      } else {
        let children = node.literal;
        if (children === undefined) children = node.literal = new Map();
        next = children.get(tok);
        if (next === undefined) {
          next = this.newNode();
          children.set(tok, next);
        }
      }
      node = next;
    }

    const queue = sub.queue;
    if (isEmptyQueue(queue)) {
      let set = node.psubs;
      if (set === undefined) set = node.psubs = new Set();
      if (set.has(sub)) return;
      set.add(sub);
    } else {
      let groups = node.qsubs;
      if (groups === undefined) groups = node.qsubs = [];
      let group: QueueGroup<S> | undefined;
      for (let g = 0; g < groups.length; g++) {
        if (groups[g]!.name === queue) {
          group = groups[g];
          break;
        }
      }
      if (group === undefined) {
        group = { name: queue, subs: new Set() };
        groups.push(group);
      }
      if (group.subs.has(sub)) return;
      group.subs.add(sub);
    }
    this.subs++;
    this.inserts++;
    this.invalidate(subject, literal);
  }

  /** Removes a subscription; false (and nothing changes) when it is not in the index. Prunes emptied branches. */
  remove(sub: S): boolean {
    const subject = sub.subject;
    const n = tokenize(subject);
    if (n === 0) return false;
    let literal = true;
    for (let i = 0; i < n; i++) {
      const tok = scratch[i]!;
      if (tok === '*' || tok === '>') literal = false;
    }
    if (!this.removeBelow(this.root, 0, n, sub)) return false;
    this.subs--;
    this.removes++;
    this.invalidate(subject, literal);
    return true;
  }

  /**
   * Every subscription the published `subject` reaches. On a cache hit this is a Map lookup and two counter bumps,
   * allocating nothing. The returned arrays are shared with the cache and later callers: never modify them.
   */
  match(subject: string): SublistResult<S> {
    this.matches++;
    if (subject === this.lastKey) {
      this.cacheHits++;
      return this.lastResult;
    }
    const cached = this.cache.get(subject);
    if (cached !== undefined) {
      this.cacheHits++;
      this.lastKey = subject;
      this.lastResult = cached;
      return cached;
    }
    const n = tokenize(subject);
    if (n === 0) return EMPTY_RESULT;

    const builder: ResultBuilder<S> = { psubs: [], qsubs: [] };
    matchNode(this.root, 0, n, builder);
    const result: SublistResult<S> = builder.psubs.length === 0 && builder.qsubs.length === 0 ? EMPTY_RESULT : builder;
    if (this.cacheMax > 0) {
      // First in, first out through a ring of the keys cached so far. `cache.keys().next()` on a Map that keeps
      // losing its oldest entry walks every deleted slot before it (V8 compacts only on rehash): 7 µs per miss
      // instead of 2.4 µs in our 100k-subscription measurement. A slot whose key was invalidated and cached
      // again later may evict that newer entry early; that costs a miss, never a wrong answer, and every live
      // entry still owns a slot, so the cache never exceeds cacheMax.
      const ring = this.ring;
      if (ring.length < this.cacheMax) {
        ring.push(subject);
      } else {
        const slot = this.ringNext;
        this.cache.delete(ring[slot]!);
        ring[slot] = subject;
        this.ringNext = slot + 1 === ring.length ? 0 : slot + 1;
      }
      this.cache.set(subject, result);
      this.lastKey = subject;
      this.lastResult = result;
    }
    return result;
  }

  /**
   * Does any subscription match `subject`? Walks the trie without building a result and stops at the first hit;
   * neither counts as a match in the stats nor fills the cache.
   */
  hasInterest(subject: string): boolean {
    const cached = this.cache.get(subject);
    if (cached !== undefined) return cached !== EMPTY_RESULT;
    const n = tokenize(subject);
    if (n === 0) return false;
    return hasInterestBelow(this.root, 0, n);
  }

  /** The `/subsz` figures; fanout is computed over the cached results, as nats-server does. */
  stats(): SublistStats {
    let total = 0;
    let max = 0;
    for (const r of this.cache.values()) {
      const fanout = r.psubs.length + r.qsubs.length;
      total += fanout;
      if (fanout > max) max = fanout;
    }
    const size = this.cache.size;
    return {
      num_subscriptions: this.subs,
      num_cache: size,
      num_inserts: this.inserts,
      num_removes: this.removes,
      num_matches: this.matches,
      cache_hit_rate: this.matches > 0 ? this.cacheHits / this.matches : 0,
      max_fanout: max,
      avg_fanout: size > 0 ? total / size : 0,
    };
  }

  private newNode(): Node<S> {
    this.nodes++;
    return new Node<S>();
  }

  /**
   * Drops the cached results an inserted or removed subscription changes. A literal subject can only change its
   * own entry; a wildcard one every cached subject it matches (nats-server sublist.go addToCache/removeFromCache).
   */
  private invalidate(subject: string, literal: boolean): void {
    this.lastKey = undefined;
    if (this.cache.size === 0) return;
    if (literal) {
      this.cache.delete(subject);
      return;
    }
    for (const key of this.cache.keys()) {
      if (subjectMatches(subject, key)) this.cache.delete(key);
    }
  }

  /** Removes `sub` from the node `scratch[i..n)` leads to; prunes children left empty on the way back up. */
  private removeBelow(node: Node<S>, i: number, n: number, sub: S): boolean {
    if (i === n) return removeFromNode(node, sub);
    const tok = scratch[i]!;
    let child: Node<S> | undefined;
    if (tok === '*') child = node.pwc;
    else if (tok === '>') child = node.fwc;
    else child = node.literal?.get(tok);
    if (child === undefined || !this.removeBelow(child, i + 1, n, sub)) return false;
    if (child.isEmpty()) {
      this.nodes--;
      if (tok === '*') node.pwc = undefined;
      else if (tok === '>') node.fwc = undefined;
      else {
        const children = node.literal!;
        children.delete(tok);
        if (children.size === 0) node.literal = undefined;
      }
    }
    return true;
  }
}

function removeFromNode<S extends SublistEntry>(node: Node<S>, sub: S): boolean {
  const queue = sub.queue;
  if (isEmptyQueue(queue)) {
    const set = node.psubs;
    if (set === undefined || !set.delete(sub)) return false;
    if (set.size === 0) node.psubs = undefined;
    return true;
  }
  const groups = node.qsubs;
  if (groups === undefined) return false;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]!;
    if (group.name !== queue) continue;
    if (!group.subs.delete(sub)) return false;
    if (group.subs.size === 0) {
      groups.splice(g, 1);
      if (groups.length === 0) node.qsubs = undefined;
    }
    return true;
  }
  return false;
}

/**
 * Collects the subscriptions matching tokens `scratch[i..n)` below `node` (nats-server sublist.go matchLevel):
 * at each level a `>` child takes everything that remains (at least one token), a `*` child consumes one token.
 */
function matchNode<S extends SublistEntry>(node: Node<S>, i: number, n: number, out: ResultBuilder<S>): void {
  for (; i < n; i++) {
    if (node.fwc !== undefined) addNode(node.fwc, out);
    if (node.pwc !== undefined) matchNode(node.pwc, i + 1, n, out);
    const next = node.literal?.get(scratch[i]!);
    if (next === undefined) return;
    node = next;
  }
  addNode(node, out);
}

function addNode<S extends SublistEntry>(node: Node<S>, out: ResultBuilder<S>): void {
  const psubs = node.psubs;
  if (psubs !== undefined) {
    const list = out.psubs;
    for (const sub of psubs) list.push(sub);
  }
  const groups = node.qsubs;
  if (groups === undefined) return;
  for (let g = 0; g < groups.length; g++) {
    const group = groups[g]!;
    let slot: S[] | undefined;
    // Linear search by name over the result's groups, as nats-server findQSlot: results hold few groups.
    for (let q = 0; q < out.qsubs.length; q++) {
      if (out.qsubs[q]![0]!.queue === group.name) {
        slot = out.qsubs[q];
        break;
      }
    }
    if (slot === undefined) {
      slot = [];
      out.qsubs.push(slot);
    }
    for (const sub of group.subs) slot.push(sub);
  }
}

function hasInterestBelow<S>(node: Node<S>, i: number, n: number): boolean {
  for (; i < n; i++) {
    if (node.fwc !== undefined) return true; // a node only exists while something below it is subscribed
    if (node.pwc !== undefined && hasInterestBelow(node.pwc, i + 1, n)) return true;
    const next = node.literal?.get(scratch[i]!);
    if (next === undefined) return false;
    node = next;
  }
  return node.psubs !== undefined || node.qsubs !== undefined;
}
