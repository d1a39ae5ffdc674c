// Reaching JetStream from the service: which domain's API to use (`[store] domain`, else the domain the hub
// announces in its leaf INFO, else none), and the first `$JS.API.INFO` request, whose failure is turned into an error
// that names the setting to add. What nats-server 2.9.10 does on the leaf link was observed, not assumed (each case
// is a test in test/jetstream-open.test.ts):
// - a nats-server leaf without JetStream adds its own deny of `$JS.API.>`, `$KV.>`, `$OBJ.>` ("JetStream Not
//   Extended"), unless the LEAF has `default_js_domain: {"$G": ""}`; the same option on the hub does not lift it;
// - a hub with `jetstream { domain: HUB }` denies `$JS.API.>` on the link too, and maps `$JS.HUB.API.>` to its API:
//   a client of the leaf uses domain HUB; the hub's leaf INFO says `"domain":"HUB"`;
// - a denied request, an unknown domain and a server without JetStream all look alike to the client: no responders.
import type { JetStreamClient, JetStreamManager, NatsConnection, NatsError } from 'nats';
import type { Logger } from '@event-broker/shared';
import type { JetStreamStoreConfig } from './store-config.js';

/** The stable codes of JetStreamStoreError. */
export const JETSTREAM_STORE_ERROR_CODES = {
  EJETSTREAM_UNAVAILABLE:
    'no JetStream answers: the cluster has none, the leaf link denies its API, or the domain is not the hub’s',
  EJETSTREAM_TIMEOUT: 'JetStream did not answer in time: the leaf remote is down, or the cluster has no quorum',
  EJETSTREAM_STREAM: 'the stream exists with other settings, or JetStream refused to create it',
} as const;
export type JetStreamStoreErrorCode = keyof typeof JETSTREAM_STORE_ERROR_CODES;

/** The JetStream store cannot be used: `code` is stable, the message says what to change. */
export class JetStreamStoreError extends Error {
  override readonly name = 'JetStreamStoreError';
  constructor(
    readonly code: JetStreamStoreErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? {} : { cause: opts.cause });
  }
}

/** What the leaf remotes learned from the hub's INFO (the caller reads them; undefined: not known yet). */
export interface HubInfo {
  /** The JetStream domain the hub announces (`"domain"` in its leaf INFO). */
  hubDomain(): string | undefined;
  /** Whether the hub announces JetStream (`"jetstream": true`); its absence means false. */
  hubJetStream(): boolean | undefined;
  /** Whether a leaf remote's link is up; absent: the service has no remotes (or the caller does not know). */
  remotesUp?(): boolean;
  /** Each remote's URL and why it is not up (its last error), for an error that outlives the process's /leafz. */
  remotesDown?(): string;
}

export interface DomainChoice {
  domain: string | undefined;
  from: 'config' | 'hub' | 'none';
}

/** `[store] domain` when set, else the hub's announced domain, else none (plain `$JS.API`). */
export function chooseDomain(configured: string | undefined, hub: HubInfo): DomainChoice {
  if (configured !== undefined) return { domain: configured, from: 'config' };
  const announced = hub.hubDomain();
  if (announced !== undefined && announced !== '') return { domain: announced, from: 'hub' };
  return { domain: undefined, from: 'none' };
}

export interface JetStreamApi {
  js: JetStreamClient;
  jsm: JetStreamManager;
  domain: DomainChoice;
}

/** The JetStream clients for the chosen domain, once `$JS.API.INFO` answered; a JetStreamStoreError otherwise. */
export async function openJetStreamApi(
  nc: NatsConnection,
  config: JetStreamStoreConfig,
  opts: HubInfo & { logger: Logger },
): Promise<JetStreamApi> {
  const domain = chooseDomain(config.domain, opts);
  const jsOpts = { timeout: config.requestTimeoutMs, ...(domain.domain !== undefined && { domain: domain.domain }) };
  // checkAPI: false, so the account info below is the one request whose failure is explained.
  const jsm = await nc.jetstreamManager({ ...jsOpts, checkAPI: false });
  try {
    const info = await jsm.getAccountInfo();
    opts.logger.info(
      { domain: domain.domain, domain_from: domain.from, jetstream_domain: info.domain, streams: info.streams },
      'JetStream reached',
    );
  } catch (err) {
    throw diagnose(err as NatsError, domain, config, opts);
  }
  return { js: nc.jetstream(jsOpts), jsm, domain };
}

