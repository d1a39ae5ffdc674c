// What the service logs, as an operator reads it: one JSON object a line with the events that matter (listening,
// connect, protocol error, close with reason, slow consumer) and never a payload or a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as v2 from 'nats';
import { until, within } from '@event-broker/test-support/wait';
import { cli } from './helpers/cli.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';

const TOKEN = 'tok-s3cr3t-7f1c9a';
const PAYLOAD = 'payload-canary-5b2e8d';

test('logs are JSON lines naming connects, protocol errors and closes, never a payload or a token', async (t) => {
  const conf = write(
    tmpDir(t, 'event-service-logs-'),
    'svc.toml',
    `[service]\nhost = "127.0.0.1"\nport = 0\ntoken = "${TOKEN}"\n\n[log]\nformat = "json"\nlevel = "debug"\n`,
  );
  const run = cli(t, ['--config', conf]);
  // Everything it writes, stderr too: every line must be JSON.
  const out = () => run.stdout() + run.stderr();
  const lines = () =>
    out()
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  await until(() => lines().some((l) => l.msg === 'listening for client connections'), 'listening line', 10_000);
  const port = lines().find((l) => l.msg === 'listening for client connections')!.port as number;

  const nc = await v2.connect({ servers: `127.0.0.1:${port}`, token: TOKEN });
  const sc = v2.StringCodec();
  const sub = nc.subscribe('canary.>', { max: 1 });
  nc.publish('canary.x', sc.encode(PAYLOAD));
  for await (const m of sub) assert.equal(sc.decode(m.data), PAYLOAD);
  await nc.close();

  // A wrong token, and a protocol error from a raw client.
  await assert.rejects(v2.connect({ servers: `127.0.0.1:${port}`, token: `${TOKEN}-wrong`, reconnect: false }));
  const raw = net.connect(port, '127.0.0.1');
  raw.resume();
  raw.write(`CONNECT {"auth_token":"${TOKEN}","verbose":false}\r\nFOO ${PAYLOAD}\r\n`);
  await within(new Promise((r) => raw.once('close', r)), 'raw client closed', 5000);

  await until(() => lines().filter((l) => l.msg === 'client closed').length >= 3, 'three close lines', 5000);
  run.child.kill('SIGTERM');
  await within(run.exited, 'exit after SIGTERM', 11_000);

  const all = lines();
  assert.ok(
    all.every((l) => typeof l.level === 'number' && typeof l.time === 'number'),
    'every line is a pino JSON object',
  );
  assert.ok(all.some((l) => l.msg === 'client connected' && l.lang === 'nats.js'));
  assert.ok(all.some((l) => l.msg === 'protocol error, closing' && l.error === 'Authorization Violation'));
  assert.ok(all.some((l) => l.msg === 'protocol error, closing' && l.error === 'Unknown Protocol Operation'));
  assert.ok(all.some((l) => l.msg === 'client closed' && l.reason === 'Authentication Failure'));
  assert.ok(all.some((l) => l.msg === 'shutting down'));
  assert.ok(!out().includes(TOKEN), 'the token never reaches the log');
  assert.ok(!out().includes(PAYLOAD), 'no payload reaches the log');
});
