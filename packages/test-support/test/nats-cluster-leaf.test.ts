// The cluster harness's leafnode side, against real nats-server nodes: a nats-server leaf presenting the configured
// credentials attaches to a node and reaches the cluster's JetStream through the link, by the cluster's named
// JetStream domain, or as plain $JS.API once default_js_domain lifts the leaf's own deny.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from 'nats';
import { startNatsCluster } from '../src/nats-cluster.js';
import { natsLeafLinks, natsServerSkip, startNatsLeaf } from '../src/nats-server.js';
import { connectRaw, type RawConn } from '../src/raw.js';
import { eventually, until, WAIT_MS } from '../src/wait.js';

const skip = natsServerSkip();

async function client(t: { after(fn: () => Promise<void>): void }, servers: string): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: WAIT_MS });
  t.after(() => nc.close());
  return nc;
}

// The cases share nothing (each its own cluster and leaf) and mostly wait for JetStream: run at once.
describe('nats-server leaves of the cluster harness', { concurrency: true }, () => {
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

  /** A raw leaf connection with no JetStream of its own, as the event service's link is: CONNECT done, `subs` sent. */
  async function rawLeaf(t: { after(fn: () => void): void }, leafPort: number, subs: string[]): Promise<RawConn> {
    const leaf = await connectRaw({ host: '127.0.0.1', port: leafPort });
    t.after(() => leaf.close());
    leaf.send('CONNECT {"verbose":false,"pedantic":false,"headers":true,"name":"raw-leaf"}\r\nPING\r\n');
    await leaf.expect(/PONG\r\n/);
    leaf.send(`${subs.map((s) => `LS+ ${s}\r\n`).join('')}PING\r\n`);
    await leaf.expect(/PONG\r\n/);
    return leaf;
  }

  /** Asks `api`.INFO over the leaf link; the answer's body, or undefined when none comes within 1.5 s. */
  async function infoOverLeaf(leaf: RawConn, api: string, n: number): Promise<string | undefined> {
    leaf.send(`LMSG ${api}.INFO _INBOX.raw.${n} 0\r\n\r\n`);
    const answered = await leaf
      .expect(new RegExp(`LMSG _INBOX\\.raw\\.${n} \\d+\\r\\n(.*)\\r\\n`), 1500)
      .catch(() => undefined);
    return answered?.[1];
  }

  test(
    'a leaf without JetStream reaches $JS.API of a plain node; the deny it logs only keeps its own JetStream traffic off the link',
    { skip },
    async (t) => {
      // nats-server 2.9.10 logs "Adding deny [$JS.API.> $KV.> $OBJ.>]" for such a leaf: its interest in those subjects
      // is ignored (the node's clients' JetStream requests never go down the link), while its requests still go up.
      const cluster = await startNatsCluster(t, { jetstream: true });
      await cluster.waitForJetStream();
      const leaf = await rawLeaf(t, cluster.nodes[0]!.leafPort, ['_INBOX.raw.>', '$JS.API.>', 'other.>']);
      assert.match((await infoOverLeaf(leaf, '$JS.API', 1)) ?? '', /account_info_response/);
      await until(
        () => /Adding deny \[\$JS\.API\.> \$KV\.> \$OBJ\.>\]/.test(cluster.nodes[0]!.log()),
        'the deny logged',
      );
      const nc = await client(t, cluster.nodes[0]!.url);
      nc.publish('$JS.API.NOT.FOR.THE.LEAF');
      nc.publish('other.subject');
      await nc.flush();
      await leaf.expect(/LMSG other\.subject 0\r\n/);
      assert.doesNotMatch(leaf.buffered, /\$JS\.API\.NOT/, 'the node sent its JetStream traffic down the link');
    },
  );

  test(
    'a leaf without JetStream reaches $JS.API with default_js_domain on the node, and $JS.<domain>.API',
    { skip },
    async (t) => {
      const mapped = await startNatsCluster(t, { nodes: 1, jetstream: true, defaultJsDomain: { $G: '' } });
      const named = await startNatsCluster(t, { nodes: 1, jetstream: { domain: 'hub' } });
      await Promise.all([mapped.waitForJetStream(), named.waitForJetStream({ domain: 'hub' })]);
      const viaMapped = await rawLeaf(t, mapped.nodes[0]!.leafPort, ['_INBOX.raw.>']);
      assert.match((await infoOverLeaf(viaMapped, '$JS.API', 1)) ?? '', /account_info_response/);
      assert.match(mapped.nodes[0]!.log(), /Skipping deny "\$JS\.API\.>" for account "\$G" due to default domain/);
      const viaNamed = await rawLeaf(t, named.nodes[0]!.leafPort, ['_INBOX.raw.>']);
      assert.match((await infoOverLeaf(viaNamed, '$JS.hub.API', 1)) ?? '', /account_info_response/);
    },
  );
});