function api(domain: DomainChoice): string {
  return domain.domain === undefined ? '$JS.API' : `$JS.${domain.domain}.API`;
}

/** Why `$JS.API.INFO` failed, in the terms of the settings that fix it. */
function diagnose(
  err: NatsError,
  domain: DomainChoice,
  config: JetStreamStoreConfig,
  hub: HubInfo,
): JetStreamStoreError {
  const opts = { cause: err };
  const where = `${api(domain)}.INFO`;
  if (err.code === 'TIMEOUT') {
    return new JetStreamStoreError(
      'EJETSTREAM_TIMEOUT',
      `store.backend: "jetstream": no JetStream answered ${where} within ${config.requestTimeoutMs} ms: is a leaf remote up, and do a majority of the cluster's JetStream nodes run (a meta leader)? [store] request_timeout sets the wait`,
      opts,
    );
  }
  const apiError = err.api_error;
  if (apiError !== undefined) {
    // 10039: the server runs JetStream but not for this account.
    return new JetStreamStoreError(
      'EJETSTREAM_UNAVAILABLE',
      `store.backend: "jetstream": ${where} answered ${apiError.code} (${apiError.err_code}) ${apiError.description}: enable JetStream for the account the leaf remote binds to`,
      opts,
    );
  }
  if (err.code !== '503') {
    return new JetStreamStoreError(
      'EJETSTREAM_UNAVAILABLE',
      `store.backend: "jetstream": ${where} failed: ${err.message}`,
      opts,
    );
  }
  // No responders: nothing subscribes to the API subject on our side of every link.
  if (hub.remotesUp?.() === false) {
    return new JetStreamStoreError(
      'EJETSTREAM_UNAVAILABLE',
      `store.backend: "jetstream": no [[leafnodes.remotes]] link is up, so ${where} reaches no JetStream: check the remotes' urls and credentials (${hub.remotesDown?.() ?? '/leafz shows each link and its last error'})`,
      opts,
    );
  }
  if (hub.hubJetStream() === false) {
    return new JetStreamStoreError(
      'EJETSTREAM_UNAVAILABLE',
      `store.backend: "jetstream": the hub runs no JetStream (its leaf INFO has no "jetstream": true), so ${where} has no responder: enable jetstream { store_dir } on the NATS cluster's nodes, or use [store] backend = "sqlite"`,
      opts,
    );
  }
  const announced = hub.hubDomain();
  if (domain.domain !== undefined) {
    const hubSays =
      announced === undefined || announced === ''
        ? 'the hub announces no domain'
        : `the hub announces domain ${JSON.stringify(announced)}`;
    return new JetStreamStoreError(
      'EJETSTREAM_UNAVAILABLE',
      `store.backend: "jetstream": no JetStream answers in domain ${JSON.stringify(domain.domain)} (${where} has no responder; ${hubSays}): set [store] domain to the NATS cluster's jetstream { domain }, or remove it to use the announced one`,
      opts,
    );
  }
  return new JetStreamStoreError(
    'EJETSTREAM_UNAVAILABLE',
    `store.backend: "jetstream": ${where} has no responder: the server has no JetStream, or a link on the way denies $JS.API (a nats-server leaf in between does unless its default_js_domain maps the account; a hub with a JetStream domain does for the plain API). Give the cluster's JetStream a domain (jetstream { domain: NAME } on every node; the service takes the domain the hub announces, or set [store] domain = NAME), or, with a nats-server leaf in between, default_js_domain: { "$G": "" } on that leaf`,
    opts,
  );
}
