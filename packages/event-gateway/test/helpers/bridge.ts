// The end-to-end bench for the gateway's tests: a real event service with a TLS leafnode listener, a gateway dialling
// it with its upstream certificate (in this process, its pino log captured), dev certificates and tokens from
// shared's dev PKI, official `nats` clients inside and outside, a raw TLS socket for exact wire texts. Waits, temp
// dirs and the raw client are test-support's.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { connect, type ConnectionOptions, type Msg, type NatsConnection, type Subscription } from 'nats';
import { createLogger } from '@event-broker/shared';
import { DEV_PKI_FILES, mintDevToken, writeDevPki, type DevTokenPermissions } from '@event-broker/dev-tools';
import { startEventService, type EventService } from '@event-broker/event-service';
import { resolveGatewayConfig } from '../../src/config.js';
import type { GatewayConfigInput } from '../../src/config-types.js';
import { EventGateway, type GatewayWorkerRole } from '../../src/server.js';
import { connectRawTls, type RawConn } from '@event-broker/test-support/raw';
import { tmpDir } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';

export async function getJson<T>(url: string): Promise<T> {
  const res = await within(fetch(url), `GET ${url}`);
  return (await res.json()) as T;
}

// --- logs ------------------------------------------------------------------------------------------------------

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A pino destination kept in memory: the raw text (to search for what must never appear) and the parsed lines. */
export class LogCapture {
  text = '';
  readonly stream = new Writable({
    write: (chunk: Buffer | string, _enc, done) => {
      this.text += chunk.toString();
      done();
    },
  });

  get lines(): LogLine[] {
    return this.text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as LogLine);
  }

  find(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.lines.find(pred);
  }
}

// --- the dev PKI -----------------------------------------------------------------------------------------------

/** Everything allowed: for tests that are not about permissions. */
export const ALL: DevTokenPermissions = { pub: { allow: ['>'] }, sub: { allow: ['>'] } };

export interface Pki {
  dir: string;
  file(name: string): string;
  /** Writes `content` into the PKI directory and returns its path. */
  write(name: string, content: string): string;
  ca: string;
  client: { cert: string; key: string };
  /** PEM of the dev CA and its key, to issue more certificates. */
  caPem(): { cert: string; key: string };
  devToken(sub: string, nats: DevTokenPermissions, ttlSeconds?: number): Promise<string>;
  /** A dev token, everything allowed unless `nats` says otherwise. */
  token(
    sub: string,
    nats?: DevTokenPermissions,
    opts?: { ttlSeconds?: number; issuer?: string; audience?: string },
  ): Promise<string>;
  /** The dev JWT signing key (PEM). */
  signingKey: string;
}

export async function devPki(t: TestContext): Promise<Pki> {
  const dir = tmpDir(t, 'gateway-e2e-');
  await writeDevPki(dir);
  const file = (name: string) => path.join(dir, name);
  const F = DEV_PKI_FILES;
  const signingKey = fs.readFileSync(file(F.jwt.privateKey), 'utf8');
  return {
    dir,
    file,
    write(name, content) {
      fs.writeFileSync(file(name), content);
      return file(name);
    },
    ca: file(F.ca.cert),
    client: { cert: file(F.client.cert), key: file(F.client.key) },
    caPem: () => ({ cert: fs.readFileSync(file(F.ca.cert), 'utf8'), key: fs.readFileSync(file(F.ca.key), 'utf8') }),
    devToken: (sub, nats, ttlSeconds) =>
      mintDevToken(signingKey, { sub, nats }, ttlSeconds === undefined ? {} : { ttlSeconds }),
    token: (sub, nats = ALL, opts = {}) => mintDevToken(signingKey, { sub, nats }, opts),
    signingKey,
  };
}

// --- the event service -----------------------------------------------------------------------------------------

export interface ServiceOptions {
  /** Fixed ports, for a service restarted on the same addresses; default ephemeral. */
  port?: number;
  leafnodePort?: number;
  /** More of the service's configuration ([store], [handlers]...); its `service` settings merge over the defaults. */
  config?: { service?: Record<string, unknown>; [section: string]: unknown };
}

