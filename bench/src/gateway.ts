// The gateway scenario (issue 4's "Measure", issue 7's gateway row): an external client publishes over TLS, with a
// client certificate and a token, into one server, and a subscriber receives on another behind a TLS leafnode link.
//   ours:        publisher ─TLS─▶ event-gateway (its CLI) ─TLS leafnode─▶ event service (run-service.ts) ─▶ subscriber
//   nats-server: publisher ─TLS─▶ nats-server leaf        ─TLS leafnode─▶ nats-server hub                ─▶ subscriber
// Same on both sides: client certificates verified and a token required where the publisher connects, a client
// certificate presented and verified on the link (as production runs it), the subscriber on the far server's plain
// client port, the same limits, the same generator. Server CPU is both processes of a side summed. Certificates
// and the token come from shared's dev PKI, made fresh in a temp dir per run.
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEV_PKI_FILES as F, mintDevToken, writeDevPki } from '@event-broker/dev-tools';
import type { Generator } from './generators.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { serverCpuWindow } from './server-cpu.js';
import { freePort } from '@event-broker/test-support/processes';
import {
  readCpuSeconds,
  startGatewayCli,
  startNatsServer,
  startOurs,
  type RunningServer,
  type TargetName,
} from './servers.js';

export interface GatewayRunOptions {
  target: TargetName;
  generator: Generator;
  limits: Limits;
  /** Both processes' CPU seconds over the measured window, summed. */
  onServerCpu?: (seconds: number) => void;
  /** The gateway's `[gateway] workers`; absent: its default (the core count). */
  workers?: number;
}

export interface Side {
  /** Where the publisher connects (TLS, certificate, token) and where the subscriber does (plain). */
  pubPort: number;
  subPort: number;
  /** Named processes, publisher's end first. */
  servers: Array<[string, RunningServer]>;
}

/** The dev PKI in `dir` and a token allowing everything (`nats: {}`), written to a file for the generator. */
export async function credentials(
  dir: string,
): Promise<{ file: (name: string) => string; token: string; tokenFile: string }> {
  await writeDevPki(dir);
  const file = (name: string) => path.join(dir, name);
  const token = await mintDevToken(readFileSync(file(F.jwt.privateKey), 'utf8'), { sub: 'bench', nats: {} });
  const tokenFile = file('bench-token.txt');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  return { file, token, tokenFile };
}

const tomlString = (s: string) => JSON.stringify(s); // TOML basic strings escape as JSON does for these paths

/**
 * `server` with its CPU read over its whole process tree: the gateway's workers (node:cluster children) are
 * counted with its primary. A worker replaced during the window loses what it used (never the case in a clean run).
 */
export function withChildrenCpu(server: RunningServer): RunningServer {
  const tree = (pid: number): number[] => {
    let kids: number[] = [];
    try {
      for (const task of readdirSync(`/proc/${pid}/task`)) {
        const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
        if (text !== '') kids = kids.concat(text.split(' ').map(Number));
      }
    } catch {
      return []; // exited
    }
    return [pid, ...kids.flatMap(tree)];
  };
  const cpu = (pid: number) => {
    try {
      return readCpuSeconds(pid);
    } catch {
      return 0;
    }
  };
  return { ...server, cpuSeconds: () => tree(server.pid).reduce((sum, pid) => sum + cpu(pid), 0) };
}

