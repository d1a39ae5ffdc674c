// What a NATS subject is: the token rules a SUB, a pedantic PUB and a queue name must satisfy, and whether a literal
// subject falls under a wildcard pattern. Pure string functions, no regexes and no allocation, so the sublist and
// the permission checks can call them per operation. Which -ERR to send is the caller's business.

const DOT = 0x2e; // '.'
const STAR = 0x2a; // '*' matches exactly one token
const GT = 0x3e; // '>' matches one or more trailing tokens
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

/**
 * True for the whitespace that separates protocol arguments (nats-server client.go splitArg: space, tab, CR, LF).
 * Form feed is deliberately absent: nats-server 2.9.10 accepts `SUB foo\fbar 1` and delivers to it, because its
 * SUB path only runs Sublist.Insert's checks, not IsValidSubject's whitespace check (observed side by side).
 */
function isArgSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === LF || c === CR;
}

/**
 * A subject a client may subscribe to: non-empty tokens separated by `.`, no whitespace, and `>` only as the last
 * token. `*` and `>` are wildcards only as whole tokens: `fo*o` and `a>b` are ordinary literal tokens
 * (nats-server sublist.go Insert / IsValidSubject).
 */
export function isValidSubject(subject: string): boolean {
  const n = subject.length;
  if (n === 0) return false;
  let start = 0;
  let sawFwc = false;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? subject.charCodeAt(i) : DOT;
    if (c === DOT) {
      const len = i - start;
      // An empty token (`foo..bar`, `.foo`, `foo.`) or any token after `>` (`foo.>.bar`) is invalid.
      if (len === 0 || sawFwc) return false;
      if (len === 1 && subject.charCodeAt(start) === GT) sawFwc = true;
      start = i + 1;
    } else if (isArgSpace(c)) {
      return false;
    }
  }
  return true;
}

/**
 * True when no token is a wildcard (`*` or `>` standing alone). Does not check validity: `foo..bar` is "literal".
 * nats-server sublist.go subjectIsLiteral, which the cache layer uses the same way.
 */
export function isLiteralSubject(subject: string): boolean {
  const n = subject.length;
  for (let i = 0; i < n; i++) {
    const c = subject.charCodeAt(i);
    if (
      (c === STAR || c === GT) &&
      (i === 0 || subject.charCodeAt(i - 1) === DOT) &&
      (i + 1 === n || subject.charCodeAt(i + 1) === DOT)
    ) {
      return false;
    }
  }
  return true;
}

/**
 * A subject a pedantic client may publish to: valid and without wildcards. nats-server client.go processPub checks
 * IsValidLiteralSubject only when the client's CONNECT asked for pedantic; otherwise publish subjects go unchecked
 * (and a subject with an empty token simply matches nothing).
 */
export function isValidPublishSubject(subject: string): boolean {
  return isValidSubject(subject) && isLiteralSubject(subject);
}

/** A queue group name: non-empty, no whitespace (it is one protocol argument). */
export function isValidQueueName(queue: string): boolean {
  const n = queue.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    if (isArgSpace(queue.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * Does the published `subject` fall under the subscription `pattern`? `*` matches exactly one token, `>` one or
 * more (so `foo.>` does not match `foo`). Tokens of `subject` are compared literally, so a published `foo.*` is
 * matched by `foo.*` and `foo.>` but not by `foo.bar`, exactly as the sublist trie behaves. A subject with an empty
 * token matches nothing (nats-server sublist.go match returns the empty result for it). Allocates nothing.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const pl = pattern.length;
  const sl = subject.length;
  if (pl === 0 || sl === 0) return false;
  let pi = 0;
  let si = 0;
  for (;;) {
    let pe = pattern.indexOf('.', pi);
    if (pe === -1) pe = pl;
    let se = subject.indexOf('.', si);
    if (se === -1) se = sl;
    const plen = pe - pi;
    const slen = se - si;
    if (plen === 0 || slen === 0) return false;
    if (plen === 1 && pattern.charCodeAt(pi) === GT) {
      // `>` takes this token and every one after it; they must all be non-empty.
      return hasNoEmptyToken(subject, se);
    }
    if (!(plen === 1 && pattern.charCodeAt(pi) === STAR)) {
      if (plen !== slen) return false;
      for (let k = 0; k < plen; k++) {
        if (pattern.charCodeAt(pi + k) !== subject.charCodeAt(si + k)) return false;
      }
    }
    const patternDone = pe === pl;
    const subjectDone = se === sl;
    if (patternDone || subjectDone) return patternDone && subjectDone;
    pi = pe + 1;
    si = se + 1;
  }
}

/** From `from` (the end of a non-empty token), are all remaining tokens non-empty? */
function hasNoEmptyToken(subject: string, from: number): boolean {
  const n = subject.length;
  for (let i = from; i < n; i++) {
    if (subject.charCodeAt(i) === DOT && (i + 1 === n || subject.charCodeAt(i + 1) === DOT)) return false;
  }
  return true;
}
