// `[gateway] workers = 2` through the CLI (cluster.ts): the client port is shared, node:cluster hands connections
// to the workers in turn, so consecutive clients land on different workers (told apart by INFO's server_id, each
// worker a gateway of its own). Every worker checks certificates, tokens and permissions and bounds hostile input;
// SIGHUP's configuration reaches every worker; a killed worker is replaced and logged; SIGTERM drains every worker
// and the process exits 0. Official `nats` clients, a real event service; no timing assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { NatsError, type NatsConnection } from 'nats';
import { HOST } from '@event-broker/test-support/processes';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { loadGatewayConfig } from '../src/config.js';
import { workerConfig } from '../src/cluster.js';
import { connectLine, getJson, rawTls, record } from './helpers/bridge.js';
import { assertOneProblem, conf, files, minimal, refused } from './helpers/config-files.js';
import { cli, devPki, external, gatewayToml, internal, startService, tokenId } from './helpers/ops.js';

const serverId = (nc: NatsConnection) => (nc as unknown as { info?: { server_id: string } }).info?.server_id;

test('workers = 2: clients spread over both; tokens, permissions and hostile input checked by each; SIGHUP reaches both; a killed worker is replaced; SIGTERM drains both and exits 0', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const dir = tmpDir(t);
  const perms = { pub: { allow: ['chat.>'] }, sub: { allow: ['chat.>'] } };
  const tokenX = await pki.token('xavier', perms);
  const tokenY = await pki.token('yvonne', perms);
  const config = (revoked: string[]) =>
    gatewayToml(pki, service.leafnodePort!, [
      'workers = 2',
      'lame_duck_duration = "3s"',
      'lame_duck_grace_period = "1s"',
    ]).flatMap((l) => (l.startsWith('audience =') ? [l, `revoked = ${JSON.stringify(revoked)}`] : [l]));
  const file = write(dir, 'gateway.toml', config([]));
  const run = cli(t, ['--config', file]);
  await logLine(run, 'ready');
  const listening = await Promise.all(
    [1, 2].map((w) => logLine(run, 'listening for client connections', { fields: { worker: w } })),
  );
  const port = listening[0]!.port as number;
  assert.equal(listening[1]!.port, port, 'both workers serve the same port');
  await Promise.all([1, 2].map((w) => logLine(run, 'uplink up', { fields: { worker: w } })));
  // Each worker has a link of its own: the service sees two leaf connections.
  await until(
    async () => (await getJson<{ leafs: unknown[] }>(`http://${HOST}:${service.monitorPort}/leafz`)).leafs.length === 2,
    'two uplinks at the service',
  );

  const inside = await internal(t, pki, service);
  const got = record(inside, 'chat.>');
  await inside.flush();

  // Spread: connections alternate between the workers.
  const xs: NatsConnection[] = [];
  for (let i = 0; i < 4; i++) xs.push(await external(t, pki, `${HOST}:${port}`, tokenX));
  const ids = new Set(xs.map(serverId));
  assert.equal(ids.size, 2, `two workers answered: ${[...ids].join(', ')}`);

  // Permissions, per worker: what the token allows arrives, what it does not is refused with nats-server's text.
  await until(() => {
    xs.forEach((nc, i) => nc.publish(`chat.${i}`, 'hi'));
    return xs.every((_, i) => got.msgs.some((m) => m.subject === `chat.${i}`));
  }, 'every client, on either worker, reaches the service');
  const refusedBy = new Set<unknown>();
  for (let i = 0; i < 2; i++) {
    const raw = await rawTls(port, { ca: pki.ca, ...pki.client });
    t.after(() => raw.socket.destroy());
    refusedBy.add(raw.info.server_id);
    raw.socket.write(`${connectLine({ auth_token: tokenX })}PUB secret.x 2\r\nno\r\nPING\r\n`);
    assert.equal(await raw.readUntil('PONG\r\n'), `-ERR 'Permissions Violation for Publish to "secret.x"'\r\nPONG\r\n`);
  }
  assert.equal(refusedBy.size, 2, 'both workers refused');

  // Tokens, per worker: a bad one is refused by both, and each worker logs its refusal with its id.
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      external(t, pki, `${HOST}:${port}`, 'not-a-token'),
      (e: unknown) => e instanceof NatsError && e.code === 'AUTHORIZATION_VIOLATION',
    );
  }
  await Promise.all([1, 2].map((w) => logLine(run, 'client refused', { fields: { worker: w } })));

  // Hostile input, per worker: a control line past max_control_line is refused and the connection closed.
  const boundedBy = new Set<unknown>();
  for (let i = 0; i < 2; i++) {
    const raw = await rawTls(port, { ca: pki.ca, ...pki.client });
    t.after(() => raw.socket.destroy());
    boundedBy.add(raw.info.server_id);
    raw.socket.write(`${connectLine({ auth_token: tokenY })}PING\r\n`);
    assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');
    raw.socket.write(`SUB ${'a'.repeat(5000)} 1\r\n`);
    assert.equal(await raw.readToClose(), "-ERR 'maximum control line exceeded'\r\n");
  }
  assert.equal(boundedBy.size, 2, 'both workers bounded it');

  // SIGHUP reaches both workers: X revoked closes its connections on each, Y carries on.
  const closed = xs.map((nc) => nc.closed());
  fs.writeFileSync(file, config([tokenId(tokenX)]).join('\n'));
  run.child.kill('SIGHUP');
  const reloaded = await Promise.all(
    [1, 2].map((w) => logLine(run, 'configuration reloaded', { fields: { worker: w } })),
  );
  // Each worker: two of X's nats clients and X's raw connection from the permissions check.
  assert.deepEqual(
    reloaded.map((l) => l.revoked_connections),
    [3, 3],
  );
  await within(Promise.all(closed), "X's clients on both workers are closed");

  // A killed worker is replaced and logged; the port keeps serving on two workers, one of them new.
  const victim = listening[0]!.pid as number;
  process.kill(victim, 'SIGKILL');
  const died = await logLine(run, 'gateway worker exited; replacing it', { fields: { worker: 1 } });
  assert.equal(died.signal, 'SIGKILL');
  await logLine(run, 'gateway worker replaced', { fields: { worker: 1 } });
  await logLine(run, 'uplink up', { fields: { worker: 1 }, n: 2 });
  const ys: NatsConnection[] = [];
  for (let i = 0; i < 4; i++) ys.push(await external(t, pki, `${HOST}:${port}`, tokenY));
  const after = new Set(ys.map(serverId));
  assert.equal(after.size, 2, `two workers answered after the replacement: ${[...after].join(', ')}`);
  assert.ok(
    [...after].some((id) => !ids.has(id)),
    'one of them is the new worker',
  );
  await until(() => {
    ys.forEach((nc, i) => nc.publish(`chat.y${i}`, 'hi'));
    return ys.every((_, i) => got.msgs.some((m) => m.subject === `chat.y${i}`));
  }, "Y's clients on both workers reach the service");

  // SIGTERM drains both workers: every client is told (ldm) and closed; the process exits 0.
  const told = ys.map((nc) => {
    let ldm = false;
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'ldm') ldm = true;
    })();
    return () => ldm;
  });
  const yClosed = ys.map((nc) => nc.closed());
  run.child.kill('SIGTERM');
  await within(Promise.all(yClosed), 'every client is closed by the drain', 20_000);
  assert.ok(
    told.every((f) => f()),
    'every client was told lame duck mode',
  );
  assert.equal(await within(run.exited, 'the gateway exits', 20_000), 0);
  const lines = jsonLines(run.stdout());
  for (const w of [1, 2]) {
    assert.ok(
      lines.some((l) => l.msg === 'entering lame duck mode' && l.worker === w),
      `worker ${w} drained`,
    );
  }
  assert.ok(!run.stdout().includes(tokenX) && !run.stdout().includes(tokenY), 'the log never contains a token');
});

