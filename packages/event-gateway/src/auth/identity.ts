// Who an admitted gateway client is, for the events it publishes: the CloudEvents authcontext values
// (shared server/auth-context.ts) that the uplink stamps on each of its messages (shared leafnode/auth-stamp.ts).
// Built from what admission verified, the token's claims and the certificate; never the token or a key.
import type { AuthContext } from '@event-broker/shared';
import type { TokenClaims } from './jwt.js';

/** What was verified at admission. */
export interface VerifiedClient {
  claims: TokenClaims;
  /** The client certificate's subject (`CN=alice, O=acme`), when one was presented. */
  certificateSubject?: string | undefined;
}

/**
 * `app_user`, the token's `sub` as the principal (the certificate's subject for a token without one), and in
 * `authclaims` what tells this credential apart: the token's issuer and id, the certificate's subject.
 */
export function clientAuthContext(v: VerifiedClient): AuthContext {
  const { iss, jti, sub } = v.claims;
  const claims = {
    ...(typeof iss === 'string' && { iss }),
    ...(typeof jti === 'string' && { jti }),
    ...(v.certificateSubject !== undefined && { cert_subject: v.certificateSubject }),
  };
  const authid = typeof sub === 'string' && sub !== '' ? sub : v.certificateSubject;
  return Object.freeze({
    authtype: 'app_user',
    ...(authid !== undefined && { authid }),
    ...(Object.keys(claims).length > 0 && { authclaims: JSON.stringify(claims) }),
  });
}
