// Which event types a caller may produce: a token's claim (`event_types` by default, [intake.http.auth]
// event_types_claim) or, for a credential that names none, [intake.http] event_types. An entry is a type name
// (`scanJobCreated`, `*` for any) or a noun:verb pattern as sink filters take them (`scanJob:*`, `*:deleted`).
import { eventKey, matchesFilter, type EventCatalogue, type TokenClaims } from '@event-broker/shared';

/** Every type (no claim, no setting). */
export const ANY_TYPE: readonly string[] = Object.freeze(['*']);

const TYPE_NAME = /^(\*|[A-Za-z][A-Za-z0-9_]{0,127})$/;
const PAIR = /^(\*|[A-Za-z][A-Za-z0-9_]*):(\*|[A-Za-z][A-Za-z0-9_]*)$/;

/** Why an entry is not a type or a noun:verb pattern, or undefined. */
export function typeGrantProblem(entry: string): string | undefined {
  if (TYPE_NAME.test(entry) || PAIR.test(entry)) return undefined;
  return `${JSON.stringify(entry.slice(0, 80))} is neither an event type nor a noun:verb pattern (e.g. "scanJob:*")`;
}

/** May a caller holding `grants` produce `type`? */
export function typeGranted(type: string, grants: readonly string[], catalogue: EventCatalogue): boolean {
  let key: string | undefined;
  for (const g of grants) {
    if (g === '*' || g === type) return true;
    if (g.includes(':') && matchesFilter((key ??= eventKey(type, catalogue)), [g])) return true;
  }
  return false;
}

/**
 * The grants a verified token carries in `claim`: undefined when it has no such claim (the listener's default
 * applies), a reason when the claim is not a list of entries (the token is refused: a malformed grant never widens).
 */
export function grantsFromClaims(
  claims: TokenClaims,
  claim: string,
): { ok: true; grants: readonly string[] | undefined } | { ok: false; reason: string } {
  const raw = claims[claim];
  if (raw === undefined) return { ok: true, grants: undefined };
  const list = typeof raw === 'string' ? [raw] : raw;
  if (!Array.isArray(list) || list.length > 1024)
    return { ok: false, reason: `the ${claim} claim is not a list of event types` };
  for (const g of list) {
    if (typeof g !== 'string' || typeGrantProblem(g) !== undefined)
      return { ok: false, reason: `the ${claim} claim holds an entry that is neither a type nor a noun:verb pattern` };
  }
  return { ok: true, grants: list as string[] };
}
