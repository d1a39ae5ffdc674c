// Who is calling the HTTP intake, from the request's headers alone (before any body is read): a bearer token
// verified with shared's verifier ([intake.http.auth]), the client certificate the TLS handshake verified
// ([intake.http.tls] verify), both, or, where allowed, no one. The answer is the authcontext stored on the
// caller's events and the event types it may produce (grants.ts); a refusal is 401 or 403 with its
// WWW-Authenticate challenge (RFC 6750 section 3). Never logs or echoes the token.
import type http from 'node:http';
import { TLSSocket } from 'node:tls';
import {
  certificateSubject,
  createJwtVerifier,
  UNAUTHENTICATED,
  type AuthContext,
  type JwtVerifier,
  type TokenClaims,
} from '@event-broker/shared';
import type { IntakeHttpSettings } from './config.js';
import { ANY_TYPE, grantsFromClaims } from './grants.js';

export interface Caller {
  auth: AuthContext;
  /** Event types (or noun:verb patterns) it may produce. */
  grants: readonly string[];
}

export type CallerVerdict =
  { ok: true; caller: Caller } | { ok: false; status: 401 | 403; reason: string; challenge: string };

const REALM = 'realm="event-intake"';
// An Authorization header larger than this is no token we would accept (shared verify.ts MAX_TOKEN_CHARS bounds
// the token; node's header limit bounds the rest).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** RFC 6750 section 3's challenge; the description is ours (never the token). */
function challenge(error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope', description?: string): string {
  if (error === undefined) return `Bearer ${REALM}`;
  // RFC 6750 3: its characters are %x20-21 / %x23-5B / %x5D-7E. A reason can quote the token's own header (its
  // alg), and a character node refuses in a header would turn the 401 into a 500.
  const text = description?.replace(/["\\]/g, "'").replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
  const desc = text === undefined ? '' : `, error_description="${text}"`;
  return `Bearer ${REALM}, error="${error}"${desc}`;
}

export class CallerCheck {
  private readonly verifier: JwtVerifier | undefined;

  constructor(
    private readonly settings: IntakeHttpSettings,
    opts: { currentDate?: () => Date } = {},
  ) {
    // Throws ConfigError when the key no longer reads (the load checked it; a file may change after).
    this.verifier =
      settings.auth &&
      createJwtVerifier(settings.auth, {
        section: 'intake.http.auth',
        ...(opts.currentDate && { currentDate: opts.currentDate }),
      });
  }

  async check(req: http.IncomingMessage): Promise<CallerVerdict> {
    const subject = certificateOf(req);
    if (this.settings.tls?.verify === true && subject === undefined) {
      // The TLS server refuses an unverified certificate at the handshake; this is the belt to its braces.
      return { ok: false, status: 401, reason: 'a client certificate is required', challenge: challenge() };
    }
    const auth = this.settings.auth;
    if (this.verifier === undefined || auth === undefined) {
      if (subject !== undefined) return { ok: true, caller: this.certificateCaller(subject) };
      // Only when asked: a reload that drops [intake.http.auth] leaves allow_anonymous (restart-only) as it runs.
      if (this.settings.allow_anonymous)
        return { ok: true, caller: { auth: UNAUTHENTICATED, grants: this.settings.event_types ?? ANY_TYPE } };
      const reason = 'no credential is configured for this listener and allow_anonymous is off';
      return { ok: false, status: 401, reason, challenge: challenge() };
    }
    const header = req.headers.authorization;
    if (header === undefined)
      return {
        ok: false,
        status: 401,
        reason: 'a bearer token is required (Authorization: Bearer <token>)',
        challenge: challenge(),
      };
    const m = BEARER.exec(header);
    if (m === null) {
      const reason = 'the Authorization header is not "Bearer <token>"';
      return { ok: false, status: 401, reason, challenge: challenge('invalid_request', reason) };
    }
    const verdict = await this.verifier.verify(m[1]!);
    if (!verdict.ok)
      return { ok: false, status: 401, reason: verdict.reason, challenge: challenge('invalid_token', verdict.reason) };
    const grants = grantsFromClaims(verdict.claims, auth.event_types_claim);
    if (!grants.ok)
      return {
        ok: false,
        status: 403,
        reason: grants.reason,
        challenge: challenge('insufficient_scope', grants.reason),
      };
    return {
      ok: true,
      caller: {
        auth: tokenAuthContext(verdict.claims, subject),
        grants: grants.grants ?? this.settings.event_types ?? ANY_TYPE,
      },
    };
  }

  private certificateCaller(subject: string): Caller {
    return {
      auth: Object.freeze({ authtype: 'service_account', authid: subject }),
      grants: this.settings.event_types ?? ANY_TYPE,
    };
  }
}

/** The 403 challenge for an event type the caller may not produce. */
export function scopeChallenge(reason: string): string {
  return challenge('insufficient_scope', reason);
}

/**
 * A token's caller: `sub` as authid; `service_account` when the token is a client's own (RFC 9068 section 2.2:
 * `client_id` equal to `sub` in a client-credentials token), `user` otherwise; the issuer, token id and certificate
 * subject in authclaims.
 */
export function tokenAuthContext(claims: TokenClaims, certSubject: string | undefined): AuthContext {
  const { iss, jti, sub } = claims;
  const extra = {
    ...(typeof iss === 'string' && { iss }),
    ...(typeof jti === 'string' && { jti }),
    ...(certSubject !== undefined && { cert_subject: certSubject }),
  };
  const authid = typeof sub === 'string' && sub !== '' ? sub : certSubject;
  const client = typeof sub === 'string' && claims['client_id'] === sub;
  return Object.freeze({
    authtype: client ? 'service_account' : 'user',
    ...(authid !== undefined && { authid }),
    ...(Object.keys(extra).length > 0 && { authclaims: JSON.stringify(extra) }),
  });
}

/** The verified client certificate's subject (its first SAN when the subject is empty), or undefined. */
function certificateOf(req: http.IncomingMessage): string | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  const subject = certificateSubject(cert);
  if (subject !== '') return subject;
  const san = cert.subjectaltname?.split(',')[0]?.trim();
  return san === undefined || san === '' ? undefined : san;
}
