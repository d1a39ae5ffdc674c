// Who published a message, as the CloudEvents authcontext extension names it (cloudevents/spec
// extensions/authcontext.md: `authtype`, `authid`, `authclaims`). The broker learns it when it admits a connection
// (a service user, the shared token, a gateway client's token and certificate); the event intake stores it on the
// event, never taking it from the producer's own JSON.

/** The extension's values for `authtype`. */
export const AUTH_TYPES = Object.freeze([
  'app_user',
  'user',
  'service_account',
  'api_key',
  'system',
  'unauthenticated',
  'unknown',
] as const);
export type AuthType = (typeof AUTH_TYPES)[number];

export interface AuthContext {
  readonly authtype: AuthType;
  /** The principal: a user name, a token's subject. Never a secret. */
  readonly authid?: string;
  /** Further verified facts about the principal, as one JSON string (the spec's type for it). */
  readonly authclaims?: string;
}

/** The process itself publishing (an in-process producer of the embedding program, the handlers). */
export const IN_PROCESS_AUTH: AuthContext = Object.freeze({ authtype: 'system', authid: 'in-process' });

/** A connection admitted with no credential (no authorization configured). */
export const UNAUTHENTICATED: AuthContext = Object.freeze({ authtype: 'unauthenticated' });
