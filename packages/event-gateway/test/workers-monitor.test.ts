// `[gateway] workers = 2` through the CLI: the primary serves the monitoring port and answers for both workers
// (cluster-monitor.ts, monitor-merge.ts). Clients land on both workers (told apart by INFO's server_id); /varz
// counts them all, /connz lists them all with cids unique across the workers and pages across them, /subsz and
// /leafz cover both, /healthz is ok only while both workers are up and linked, /metrics sums both. Official `nats`
// clients, a real event service, real sockets; no timing assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { NatsConnection } from 'nats';
import { HOST } from '@event-broker/test-support/processes';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { ALL, cli, devPki, external, gatewayToml, getJson, scrape, startService } from './helpers/ops.js';

const infoOf = (nc: NatsConnection) =>
  (nc as unknown as { info?: { server_id: string; client_id: number } }).info ?? { server_id: '', client_id: 0 };

async function health(monitorPort: number): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`http://${HOST}:${monitorPort}/healthz`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: JSON.parse(await res.text()) as Record<string, any> };
}

test('workers = 2: the monitoring port answers for both workers (varz, connz, subsz, leafz, healthz, metrics); a killed worker makes /healthz 503 until replaced', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const dir = tmpDir(t);
  const file = write(dir, 'gateway.toml', gatewayToml(pki, service.leafnodePort!, ['workers = 2']));
  const run = cli(t, ['--config', file]);
  await logLine(run, 'ready');
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  const port = (await logLine(run, 'listening for client connections', { fields: { worker: 1 } })).port as number;
  await Promise.all([1, 2].map((w) => logLine(run, 'uplink up', { fields: { worker: w } })));
  const monitor = (path: string) => getJson(`http://${HOST}:${monitorPort}${path}`);

  // The primary's `ready` line names its pid once (pino's base field), not twice.
  const ready = run
    .stdout()
    .split('\n')
    .find((l) => l.includes('"msg":"ready"'))!;
  assert.equal(ready.match(/"pid":/g)?.length, 1, ready);

  // Four clients, spread over both workers; client i holds i + 1 subscriptions.
  const token = await pki.token('mona', ALL);
  const ncs: NatsConnection[] = [];
  for (let i = 0; i < 4; i++) {
    const nc = await external(t, pki, `${HOST}:${port}`, token);
    for (let s = 0; s <= i; s++) nc.subscribe(`mon.${i}.${s}`);
    await nc.flush();
    ncs.push(nc);
  }
  const workerIds = new Set(ncs.map((nc) => infoOf(nc).server_id));
  assert.equal(workerIds.size, 2, 'clients on both workers');

  // /varz: every worker's clients counted; the gateway's own server_id, each worker's listed.
  const varz = await monitor('/varz');
  assert.equal(varz.connections, 4);
  assert.ok(varz.total_connections >= 4);
  assert.equal(varz.subscriptions >= 10, true, `subscriptions ${varz.subscriptions}`);
  assert.equal(varz.leafnodes, 2);
  assert.equal(varz.http_port, monitorPort);
  assert.deepEqual(new Set(varz.workers.map((w: { server_id: string }) => w.server_id)), workerIds);
  assert.ok(!workerIds.has(varz.server_id), "the gateway's id is not one worker's");
  assert.equal(varz.upstream.links_up, 2);

  // /connz: all four, cids unique across the workers and equal to each client's INFO client_id.
  const connz = await monitor('/connz');
  assert.equal(connz.total, 4);
  const cids = connz.connections.map((c: { cid: number }) => c.cid) as number[];
  assert.deepEqual(
    cids,
    ncs.map((nc) => infoOf(nc).client_id).sort((a, b) => a - b),
  );
  assert.equal(new Set(cids).size, 4, 'cids unique across the workers');
  // Paging across the workers: offset and limit apply to the whole, sorted list.
  const paged = await monitor('/connz?offset=1&limit=2');
  assert.deepEqual(
    paged.connections.map((c: { cid: number }) => c.cid),
    cids.slice(1, 3),
  );
  assert.deepEqual([paged.total, paged.offset, paged.limit, paged.num_connections], [4, 1, 2, 2]);
  // A sort applies across the workers: by subscriptions, largest first.
  const bySubs = await monitor('/connz?sort=subs&limit=3');
  assert.deepEqual(
    bySubs.connections.map((c: { subscriptions: number }) => c.subscriptions),
    [4, 3, 2],
  );
  const one = await monitor(`/connz?cid=${cids[3]}`);
  assert.deepEqual(
    one.connections.map((c: { cid: number }) => c.cid),
    [cids[3]],
  );
  // A bad parameter is refused with nats-server's text, as one process refuses it.
  const bad = await fetch(`http://${HOST}:${monitorPort}/connz?sort=nope`);
  assert.equal(bad.status, 400);
  assert.equal(await bad.text(), 'invalid sorting option: nope');

  // The primary's port keeps [monitor]'s bounds: a Host name that could be rebound to it is refused, no worker asked.
  const rebound = await new Promise<number>((resolve, reject) => {
    http
      .get({ host: HOST, port: monitorPort, path: '/varz', headers: { host: 'rebind.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  assert.equal(rebound, 403);

  // /subsz: both workers' subscriptions, listed and paged across them.
  const subsz = await monitor('/subsz?subs=1&offset=2&limit=5');
  assert.equal(subsz.total, 10);
  assert.equal(subsz.subscriptions_list.length, 5);
  assert.ok(subsz.num_subscriptions >= 10);

  // /leafz: each worker's uplink.
  const leafz = await monitor('/leafz');
  assert.equal(leafz.leafnodes, 2);
  assert.equal(leafz.leafs.length, 2);

  // /healthz: ok, each worker's own check listed.
  const ok = await health(monitorPort);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.workers.length, 2);

  // /metrics: one exposition, the workers' series summed.
  const metrics = await scrape(monitorPort);
  assert.equal(metrics.get('event_gateway_connections'), 4);
  assert.equal(metrics.get('event_gateway_upstream_up'), 2);
  assert.equal(metrics.get('event_gateway_workers'), 2);
  assert.equal(metrics.get('event_gateway_workers_answering'), 2);

  // A worker killed: /healthz names it and is 503 until it is replaced and linked again.
  const victim = varz.workers.find((w: { worker: number }) => w.worker === 2) as { pid: number };
  process.kill(victim.pid, 'SIGKILL');
  let down: { status: number; body: Record<string, any> } | undefined;
  await until(async () => {
    const h = await health(monitorPort);
    if (h.status === 503) down = h;
    return down !== undefined;
  }, '/healthz 503 after a worker died');
  assert.match(down!.body.error, /worker 2: /);
  await logLine(run, 'gateway worker replaced', { fields: { worker: 2 } });
  await until(async () => (await health(monitorPort)).status === 200, '/healthz ok once the worker is replaced');
  const after = await monitor('/varz');
  assert.equal(after.workers.length, 2);
  assert.ok(!after.workers.some((w: { pid: number }) => w.pid === victim.pid), 'the replacement is a new process');
  // The survivors' clients are still listed; the killed worker's are gone with it.
  await until(
    async () => (await monitor('/connz')).total === ncs.filter((nc) => !nc.isClosed()).length,
    'connz lists what is left',
  );

  run.child.kill('SIGINT');
  await until(() => run.child.exitCode !== null, 'the gateway exits', 20_000);
  assert.ok(
    !jsonLines(run.stdout()).some((l) => (l.level as number) >= 50 && l.msg === 'monitoring request failed'),
    'no monitoring request failed',
  );
});
