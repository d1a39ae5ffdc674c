// The gateway's side of its leafnode link into the event service: the uplink built from [upstream] (TLS, credentials,
// which messages carry the identity stamp), the warning its credentials may call for, the client limits the
// upstream's max_payload imposes, and the wait for its outage buffer at the lame duck's end. Dialling, redial, the
// outage buffer and flow control are shared Uplink's; event credit is event-credit.ts's; telling the clients of a
// new limit, and when to start or close the link, are server.ts's.
import {
  AUTH_STAMP_MAX_BYTES,
  isLoopbackHost,
  loadClientTlsOptions,
  parseHubUrl,
  type Broker,
  type ClientLimits,
  type InterestTable,
  type Logger,
} from '@event-broker/shared';
import type { GatewayConfig, UpstreamSection } from './config-types.js';
import { GatewayUplink } from './event-credit.js';
import { VERSION } from './version.js';

/** Where clients publish events (the event service's intake subscribes to `events.>`). */
const EVENT_SUBJECT_PREFIX = 'events.';

export interface UplinkSetup {
  /** The broker's interest table: the uplink announces upstream every interest it sees. */
  interest: InterestTable;
  /** The gateway's logger; the uplink logs as its `uplink` child. */
  logger: Logger;
  /** Names the gateway in the leaf CONNECT when [gateway] server_name is not set. */
  serverId: string;
}

/** The link [upstream] and [gateway] describe, not started; throws when the [upstream] TLS files cannot be used. */
export function createUplink(broker: Broker, config: GatewayConfig, setup: UplinkSetup): GatewayUplink {
  const up = config.upstream;
  const upstreamTls = hasUpstreamTls(up) ? loadClientTlsOptions(up, { section: 'upstream' }) : undefined;
  return new GatewayUplink(broker, {
    urls: up.urls,
    ...(upstreamTls !== undefined && { tls: upstreamTls }),
    limits: config.gateway,
    logger: setup.logger.child({ component: 'uplink' }),
    name: config.gateway.server_name ?? setup.serverId,
    serverId: setup.serverId,
    version: VERSION,
    bufferBytes: up.buffer_bytes,
    reconnectDelayMs: up.reconnect_delay,
    reconnectMaxDelayMs: up.reconnect_max_delay,
    interest: setup.interest,
    // Each client's messages carry who it was verified as (README, The event gateway); a copy it wrote is removed.
    // The claims ride only on events, which the service stores with them.
    stampAuth: { claimsOn: EVENT_SUBJECT_PREFIX, ...(up.auth_stamp === 'events' && { only: EVENT_SUBJECT_PREFIX }) },
    takesCredit: true,
    ...(up.user !== undefined || up.token !== undefined
      ? {
          credentials: {
            ...(up.user !== undefined && { user: up.user, password: up.password! }),
            ...(up.token !== undefined && { token: up.token }),
          },
        }
      : {}),
  });
}

/** [upstream] TLS settings given: the link is TLS whatever the URL's scheme. */
function hasUpstreamTls(up: UpstreamSection): boolean {
  return up.cert_path !== undefined || up.root_ca_path !== undefined;
}

/**
 * [upstream] credentials go in the leaf CONNECT. Over nats:// without [upstream] TLS settings the link is TLS only
 * when the upstream's INFO asks for it, and anyone on the path can strip that from the plaintext INFO: the
 * credential, and every message, would cross in clear. Warned at start, once per such URL, naming the setting and
 * the host, never the secret. Not refused: nats-server's leaf remotes send their credentials the same way, a private
 * network may be a deliberate choice, and refusing the credential would not protect the traffic it carries. Loopback
 * never leaves the machine.
 */
export function warnPlaintextCredentials(logger: Logger, up: UpstreamSection): void {
  const setting =
    up.token !== undefined ? 'upstream.token' : up.password !== undefined ? 'upstream.password' : undefined;
  if (hasUpstreamTls(up) || setting === undefined) return;
  for (const raw of up.urls) {
    const url = parseHubUrl(raw);
    if (url.tls || isLoopbackHost(url.host)) continue;
    logger.warn(
      { setting, upstream: url.display, host: url.host },
      'upstream credentials may cross the network in clear: use a tls:// URL or set [upstream] root_ca_path (or cert_path and key_path)',
    );
  }
}

/** The limits clients are kept to: [gateway]'s, max_payload never above what the upstream accepts (upstreamUp). */
export class ClientLimitsInForce {
  /** The upstream's INFO max_payload, from the latest link (kept through an outage); undefined before the first. */
  private upstreamMaxPayload: number | undefined;
  /** [gateway]'s limits, max_payload lowered to the upstream's when that is smaller (clientLimits). */
  private limits: ClientLimits;

  /** `config` reads the configuration in force (server.ts replaces it on reload, then calls reconfigured). */
  constructor(
    private readonly config: () => GatewayConfig,
    private readonly logger: Logger,
  ) {
    this.limits = config().gateway;
  }

  get current(): ClientLimits {
    return this.limits;
  }

  /** A reload's [gateway] limits, still under the upstream's max_payload. */
  reconfigured(): void {
    this.limits = clientLimits(this.config(), this.upstreamMaxPayload);
  }

  /**
   * The link came up with the upstream's INFO. A message over its max_payload would be refused there (our service
   * drops it, unseen by its subscribers; the uplink does not send it), and the uplink adds up to AUTH_STAMP_MAX_BYTES
   * to each client's message (the identity stamp), so clients are told the smaller limit in an INFO, as
   * nats-server sends one when its limits change, and a publish over it is refused to that client alone with
   * `Maximum Payload Violation` (nats-server client.go processPub). nats-server itself checks no size between a
   * leaf and its hub; official clients refuse such a publish locally once told. True when max_payload changed: the
   * caller applies the limits to every client and sends each an INFO.
   */
  upstreamUp(maxPayload: number): boolean {
    this.upstreamMaxPayload = maxPayload > 0 ? maxPayload : undefined;
    const config = this.config();
    const next = clientLimits(config, this.upstreamMaxPayload);
    if (next.max_payload === this.limits.max_payload) {
      this.limits = next;
      return false;
    }
    this.logger.info(
      {
        max_payload: next.max_payload,
        gateway_max_payload: config.gateway.max_payload,
        upstream_max_payload: maxPayload,
        identity_stamp_bytes: AUTH_STAMP_MAX_BYTES,
      },
      next.max_payload < config.gateway.max_payload
        ? "clients limited to the upstream's max_payload less the identity stamp's room"
        : "clients back to the gateway's max_payload",
    );
    this.limits = next;
    return true;
  }
}

/**
 * [gateway]'s client limits, max_payload lowered to what the upstream's INFO max_payload leaves once the identity
 * stamp is added (AUTH_STAMP_MAX_BYTES, shared leafnode/auth-stamp.ts) when that is smaller.
 */
function clientLimits(config: GatewayConfig, upstreamMaxPayload: number | undefined): ClientLimits {
  const own = config.gateway;
  if (upstreamMaxPayload === undefined) return own;
  const room = Math.max(1, upstreamMaxPayload - AUTH_STAMP_MAX_BYTES);
  return room < own.max_payload ? { ...own, max_payload: room } : own;
}

/**
 * Resolves once nothing is buffered for the upstream, or after `ms`. What reached the link's socket is written
 * before it closes (Uplink.close ends it after the data); only messages buffered through an outage can be waiting.
 */
export async function uplinkFlushed(uplink: GatewayUplink, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (uplink.counters.bufferedMsgs > 0 && !uplink.isClosed && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