/** The event service with a TLS leafnode listener (client certificates required there) and monitoring. */
export async function startService(t: TestContext, pki: Pki, opts: ServiceOptions = {}): Promise<EventService> {
  const F = DEV_PKI_FILES;
  const { service: serviceSettings, ...sections } = opts.config ?? {};
  const service = await startEventService({
    ...sections,
    service: { host: '127.0.0.1', port: opts.port ?? 0, ...serviceSettings },
    // Internal clients need no certificate; the leafnode port always requires one.
    tls: {
      cert_path: pki.file(F.eventService.cert),
      key_path: pki.file(F.eventService.key),
      root_ca_path: pki.ca,
      verify: false,
    },
    // A `leafnodes` section given (remotes to a hub) merges over the leafnode port's settings.
    leafnodes: { host: '127.0.0.1', port: opts.leafnodePort ?? 0, ...(sections.leafnodes as object | undefined) },
    monitor: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
  } as never);
  t.after(() => service.close());
  return service;
}

/** An internal client of the service (TLS, no certificate). */
export async function internalClient(
  t: TestContext,
  pki: Pki,
  port: number,
  opts: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const nc = await within(
    connect({ servers: `127.0.0.1:${port}`, tls: { caFile: pki.ca }, timeout: 3000, reconnect: false, ...opts }),
    'internal connect',
  );
  t.after(() => nc.close());
  return nc;
}

// --- the gateway -----------------------------------------------------------------------------------------------

export interface GatewayOptions {
  /** Sections merged over the defaults below (the dev ES256 key, dev issuer/audience, TLS upstream with the dev certs). */
  config?: GatewayConfigInput;
  /** Where pino writes (JSON, level debug); default silent. */
  logs?: LogCapture;
  /** Wait for the link to come up before resolving (default true); false for an upstream started later. */
  waitUp?: boolean;
  /** Run as a worker of a multi-process gateway would (its cids, a shared max_connections budget). */
  worker?: GatewayWorkerRole;
}

/** A gateway in this process dialling `upstreamUrl`, up (link established) when it resolves. */
export async function startTestGateway(
  t: TestContext,
  pki: Pki,
  upstreamUrl: string,
  opts: GatewayOptions = {},
): Promise<EventGateway> {
  const F = DEV_PKI_FILES;
  const more = opts.config ?? {};
  const config = resolveGatewayConfig({
    ...more,
    gateway: { host: '127.0.0.1', port: 0, ...more.gateway },
    tls: { cert_path: pki.file(F.gateway.cert), key_path: pki.file(F.gateway.key), root_ca_path: pki.ca, ...more.tls },
    auth: more.auth ?? {
      public_key_path: pki.file(F.jwt.publicKey),
      issuer: 'event-broker-dev',
      audience: 'event-broker-dev',
    },
    upstream: {
      urls: [upstreamUrl],
      cert_path: pki.file(F.gatewayUpstream.cert),
      key_path: pki.file(F.gatewayUpstream.key),
      root_ca_path: pki.ca,
      ...more.upstream,
    },
    monitor: { host: '127.0.0.1', port: 0, ...more.monitor },
    log: { format: 'json', level: opts.logs ? 'debug' : 'silent' },
  });
  const logger = createLogger({
    format: 'json',
    level: config.log.level,
    name: 'event-gateway',
    ...(opts.logs && { destination: opts.logs.stream }),
  });
  const gateway = new EventGateway(config, logger, opts.worker);
  t.after(() => gateway.close());
  await gateway.listen();
  if (opts.waitUp !== false) await within(gateway.uplink.waitUntilUp(5000), 'the gateway link comes up', 6000);
  return gateway;
}

export interface ExternalOptions {
  /** Client certificate files; `null` presents none. Default the dev client certificate. */
  cert?: { cert: string; key: string } | null;
  /** More nats options (name, reconnect, ...). */
  nats?: Partial<ConnectionOptions>;
}

