// The cluster harness itself, against real nats-server nodes: routes carry a message from one node's client to
// another's, an R3 stream keeps acknowledging with one node SIGKILLed, and the node comes back in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { connect, type NatsConnection, StringCodec } from 'nats';
import { startNatsCluster } from '../src/nats-cluster.js';
import { natsServerSkip } from '../src/nats-server.js';
import { eventually, until, WAIT_MS } from '../src/wait.js';

const sc = StringCodec();
const skip = natsServerSkip();

async function client(
  t: { after(fn: () => Promise<void>): void },
  servers: string | string[],
): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: WAIT_MS });
  t.after(() => nc.close());
  return nc;
}

test('a message published on node A reaches a subscriber on node C', { skip }, async (t) => {
  const cluster = await startNatsCluster(t);
  assert.equal(cluster.nodes.length, 3);
  for (const n of cluster.nodes) {
    assert.ok(n.clientPort > 0 && n.clusterPort > 0 && n.leafPort > 0 && n.httpPort > 0, JSON.stringify(n));
    assert.match(n.leafUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
  }
  assert.equal(new Set(cluster.nodes.flatMap((n) => [n.clientPort, n.clusterPort, n.leafPort, n.httpPort])).size, 12);
  await cluster.waitForRoutes();
  const a = await client(t, cluster.nodes[0]!.url);
  const c = await client(t, cluster.nodes[2]!.url);
  const got: string[] = [];
  c.subscribe('harness.hello', { callback: (_err, m) => got.push(sc.decode(m.data)) });
  await c.flush();
  // Interest reaches node A over the route asynchronously: publish until one arrives.
  await until(async () => {
    a.publish('harness.hello', sc.encode('from A'));
    await a.flush();
    return got.length > 0;
  }, 'node C subscriber receives a publish on node A');
  assert.equal(got[0], 'from A');
});

test('an R3 stream acknowledges with one node SIGKILLed, and the node rejoins on restart', { skip }, async (t) => {
  const cluster = await startNatsCluster(t, { jetstream: true });
  await cluster.waitForJetStream();
  for (const n of cluster.nodes) assert.ok(n.storeDir !== undefined && fs.existsSync(n.storeDir), n.name);
  const nc = await client(t, cluster.urls());
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: 'HARNESS', subjects: ['harness.js.>'], num_replicas: 3 });
  const js = nc.jetstream();
  assert.equal((await js.publish('harness.js.1', sc.encode('one'))).seq, 1);

  const victim = cluster.nodes[1]!;
  const pid = victim.pid();
  await cluster.kill(1, 'SIGKILL');
  assert.equal(victim.alive(), false);
  assert.throws(() => process.kill(pid, 0), 'the killed node is gone');
  // Two of three replicas are a quorum: a publish is acknowledged (bounded retries while a leader is re-elected).
  const ack = await eventually(
    () => js.publish('harness.js.2', sc.encode('two'), { msgID: 'two', timeout: 2000 }).catch((err: Error) => err),
    (r) => !(r instanceof Error),
    'a publish acknowledged with one node down',
    30_000,
  );
  assert.equal((ack as { seq: number }).seq, 2);

  const ports = { client: victim.clientPort, leaf: victim.leafPort, http: victim.httpPort };
  await cluster.restart(1);
  assert.deepEqual({ client: victim.clientPort, leaf: victim.leafPort, http: victim.httpPort }, ports);
  await cluster.waitForRoutes();
  // Rejoined: every replica of the stream is current again, and the restarted node holds both messages.
  await eventually(
    async () => (await jsm.streams.info('HARNESS')).cluster,
    (c) => c?.replicas?.length === 2 && c.replicas.every((r) => r.current && !r.offline),
    'every replica current after the restart',
    30_000,
  );
  const direct = await client(t, victim.url);
  const info = await eventually(
    () => direct.jetstreamManager().then((m) => m.streams.info('HARNESS')),
    (i) => i.state.messages === 2,
    'the stream seen through the restarted node',
  );
  assert.equal(info.state.last_seq, 2);
});
