// What an Uplink is given and what it tells: its options, their defaults and checks, the credentials it sends, its
// states, events and counters. The link itself is uplink.ts's.
import type tls from 'node:tls';
import type { Logger } from '../log.js';
import type { ClientLimits } from '../server/client.js';
import type { HubInfo, UplinkError } from './dial.js';
import type { InterestTable } from './interest.js';
import type { OutageBuffer } from './outage-buffer.js';
import type { LinkStats } from './peer.js';

export const UPLINK_DEFAULTS = Object.freeze({
  /** What the gateway's [upstream] buffer_bytes defaults to. */
  bufferBytes: 8 * 1024 * 1024,
  /** nats-server's leafnode reconnect interval. */
  reconnectDelayMs: 1000,
  reconnectMaxDelayMs: 10_000,
  /** nats-server gives a solicited leaf 2 s to finish connecting (leafnode.go connectProcessTimeout). */
  handshakeTimeoutMs: 2000,
  /** Long enough for the hub's own clients to reconnect and re-subscribe after it restarted (nats.js waits 2 s). */
  interestWaitMs: 10_000,
  /** A shutting-down hub's LS- burst and its closing the link are milliseconds apart; a real unsubscribe rarely is. */
  withdrawnInterestMs: 2000,
});

export interface UplinkOptions {
  /** Hub addresses tried in turn: `nats://host:port`, `tls://host:port` or `host:port` (port 7422 when absent). */
  readonly urls: readonly string[];
  /**
   * node:tls options for the hub: loadClientTlsOptions' result (cert, key, ca) or any tls.connect options. Given,
   * the link is TLS whatever the URL; without it, TLS when the URL is tls:// or the hub's INFO says tls_required.
   */
  readonly tls?: tls.ConnectionOptions;
  /** Read on use: ping_interval, ping_max, max_control_line (the gateway's client limits). */
  readonly limits: ClientLimits;
  readonly logger: Logger;
  /**
   * Our server name in CONNECT. A nats-server hub replaces a link with the name of a newer one (leafnode.go
   * addLeafNodeConnection): give each gateway its own. Default: the server id.
   */
  readonly name?: string;
  /** Default: a random nats-server-shaped id (`N` and 55 base32 characters). */
  readonly serverId?: string;
  /** Our version in CONNECT; a nats-server hub with leafnodes.min_version refuses lower ones. Default "0.1.0". */
  readonly version?: string;
  /** Our cluster name in CONNECT; absent when not given. */
  readonly cluster?: string;
  /**
   * What the hub's leafnode authorization asks for, sent in CONNECT and never logged: `user` and `password` (as a
   * nats-server 2.9 leaf remote sends its URL's user info), or `token` (as `auth_token`, which the event service's
   * [leafnodes.authorization] token reads). Overrides credentials in a URL.
   */
  readonly credentials?: UplinkCredentials;
  /**
   * Buffered bytes at which local publishers are paused while the link is down (or its socket is backed up). The
   * buffer can exceed it by what paused publishers had already read (one socket read each).
   */
  readonly bufferBytes?: number;
  /** First wait before redialling; doubles per failed attempt up to reconnectMaxDelayMs, half of it jitter. */
  readonly reconnectDelayMs?: number;
  readonly reconnectMaxDelayMs?: number;
  /** Bounds TCP connect + INFO + TLS, and separately the PONG answering our CONNECT. */
  readonly handshakeTimeoutMs?: number;
  /**
   * After a reconnect, how long buffered messages wait for the hub to announce interest in their subject again (its
   * own subscribers may come back after us); past it, those nobody wants are discarded, as NATS would.
   */
  readonly interestWaitMs?: number;
  /**
   * Interest the hub withdrew (LS-) this long before the link dropped is kept through the outage too: a hub
   * shutting down closes its clients, and withdraws their interest, before or after its leaf links in no fixed
   * order (nats-server server.go Shutdown walks a map), so what it wanted a moment ago is buffered like the rest.
   */
  readonly withdrawnInterestMs?: number;
  /**
   * The local broker's interest, when one already exists; default a new table, which only sees subscriptions made
   * after it: make the Uplink before local clients subscribe.
   */
  readonly interest?: InterestTable;
  /** Our id as a Conn in the local broker (logs, PublisherHandle.id); default 0. */
  readonly cid?: number;
  /**
   * Given, every message a local client publishes goes up stamped with who it was verified as (auth-stamp.ts: its
   * AuthContext in the Gateway-Auth header, a copy the client wrote removed), and the header is removed from what
   * comes down. Messages of in-process publishers carry none.
   */
  readonly stampAuth?: StampAuthOptions;
  /**
   * Say in CONNECT that this link takes credit for its clients (server/credit.ts: the event service grants event and
   * listener credit only to such a link). The gateway's.
   */
  readonly takesCredit?: boolean;
  /** Local interest never announced to the hub (the event service's credit responders): true keeps it here. */
  readonly keptLocal?: (subject: string) => boolean;
}

export interface UplinkCredentials {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /**
   * A `.creds` file (user JWT and NKEY seed), read at each CONNECT: its JWT goes as `jwt` and the hub's INFO nonce
   * signed with its seed as `sig` (nats-server 2.9 leaf remotes' `credentials`). Not with user or token.
   */
  readonly credsFile?: string;
}

