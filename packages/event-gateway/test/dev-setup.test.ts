// What `npm start` runs, minus the fixed ports: dev/event-service.toml and dev/event-gateway.toml through both CLIs,
// with the dev PKI written to a temporary directory (writeDevPki, as dev/certs.mjs does). The gateway's link to the
// service must come up (its /healthz makes the round trip), and the two dev identities must not be interchangeable
// (issue 11, finding 2): the clients' certificate (certs/client.pem) is refused on the service's leaf port with
// nats-server's `Authorization Violation`, and the gateway's upstream certificate alone is no client of the gateway.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@event-broker/test-support/processes';
import { type AfterHook, tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { connectLine, rawTls } from './helpers/bridge.js';
import { spawnCli } from '@event-broker/test-support/child';
import { DEV_PKI_FILES, writeDevPki } from '@event-broker/dev-tools';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const SERVICE_CLI = path.join(ROOT, 'packages/event-service/dist/src/cli.js');
const GATEWAY_CLI = path.join(ROOT, 'packages/event-gateway/dist/src/cli.js');
const START_MS = 20_000;

/** A CLI as a child process; killed when the test ends; its output kept for failure messages. */
function run(t: AfterHook, cli: string, args: string[]): { output: () => string; exited: () => boolean } {
  const { child, stdout, stderr } = spawnCli(t, cli, args);
  return { output: () => stdout() + stderr(), exited: () => child.exitCode !== null || child.signalCode !== null };
}

async function healthz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

test('the dev configuration links the gateway to the service, and the dev client certificate cannot be a leaf', async (t) => {
  const dir = tmpDir(t, 'dev-setup-');
  await writeDevPki(path.join(dir, 'certs'));
  fs.mkdirSync(path.join(dir, 'dev'));
  // The dev files as they are: their relative paths (../certs, ../data) now resolve inside the temporary directory.
  for (const f of ['event-service.toml', 'event-gateway.toml'])
    fs.copyFileSync(path.join(ROOT, 'dev', f), path.join(dir, 'dev', f));
  const leafPort = await freePort();
  const gatewayPort = await freePort();
  const gatewayMonitor = await freePort();
  const servicePatch = path.join(dir, 'service-ports.toml');
  fs.writeFileSync(
    servicePatch,
    [
      '[service]',
      'port = 0',
      '[websocket]',
      'port = 0',
      '[leafnodes]',
      `port = ${leafPort}`,
      '[monitor]',
      'port = 0',
      '',
    ].join('\n'),
  );
  const gatewayPatch = path.join(dir, 'gateway-ports.toml');
  fs.writeFileSync(
    gatewayPatch,
    [
      '[gateway]',
      `port = ${gatewayPort}`,
      '[websocket]',
      'port = 0',
      '[upstream]',
      `urls = ["tls://127.0.0.1:${leafPort}"]`,
      '[monitor]',
      `port = ${gatewayMonitor}`,
      '',
    ].join('\n'),
  );
  const service = run(t, SERVICE_CLI, [
    '--config',
    path.join(dir, 'dev', 'event-service.toml'),
    '--patch',
    servicePatch,
  ]);
  const gateway = run(t, GATEWAY_CLI, [
    '--config',
    path.join(dir, 'dev', 'event-gateway.toml'),
    '--patch',
    gatewayPatch,
  ]);
  await until(
    async () => {
      if (service.exited() || gateway.exited())
        throw new Error(`a dev process exited:\n${service.output()}\n${gateway.output()}`);
      return (await healthz(gatewayMonitor)) === 200;
    },
    "the gateway's /healthz answers 200 (a round trip through the leaf link)",
    START_MS,
    () => `service:\n${service.output()}\ngateway:\n${gateway.output()}`,
  );

  const certs = (name: { cert: string; key: string }) => ({
    ca: path.join(dir, 'certs', DEV_PKI_FILES.ca.cert),
    cert: path.join(dir, 'certs', name.cert),
    key: path.join(dir, 'certs', name.key),
  });

  // certs/client.pem on the service's leafnode port: TLS succeeds (same CA), the CONNECT does not.
  const intruder = await rawTls(leafPort, certs(DEV_PKI_FILES.client));
  const body = JSON.stringify({
    specversion: '1.0',
    id: 'dev-intruder',
    source: '/x',
    type: 'scanJobCreated',
    producer: { id: 'p', name: 'x', type: 'service' },
    data: {},
  });
  intruder.socket.write(
    `CONNECT {"version":"2.9.10","server_id":"NINTRUDER","name":"intruder","headers":true}\r\nLS+ >\r\nLMSG events.scanJobCreated ${Buffer.byteLength(body)}\r\n${body}\r\nPING\r\n`,
  );
  const got = await intruder.readToClose(5000);
  assert.equal(got, "-ERR 'Authorization Violation'\r\n", 'refused, and nothing of the service before the refusal');

  // The gateway's upstream certificate on the gateway's client port, without a token: not a client.
  const upstreamAsClient = await rawTls(gatewayPort, certs(DEV_PKI_FILES.gatewayUpstream));
  upstreamAsClient.socket.write(connectLine({}) + 'PING\r\n');
  const answer = await upstreamAsClient.readToClose(5000);
  assert.match(answer, /^-ERR 'Authorization Violation'\r\n$/);

  // The link itself stayed up through both refusals: never dropped and re-dialled, and a round trip through it
  // still answers.
  const varz = (await (
    await fetch(`http://127.0.0.1:${gatewayMonitor}/varz`, { signal: AbortSignal.timeout(3000) })
  ).json()) as { upstream: { up: boolean; reconnects: number } };
  assert.deepEqual({ up: varz.upstream.up, reconnects: varz.upstream.reconnects }, { up: true, reconnects: 0 });
  assert.equal(await healthz(gatewayMonitor), 200);
});
