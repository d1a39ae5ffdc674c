// The authenticator the client frontend asks: the admission rules in force (admission.ts; a reload replaces them
// whole), each refusal counted by reason (auth-failures.ts) and each token's permissions wrapped to count violations,
// for /varz and /metrics; after a reload, each live client judged again under the new rules. Judging one CONNECT is
// admission.ts's; logging and answering a refusal is the Client's; which clients exist and when a reload happens
// is server.ts's.
import {
  Errors,
  type Admission,
  type Client,
  type ClientAuthenticator,
  type ClientPermissions,
  type Logger,
} from '@event-broker/shared';
import { GatewayAdmission } from './admission.js';
import { AuthFailureCounts } from './auth-failures.js';

export class AdmissionGate implements ClientAuthenticator {
  /** Refused admissions by reason, for /metrics and /varz. */
  readonly authFailures = new AuthFailureCounts();
  /** Permissions violations since start (the connection stays open; nats-server counts none). */
  readonly permissionViolations = { publish: 0, subscribe: 0 };

  constructor(
    private admission: GatewayAdmission,
    private readonly logger: Logger,
  ) {}

  /** The rules in force. */
  get rules(): GatewayAdmission {
    return this.admission;
  }

  /** A reload's rules, for every admission from now on (the clients already in: judgeAgain). */
  use(rules: GatewayAdmission): void {
    this.admission = rules;
  }

  /** The verdict of the rules in force, counted. */
  admit(connect: Readonly<Record<string, unknown>>, client: Client): Promise<Admission> {
    return this.admitUnderCurrentRules(connect, client).then(
      (verdict) => this.counted(verdict),
      (err: unknown) => {
        this.authFailures.record('authenticator failed');
        throw err;
      },
    );
  }

  /**
   * A verdict reached under rules a reload has since replaced is reached again under the new ones: a token the
   * reload revoked (or a key it retired) must not slip in because its check was in flight at the time.
   */
  private async admitUnderCurrentRules(connect: Readonly<Record<string, unknown>>, client: Client): Promise<Admission> {
    for (;;) {
      const rules = this.admission;
      const verdict = await rules.admit(connect, client);
      if (rules === this.admission) return verdict;
    }
  }

  private counted(verdict: Admission): Admission {
    if (!verdict.ok) {
      this.authFailures.record(verdict.reason);
      return verdict;
    }
    if (verdict.permissions === undefined) return verdict;
    return { ...verdict, permissions: countViolations(verdict.permissions, this.permissionViolations) };
  }

  /**
   * A live client under the rules a reload put in force: closed at once when it holds a token they revoke (true),
   * its token judged again (asynchronously) when [auth] changed.
   */
  judgeAgain(client: Client, authChanged: boolean): boolean {
    const admission = this.admission;
    const tokenId = GatewayAdmission.tokenIdOf(client);
    if (tokenId !== undefined && admission.isRevoked(tokenId)) {
      client.revoke('token revoked by configuration');
      return true;
    }
    if (authChanged) {
      // New keys, issuers, audiences or algorithms: every live token is judged again, as nats-server re-checks
      // its clients on reload; one the new rules refuse loses its connection with the text nats-server's reload
      // sends a client no longer authorized (reload.go reloadAuthorization, authViolation). A listed jti is
      // the revocation above (User Authentication Revoked).
      void admission.recheck(client).then((reason) => {
        if (reason === undefined || client.isClosed) return;
        this.logger.warn(
          { cid: client.cid, who: client.identity, reason },
          'connection closed: its token fails the reloaded [auth] rules',
        );
        client.fail(Errors.authorizationViolation, `token no longer accepted: ${reason}`);
      });
    }
    return false;
  }
}

/** The token's permissions, counting each refusal (a violation the client is told of; delivery filtering is not one). */
function countViolations(p: ClientPermissions, counts: { publish: number; subscribe: number }): ClientPermissions {
  const counted: ClientPermissions = {
    canPublish(subject) {
      if (p.canPublish(subject)) return true;
      counts.publish++;
      return false;
    },
    canSubscribe(subject, queue) {
      if (p.canSubscribe(subject, queue)) return true;
      counts.subscribe++;
      return false;
    },
  };
  // Delivery checks are not violations: the originals, bound, with no extra call per message.
  if (p.canDeliver !== undefined) counted.canDeliver = p.canDeliver.bind(p);
  if (p.noteReply !== undefined) counted.noteReply = p.noteReply.bind(p);
  return counted;
}