/** An external client through the gateway: official `nats` client, TLS with a client certificate, the token. */
export async function externalClient(
  t: TestContext,
  pki: Pki,
  port: number,
  token: string | undefined,
  opts: ExternalOptions = {},
): Promise<NatsConnection> {
  const cert = opts.cert === undefined ? pki.client : opts.cert;
  const nc = await within(
    connect({
      servers: `127.0.0.1:${port}`,
      ...(token !== undefined && { token }),
      tls: { caFile: pki.ca, ...(cert !== null && { certFile: cert.cert, keyFile: cert.key }) },
      reconnect: false,
      timeout: 3000,
      ...opts.nats,
    }),
    'external connect',
  );
  t.after(() => nc.close());
  return nc;
}

/** The event service and a gateway attached to it, with the dev PKI. */
export interface Bridge {
  pki: Pki;
  service: EventService;
  gateway: EventGateway;
  external(token: string | undefined, opts?: ExternalOptions): Promise<NatsConnection>;
  internal(opts?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /** The service's /leafz?subs=1 entry for the gateway's link (undefined while there is none). */
  leaf(): Promise<{ subscriptions_list: string[]; in_msgs: number; out_msgs: number } | undefined>;
}

export async function startBridge(t: TestContext, opts: GatewayOptions & { pki?: Pki } = {}): Promise<Bridge> {
  const pki = opts.pki ?? (await devPki(t));
  const service = await startService(t, pki);
  const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`, opts);
  return {
    pki,
    service,
    gateway,
    external: (token, o) => externalClient(t, pki, gateway.port, token, o),
    internal: (o) => internalClient(t, pki, service.port, o),
    leaf: () => leafOf(service),
  };
}

export async function leafOf(
  service: EventService,
): Promise<{ subscriptions_list: string[]; in_msgs: number; out_msgs: number } | undefined> {
  const z = await getJson<{ leafs: { subscriptions_list: string[]; in_msgs: number; out_msgs: number }[] }>(
    `http://127.0.0.1:${service.monitorPort}/leafz?subs=1`,
  );
  return z.leafs[0];
}

/**
 * The upstream's interest in `subject` (queue `queue`, or plain) has reached the gateway's broker: it holds a
 * subscription for the uplink. A wait condition (interest crossing the link is asynchronous), not an assertion.
 */
export function gatewayWants(gateway: EventGateway, subject: string, queue?: string): boolean {
  const r = gateway.broker.sublist.match(subject);
  const mine = (s: { conn: unknown; queue?: string | undefined }) => s.conn === gateway.uplink && s.queue === queue;
  return queue === undefined ? r.psubs.some(mine) : r.qsubs.some((g) => g.some(mine));
}

// --- clients ---------------------------------------------------------------------------------------------------

/** A callback subscription that keeps what it receives. */
export function record(
  nc: NatsConnection,
  subject: string,
  opts: { queue?: string } = {},
): { sub: Subscription; msgs: Msg[]; data(): string[] } {
  const msgs: Msg[] = [];
  const sub = nc.subscribe(subject, { ...opts, callback: (err, m) => void (err ? undefined : msgs.push(m)) });
  return { sub, msgs, data: () => msgs.map((m) => m.string()) };
}

/** A raw TLS connection to a NATS listener (plaintext INFO first, then the upgrade), for exact wire texts. */
export type RawTls = RawConn;

/** Opens a raw TLS connection to `port` with the PEM files named (paths), having read the INFO. */
export async function rawTls(port: number, files: { ca: string; cert?: string; key?: string }): Promise<RawTls> {
  return connectRawTls(
    { host: '127.0.0.1', port },
    {
      ca: fs.readFileSync(files.ca),
      ...(files.cert !== undefined && { cert: fs.readFileSync(files.cert) }),
      ...(files.key !== undefined && { key: fs.readFileSync(files.key) }),
    },
  );
}

export function connectLine(fields: Record<string, unknown>): string {
  return `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, tls_required: true, ...fields })}\r\n`;
}
