// `[gateway] workers = 2` through the CLI, the primary's process lifecycle (cluster.ts): a killed primary leaves no
// worker holding the port; a worker that cannot start (its certificate file broken) is named with its reason, and a
// replacement that failed is tried again, not given up for good; SIGTERM while a replacement is still loading ends
// it rather than starting it, and SIGHUP then reaches it; a replacement never reissues a cid; the primary's
// monitoring port pages as one process does even for offsets and limits past 2^53, and /metrics says up 1, not once
// per worker. Official `nats` clients, a real event service, real sockets; no timing assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { NatsError, type NatsConnection } from 'nats';
import { HOST } from '@event-broker/test-support/processes';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { workersStarted } from './helpers/workers.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';
import {
  ALL,
  cli,
  devPki,
  external,
  gatewayToml,
  getJson,
  scrape,
  startService,
  tokenId,
  type Pki,
} from './helpers/ops.js';

/** The pids of `pid`'s children now (Linux: /proc/<pid>/task/<pid>/children). */
function childrenOf(pid: number): number[] {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A gateway configuration whose server certificate is a copy the test may break and mend. */
function withOwnCert(pki: Pki, dir: string, leafPort: number, gateway: string[]): { file: string; cert: string } {
  const cert = path.join(dir, 'gateway-cert.pem');
  fs.copyFileSync(pki.file(DEV_PKI_FILES.gateway.cert), cert);
  const lines = gatewayToml(pki, leafPort, gateway);
  const at = lines.findIndex((l) => l.startsWith('cert_path ='));
  lines[at] = `cert_path = "${cert}"`;
  return { file: write(dir, 'gateway.toml', lines), cert };
}

test('workers = 2: a primary killed with SIGKILL leaves no worker behind, and the client port is free again', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(tmpDir(t), 'gateway.toml', gatewayToml(pki, service.leafnodePort!, ['workers = 2']));
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const workers = childrenOf(run.child.pid!);
  assert.equal(workers.length, 2, `two workers: ${workers.join(', ')}`);
  t.after(() => workers.filter(alive).forEach((pid) => process.kill(pid, 'SIGKILL')));
  const nc = await external(t, pki, `${HOST}:${port}`, await pki.token('kim', ALL));
  const closed = nc.closed();

  run.child.kill('SIGKILL');
  await until(() => workers.every((pid) => !alive(pid)), 'every worker exits with its primary');
  await within(closed, "the client's connection is closed");
  // Nothing holds the port: it can be bound again.
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen({ host: HOST, port, exclusive: true }, resolve);
  });
  await new Promise((resolve) => probe.close(resolve));
});

test('workers = 2: a worker that cannot read its certificate is named with the reason, as one process is', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const dir = tmpDir(t);
  const { file, cert } = withOwnCert(pki, dir, service.leafnodePort!, ['workers = 2']);
  fs.writeFileSync(cert, 'not a certificate\n');
  const run = cli(t, ['--config', file]);
  assert.equal(await within(run.exited, 'the gateway exits', 20_000), 1);
  const fatal = jsonLines(run.stdout()).find((l) => l.msg === 'cannot start' && l.worker === undefined);
  assert.ok(fatal !== undefined, run.stdout());
  // The worker's reason (the TLS error with its stable code), not only "exited before listening".
  assert.match(String(fatal.err), /cert/i, JSON.stringify(fatal));
  assert.equal(typeof fatal.code, 'string', JSON.stringify(fatal));
  assert.equal(run.stderr(), '', 'no uncaught exception in a worker');
});

