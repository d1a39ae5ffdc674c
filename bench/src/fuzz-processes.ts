// The processes `pnpm fuzz` runs against: the real event service and event gateway started from their CLIs (dev
// PKI, a token, a TLS leafnode link between them), the wire targets and good clients on their ports, and what counts
// as a crash or as memory growth in them. fuzz.ts drives the properties against them and reports.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_PKI_FILES as F, mintDevToken, writeDevPki } from '@event-broker/dev-tools';
import { plainOpener, tlsOpener } from '@event-broker/test-support/parking';
import { freePort, HOST, waitForPort } from '@event-broker/test-support/processes';
import { goodClient, type GoodClient, type WireTarget } from '@event-broker/test-support/wire-fuzz';
import { CHILD_MS, jsonLines } from '@event-broker/test-support/child';
import { until } from '@event-broker/test-support/wait';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SERVICE_BIN = path.join(ROOT, 'packages', 'event-service', 'bin', 'event-service.mjs');
const GATEWAY_BIN = path.join(ROOT, 'packages', 'event-gateway', 'bin', 'event-gateway.mjs');
/** Limits of both processes: a max_payload small enough that sizes around it are cheap to try. */
export const LIMITS = { maxPayload: 64 * 1024, maxControlLine: 4096 };
const TOKEN = 'fuzz-s3cret';

/** One of the two processes under test, with what it printed. */
export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  /** RSS samples, KiB, one per SAMPLE_MS (fuzz.ts samples them). */
  readonly rss: number[];
  alive(): boolean;
}

function startChild(name: string, bin: string, config: string): Child {
  const proc = spawn(process.execPath, [bin, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = {
    name,
    proc,
    stdout: '',
    stderr: '',
    rss: [],
    alive: () => proc.exitCode === null && proc.signalCode === null,
  };
  // Keep what a report needs: all of stderr (it should stay empty), the error lines of the JSON log.
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    child.stdout = (child.stdout + d).slice(-1_000_000);
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    child.stderr += d;
  });
  return child;
}

/** The JSON log line `msg`, once it appears (bounded). */
async function logged(child: Child, msg: string): Promise<{ msg?: string; port?: number }> {
  const line = () => jsonLines(child.stdout).find((j) => j.msg === msg) as { msg?: string; port?: number } | undefined;
  await until(() => line() !== undefined || !child.alive(), `${child.name} logs ${msg}`, CHILD_MS);
  const found = line();
  if (found === undefined) throw new Error(`${child.name} exited before logging ${msg}: ${child.stderr}`);
  return found;
}

async function loggedPort(child: Child, msg: string): Promise<number> {
  const port = (await logged(child, msg)).port;
  if (typeof port !== 'number') throw new Error(`${child.name}: ${msg} names no port`);
  return port;
}

/** What a child did wrong so far: exited, wrote to stderr, or logged at error level (pino 50, 60). */
export function crashes(c: Child): string[] {
  const out: string[] = [];
  if (!c.alive()) out.push(`${c.name} exited (${c.proc.exitCode ?? c.proc.signalCode})`);
  if (c.stderr.trim() !== '') out.push(`${c.name} wrote to stderr:\n${c.stderr.slice(-4000)}`);
  const errors = c.stdout.split('\n').filter((l) => /"level":(5\d|60)\b/.test(l));
  if (errors.length > 0)
    out.push(`${c.name} logged ${errors.length} error line(s), the last:\n${errors.slice(-3).join('\n')}`);
  return out;
}

export function growthMiB(c: Child, warmupSamples: number): number {
  const after = c.rss.slice(warmupSamples);
  if (after.length < 2) return 0;
  return (c.rss[c.rss.length - 1]! - Math.min(...after)) / 1024;
}

export interface Setup {
  dir: string;
  service: Child;
  gateway: Child;
  targets: WireTarget[];
  good: GoodClient[];
}

