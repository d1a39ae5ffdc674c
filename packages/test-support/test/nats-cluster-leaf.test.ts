// The cluster harness's leafnode side, against real nats-server nodes: a nats-server leaf presenting the configured
// credentials attaches to a node and reaches the cluster's JetStream through the link, by the cluster's named
// JetStream domain, or as plain $JS.API once default_js_domain lifts the leaf's own deny.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { startNatsCluster } from '../src/nats-cluster.js';
import { natsLeafLinks, natsServerSkip, startNatsLeaf } from '../src/nats-server.js';
import { eventually, WAIT_MS } from '../src/wait.js';

const skip = natsServerSkip();

async function client(t: { after(fn: () => Promise<void>): void }, servers: string): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: WAIT_MS });
  t.after(() => nc.close());
  return nc;
}

test(
  'a leaf with user and password reaches JetStream in the cluster domain as $JS.<domain>.API',
  { skip },
  async (t) => {
    const cluster = await startNatsCluster(t, {
      jetstream: { domain: 'hub' },
      leafnodes: { authorization: { user: 'leaf', password: 's3cret' } },
    });
    await cluster.waitForJetStream({ domain: 'hub' });
    const leaf = await startNatsLeaf(cluster.nodes[1]!.leafPort, { userInfo: 'leaf:s3cret@' });
    t.after(() => leaf.stop('SIGKILL'));
    await eventually(
      () => natsLeafLinks(leaf),
      (l) => l.length === 1,
      'the leaf attached to n2',
    );
    const nc = await client(t, `nats://127.0.0.1:${leaf.clientPort}`);
    const jsm = await eventually(
      () => nc.jetstreamManager({ domain: 'hub', timeout: 2000 }).catch((err: Error) => err),
      (r) => !(r instanceof Error),
      'JetStream through the leaf with domain hub',
    );
    assert.ok(!(jsm instanceof Error));
    const si = await jsm.streams.add({ name: 'VIA_LEAF', subjects: ['via.leaf'], num_replicas: 3 });
    assert.equal(si.config.num_replicas, 3);
  },
);

test(
  'a nats-server leaf reaches plain $JS.API once its own default_js_domain lifts the deny it puts on its link',
  { skip },
  async (t) => {
    // nats-server 2.9.10 logs on the leaf "JetStream Not Extended, adding deny [$JS.API.> $KV.> $OBJ.>]": the deny is
    // the leaf's, so the mapping that lifts it ("Skipping deny ... due to default domain") goes in the leaf's config.
    const cluster = await startNatsCluster(t, { jetstream: true });
    await cluster.waitForJetStream();
    const leaf = await startNatsLeaf(cluster.nodes[2]!.leafPort, { config: ['default_js_domain: { "$G": "" }'] });
    t.after(() => leaf.stop('SIGKILL'));
    await eventually(
      () => natsLeafLinks(leaf),
      (l) => l.length === 1,
      'the leaf attached to n3',
    );
    const nc = await client(t, `nats://127.0.0.1:${leaf.clientPort}`);
    const jsm = await eventually(
      () => nc.jetstreamManager({ timeout: 2000 }).catch((err: Error) => err),
      (r) => !(r instanceof Error),
      'JetStream through the leaf',
    );
    assert.ok(!(jsm instanceof Error));
    await jsm.streams.add({ name: 'VIA_LEAF', subjects: ['via.leaf'], num_replicas: 3 });
    assert.match(leaf.log(), /Skipping deny "\$JS\.API\.>" for account "\$G" due to default domain/);
  },
);
