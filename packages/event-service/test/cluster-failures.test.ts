// What an event service with `[store] backend = "jetstream"` does when the cluster cannot be its store, as a CLI
// child process: the start fails (exit 1, `cannot start` naming what to change) for a cluster without JetStream, a
// stream that exists with other settings and remotes nobody answers, with /healthz 503 while it waits; and once
// started, a hub that goes away leaves requests refused, never acknowledged. The backend-level refusals (their exact
// texts) are jetstream-open.test.ts's, the $JS.API deny on a leaf link among them: nats-server 2.9 cannot be a hub
// that denies it to its own leaf (no permissions in leafnodes { authorization }; a leaf logging in as a user of the
// hub's authorization with $JS.API.> denied, publish or subscribe, still reached JetStream when tried).
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec } from 'nats';
import { exitOf, jsonLines, logLine, type Run } from '@event-broker/test-support/child';
import { startNatsCluster } from '@event-broker/test-support/nats-cluster';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { eventually } from '@event-broker/test-support/wait';
import { envelope } from './helpers/cluster-load.js';
import { healthz, spawnService, startService, START_MS } from './helpers/cluster.js';

const sc = StringCodec();

/** The CLI's exit and its `cannot start` line's error. */
async function startFailure(run: Run): Promise<{ code: number | NodeJS.Signals; err: string }> {
  const { code, stdout, stderr } = await exitOf(run, START_MS).catch((err: Error) => {
    throw new Error(`${err.message}\n${run.stdout().slice(-3000)}\n${run.stderr()}`);
  });
  const line = jsonLines(stdout).find((l) => l.msg === 'cannot start');
  assert.ok(line !== undefined, `no 'cannot start' line: ${stdout.slice(-2000)} ${stderr}`);
  return { code, err: String(line.err) };
}

describe(
  'the JetStream store cannot be had: clear errors at the start, refusals after it',
  // The cases share nothing (each its own servers, ports and service) and mostly wait: run at once.
  { skip: natsServerSkip(), concurrency: true },
  () => {
    it('a cluster without JetStream: the start fails saying the hub runs no JetStream', async (t: TestContext) => {
      const cluster = await startNatsCluster(t, { nodes: 3 });
      await cluster.waitForRoutes();
      const run = spawnService(t, { remotes: cluster.leafUrls(), store: { replicas: 3 } });
      const { code, err } = await startFailure(run);
      assert.equal(code, 1);
      assert.match(err, /JetStream/);
      assert.match(err, /enable jetstream|no JetStream/i);
    });

    it('a stream that exists with other settings: the start fails naming each, the stream is left as it was', async (t: TestContext) => {
      const cluster = await startNatsCluster(t, { nodes: 1, jetstream: true, defaultJsDomain: { $G: '' } });
      await cluster.waitForJetStream();
      const store = { stream: 'CONFLICT', replicas: 1 };
      const first = await startService(t, { remotes: cluster.leafUrls(), store });
      await first.kill();
      const run = spawnService(t, { remotes: cluster.leafUrls(), store: { ...store, max_age: '1h' } });
      const { code, err } = await startFailure(run);
      assert.equal(code, 1);
      assert.match(err, /"CONFLICT" exists with other settings/);
      assert.match(err, /max_age is 0, wanted 3600000000000 \(\[store\] max_age/);
      // The stream as the first instance made it: the same settings start again.
      const again = await startService(t, { remotes: cluster.leafUrls(), store });
      assert.equal((await healthz(again.monitorPort)).status, 200);
    });

    it('remotes nobody answers: /healthz 503 while the start waits, then it fails naming the remotes', async (t: TestContext) => {
      const urls = [`nats://${HOST}:${await freePort()}`, `nats://${HOST}:${await freePort()}`];
      const run = spawnService(t, { remotes: urls, store: { request_timeout: '3s' } });
      const monitorPort = (await logLine(run, 'monitoring listener started', { ms: START_MS })).port as number;
      const h = await healthz(monitorPort);
      assert.equal(h.status, 503, JSON.stringify(h.body));
      const { code, err } = await startFailure(run);
      assert.equal(code, 1);
      assert.match(err, /no \[\[leafnodes\.remotes\]\] link is up/);
      // The error names the remote that is down and why (the process's /leafz is gone with it); the log names each URL.
      assert.match(err, /nats:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
      assert.ok(
        urls.some((u) => err.includes(u)),
        err,
      );
      const failed = jsonLines(run.stdout()).filter((l) => l.msg === 'uplink attempt failed');
      for (const url of urls)
        assert.ok(
          failed.some((l) => l.upstream === url && /ECONNREFUSED/.test(String(l.err))),
          `${url} in the log`,
        );
    });

    it('a hub gone after the start: requests are refused, never acknowledged; /healthz 503', async (t: TestContext) => {
      const cluster = await startNatsCluster(t, { nodes: 1, jetstream: true, defaultJsDomain: { $G: '' } });
      await cluster.waitForJetStream();
      const svc = await startService(t, {
        remotes: cluster.leafUrls(),
        store: { replicas: 1, request_timeout: '1500ms' },
      });
      const nc = await connect({ servers: `${HOST}:${svc.clientPort}` });
      t.after(() => nc.close().catch(() => undefined));
      const ask = (id: string) =>
        nc
          .request('events.scanJobCreated', sc.encode(envelope(id, 'scanJobCreated')), { timeout: 10_000 })
          .then((m) => sc.decode(m.data));
      assert.equal(await ask('before'), '{"id":"before"}');
      await cluster.kill(0);
      await eventually(
        () => healthz(svc.monitorPort),
        (h) => h.status === 503,
        '/healthz 503 once the hub is gone',
      );
      for (const id of ['during-1', 'during-2', 'during-3']) {
        const reply = JSON.parse(await ask(id)) as { id?: string; error?: { code: string } };
        assert.equal(reply.error?.code, 'EEVENT_STORE', `${id}: ${JSON.stringify(reply)}`);
      }
    });
  },
);
