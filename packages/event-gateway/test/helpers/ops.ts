// What the operations tests (monitoring, config commands, lame duck) share: gateways in this process (started as
// the CLI starts them) or as `event-gateway` CLI children (their JSON log lines read, signals sent), the TOML for
// them, external clients with the dev client certificate, monitoring JSON. The dev PKI and the service are
// bridge.ts's; waits, temp dirs and the child runner test-support's. Everything is stopped in t.after.
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect, type ConnectionOptions, type NatsConnection } from 'nats';
import type { EventService } from '@event-broker/event-service';
import type { GatewayConfigInput } from '../../src/config-types.js';
import type { EventGateway } from '../../src/server.js';
import { startGateway } from '../../src/start.js';
import { CHILD_MS, exitOf, logLine, spawnCli, type Run } from '@event-broker/test-support/child';
import { HOST } from '@event-broker/test-support/processes';
import { within } from '@event-broker/test-support/wait';
import type { Pki } from './bridge.js';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';

// --- dev PKI, service, gateways, clients ---------------------------------------------------------------------------

// The dev PKI and the service are bridge.ts's.
export { ALL, devPki, startService, type Pki } from './bridge.js';

/** The token's `jti` (what [auth] revoked lists). */
export function tokenId(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
  return payload.jti;
}

/** An internal client of the service. */
export async function internal(t: TestContext, pki: Pki, service: EventService): Promise<NatsConnection> {
  const nc = await within(
    connect({ servers: `${HOST}:${service.port}`, tls: { caFile: pki.file(DEV_PKI_FILES.ca.cert) }, timeout: 5000 }),
    'internal client connects',
  );
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  return nc;
}

/** A gateway in this process with monitoring, dialling `leafPort`, its link up when it resolves. */
export async function startTestGateway(
  t: TestContext,
  pki: Pki,
  leafPort: number,
  more: GatewayConfigInput = {},
): Promise<EventGateway> {
  const F = DEV_PKI_FILES;
  const gateway = await startGateway({
    ...more,
    gateway: { host: HOST, port: 0, ...more.gateway },
    tls: {
      cert_path: pki.file(F.gateway.cert),
      key_path: pki.file(F.gateway.key),
      root_ca_path: pki.file(F.ca.cert),
      ...more.tls,
    },
    auth: {
      public_key_path: pki.file(F.jwt.publicKey),
      issuer: 'event-broker-dev',
      audience: 'event-broker-dev',
      ...more.auth,
    },
    upstream: {
      urls: [`tls://${HOST}:${leafPort}`],
      cert_path: pki.file(F.gatewayUpstream.cert),
      key_path: pki.file(F.gatewayUpstream.key),
      root_ca_path: pki.file(F.ca.cert),
    },
    monitor: { host: HOST, port: 0 },
    log: { level: 'silent', ...more.log },
  });
  t.after(() => gateway.close());
  await within(gateway.uplink.waitUntilUp(CHILD_MS), 'the gateway link comes up', CHILD_MS);
  return gateway;
}

/**
 * A gateway TOML file for the CLI: the dev PKI, upstream `leafPort` (any port: the link may stay down), JSON logs,
 * one process (`workers = 1`) unless `gateway` sets workers (workers.test.ts runs several).
 */
export function gatewayToml(pki: Pki, leafPort: number, gateway: string[] = [], more: string[] = []): string[] {
  const F = DEV_PKI_FILES;
  return [
    '[gateway]',
    `host = "${HOST}"`,
    'port = 0',
    ...(gateway.some((l) => l.startsWith('workers')) ? [] : ['workers = 1']),
    ...gateway,
    '[tls]',
    `cert_path = "${pki.file(F.gateway.cert)}"`,
    `key_path = "${pki.file(F.gateway.key)}"`,
    `root_ca_path = "${pki.file(F.ca.cert)}"`,
    '[auth]',
    `public_key_path = "${pki.file(F.jwt.publicKey)}"`,
    'issuer = "event-broker-dev"',
    'audience = "event-broker-dev"',
    '[upstream]',
    `urls = ["tls://${HOST}:${leafPort}"]`,
    `cert_path = "${pki.file(F.gatewayUpstream.cert)}"`,
    `key_path = "${pki.file(F.gatewayUpstream.key)}"`,
    `root_ca_path = "${pki.file(F.ca.cert)}"`,
    'reconnect_delay = "100ms"',
    'reconnect_max_delay = "500ms"',
    '[monitor]',
    `host = "${HOST}"`,
    'port = 0',
    '[log]',
    'format = "json"',
    ...more,
  ];
}

/** An external client: official `nats` client, TLS with the dev client certificate (or `cert` files, or none). */
export async function external(
  t: TestContext,
  pki: Pki,
  servers: string | string[],
  token: string,
  opts: { cert?: { cert: string; key: string } | null; nats?: Partial<ConnectionOptions> } = {},
): Promise<NatsConnection> {
  const F = DEV_PKI_FILES;
  const cert = opts.cert === undefined ? { cert: pki.file(F.client.cert), key: pki.file(F.client.key) } : opts.cert;
  const nc = await connect({
    servers,
    token,
    tls: { caFile: pki.file(F.ca.cert), ...(cert !== null && { certFile: cert.cert, keyFile: cert.key }) },
    reconnect: false,
    timeout: 5000,
    ...opts.nats,
  });
  t.after(() => (nc.isClosed() ? undefined : nc.close()));
  return nc;
}

// --- the CLI as a child process --------------------------------------------------------------------------------

/** The compiled CLI (dist/test/helpers/ops.js → dist/src/cli.js). */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

export function cli(t: TestContext, args: string[]): Run {
  return spawnCli(t, CLI, args, { name: 'event-gateway' });
}

/** Runs the CLI to completion (a `config` command), bounded. */
export async function runToExit(
  t: TestContext,
  args: string[],
): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string }> {
  return exitOf(cli(t, args));
}

/** Starts the gateway CLI and waits for its client and monitoring ports. */
export async function startCli(
  t: TestContext,
  args: string[],
): Promise<{ run: Run; port: number; monitorPort: number }> {
  const run = cli(t, args);
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  const port = (await logLine(run, 'listening for client connections')).port as number;
  return { run, port, monitorPort };
}

// --- monitoring JSON -----------------------------------------------------------------------------------------------

export async function getJson(url: string): Promise<Record<string, any>> {
  const res = await within(fetch(url, { signal: AbortSignal.timeout(CHILD_MS) }), `GET ${url}`, CHILD_MS);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, any>;
}

export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Every key of `theirs` is in `ours` with the same JSON type; the mismatches as readable lines. */
export function missingOrMistyped(
  ours: Record<string, unknown>,
  theirs: Record<string, unknown>,
  where: string,
  except: string[] = [],
): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(theirs)) {
    if (except.includes(k)) continue;
    if (!(k in ours)) problems.push(`${where}.${k}: missing (nats-server: ${JSON.stringify(v)})`);
    else if (jsonType(ours[k]) !== jsonType(v)) {
      problems.push(
        `${where}.${k}: ${jsonType(ours[k])} ${JSON.stringify(ours[k])}, nats-server ${jsonType(v)} ${JSON.stringify(v)}`,
      );
    }
  }
  return problems;
}

/** Every sample of a Prometheus text exposition, keyed `name{labels}` as printed. */
export async function scrape(monitorPort: number): Promise<Map<string, number>> {
  const res = await within(fetch(`http://${HOST}:${monitorPort}/metrics`), 'GET /metrics');
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
