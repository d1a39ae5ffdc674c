// The admission scenario (issue 16 item 2): how fast each server lets clients in. N connections, 16 at a time, each
// TLS with a client certificate, CONNECT with a token, PING, PONG, close (native/loadgen.c `admission`, libnats: one
// natsConnection_Connect is exactly that exchange).
//   ours:        event-gateway's CLI, mTLS + a JWT checked against the dev PKI's key (the event service behind it,
//                idle, as the gateway needs its uplink; its CPU is counted too)
//   nats-server: one nats-server, tls { verify: true } + authorization { token }
// Server CPU per connect is the side's CPU over the window (gateway workers included) over the connects tried.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEV_PKI_FILES as F } from '@event-broker/dev-tools';
import { credentials, startOursSide, type Side } from './gateway.js';
import type { GenResult, RunContext } from './scenario-types.js';
import { serverCpuWindow } from './server-cpu.js';
import { startNatsServer } from './servers.js';

export interface AdmissionOptions {
  /** The gateway's `[gateway] workers`; absent: its default (the core count). */
  workers?: number;
}

/** One cell: fresh servers, the generator's admission run against the port clients connect to, servers stopped. */
export async function runAdmission(ctx: RunContext, o: AdmissionOptions = {}): Promise<GenResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-admission-'));
  const servers: Side['servers'] = [];
  try {
    const { file, token, tokenFile } = await credentials(dir);
    let port: number;
    if (ctx.target === 'ours') {
      port = (await startOursSide(ctx.limits, file, dir, servers, o.workers)).pubPort;
    } else {
      const q = (s: string) => JSON.stringify(s);
      const server = await startNatsServer(ctx.limits, [
        `tls { cert_file: ${q(file(F.gateway.cert))}, key_file: ${q(file(F.gateway.key))}, ` +
          `ca_file: ${q(file(F.ca.cert))}, verify: true }`,
        `authorization { token: ${q(token)} }`,
      ]);
      servers.push(['nats-server', server]);
      port = server.port;
    }
    const cpu = serverCpuWindow(servers, ctx.onServerCpu);
    const r = await ctx.generator.run(
      { ...ctx.spec, tlsCa: file(F.ca.cert), tlsCert: file(F.client.cert), tlsKey: file(F.client.key), tokenFile },
      port,
      { onWindow: cpu.onWindow },
    );
    r.server_cpu_parts = cpu.parts();
    // The report's CPU column divides by `requests`: here, connects tried.
    r.requests = (r.opened ?? 0) + (r.refused ?? 0);
    return r;
  } finally {
    for (const [, s] of servers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
