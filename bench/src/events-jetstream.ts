// The `events` scenario on the JetStream backend (issue 13's "Measure"): the same load and receiver as events.ts,
// with the events in a JetStream stream on a three-node nats-server cluster (test-support's nats-cluster, each node
// with its own store directory) instead of an SQLite file.
//   producer (generator, a client of node n3) ─▶ n3 ─routes─▶ n1/n2 ─leafnode─▶ event service(s) ─PubAck─▶ stream
//   event service(s) ─ durable consumer per sink ─▶ node:http receiver
// Each instance dials the cluster as a leaf ([[leafnodes.remotes]], instance i starting at node i), with
// `[store] backend = "jetstream"`, the same stream and the same sink, so two instances share the intake (queue
// groups: each request is taken by one) and the deliveries (one durable consumer). The producer is a client of the
// cluster, as in the deployment this measures, never of an instance. A request is answered after the PubAck, so
// after `replicas` nodes (a majority of them) have the event. Server CPU is every instance's and every node's.
// Ours only (nats-server has no durable intake or sinks); needs the service's remotes and JetStream backend.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import { startNatsCluster, type NatsCluster } from '@event-broker/test-support/nats-cluster';
import { natsLeafLinks } from '@event-broker/test-support/nats-server';
import { until } from '@event-broker/test-support/wait';
import { eventBody, ID_MARK, nativeRequests, clientRequests, startReceiver, TYPE } from './events.js';
import type { Generator } from './generators.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { readCpuSeconds, startOurs, type RunningServer } from './servers.js';

/** Bound on the cluster's JetStream and the instances' intake becoming reachable from the producer's node. */
const READY_MS = 30_000;
const STREAM = 'BENCH_EVENTS';

export interface JetStreamEventsOptions {
  replicas: number;
  instances: number;
}

/** Every instance's intake is subscribed on the cluster (its leaf link carries `events.>`) and answers from n3. */
async function intakeReachable(cluster: NatsCluster, instances: number, producerUrl: string): Promise<void> {
  const end = Date.now() + READY_MS;
  const linked = async () => {
    const links = (await Promise.all(cluster.nodes.map((n) => natsLeafLinks(n, { subs: true })))).flat();
    return links.filter((l) =>
      ((l.subscriptions_list as string[] | undefined) ?? []).some((s) => s.startsWith('events.')),
    ).length;
  };
  let seen = 0;
  await until(
    async () => (seen = await linked()) >= instances,
    `every instance's intake on the cluster (${instances})`,
    READY_MS,
    () => `${seen} linked`,
  );
  // An invalid event is answered (EEVENT_INVALID) without storing anything: the path works, the counts stay exact.
  const nc = await connect({ servers: producerUrl });
  try {
    for (;;) {
      const answered = await nc
        .request(`events.${TYPE}`, '{}', { timeout: 2000 })
        .then(() => true)
        .catch(() => false);
      if (answered) return;
      if (Date.now() > end) throw new Error(`no answer to events.${TYPE} from the cluster within ${READY_MS} ms`);
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export async function runEventsJetStream(
  spec: GenSpec,
  limits: Limits,
  generator: Generator,
  onServerCpu: (s: number) => void,
  o: JetStreamEventsOptions,
): Promise<GenResult> {
  const batch = spec.batch ?? 1;
  const parallel = spec.maxInFlight ?? 1;
  const afters: Array<() => void | Promise<void>> = [];
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-events-js-'));
  const services: RunningServer[] = [];
  const receiver = await startReceiver();
  try {
    const cluster = await startNatsCluster(
      { after: (fn) => afters.push(fn) },
      {
        jetstream: true,
        config: [
          `max_payload: ${limits.maxPayloadBytes}`,
          `max_connections: ${limits.maxConnections}`,
          `max_pending: ${limits.maxPendingBytes}`,
          `write_deadline: "${limits.writeDeadlineMs}ms"`,
        ],
      },
    );
    await cluster.waitForJetStream({ ms: READY_MS });
    const urls = cluster.leafUrls();
    const sink = {
      url: `127.0.0.1:${receiver.port}`,
      ...(batch > 1 && { batch_size: batch }),
      ...(parallel > 1 && { max_in_flight: parallel }),
    };
    for (let i = 0; i < o.instances; i++) {
      // Instances start one after the other: the first creates the stream, the next checks it.
      services.push(
        await startOurs(
          limits,
          { event_limit: 10_000_000, server_name: `bench-${i + 1}` },
          {
            leafnodes: { remotes: [{ urls: [...urls.slice(i), ...urls.slice(0, i)] }] },
            store: { backend: 'jetstream', stream: STREAM, replicas: o.replicas },
            handlers: { event_feed: sink },
          },
        ),
      );
    }
    const producer = cluster.nodes[cluster.nodes.length - 1]!;
    await intakeReachable(cluster, o.instances, producer.url);
    const procs: Array<[string, number]> = [
      ...services.map((s, i): [string, number] => [`instance ${i + 1}`, s.pid]),
      ...cluster.nodes.map((n, i): [string, number] => [`n${i + 1}`, n.pid()]),
    ];
    // The runners read the CPU at the window's start and at its end: the first and the latest reading give the
    // window's CPU per process (the notes' parts).
    let first: number[] | undefined;
    let latest: number[] = [];
    const everything: RunningServer = {
      target: 'ours',
      pid: services[0]!.pid,
      port: producer.clientPort,
      rssKiB: () => services.reduce((sum, s) => sum + s.rssKiB(), 0),
      cpuSeconds: () => {
        latest = procs.map(([, pid]) => readCpuSeconds(pid));
        first ??= latest;
        return latest.reduce((a, b) => a + b, 0);
      },
      stop: async () => undefined,
    };
    let r: GenResult;
    if (generator.name.startsWith('c-')) {
      const bodyFile = path.join(dir, 'body.json');
      writeFileSync(bodyFile, eventBody(ID_MARK, spec.size ?? 1024));
      r = await nativeRequests(
        generator,
        { ...spec, mode: 'requests', subject: `events.${TYPE}`, bodyFile },
        everything,
        receiver,
        onServerCpu,
      );
    } else {
      r = await clientRequests(spec, everything, receiver, onServerCpu);
    }
    const parts = Object.fromEntries(procs.map(([name], i) => [name, latest[i]! - (first?.[i] ?? 0)]));
    return {
      ...r,
      server_cpu_parts: parts,
      generator: `${r.generator}; ${o.instances} instance(s), JetStream R${o.replicas} on 3 nodes`,
    };
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => undefined);
    for (const fn of afters.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