test('workers: 1..64, refused outside with file:line; each worker gets the whole max_connections (one budget, held by the primary), none the monitor (the primary serves it)', async (t) => {
  const f = await files(t);
  for (const [n, code] of [
    ['0', 'ECONFIG_RANGE'],
    ['65', 'ECONFIG_RANGE'],
    ['"two"', 'ECONFIG_TYPE'],
  ] as const) {
    const file = conf(f, `workers-${n.length}.toml`, [...minimal(), '[gateway]', `workers = ${n}`]);
    const reason = new RegExp(`must be an integer from 1 to 64, got ${n}`);
    assertOneProblem(
      refused(() => loadGatewayConfig({ configPath: file })),
      file,
      14,
      'gateway.workers',
      code,
      reason,
    );
  }
  const file = conf(f, 'split.toml', [
    ...minimal(),
    '[gateway]',
    'workers = 3',
    'max_connections = 100',
    '[monitor]',
    'port = 0',
  ]);
  const config = loadGatewayConfig({ configPath: file }).config;
  assert.equal(config.gateway.workers, 3);
  // max_connections stays the whole gateway's: the primary holds it as one budget (cluster-slots.ts).
  const share = workerConfig(config, { port: 4333 });
  assert.deepEqual(
    [share.gateway.max_connections, share.gateway.port, share.monitor !== undefined],
    [100, 4333, false],
  );
});
