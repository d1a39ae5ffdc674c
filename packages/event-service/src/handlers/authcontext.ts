// Who published an event, as the stored event records it: the CloudEvents authcontext extension (cloudevents/spec
// extensions/authcontext.md: `authtype`, `authid`, `authclaims`), always from what the service verified, never from
// the producer's JSON. The intake calls stampAuthContext once per event, before validating it; what each kind of
// publisher is verified as is the authenticators' (service server.ts, the gateway's admission).
import {
  authHeaderValues,
  decodeAuthHeaderValue,
  IN_PROCESS_AUTH,
  LeafLink,
  UNAUTHENTICATED,
  type AuthContext,
} from '@event-broker/shared';
import type { Msg } from '../api.js';

/** The extension's attributes, in the order they are written. */
export const AUTH_ATTRIBUTES = ['authtype', 'authid', 'authclaims'] as const;

/** A leaf message whose header is missing no one verified, or one that cannot be read (two copies, not JSON). */
const UNKNOWN_AUTH: AuthContext = Object.freeze({ authtype: 'unknown' });

/**
 * Header values already read: a gateway client's stamp is the same on every message it sends, so a burst of its
 * events parses it once. Bounded; cleared when full (a new burst reads its value again).
 */
const decoded = new Map<string, AuthContext | undefined>();
const DECODED_MAX = 1024;

/**
 * Who published `msg`:
 * - over a leaf link (the gateway, a trusted leaf server): the link's Gateway-Auth header, which the gateway sets on
 *   each of its clients' messages (a copy the client wrote removed); without one, the link itself as a
 *   `service_account` named as it authenticated (its user or certificate), `unknown` when it named no one; a header
 *   that cannot be read, or more than one, `unknown`.
 * - a client of the service: what its authenticator set (a service user, the shared token as `api_key`), else
 *   `unauthenticated`.
 * - in-process (publisher id 0): `system`, `in-process`.
 */
export function publisherAuth(msg: Msg): AuthContext {
  const p = msg.publisher;
  if (p instanceof LeafLink) {
    const values = authHeaderValues(msg.headers);
    if (values.length === 1) return decodeCached(values[0]!) ?? UNKNOWN_AUTH;
    if (values.length > 1) return UNKNOWN_AUTH;
    return linkAuth(p);
  }
  if (p.id === 0) return IN_PROCESS_AUTH;
  return p.auth ?? UNAUTHENTICATED;
}

/**
 * Puts the publisher's authcontext on a parsed event (a JSON object; anything else is left for validation to
 * refuse), replacing whatever the producer wrote in those attributes, including attributes it must not have.
 */
export function stampAuthContext(value: unknown, msg: Msg): void {
  writeAuthContext(value, publisherAuth(msg));
}

/** stampAuthContext with the authcontext given: a producer the service verified itself (intake-http). */
export function writeAuthContext(value: unknown, auth: AuthContext): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  const event = value as Record<string, unknown>;
  for (const k of AUTH_ATTRIBUTES) delete event[k];
  event.authtype = auth.authtype;
  if (auth.authid !== undefined) event.authid = auth.authid;
  if (auth.authclaims !== undefined) event.authclaims = auth.authclaims;
}

function decodeCached(value: string): AuthContext | undefined {
  if (decoded.has(value)) return decoded.get(value);
  if (decoded.size >= DECODED_MAX) decoded.clear();
  const auth = decodeAuthHeaderValue(value);
  decoded.set(value, auth);
  return auth;
}

/** The link as the publisher: how it authenticated on the leafnode port (leafnode/auth.ts). */
function linkAuth(link: LeafLink): AuthContext {
  const id = link.identity;
  if (id === undefined || id.method === 'none') return UNKNOWN_AUTH;
  return { authtype: 'service_account', ...(id.user !== undefined && { authid: id.user }) };
}
