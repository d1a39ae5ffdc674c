// The service as a leaf: one shared Uplink (reconnect with backoff, outage buffer, interest both ways, queue groups
// and request/reply across) per [[leafnodes.remotes]] entry, dialling a nats-server 2.9 hub (or another event
// service's [leafnodes] port). What each link says is shared leafnode/'s; this module builds the links from the
// configuration, starts and closes them, and tells the rest of the service (monitoring, the JetStream backend)
// what each hub announced and whether the links are up.
import {
  CREDIT_SUBJECT_ROOT,
  hasRemoteTls,
  InterestTable,
  isLoopbackHost,
  loadClientTlsOptions,
  parseCreds,
  parseHubUrl,
  Uplink,
  UplinkError,
  type Broker,
  type HubInfo,
  type Logger,
  type UplinkCredentials,
  type UplinkErrorCode,
  type UplinkState,
} from '@event-broker/shared';
import { readFileSync } from 'node:fs';
import type { LeafnodesSection, ServiceConfig } from '../config-types.js';
import { VERSION } from '../version.js';

type RemoteSection = NonNullable<LeafnodesSection['remotes']>[number];

/**
 * The queue groups the service's shared work subscribes in while remotes are configured, one per subject family and
 * the same on every instance: each event published anywhere in the cluster is taken by one instance, each request
 * answered by one. A local member is always preferred (shared broker.ts pickQueueMember, as nats-server does).
 */
export const SHARED_WORK_QUEUES = Object.freeze({
  /** `events.>`: the intake. */
  intake: 'event-service-intake',
  /** `$EVENTS.FEED.QUERY`: the event feed's query responder. */
  feed: 'event-service-feed',
  /** `$EVENTS.HEALTH`: the health responder a gateway's /healthz asks. */
  health: 'event-service-health',
});
export type SharedWorkQueues = typeof SHARED_WORK_QUEUES;

/**
 * Interest never announced to a hub: the credit responders (`$EVENTS.CREDIT.*`, shared server/credit.ts). Credit is
 * room reserved for one gateway's link to this instance and spent by what that link publishes here; a gateway
 * attached to a cluster node publishes to whichever instance takes each event, so no instance can grant it any. Kept
 * local, a gateway on a node sees no credit responder and asks for none (it is not parked: requests still get
 * EEVENT_LIMIT), while a gateway on this instance's [leafnodes] port sees this instance's alone.
 */
export function keptLocal(subject: string): boolean {
  return subject.startsWith(CREDIT_PREFIX);
}
const CREDIT_PREFIX = `${CREDIT_SUBJECT_ROOT}.`;

/** One remote as monitoring and the JetStream backend see it. */
export interface RemoteStatus {
  /** The URL of the current (or last) link, else the first configured one; never with credentials. */
  readonly url: string;
  readonly state: UplinkState;
  /** What the hub announced in its leaf INFO on the latest link (JetStream, its domain...); absent before one. */
  readonly hub?: HubInfo;
  /** The latest failure, kept after the link comes back. */
  readonly lastError?: { readonly code: UplinkErrorCode; readonly message: string };
}

export interface RemotesSetup {
  /** The service's logger; each link logs as its `remote` child. */
  logger: Logger;
  /** Names the service toward each hub when [service] server_name is not set. */
  serverId: string;
}

export class LeafRemotes {
  readonly uplinks: readonly Uplink[];
  /** The broker's interest, shared by every link: made before the handlers and clients subscribe. */
  private readonly interest: InterestTable;
  /** Each remote's first URL, shown until its first link. */
  private readonly firstUrls: readonly string[];