test('workers = 2: a replacement that failed to start (a broken certificate file) is tried again until it starts', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const dir = tmpDir(t);
  const { file, cert } = withOwnCert(pki, dir, service.leafnodePort!, ['workers = 2']);
  const good = fs.readFileSync(cert);
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const victim = (await logLine(run, 'listening for client connections', { fields: { worker: 1 } })).pid as number;

  // The file breaks after start (a botched rotation): the worker killed now cannot be replaced...
  fs.writeFileSync(cert, 'not a certificate\n');
  process.kill(victim, 'SIGKILL');
  await logLine(run, 'gateway worker could not be replaced', { fields: { worker: 1 } });
  // ...until the file is mended: the primary tries again, without a signal from anyone.
  fs.writeFileSync(cert, good);
  await logLine(run, 'gateway worker replaced', { fields: { worker: 1 }, ms: 30_000 });
  await logLine(run, 'listening for client connections', { fields: { worker: 1 }, n: 2 });
  const token = await pki.token('kim', ALL);
  const ids = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const nc = await external(t, pki, `${HOST}:${port}`, token);
    ids.add((nc as unknown as { info: { server_id: string } }).info.server_id);
  }
  assert.equal(ids.size, 2, 'both workers serve again');
  // Tried at a bounded pace, not in a fork storm.
  const failures = jsonLines(run.stdout()).filter((l) => l.msg === 'gateway worker could not be replaced');
  assert.ok(failures.length < 30, `${failures.length} failed replacements`);
  run.child.kill('SIGINT');
  assert.equal(await within(run.exited, 'the gateway exits', 20_000), 0);
});

test('workers = 2: SIGTERM while a replacement worker is still loading ends it; the gateway exits 0 well within its bound', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(
    tmpDir(t),
    'gateway.toml',
    gatewayToml(pki, service.leafnodePort!, ['workers = 2', 'lame_duck_duration = "20s"']),
  );
  const run = cli(t, ['--config', file]);
  await workersStarted(run);
  const primary = run.child.pid!;
  const before = childrenOf(primary);
  const victim = before[0]!;
  process.kill(victim, 'SIGKILL');
  // The replacement is forked REPLACE_DELAY_MS after the exit: SIGTERM as soon as it exists, while it loads.
  // until polls every 10 ms: well inside the ~0.4 s the new worker takes to load.
  let replacement: number | undefined;
  const forked = () => (replacement = childrenOf(primary).find((pid) => !before.includes(pid))) !== undefined;
  await until(forked, 'the replacement is forked', 15_000);
  run.child.kill('SIGTERM');
  // Without the fix the replacement is started anyway and the primary waits for it until the shutdown bound
  // (10 s + lame_duck_duration) ends the process.
  assert.equal(await within(run.exited, 'the gateway exits', 8_000), 0);
  assert.ok(
    !jsonLines(run.stdout()).some((l) => l.msg === 'shutdown bound reached, exiting'),
    'all workers ended before the bound',
  );
  await until(() => !alive(replacement!), 'the replacement is gone');
});

test('workers = 2: /connz with an offset or limit past 2^53 pages as one process does (the workers are not asked for a limit in exponent notation); /metrics says up 1', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(tmpDir(t), 'gateway.toml', gatewayToml(pki, service.leafnodePort!, ['workers = 2']));
  const run = cli(t, ['--config', file]);
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  const port = await workersStarted(run);
  const nc = await external(t, pki, `${HOST}:${port}`, await pki.token('kim', ALL));
  const cid = (nc as unknown as { info: { client_id: number } }).info.client_id;
  const huge = '9'.repeat(25);
  const far = await getJson(`http://${HOST}:${monitorPort}/connz?offset=${huge}`);
  assert.deepEqual([far.total, far.connections], [1, []]);
  const all = await getJson(`http://${HOST}:${monitorPort}/connz?limit=${huge}`);
  assert.deepEqual(
    all.connections.map((c: { cid: number }) => c.cid),
    [cid],
  );
  // /metrics: the gateway is up once, not once per worker (its help says 1 while the gateway accepts clients).
  const metrics = await scrape(monitorPort);
  assert.equal(metrics.get('event_gateway_up'), 1);
  assert.equal(metrics.get('event_gateway_connections'), 1);
});

