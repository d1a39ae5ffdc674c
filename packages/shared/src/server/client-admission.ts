// A client's admission: its first CONNECT put to the authenticator, when there is one (the verdict awaited as
// admission.ts awaits one, reads paused meanwhile), a refusal logged and answered, and what an admitted client
// carries from it: who it is, its own limits and when its credential ends. nats-server authenticates a connection
// once, so this decides once. Reading the CONNECT's options, and enforcing the answer on every operation, are the
// connection's (client.ts: it keeps what it reads per message); the auth timeout is the frontend's, from accept.
import { Errors, type Parser, type ProtocolError } from '../protocol/index.js';
import { certificateSubject } from '../tls.js';
import type { Logger } from '../log.js';
import type { AuthContext } from './auth-context.js';
import {
  ExpiryTimer,
  awaitVerdict,
  type Admission,
  type ClientPermissions,
  type ConnectionLimits,
  type VerdictTarget,
} from './admission.js';
import type { ClientLimits } from './context.js';
import { messageBytesBound, type Transport } from './transport.js';

/** What the admission reads of the server that accepted the client (ClientContext's parts, client.ts). */
export interface AdmissionContext {
  /** Read on use, as ClientContext's. */
  readonly limits: ClientLimits;
  readonly logger: Logger;
}

/** The connection being admitted, as the admission sees it (a Client: naming it here would make the two import each other). */
export interface AdmissionPeer extends VerdictTarget {
  readonly cid: number;
  readonly transport: Transport;
  readonly name: string;
  readonly lang: string;
  readonly version: string;
  fail(err: ProtocolError, detail: string): void;
}

/** The connection's side of an admission: from now on it is admitted, allowed `permissions` (undefined: everything). */
export type Granted = (permissions: ClientPermissions | undefined) => void;

export class ClientAdmission {
  /** Who the authenticator says this is, for logs. */
  identity: string | undefined;
  /** Who the authenticator says this is, for the events it publishes; undefined: unauthenticated. */
  auth: AuthContext | undefined;
  /** Set by an admission with limits of its own (a token's): they lower the server's, never raise them. */
  private own: ConnectionLimits | undefined;
  private readonly expiry = new ExpiryTimer();

  constructor(
    private readonly ctx: AdmissionContext,
    private readonly client: AdmissionPeer,
    private readonly opts: {
      readonly parser: Parser;
      /** The authenticator's verdict on these CONNECT fields, read on use; undefined: no authenticator, all admitted. */
      readonly authenticate: (fields: Readonly<Record<string, unknown>>) => Admission | Promise<Admission> | undefined;
      readonly granted: Granted;
    },
  ) {}

  /**
   * The client's first CONNECT (its options read; `fields` as sent): admitted at once without an authenticator,
   * else on the authenticator's verdict, before anything behind the CONNECT is read. Refused: logged,
   * `Authorization Violation`, closed.
   */
  connect(fields: Readonly<Record<string, unknown>>): void {
    const verdict = this.opts.authenticate(fields);
    if (verdict === undefined) {
      this.admitted(undefined);
      return;
    }
    awaitVerdict(verdict, {
      parser: this.opts.parser,
      conn: this.client,
      apply: (v) => this.decide(v),
      failed: (reason) => ({ ok: false, reason: `authenticator failed: ${reason}` }),
    });
  }

  /** The largest message it may publish now: max_payload, lowered by its own limit when it has one. */
  get maxPayloadBytes(): number {
    const own = this.own?.maxPayloadBytes;
    const max = this.ctx.limits.max_payload;
    return own !== undefined && own < max ? own : max;
  }

  /** The most subscriptions it may hold now: max_subscriptions lowered by its own limit; undefined: no limit. */
  get maxSubscriptions(): number | undefined {
    const own = this.own?.maxSubscriptions;
    const max = this.ctx.limits.max_subscriptions; // 0: no limit
    if (max <= 0) return own;
    return own !== undefined && own < max ? own : max;
  }

  /** The client closed: its credential's end is no longer watched. */
  stop(): void {
    this.expiry.stop();
  }

  private decide(verdict: Admission): void {
    const client = this.client;
    if (client.isClosed) return;
    if (!verdict.ok) {
      const t = client.transport;
      const cert = t.peerCertificate();
      this.ctx.logger.warn(
        {
          cid: client.cid,
          ip: t.remoteAddress,
          port: t.remotePort,
          cert_subject: cert ? certificateSubject(cert) : undefined,
          reason: verdict.reason,
        },
        'client refused',
      );
      client.fail(Errors.authorizationViolation, verdict.reason);
      return;
    }
    this.identity = verdict.identity;
    this.auth = verdict.auth;
    this.own = verdict.limits;
    // In force from the first operation behind the CONNECT (nats-server applyAccountLimits sets c.mpay on admission).
    const parser = this.opts.parser;
    if (verdict.limits?.maxPayloadBytes !== undefined)
      parser.limits = { ...parser.limits, maxPayload: this.maxPayloadBytes };
    // The credential's end: `User Authentication Expired`, closed (nats-server client.go authExpired).
    if (verdict.expiresAt !== undefined)
      this.expiry.arm(verdict.expiresAt, () => client.fail(Errors.authExpired, 'credential expired'));
    if (client.isClosed) return;
    this.admitted(verdict.permissions);
  }

  private admitted(permissions: ClientPermissions | undefined): void {
    const { client, ctx } = this;
    const t = client.transport;
    // A WebSocket client may now send messages up to max_payload in one frame.
    t.setMaxMessageBytes?.(messageBytesBound(ctx.limits, true));
    ctx.logger.info(
      {
        cid: client.cid,
        ip: t.remoteAddress,
        port: t.remotePort,
        transport: t.kind,
        who: this.identity,
        client_name: client.name || undefined,
        lang: client.lang || undefined,
        version: client.version || undefined,
      },
      'client connected',
    );
    this.opts.granted(permissions);
  }
}