/** idle: not started. connecting: dialling, or waiting to redial. handshake: CONNECT sent, no PONG yet. */
export type UplinkState = 'idle' | 'connecting' | 'handshake' | 'up' | 'closed';

export type UplinkEvent =
  | { readonly type: 'up'; readonly hub: HubInfo }
  | { readonly type: 'down'; readonly error: UplinkError }
  | { readonly type: 'closed' };

export interface UplinkCounters {
  /** Messages from the hub published locally, and their payload bytes (headers included). */
  inMsgs: number;
  inBytes: number;
  /** Messages written to the hub, and their payload bytes. */
  outMsgs: number;
  outBytes: number;
  /** Messages from the hub over what we accept (the larger of our max_payload and its), read past and dropped. */
  inOversize: number;
  /** LS+, LS- and LMSG from the hub whose subject, reply or queue is not UTF-8: dropped, the link stays up. */
  inRefused: number;
  /** Messages buffered for the hub now (link down, or older ones still waiting), and their bytes. */
  bufferedMsgs: number;
  bufferedBytes: number;
  /** Times the link came up again after having been up. */
  reconnects: number;
  /** Attempts that failed (dial, handshake) and links lost. */
  failures: number;
  /** Buffered messages discarded because the hub, back, no longer wanted their subject after interestWaitMs. */
  droppedNoInterest: number;
  /** Buffered messages discarded by close(). */
  droppedOnClose: number;
  /**
   * Messages not sent because they are larger than the hub's INFO max_payload: buffered from before the hub's limit was
   * known (an outage, a hub back with a smaller limit), or from in-process publishers. Clients of the gateway are
   * told the hub's limit and refused above it (event-gateway upstream-link.ts ClientLimitsInForce).
   */
  droppedOversize: number;
  /** Local publishers paused right now because the buffer (or the socket) is full. */
  pausedPublishers: number;
}

export interface StampAuthOptions {
  /**
   * Only messages whose subject starts with this carry `authclaims`; the others carry `authtype` and `authid`, who
   * without the detail. The claims are most of a stamp's bytes, and every byte is paid on both ends of the link for
   * every message (the gateway's 16-byte bench path, both servers' CPU per message: +50-60 % with a 218-byte stamp on
   * every message, +25-30 % with the 69 bytes of authtype and authid; bench/RESULTS.md). Default: every message
   * carries them.
   */
  readonly claimsOn?: string;
  /**
   * Only messages whose subject starts with this are stamped (the event service stores the stamp with events and
   * nothing else reads it verified); a client's own copy of the header is still removed from every message. Default:
   * every message is stamped.
   */
  readonly only?: string;
}

/** The timings and bound an Uplink runs with: its options checked, defaults filled in. */
export interface UplinkSettings {
  readonly bufferBytes: number;
  readonly reconnectDelayMs: number;
  readonly reconnectMaxDelayMs: number;
  readonly handshakeTimeoutMs: number;
  readonly interestWaitMs: number;
  readonly withdrawnInterestMs: number;
}

/** Checks the numeric options (a RangeError naming the bad one) and fills in UPLINK_DEFAULTS. */
export function uplinkSettings(opts: UplinkOptions): UplinkSettings {
  const bufferBytes = positive('bufferBytes', opts.bufferBytes ?? UPLINK_DEFAULTS.bufferBytes);
  const reconnectDelayMs = positive('reconnectDelayMs', opts.reconnectDelayMs ?? UPLINK_DEFAULTS.reconnectDelayMs);
  return {
    bufferBytes,
    reconnectDelayMs,
    reconnectMaxDelayMs: Math.max(
      reconnectDelayMs,
      positive('reconnectMaxDelayMs', opts.reconnectMaxDelayMs ?? UPLINK_DEFAULTS.reconnectMaxDelayMs),
    ),
    handshakeTimeoutMs: positive('handshakeTimeoutMs', opts.handshakeTimeoutMs ?? UPLINK_DEFAULTS.handshakeTimeoutMs),
    interestWaitMs: nonNegative('interestWaitMs', opts.interestWaitMs ?? UPLINK_DEFAULTS.interestWaitMs),
    withdrawnInterestMs: nonNegative(
      'withdrawnInterestMs',
      opts.withdrawnInterestMs ?? UPLINK_DEFAULTS.withdrawnInterestMs,
    ),
  };
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`Uplink ${name} must be a positive number, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`Uplink ${name} must be zero or more, got ${v}`);
  return v;
}

/** An uplink's counters, from its link stats, its buffer and its own counts. */
export function uplinkCounters(
  stats: LinkStats,
  b: OutageBuffer,
  c: { reconnects: number; failures: number; droppedOnClose: number; droppedOversize: number },
): UplinkCounters {
  return {
    ...stats,
    bufferedMsgs: b.length,
    bufferedBytes: b.bytes,
    reconnects: c.reconnects,
    failures: c.failures,
    droppedNoInterest: b.droppedNoInterest,
    droppedOnClose: c.droppedOnClose,
    droppedOversize: c.droppedOversize,
    pausedPublishers: b.pausedPublishers,
  };
}