test('workers = 2: a replaced worker hands out cids no connection of the gateway had before (one cid space for the life of the process)', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(tmpDir(t), 'gateway.toml', gatewayToml(pki, service.leafnodePort!, ['workers = 2']));
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  const infoOf = (nc: NatsConnection) => (nc as unknown as { info: { client_id: number; server_id: string } }).info;
  const seen = new Set<number>();
  const before = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const nc = await external(t, pki, `${HOST}:${port}`, token, { nats: { reconnect: false } });
    seen.add(infoOf(nc).client_id);
    before.add(infoOf(nc).server_id);
  }
  const victim = (await logLine(run, 'listening for client connections', { fields: { worker: 1 } })).pid as number;
  process.kill(victim, 'SIGKILL');
  await logLine(run, 'gateway worker replaced', { fields: { worker: 1 } });
  const fresh: number[] = [];
  let onNew = 0;
  for (let i = 0; i < 20 && onNew < 2; i++) {
    const nc = await external(t, pki, `${HOST}:${port}`, token, { nats: { reconnect: false } });
    fresh.push(infoOf(nc).client_id);
    if (!before.has(infoOf(nc).server_id)) onNew++;
  }
  assert.equal(onNew, 2, 'two clients on the replacement');
  assert.deepEqual(
    fresh.filter((cid) => seen.has(cid)),
    [],
    `cids before ${[...seen].join(',')}, after ${fresh.join(',')}`,
  );
  assert.equal(new Set(fresh).size, fresh.length, 'each cid once');
});

// max_connections is one budget for the whole gateway (cluster-slots.ts): node:cluster hands connections out in turn
// without asking whether a worker has room, so each worker asks the primary for a slot as it accepts a socket.
test('workers = 2, max_connections = 2: a client is admitted whenever the gateway holds fewer than 2', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(
    tmpDir(t),
    'gateway.toml',
    gatewayToml(pki, service.leafnodePort!, ['workers = 2', 'max_connections = 2']),
  );
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  const opts = { nats: { reconnect: false } };
  const a = await external(t, pki, `${HOST}:${port}`, token, opts);
  const b = await external(t, pki, `${HOST}:${port}`, token, opts);
  await b.close();
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  await until(async () => (await getJson(`http://${HOST}:${monitorPort}/varz`)).connections === 1, 'b is gone');
  // One client open (a): a second must be admitted, whichever worker the port hands it to.
  const c = await external(t, pki, `${HOST}:${port}`, token, opts);
  assert.ok(!a.isClosed() && !c.isClosed());
});

test('workers = 2, max_connections = 1: a second client is refused (maximum connections exceeded)', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(
    tmpDir(t),
    'gateway.toml',
    gatewayToml(pki, service.leafnodePort!, ['workers = 2', 'max_connections = 1']),
  );
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  const opts = { nats: { reconnect: false } };
  await external(t, pki, `${HOST}:${port}`, token, opts);
  // Refused before the TLS handshake, a TLS client reads it as TIMEOUT (as with nats-server): the log says why.
  await assert.rejects(external(t, pki, `${HOST}:${port}`, token, opts));
  await logLine(run, 'maximum connections exceeded, refusing');
});

test('workers = 2: SIGHUP while a replacement worker is still loading: the replacement runs the new configuration', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const dir = tmpDir(t);
  const tokenX = await pki.token('xavier', ALL);
  const config = (revoked: string[]) =>
    gatewayToml(pki, service.leafnodePort!, ['workers = 2']).flatMap((l) =>
      l.startsWith('audience =') ? [l, `revoked = ${JSON.stringify(revoked)}`] : [l],
    );
  const file = write(dir, 'gateway.toml', config([]));
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const primary = run.child.pid!;
  const before = childrenOf(primary);
  process.kill(before[0]!, 'SIGKILL');
  let replacement: number | undefined;
  const forked = () => (replacement = childrenOf(primary).find((pid) => !before.includes(pid))) !== undefined;
  await until(forked, 'the replacement is forked', 15_000);
  fs.writeFileSync(file, config([tokenId(tokenX)]).join('\n'));
  run.child.kill('SIGHUP');
  await logLine(run, 'gateway worker replaced');
  // X is refused by both workers, the replacement included, whichever the port hands each attempt to.
  const opts = { nats: { reconnect: false } };
  for (let i = 0; i < 4; i++) {
    await assert.rejects(
      external(t, pki, `${HOST}:${port}`, tokenX, opts),
      (e: unknown) => e instanceof NatsError && e.code === 'AUTHORIZATION_VIOLATION',
    );
  }
  const refusedBy = new Set(
    jsonLines(run.stdout())
      .filter((l) => l.msg === 'client refused')
      .map((l) => l.pid),
  );
  assert.ok(refusedBy.has(replacement), `the replacement refused X: ${[...refusedBy].join(', ')}`);
});
