// Who may use the gateway: a client certificate chained to [tls] root_ca_path AND a token in CONNECT (`auth_token`,
// or `jwt` as NATS user-JWT clients send it) that the [auth] rules accept. The verdict carries the token's
// permissions, expiry and limits (auth/limits.ts) to the client connection (shared/server/client.ts enforces them).
// Refusals are logged by the connection with the reason and certificate subject; the token itself is never logged.
import type { Admission, Client, ClientAuthenticator, Logger } from '@event-broker/shared';
import { clientAuthContext } from './auth/identity.js';
import { checkClientCertificate } from './auth/mtls.js';
import { createTokenVerifier, type TokenVerifier } from './auth/jwt.js';
import { connectionLimits, NO_LIMIT, type LimitDefaults } from './auth/limits.js';
import type { GatewayConfig } from './config-types.js';

/** The token id (`jti`) of each admitted client's token, for revocation on reload. */
const tokenIds = new WeakMap<Client, string>();
/** What each admitted client presented, kept in memory (never logged) so a reload can judge it again. */
const credentials = new WeakMap<Client, { token: string; certificateDer: Buffer | undefined }>();

export class GatewayAdmission implements ClientAuthenticator {
  private readonly verifier: TokenVerifier;
  private readonly certificateRequired: boolean;
  private readonly clockToleranceMs: number;
  private readonly limitDefaults: LimitDefaults;
  /** The first token admitted under these rules with a `nats.data` limit is logged (not enforced: limits.ts). */
  private dataLimitLogged = false;

  constructor(
    config: GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.verifier = createTokenVerifier(config.auth);
    this.certificateRequired = config.tls.verify;
    this.clockToleranceMs = config.auth.clock_tolerance;
    this.limitDefaults = config.gateway;
  }

  get keySource(): TokenVerifier['keySource'] {
    return this.verifier.keySource;
  }
  get algorithms(): TokenVerifier['algorithms'] {
    return this.verifier.algorithms;
  }

  isRevoked(tokenId: string): boolean {
    return this.verifier.isRevoked(tokenId);
  }

  static tokenIdOf(client: Client): string | undefined {
    return tokenIds.get(client);
  }

  /** Judges an admitted client's token again under these rules: undefined when it passes, else the reason. */
  async recheck(client: Client): Promise<string | undefined> {
    const presented = credentials.get(client);
    if (presented === undefined) return undefined;
    const verdict = await this.verifier.verify(
      presented.token,
      presented.certificateDer === undefined ? {} : { certificateDer: presented.certificateDer },
    );
    return verdict.ok ? undefined : verdict.reason;
  }

  async admit(connect: Readonly<Record<string, unknown>>, client: Client): Promise<Admission> {
    const socket = client.transport.tlsSocket();
    // The frontend only serves TLS, so a plaintext socket here is a bug, never a way in.
    if (socket === undefined) return { ok: false, reason: 'not TLS' };
    const cert = checkClientCertificate(socket, { required: this.certificateRequired });
    if (!cert.ok) return { ok: false, reason: cert.reason };
    const token =
      typeof connect.auth_token === 'string' && connect.auth_token !== ''
        ? connect.auth_token
        : typeof connect.jwt === 'string'
          ? connect.jwt
          : undefined;
    if (token === undefined || token === '') return { ok: false, reason: 'no token' };
    const verdict = await this.verifier.verify(
      token,
      cert.certificate.der === undefined ? {} : { certificateDer: cert.certificate.der },
    );
    if (!verdict.ok) return { ok: false, reason: verdict.reason };
    if (verdict.tokenId !== undefined) tokenIds.set(client, verdict.tokenId);
    credentials.set(client, { token, certificateDer: cert.certificate.der });
    const identity = verdict.subject ?? cert.certificate.subject ?? 'unnamed';
    const data = verdict.limits.data;
    if (data !== undefined && data !== NO_LIMIT && !this.dataLimitLogged) {
      this.dataLimitLogged = true;
      this.logger.warn(
        { cid: client.cid, who: identity, data_limit: data },
        'token carries a nats.data limit: not enforced, as nats-server enforces none (subs and payload are); logged once per configuration',
      );
    }
    const broad = verdict.permissions.rules.broadInboxEntries;
    if (broad.length > 0) {
      // Admitted, narrowed (permissions.ts, Reply subjects): refusing would also end what the rest of the grant
      // allows; the client learns at the subscription (Permissions Violation), the operator here.
      this.logger.warn(
        {
          cid: client.cid,
          who: identity,
          ...(verdict.tokenId !== undefined && { token_id: verdict.tokenId }),
          entries: broad,
        },
        "token grants every client's inbox: not honoured; replies need a private prefix grant such as _INBOX.<id>.>",
      );
    }
    return {
      ok: true,
      permissions: verdict.permissions,
      // The leeway that admitted a token up to clock_tolerance past its exp also bounds its live connection; at
      // exp itself a token admitted within the leeway would be told User Authentication Expired at once.
      ...(verdict.expiresAt !== undefined && { expiresAt: verdict.expiresAt + this.clockToleranceMs }),
      identity,
      limits: connectionLimits(verdict.limits, this.limitDefaults),
      auth: clientAuthContext({ claims: verdict.claims, certificateSubject: cert.certificate.subject }),
    };
  }
}
