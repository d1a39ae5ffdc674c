// The durability runs' setup (cluster-durability.test.ts): a three-node JetStream cluster in one of the two hub
// setups, two event service instances (CLI child processes) each a leaf of a different node and listing every node,
// two sinks shared by both (feed takes every event, cfgingest only scanJob ones), and a client of each node.
import type { TestContext } from 'node:test';
import { connect, StringCodec, type NatsConnection } from 'nats';
import { startNatsCluster, type NatsCluster } from '@event-broker/test-support/nats-cluster';
import { eventually } from '@event-broker/test-support/wait';
import { envelope } from './cluster-load.js';
import { startService, startSinkReceiver, type ServiceCli, type SinkReceiver } from './cluster.js';

const sc = StringCodec();

export interface Setup {
  cluster: NatsCluster;
  one: ServiceCli;
  two: ServiceCli;
  feed: SinkReceiver;
  cfgingest: SinkReceiver;
  clients: NatsConnection[];
}

/** The cluster, both instances (1 a leaf of node 1, 2 of node 2, each listing every node), the sinks, the clients. */
export async function setUp(t: TestContext, hub: 'named domain' | 'default domain'): Promise<Setup> {
  const cluster = await startNatsCluster(
    t,
    hub === 'named domain' ? { jetstream: { domain: 'hub' } } : { jetstream: true, defaultJsDomain: { $G: '' } },
  );
  await cluster.waitForRoutes();
  await cluster.waitForJetStream(hub === 'named domain' ? { domain: 'hub' } : {});
  const [feed, cfgingest] = await Promise.all([startSinkReceiver(t), startSinkReceiver(t)]);
  const sinks = [
    { name: 'feed', url: feed.receiver.url, filter: ['*:*'] },
    { name: 'cfgingest', url: cfgingest.receiver.url, filter: ['scanJob:*'] },
  ];
  const leafUrls = cluster.leafUrls();
  const remotes = (first: number) => [...leafUrls.slice(first), ...leafUrls.slice(0, first)];
  // Both at once: two instances opening the same stream and consumers together is part of what is tested.
  // A short ack wait: the killed instance's claims go to the other one after 5 s, not the default 30 s.
  const store = { replicas: 3, request_timeout: '4s', ack_wait: '5s' };
  const [one, two] = await Promise.all([
    startService(t, { remotes: remotes(0), store, sinks, instance: '1' }),
    startService(t, { remotes: remotes(1), store, sinks, instance: '2' }),
  ]);
  const clients = await Promise.all(
    cluster.nodes.map(async (node, i) => {
      const servers = [node.url, ...cluster.urls().filter((_, k) => k !== i)];
      const nc = await connect({ servers, reconnectTimeWait: 100, maxReconnectAttempts: -1, name: `client-${i}` });
      t.after(() => nc.close().catch(() => undefined));
      return nc;
    }),
  );
  // Until each node's client gets an answer (the intakes' interest has crossed the cluster).
  await untilAcknowledged(clients, 'warm');
  return { cluster, one, two, feed, cfgingest, clients };
}

/**
 * Until each client has an event `<prefix>-<i>` acknowledged (bounded): the cluster answers through every node. The
 * same id is asked again after a refusal or a timeout (a retry with the same id is safe: duplicates are refused).
 */
export async function untilAcknowledged(
  clients: readonly NatsConnection[],
  prefix: string,
  ms = 30_000,
): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, nc] of clients.entries()) {
    const id = `${prefix}-${i}`;
    await eventually(
      () =>
        nc
          .request('events.scanJobCreated', sc.encode(envelope(id, 'scanJobCreated')), { timeout: 5000 })
          .then((m) => sc.decode(m.data))
          .catch((err: Error) => err.message),
      (reply) => reply.includes(`"id":"${id}"`) && !reply.includes('error'),
      `a client of node ${i + 1} gets event ${id} acknowledged`,
      ms,
    );
    ids.push(id);
  }
  return ids;
}