export async function setUp(dir: string): Promise<Setup> {
  await writeDevPki(dir);
  const file = (n: string) => path.join(dir, n);
  const q = JSON.stringify;
  const serviceConf = file('service.toml');
  writeFileSync(
    serviceConf,
    [
      '[service]',
      `host = "${HOST}"`,
      'port = 0',
      `token = "${TOKEN}"`,
      `max_payload = ${LIMITS.maxPayload}`,
      `max_control_line = ${LIMITS.maxControlLine}`,
      '[leafnodes]',
      `host = "${HOST}"`,
      'port = 0',
      '[leafnodes.tls]',
      `cert_path = ${q(file(F.eventService.cert))}`,
      `key_path = ${q(file(F.eventService.key))}`,
      `root_ca_path = ${q(file(F.ca.cert))}`,
      '[log]',
      'format = "json"',
      '',
    ].join('\n'),
  );
  const service = startChild('event service', SERVICE_BIN, serviceConf);
  const port = await loggedPort(service, 'listening for client connections');
  const leafPort = await loggedPort(service, 'listening for leafnode connections');
  const gwPort = await freePort();
  const gatewayConf = file('gateway.toml');
  writeFileSync(
    gatewayConf,
    [
      '[gateway]',
      `host = "${HOST}"`,
      `port = ${gwPort}`,
      `max_payload = ${LIMITS.maxPayload}`,
      `max_control_line = ${LIMITS.maxControlLine}`,
      `data_dir = ${q(file('gateway-data'))}`,
      '[tls]',
      `cert_path = ${q(file(F.gateway.cert))}`,
      `key_path = ${q(file(F.gateway.key))}`,
      `root_ca_path = ${q(file(F.ca.cert))}`,
      '[auth]',
      `public_key_path = ${q(file(F.jwt.publicKey))}`,
      'issuer = "event-broker-dev"',
      'audience = "event-broker-dev"',
      '[upstream]',
      `urls = ["tls://${HOST}:${leafPort}"]`,
      `cert_path = ${q(file(F.gatewayUpstream.cert))}`,
      `key_path = ${q(file(F.gatewayUpstream.key))}`,
      `root_ca_path = ${q(file(F.ca.cert))}`,
      '[log]',
      'format = "json"',
      '',
    ].join('\n'),
  );
  const gateway = startChild('event gateway', GATEWAY_BIN, gatewayConf);
  await waitForPort(gwPort, gateway.alive, 15_000);
  // Messages through the gateway then reach the service, as in production.
  await logged(gateway, 'uplink up');
  const jwt = await mintDevToken(
    readFileSync(file(F.jwt.privateKey), 'utf8'),
    { sub: 'fuzz', nats: { pub: { allow: ['>'] }, sub: { allow: ['>'] } } },
    { ttlSeconds: 86_400 },
  );
  const connect = (fields: Record<string, unknown>) =>
    Buffer.from(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, ...fields })}\r\n`);
  const serviceConnect = connect({ auth_token: TOKEN });
  const gatewayConnect = connect({ auth_token: jwt, tls_required: true });
  const leafConnect = Buffer.from('CONNECT {"version":"2.9.10","server_id":"NFUZZ","name":"fuzz","headers":true}\r\n');
  const withCert = { ca: file(F.ca.cert), cert: file(F.gatewayUpstream.cert), key: file(F.gatewayUpstream.key) };
  const client = { ca: file(F.ca.cert), cert: file(F.client.cert), key: file(F.client.key) };
  const targets: WireTarget[] = [
    { name: 'service client port', open: plainOpener(port), role: 'client' },
    {
      name: 'service client port, after CONNECT with the token',
      open: plainOpener(port),
      role: 'client',
      preamble: serviceConnect,
    },
    { name: 'service leafnode port (TLS)', open: tlsOpener(leafPort, withCert), role: 'leaf' },
    {
      name: 'service leafnode port (TLS), after a leaf CONNECT',
      open: tlsOpener(leafPort, withCert),
      role: 'leaf',
      preamble: leafConnect,
    },
    { name: 'gateway (TLS, client certificate)', open: tlsOpener(gwPort, client), role: 'client' },
    {
      name: 'gateway (TLS, client certificate), after CONNECT with a token',
      open: tlsOpener(gwPort, client),
      role: 'client',
      preamble: gatewayConnect,
    },
    { name: 'gateway (TLS, no certificate)', open: tlsOpener(gwPort, { ca: file(F.ca.cert) }), role: 'client' },
  ];
  const good = [
    await goodClient(plainOpener(port), serviceConnect),
    await goodClient(tlsOpener(gwPort, client), gatewayConnect),
  ];
  return { dir, service, gateway, targets, good };
}