  /** The links [[leafnodes.remotes]] describes, not started; throws when a TLS or .creds file cannot be used. */
  constructor(broker: Broker, config: ServiceConfig, setup: RemotesSetup) {
    const remotes = config.leafnodes?.remotes ?? [];
    this.interest = new InterestTable(broker);
    const base = config.service.server_name ?? setup.serverId;
    this.firstUrls = remotes.map((r) => parseHubUrl(r.urls[0]!).display);
    try {
      this.uplinks = remotes.map((r, i) => {
        checkCredsFile(r, i);
        const tls = hasRemoteTls(r) ? loadClientTlsOptions(r, { section: `leafnodes.remotes[${i}]` }) : undefined;
        const logger = setup.logger.child({ component: 'remote', remote: i });
        warnPlaintextCredentials(logger, r, i);
        return new Uplink(broker, {
          urls: r.urls,
          ...(tls !== undefined && { tls }),
          limits: config.service,
          logger,
          // A hub replaces a link with the name of a newer one (nats-server leafnode.go): every link of every
          // instance names itself apart (its own random server id too).
          name: i === 0 ? base : `${base}-${i}`,
          version: VERSION,
          interest: this.interest,
          keptLocal,
          ...(credentialsOf(r) !== undefined && { credentials: credentialsOf(r) }),
        });
      });
    } catch (err) {
      this.interest.close();
      throw err;
    }
  }

  /** Starts dialling every remote; each then redials by itself until close(). */
  start(): void {
    for (const u of this.uplinks) u.start();
  }

  /** Every remote's state, in configuration order. The JetStream backend reads `hub.domain` and `hub.jetstream`. */
  remotes(): readonly RemoteStatus[] {
    return this.uplinks.map((u, i) => {
      const err = u.lastError;
      return {
        url: u.hub?.url ?? this.firstUrls[i]!,
        state: u.state,
        ...(u.hub !== undefined && { hub: u.hub }),
        ...(err !== undefined && { lastError: { code: err.code, message: err.message } }),
      };
    });
  }

  /** The remotes whose link is not up, for /healthz. */
  down(): readonly RemoteStatus[] {
    return this.remotes().filter((r) => r.state !== 'up');
  }

  /** Resolves once every link is up; rejects with the first that is not within `timeoutMs`. */
  async waitUntilUp(timeoutMs: number): Promise<void> {
    await Promise.all(this.uplinks.map((u) => u.waitUntilUp(timeoutMs)));
  }

  /** Closes every link (what is buffered for a hub is discarded, counted and logged by the link). */
  async close(): Promise<void> {
    await Promise.all(this.uplinks.map((u) => u.close()));
    this.interest.close();
  }
}

function credentialsOf(r: RemoteSection): UplinkCredentials | undefined {
  if (r.user !== undefined) return { user: r.user, password: r.password! };
  if (r.token !== undefined) return { token: r.token };
  if (r.credentials !== undefined) return { credsFile: r.credentials };
  return undefined;
}

/** A .creds file that cannot be read or parsed stops the start with its setting named (never its content). */
function checkCredsFile(r: RemoteSection, i: number): void {
  if (r.credentials === undefined) return;
  const setting = `leafnodes.remotes[${i}].credentials`;
  let text: string;
  try {
    text = readFileSync(r.credentials, 'utf8');
  } catch (err) {
    throw new UplinkError(
      'EUPLINK_CREDENTIALS',
      `${setting}: ${r.credentials} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err },
    );
  }
  try {
    parseCreds(text, r.credentials);
  } catch (err) {
    throw new UplinkError('EUPLINK_CREDENTIALS', `${setting}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Credentials over nats:// without TLS settings cross in clear unless the hub's INFO asks for TLS (which anyone on
 * the path can strip): warned once per such URL, naming the setting and the host, never the secret. Loopback never
 * leaves the machine. As the gateway's [upstream] does (event-gateway upstream-link.ts warnPlaintextCredentials).
 */
function warnPlaintextCredentials(logger: Logger, r: RemoteSection, i: number): void {
  const key = r.token !== undefined ? 'token' : r.password !== undefined ? 'password' : undefined;
  if (hasRemoteTls(r) || key === undefined) return;
  for (const raw of r.urls) {
    const url = parseHubUrl(raw);
    if (url.tls || isLoopbackHost(url.host)) continue;
    logger.warn(
      { setting: `leafnodes.remotes[${i}].${key}`, upstream: url.display, host: url.host },
      'remote credentials may cross the network in clear: use a tls:// URL or set root_ca_path (or cert_path and key_path)',
    );
  }
}