/** Our side: the event service with a TLS leafnode port, and the gateway's CLI dialling it (`workers` as given). */
export async function startOursSide(
  limits: Limits,
  file: (name: string) => string,
  dir: string,
  servers: Side['servers'],
  workers?: number,
): Promise<Side> {
  // The link's TLS is the leafnode port's own ([leafnodes.tls], client certificates required); the client port
  // stays plain, as the subscriber on nats-server's hub connects without TLS too.
  const service = await startOurs(
    limits,
    {},
    {
      leafnodes: {
        host: '127.0.0.1',
        port: 0,
        tls: {
          cert_path: file(F.eventService.cert),
          key_path: file(F.eventService.key),
          root_ca_path: file(F.ca.cert),
        },
      },
    },
  );
  servers.push(['event service', service]);
  if (service.leafnodePort === undefined) throw new Error('the event service printed no leafnodePort');
  const port = await freePort();
  const toml = path.join(dir, 'gateway.toml');
  writeFileSync(
    toml,
    [
      '[gateway]',
      'host = "127.0.0.1"',
      `port = ${port}`,
      `max_payload = ${limits.maxPayloadBytes}`,
      `max_connections = ${limits.maxConnections}`,
      `max_pending = ${limits.maxPendingBytes}`,
      `write_deadline = "${limits.writeDeadlineMs}ms"`,
      `data_dir = ${tomlString(path.join(dir, 'gateway-data'))}`,
      ...(workers !== undefined ? [`workers = ${workers}`] : []),
      '[tls]',
      `cert_path = ${tomlString(file(F.gateway.cert))}`,
      `key_path = ${tomlString(file(F.gateway.key))}`,
      `root_ca_path = ${tomlString(file(F.ca.cert))}`,
      'verify = true',
      '[auth]',
      `public_key_path = ${tomlString(file(F.jwt.publicKey))}`,
      'issuer = "event-broker-dev"',
      'audience = "event-broker-dev"',
      'algorithms = ["ES256"]',
      '[upstream]',
      `urls = ["tls://127.0.0.1:${service.leafnodePort}"]`,
      `cert_path = ${tomlString(file(F.gatewayUpstream.cert))}`,
      `key_path = ${tomlString(file(F.gatewayUpstream.key))}`,
      `root_ca_path = ${tomlString(file(F.ca.cert))}`,
      '[log]',
      'format = "json"',
      'level = "error"',
      '',
    ].join('\n'),
  );
  const gateway = withChildrenCpu(await startGatewayCli(toml, port));
  servers.unshift(['gateway', gateway]);
  return { pubPort: port, subPort: service.port, servers };
}

async function startNatsSide(
  limits: Limits,
  file: (name: string) => string,
  token: string,
  servers: Side['servers'],
): Promise<Side> {
  const q = (s: string) => JSON.stringify(s);
  const hubLeafPort = await freePort();
  const hub = await startNatsServer(limits, [
    'server_name: bench-hub',
    'leafnodes {',
    `  listen: "127.0.0.1:${hubLeafPort}"`,
    `  tls { cert_file: ${q(file(F.eventService.cert))}, key_file: ${q(file(F.eventService.key))}, ` +
      `ca_file: ${q(file(F.ca.cert))}, verify: true }`,
    '}',
  ]);
  servers.push(['hub', hub]);
  const leaf = await startNatsServer(limits, [
    'server_name: bench-leaf',
    `tls { cert_file: ${q(file(F.gateway.cert))}, key_file: ${q(file(F.gateway.key))}, ca_file: ${q(file(F.ca.cert))}, verify: true }`,
    `authorization { token: ${q(token)} }`,
    'leafnodes {',
    '  remotes: [ {',
    `    url: "tls://127.0.0.1:${hubLeafPort}"`,
    `    tls { cert_file: ${q(file(F.gatewayUpstream.cert))}, key_file: ${q(file(F.gatewayUpstream.key))}, ` +
      `ca_file: ${q(file(F.ca.cert))} }`,
    '  } ]',
    '}',
  ]);
  servers.unshift(['leaf', leaf]);
  return { pubPort: leaf.port, subPort: hub.port, servers };
}

/** One run of the scenario against one side; the servers are fresh and stopped before it returns. */
export async function runGateway(spec: GenSpec, o: GatewayRunOptions): Promise<GenResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
  const servers: Side['servers'] = [];
  try {
    const { file, token, tokenFile } = await credentials(dir);
    const side =
      o.target === 'ours'
        ? await startOursSide(o.limits, file, dir, servers, o.workers)
        : await startNatsSide(o.limits, file, token, servers);
    const cpu = serverCpuWindow(servers, o.onServerCpu);
    const r = await o.generator.run(
      {
        ...spec,
        pubPort: side.pubPort,
        tlsCa: file(F.ca.cert),
        tlsCert: file(F.client.cert),
        tlsKey: file(F.client.key),
        tokenFile,
      },
      side.subPort,
      { onWindow: cpu.onWindow },
    );
    r.server_cpu_parts = cpu.parts();
    return r;
  } finally {
    for (const [, s] of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
