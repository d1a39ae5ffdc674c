// Two event service instances as leaves of a three-node nats-server 2.9 cluster (test-support nats-cluster.ts):
// instance 1 dials node A, instance 2 node B, each listing every node. A subscriber on node C gets what instance 1
// publishes in-process and the reverse; a request from node B is answered by a responder in instance 2; a queue group
// across both instances takes each of 1,000 messages from node C once; when node A dies, instance 1 redials another
// node and messages flow again.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { StringCodec } from 'nats';
import { collect, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { startNatsCluster } from '@event-broker/test-support/nats-cluster';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { eventually, until } from '@event-broker/test-support/wait';
import { client, LINK_MS, monitor, remotesUp, startLeafService } from './helpers/leaf-hub.js';

const sc = StringCodec();

describe('two instances as leaves of a three-node nats-server cluster', { skip: natsServerSkip() }, () => {
  it('messages, requests and queue groups cross the cluster; a dead node is redialled around', async (t: TestContext) => {
    const cluster = await startNatsCluster(t, { nodes: 3 });
    await cluster.waitForRoutes();
    const [a, b, c] = cluster.nodes;
    const leafUrls = cluster.leafUrls();
    const one = await startLeafService(t, [{ urls: [a!.leafUrl, ...leafUrls.filter((u) => u !== a!.leafUrl)] }]);
    const two = await startLeafService(t, [{ urls: [b!.leafUrl, ...leafUrls.filter((u) => u !== b!.leafUrl)] }]);
    await Promise.all([remotesUp(one), remotesUp(two)]);
    assert.equal(one.remotes()[0]!.url, a!.leafUrl);
    assert.equal(two.remotes()[0]!.url, b!.leafUrl);
    const ncC = await client(t, c!.clientPort);
    const ncB = await client(t, b!.clientPort);

    // Instance 1 → node C, and node C → instance 1 (in-process both ways).
    const up = uniqueSubject('up');
    const atC = collect(ncC.subscribe(up));
    await untilFlows(
      () => one.publish(up, 'probe'),
      () => atC.includes('probe'),
      'instance 1 reaches node C',
      LINK_MS,
    );
    const down = uniqueSubject('down');
    const atOne: string[] = [];
    one.subscribe(down, { callback: (m) => void atOne.push(sc.decode(m.data)) });
    await untilFlows(
      () => ncC.publish(down, sc.encode('probe')),
      () => atOne.includes('probe'),
      'node C reaches instance 1',
      LINK_MS,
    );

    // A request from node B answered by a responder in instance 2.
    const ask = uniqueSubject('ask');
    two.subscribe(ask, { callback: (m) => void m.respond(`two:${sc.decode(m.data)}`) });
    const answer = await eventually(
      async () => {
        try {
          return sc.decode((await ncB.request(ask, sc.encode('q'), { timeout: 500 })).data);
        } catch {
          return undefined;
        }
      },
      (v) => v !== undefined,
      'node B gets an answer from instance 2',
      LINK_MS,
    );
    assert.equal(answer, 'two:q');

    // A queue group across both instances, fed from node C.
    const work = uniqueSubject('work');
    const taken: string[][] = [[], []];
    [one, two].forEach((svc, i) =>
      svc.subscribe(work, { queue: 'workers', callback: (m) => void taken[i]!.push(sc.decode(m.data)) }),
    );
    await untilFlows(
      () => ncC.publish(work, sc.encode('probe')),
      () => taken.every((l) => l.includes('probe')),
      'both instances take from the group',
      LINK_MS,
    );
    for (const l of taken) l.length = 0;
    for (let i = 0; i < 1000; i++) ncC.publish(work, sc.encode(`m${i}`));
    await until(() => taken[0]!.length + taken[1]!.length >= 1000, '1,000 taken', LINK_MS);
    // A marker after the burst, through the group: once one member has it, a duplicate of the burst would be in too.
    ncC.publish(work, sc.encode('end'));
    await until(() => taken.some((l) => l.includes('end')), 'the marker is taken', LINK_MS);
    for (const l of taken) if (l.includes('end')) l.splice(l.indexOf('end'), 1);
    const all = [...taken[0]!, ...taken[1]!];
    assert.equal(all.length, 1000);
    assert.equal(new Set(all).size, 1000);

    // Node A dies: instance 1 is unhealthy until it has redialled another node, then messages flow again.
    await cluster.kill(0);
    await until(() => one.remotes()[0]!.state !== 'up', 'instance 1 sees its link drop', LINK_MS);
    await remotesUp(one);
    assert.notEqual(one.remotes()[0]!.url, a!.leafUrl);
    assert.deepEqual(await monitor(one.monitorPort!, '/healthz'), { status: 200, body: { status: 'ok' } });
    atC.length = 0;
    await untilFlows(
      () => one.publish(up, 'again'),
      () => atC.includes('again'),
      'instance 1 reaches node C again',
      LINK_MS,
    );
  });
});
