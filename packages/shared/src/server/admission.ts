// Admitting a connection on its CONNECT: the authenticator's verdict (a client's, here; a leaf link's in
// leafnode/link.ts) and the wait for one that answers later, which both a client and a leaf link run the same way.
// Who may connect is the authenticator's (client.ts ClientAuthenticator); counting the connections that wait is
// slots.ts's.
import type { Parser } from '../protocol/index.js';
import type { AuthContext } from './auth-context.js';

/** What a client may touch once admitted; without one, everything. */
export interface ClientPermissions {
  canPublish(subject: string): boolean;
  canSubscribe(subject: string, queue: string | undefined): boolean;
  /**
   * Whether a message on this literal subject may reach a wildcard subscription: a deny list is also checked on
   * delivery, as nats-server does (client.go deliverMsg, checkDenySub). Absent: always.
   */
  canDeliver?(subject: string): boolean;
  /** A request with this reply subject was delivered to the client (the `resp` permission allows answering it). */
  noteReply?(reply: string): void;
  /**
   * Whether a publish may name this subject as its reply: a reserved one may not (reserved.ts), or the process's own
   * responders would answer there in its name. Absent: any.
   */
  canReplyTo?(reply: string): boolean;
}

/**
 * Limits of one connection, from its credential (a gateway token's `nats.subs` and `nats.payload`, as nats-server
 * reads a user JWT's in client.go applyAccountLimits). They only lower the server's: the client enforces the smaller
 * of each and the server's limit in force (read on use, so a reload lowering the server's reaches it too).
 */
export interface ConnectionLimits {
  /** Most subscriptions the connection may hold (0: none at all); absent: only the server's max_subscriptions. */
  readonly maxSubscriptions?: number;
  /** Largest message it may publish, headers included; absent: only the server's max_payload. */
  readonly maxPayloadBytes?: number;
}

/** An authenticator's verdict on a CONNECT. */
export type Admission =
  | {
      readonly ok: true;
      readonly permissions?: ClientPermissions;
      /** When the credential expires (epoch ms): the client then gets `User Authentication Expired` and is closed. */
      readonly expiresAt?: number;
      /** Who the client is, for logs (a token's subject, never the token). */
      readonly identity?: string;
      /** Who the client is, for the events it publishes (auth-context.ts); absent: unauthenticated. */
      readonly auth?: AuthContext;
      /** This connection's own limits, lowering the server's; absent: the server's alone. */
      readonly limits?: ConnectionLimits;
    }
  | { readonly ok: false; readonly reason: string };

/** The connection a verdict is awaited for: open or not, its reads paused and resumed as a publisher's are. */
export interface VerdictTarget {
  readonly isClosed: boolean;
  pause(): void;
  resume(): void;
}

/**
 * Applies a verdict on a CONNECT: at once when it is given at once; otherwise nothing behind the CONNECT is read
 * until it settles, as nats-server checks inline (a refused peer's next bytes are never answered). The parser keeps
 * the rest of the read unparsed and the connection reads no more, so a peer waiting for its check costs no more
 * than one read. Once the verdict is applied, an admitted connection parses what followed its CONNECT, in order,
 * then reads again (unless a consumer's flow control still pauses it). A rejected promise becomes `failed(reason)`.
 */
export function awaitVerdict<V extends { readonly ok: boolean }>(
  verdict: V | Promise<V>,
  opts: { parser: Parser; conn: VerdictTarget; apply(v: V): void; failed(reason: string): V },
): void {
  if (!(verdict instanceof Promise)) {
    opts.apply(verdict);
    return;
  }
  const { parser, conn } = opts;
  parser.pause();
  conn.pause();
  verdict
    .then(
      (v) => v,
      (err: unknown) => opts.failed(err instanceof Error ? err.message : String(err)),
    )
    .then((v) => {
      if (conn.isClosed) return;
      opts.apply(v);
      if (conn.isClosed || !v.ok) return;
      parser.resume();
      if (!conn.isClosed) conn.resume();
    });
}

/** Calls `expired` at a credential's end (epoch ms), at once when already past; re-armed past setTimeout's ~24.8 days. */
export class ExpiryTimer {
  private timer: NodeJS.Timeout | undefined;

  arm(expiresAt: number, expired: () => void): void {
    this.stop();
    const ms = expiresAt - Date.now();
    if (ms <= 0) {
      expired();
      return;
    }
    this.timer = setTimeout(() => this.arm(expiresAt, expired), Math.min(ms, 2 ** 31 - 1));
    this.timer.unref?.();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
